package bitcoin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
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

// btcdUTXOsOf lists the unspent outputs of addrs on btcd: one searchrawtransactions scan per address
// (at most 8 in flight), or, when the chain has not changed since the last scan of the same address
// set, that scan's result. "Not changed" is the chain state key: the best block hash and the set of
// mempool transaction ids, read before and after the scan; only a scan with the same key on both
// sides is kept. Any new block, reorganisation or mempool change (a payment arriving, a transaction
// leaving) changes the key and forces a scan. A wallet with many addresses asks two cheap calls
// instead of one scan per address while nothing happens on chain.
func (r *RPC) btcdUTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error) {
	set := addressSetKey(addrs)
	before, err := r.chainStateKey(ctx)
	if err != nil {
		return nil, err
	}
	r.scanMu.Lock()
	c, ok := r.scans[set]
	r.scanMu.Unlock()
	if ok && c.state == before {
		return cloneUTXOs(c.utxos), nil
	}
	us, err := eachAddress(ctx, addrs, r.btcdUTXOs)
	if err != nil {
		return nil, err
	}
	after, err := r.chainStateKey(ctx)
	if err != nil {
		return nil, err
	}
	if after == before {
		r.scanMu.Lock()
		if r.scans == nil || len(r.scans) >= maxCachedScans {
			r.scans = map[[32]byte]cachedScan{}
		}
		r.scans[set] = cachedScan{state: before, utxos: cloneUTXOs(us)}
		r.scanMu.Unlock()
	}
	return us, nil
}

// maxCachedScans bounds the address sets whose last scan is kept.
const maxCachedScans = 256

// cachedScan is the last scan of one address set, valid while the chain state key is state.
type cachedScan struct {
	state [32]byte
	utxos []UTXO
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

// chainStateKey digests btcd's best block hash and its sorted mempool transaction ids.
func (r *RPC) chainStateKey(ctx context.Context) ([32]byte, error) {
	var best string
	if err := r.Call(ctx, "getbestblockhash", nil, &best); err != nil {
		return [32]byte{}, fmt.Errorf("getbestblockhash: %w", err)
	}
	var pool []string
	if err := r.Call(ctx, "getrawmempool", []any{false}, &pool); err != nil {
		return [32]byte{}, fmt.Errorf("getrawmempool: %w", err)
	}
	slices.Sort(pool)
	h := sha256.New()
	h.Write([]byte(best))
	for _, id := range pool {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

func cloneUTXOs(us []UTXO) []UTXO {
	out := make([]UTXO, len(us))
	for i, u := range us {
		u.PkScript = bytes.Clone(u.PkScript)
		out[i] = u
	}
	return out
}
