package bitcoin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// MultiLister is implemented by backends that list the unspent outputs of many addresses at once
// ([*RPC]). [UTXOsOf] uses it when present.
type MultiLister interface {
	// UTXOsOf returns the unspent outputs paying any of addrs, confirmed and in the mempool.
	UTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error)
}

// MaxWatchedAddresses bounds one [UTXOsOf] call.
const MaxWatchedAddresses = 100_000

// multiConcurrency is how many per-address requests [UTXOsOf] keeps in flight.
const multiConcurrency = 8

// UTXOsOf returns the unspent outputs paying any of addrs (a wallet's watched addresses): with one
// call when be is a [MultiLister], otherwise with one [Backend.UTXOs] per address, at most 8 in
// flight. The result is sorted by outpoint and holds every outpoint once; the first failure fails
// the whole listing (a partial balance would be wrong, not just incomplete).
func UTXOsOf(ctx context.Context, be Backend, addrs []btcutil.Address) ([]UTXO, error) {
	if len(addrs) > MaxWatchedAddresses {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrInvalidRequest, len(addrs), MaxWatchedAddresses)
	}
	if ml, ok := be.(MultiLister); ok {
		return ml.UTXOsOf(ctx, addrs)
	}
	return eachAddress(ctx, addrs, be.UTXOs)
}

// eachAddress runs list for every address, at most multiConcurrency at once, and merges the
// results.
func eachAddress(ctx context.Context, addrs []btcutil.Address, list func(context.Context, btcutil.Address) ([]UTXO, error)) ([]UTXO, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([][]UTXO, len(addrs))
	errs := make([]error, len(addrs))
	asked := make([]bool, len(addrs))
	var first error
	var firstOnce sync.Once
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(multiConcurrency, len(addrs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = list(ctx, addrs[i])
				asked[i] = true
				if errs[i] != nil {
					firstOnce.Do(func() { first = fmt.Errorf("utxos of %s: %w", addrs[i].EncodeAddress(), errs[i]) })
					cancel()
				}
			}
		}()
	}
feed:
	for i := range addrs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		// The failure that stopped the listing, not the cancellations it caused.
		return nil, first
	}
	for i := range asked {
		if !asked[i] { // cancelled from outside before every address was asked
			return nil, fmt.Errorf("utxos of %s: %w", addrs[i].EncodeAddress(), context.Cause(ctx))
		}
	}
	seen := map[wire.OutPoint]bool{}
	var out []UTXO
	for _, us := range results {
		for _, u := range us {
			if !seen[u.OutPoint] {
				seen[u.OutPoint] = true
				out = append(out, u)
			}
		}
	}
	sortUTXOs(out)
	return out, nil
}

// UTXOsOf implements [MultiLister]. On Bitcoin Core every address is imported into the watch-only
// wallet (once per RPC, [RPC.ImportAddress]) and all are listed with one listunspent; on btcd each
// address is one searchrawtransactions scan, at most 8 in flight.
func (r *RPC) UTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	kind, err := r.Kind(ctx)
	if err != nil {
		return nil, err
	}
	if kind != NodeCore {
		return r.btcdUTXOsOf(ctx, addrs)
	}
	scripts := make(map[string]bool, len(addrs))
	names := make([]string, len(addrs))
	for i, a := range addrs {
		if err := r.ImportAddress(ctx, a, r.rescanFrom); err != nil {
			return nil, err
		}
		s, err := payToAddr(a)
		if err != nil {
			return nil, fmt.Errorf("utxos: %w", err)
		}
		scripts[string(s)] = true
		names[i] = a.EncodeAddress()
	}
	var items []coreUnspent
	// listunspent minconf maxconf ["address", …]: minconf 0 includes mempool outputs.
	if err := r.walletCall(ctx, "listunspent", []any{0, 9999999, names}, &items); err != nil {
		return nil, err
	}
	return parseCoreUnspentOf(items, func(spk []byte) bool { return scripts[string(spk)] })
}

// btcdUTXOsOf lists the unspent outputs of addrs on btcd. The first listing of an address set scans
// every address (searchrawtransactions, at most 8 in flight). Later listings of the same set start from
// that result and the chain state it was taken at (best block, mempool txids):
//
//   - state unchanged (the two cheap calls say so): the same result;
//   - new blocks extending the old tip (at most maxFollowBlocks) and mempool transactions that were
//     added or mined: only the addresses these transactions pay or spend from are scanned again, the
//     other addresses' outputs keep their entries with confirmations advanced by the number of new
//     blocks;
//   - anything else (a reorganisation, a mempool transaction that left without being mined, a fetch
//     that fails): every address is scanned again.
//
// A result is kept only when the chain state read after the listing equals the one read before it.
func (r *RPC) btcdUTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error) {
	set := addressSetKey(addrs)
	before, err := r.chainState(ctx)
	if err != nil {
		return nil, err
	}
	r.scanMu.Lock()
	c, ok := r.scans[set]
	if !ok {
		// A grown set (an address handed out since): start from the largest kept subset.
		c, ok = r.largestSubset(addrs)
	}
	r.scanMu.Unlock()
	var us []UTXO
	switch {
	case ok && c.state.key == before.key && len(c.names) == len(uniqueNames(addrs)):
		return cloneUTXOs(c.utxos), nil
	case ok:
		us, ok = r.followChain(ctx, addrs, c, before)
	}
	if !ok {
		r.fullScans.Add(1)
		if us, err = eachAddress(ctx, addrs, r.btcdUTXOs); err != nil {
			return nil, err
		}
	}
	after, err := r.chainState(ctx)
	if err != nil {
		return nil, err
	}
	if after.key == before.key {
		r.scanMu.Lock()
		if r.scans == nil || len(r.scans) >= maxCachedScans {
			r.scans = map[[32]byte]*cachedScan{}
		}
		r.scans[set] = &cachedScan{state: before, utxos: cloneUTXOs(us), names: uniqueNames(addrs)}
		r.scanMu.Unlock()
	}
	return us, nil
}

// maxFollowBlocks is how many new blocks btcdUTXOsOf follows before it scans everything again.
const maxFollowBlocks = 6

// followChain brings c up to state now by scanning only the addresses touched since c was taken.
// It returns false when it cannot (the caller scans everything).
func (r *RPC) followChain(ctx context.Context, addrs []btcutil.Address, c *cachedScan, now chainState) ([]UTXO, bool) {
	// The new blocks, newest first, back to the cached tip.
	var blocks []*wire.MsgBlock
	for h := now.tip; h != c.state.tip; {
		if len(blocks) == maxFollowBlocks {
			return nil, false
		}
		b, err := r.rawBlock(ctx, h)
		if err != nil {
			return nil, false
		}
		blocks = append(blocks, b)
		h = b.Header.PrevBlock.String()
	}
	mined := map[chainhash.Hash]bool{}
	var txs []*wire.MsgTx
	for _, b := range blocks {
		for _, tx := range b.Transactions {
			mined[tx.TxHash()] = true
			txs = append(txs, tx)
		}
	}
	// A mempool transaction that left without being mined (replaced, evicted) may have hidden an
	// output as spent: scan everything.
	for id := range c.state.pool {
		if !now.pool[id] {
			h, err := chainhash.NewHashFromStr(id)
			if err != nil || !mined[*h] {
				return nil, false
			}
		}
	}
	for id := range now.pool {
		if c.state.pool[id] {
			continue
		}
		h, err := chainhash.NewHashFromStr(id)
		if err != nil {
			return nil, false
		}
		tx, err := r.rawTx(ctx, *h)
		if err != nil {
			return nil, false
		}
		txs = append(txs, tx)
	}
	// The addresses these transactions pay or spend from.
	byScript := make(map[string]btcutil.Address, len(addrs))
	for _, a := range addrs {
		s, err := payToAddr(a)
		if err != nil {
			return nil, false
		}
		byScript[string(s)] = a
	}
	held := make(map[wire.OutPoint]string, len(c.utxos))
	for _, u := range c.utxos {
		held[u.OutPoint] = string(u.PkScript)
	}
	touched := map[string]bool{}
	for s, a := range byScript {
		if !c.names[a.EncodeAddress()] {
			touched[s] = true // not in the kept listing: scanned now
		}
	}
	for _, tx := range txs {
		for _, o := range tx.TxOut {
			if _, ok := byScript[string(o.PkScript)]; ok {
				touched[string(o.PkScript)] = true
			}
		}
		for _, in := range tx.TxIn {
			if s, ok := held[in.PreviousOutPoint]; ok {
				touched[s] = true
			}
		}
	}
	var again []btcutil.Address
	for s := range touched {
		again = append(again, byScript[s])
	}
	fresh, err := eachAddress(ctx, again, r.btcdUTXOs)
	if err != nil {
		return nil, false
	}
	out := fresh
	for _, u := range c.utxos {
		if _, ok := byScript[string(u.PkScript)]; !ok || touched[string(u.PkScript)] {
			continue // not asked for now, or scanned again
		}
		// Untouched: its transaction was neither mined now (it would pay a touched address) nor
		// spent; a confirmed output is len(blocks) blocks deeper.
		if u.Confirmations > 0 {
			u.Confirmations += int64(len(blocks))
		}
		u.PkScript = bytes.Clone(u.PkScript)
		out = append(out, u)
	}
	sortUTXOs(out)
	return out, true
}

// rawBlock fetches a block by hash (getblock verbosity 0) and decodes it.
func (r *RPC) rawBlock(ctx context.Context, hash string) (*wire.MsgBlock, error) {
	var hx string
	if err := r.Call(ctx, "getblock", []any{hash, 0}, &hx); err != nil {
		return nil, fmt.Errorf("getblock: %w", err)
	}
	raw, err := hex.DecodeString(hx)
	if err != nil {
		return nil, fmt.Errorf("%w: getblock: not hex", ErrBackend)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: getblock: %v", ErrBackend, err)
	}
	if b.BlockHash().String() != hash {
		return nil, fmt.Errorf("%w: getblock: answer is another block", ErrBackend)
	}
	return &b, nil
}

// rawTx fetches a transaction (getrawtransaction verbose 0) and decodes it.
func (r *RPC) rawTx(ctx context.Context, txid chainhash.Hash) (*wire.MsgTx, error) {
	var hx string
	if err := r.Call(ctx, "getrawtransaction", []any{txid.String(), 0}, &hx); err != nil {
		return nil, fmt.Errorf("getrawtransaction: %w", err)
	}
	raw, err := hex.DecodeString(hx)
	if err != nil {
		return nil, fmt.Errorf("%w: getrawtransaction: not hex", ErrBackend)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: getrawtransaction: %v", ErrBackend, err)
	}
	if tx.TxHash() != txid {
		return nil, fmt.Errorf("%w: getrawtransaction: answer is another transaction", ErrBackend)
	}
	return &tx, nil
}

// maxCachedScans bounds the address sets whose last listing is kept.
const maxCachedScans = 256

// cachedScan is the last listing of one address set and the chain state it was taken at.
type cachedScan struct {
	state chainState
	utxos []UTXO
	names map[string]bool // the set's addresses
}

// uniqueNames returns the encoded addresses of addrs as a set.
func uniqueNames(addrs []btcutil.Address) map[string]bool {
	m := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		m[a.EncodeAddress()] = true
	}
	return m
}

// largestSubset returns the kept listing of the largest address set contained in addrs (scanMu
// held).
func (r *RPC) largestSubset(addrs []btcutil.Address) (*cachedScan, bool) {
	want := uniqueNames(addrs)
	var best *cachedScan
	for _, c := range r.scans {
		if len(c.names) > len(want) || (best != nil && len(c.names) <= len(best.names)) {
			continue
		}
		sub := true
		for n := range c.names {
			if !want[n] {
				sub = false
				break
			}
		}
		if sub {
			best = c
		}
	}
	return best, best != nil
}

// chainState is btcd's best block hash and mempool txids, and their digest.
type chainState struct {
	tip  string
	pool map[string]bool
	key  [32]byte
}

// addressSetKey is a digest of an address list (order and duplicates ignored).
func addressSetKey(addrs []btcutil.Address) [32]byte {
	names := make([]string, len(addrs))
	for i, a := range addrs {
		names[i] = a.EncodeAddress()
	}
	slices.Sort(names)
	names = slices.Compact(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// chainState reads btcd's best block hash and its mempool transaction ids.
func (r *RPC) chainState(ctx context.Context) (chainState, error) {
	var st chainState
	if err := r.Call(ctx, "getbestblockhash", nil, &st.tip); err != nil {
		return st, fmt.Errorf("getbestblockhash: %w", err)
	}
	var pool []string
	if err := r.Call(ctx, "getrawmempool", []any{false}, &pool); err != nil {
		return st, fmt.Errorf("getrawmempool: %w", err)
	}
	slices.Sort(pool)
	st.pool = make(map[string]bool, len(pool))
	h := sha256.New()
	h.Write([]byte(st.tip))
	for _, id := range pool {
		st.pool[id] = true
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	h.Sum(st.key[:0])
	return st, nil
}

func cloneUTXOs(us []UTXO) []UTXO {
	out := make([]UTXO, len(us))
	for i, u := range us {
		u.PkScript = bytes.Clone(u.PkScript)
		out[i] = u
	}
	return out
}
