package wallet

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/hd"
	"github.com/vhsm/vhsm/replica/client"
)

// Derived addresses.
//
// Every Bitcoin wallet's threshold key is the root of a BIP-32 tree
// (chains/bitcoin/hd): the group key P with the chain code of its DKG
// commitment, computed from the key's public information (client.KeyRoot)
// the first time it is needed and stored in wallet_hd. Receive addresses
// are the BIP-86 outputs of root/0/i, change addresses of root/1/i; the
// replicas sign for them with the shares they hold (the child key is
// P + t·G with t public). The wallet's original address (GET …/address,
// the BIP-86 output of P itself) stays watched and spendable forever, so
// wallets created before derived addresses keep working unchanged; it is
// the "base" address and is described by its own descriptor.
//
// wallet_addresses holds every derived address handed out, with a used
// flag: set when an output paying it is seen, and at once for change.

// GapLimit is BIP-44's address gap limit: [Service.NewAddress] refuses to
// hand out a receive address while the last GapLimit handed-out receive
// addresses are all unused, so that a wallet restored from its descriptor
// (which scans GapLimit addresses past the last used one) finds every
// payment.
const GapLimit = 20

// Address branches.
const (
	BranchBase    = "base"    // the wallet's own key (path ""), its original address
	BranchReceive = "receive" // root/0/i
	BranchChange  = "change"  // root/1/i
)

// Address is one address of a Bitcoin wallet.
type Address struct {
	Address string `json:"address"`
	Branch  string `json:"branch"` // BranchBase, BranchReceive or BranchChange
	Index   uint32 `json:"index"`  // i of root/0/i or root/1/i; 0 for the base address
	Path    string `json:"path"`   // "0/5", "1/2"; "" for the base address
	Used    bool   `json:"used"`   // an output paying it has been seen (change: at once)
	// Balance is the value of its unspent outputs (confirmed and
	// unconfirmed, locked or not), set only when asked for.
	Balance   *int64    `json:"balance,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Descriptors are a wallet's BIP-380/386 output descriptors, for a
// watch-only wallet elsewhere (Bitcoin Core importdescriptors, Sparrow).
type Descriptors struct {
	// Receive and Change are tr([fingerprint]xpub/0/*)#checksum and
	// tr([fingerprint]xpub/1/*)#checksum: ranged, BIP-86 outputs of the
	// derived addresses. A wallet with a recovery path has
	// tr([fingerprint]xpub/0/*,and_v(v:pk(RXPUB/0/*),older(N)))#checksum
	// (and /1/* for change) instead.
	Receive string `json:"receive"`
	Change  string `json:"change"`
	// Base is tr([fingerprint]xpub)#checksum: the wallet's own address
	// (with a recovery path tr([fingerprint]xpub,and_v(v:pk(RXPUB/0/0),older(N)))).
	Base string `json:"base"`
	// XPub is the root extended public key (tpub on test networks);
	// Fingerprint its BIP-32 fingerprint (hex), the key origin above.
	XPub        string `json:"xpub"`
	Fingerprint string `json:"fingerprint"`
	// GapLimit is the number of unused addresses past the last used one a
	// scanner must look at (20).
	GapLimit int `json:"gap_limit"`
}

const (
	branchReceive = hd.ReceiveBranch
	branchChange  = hd.ChangeBranch
)

func branchName(b uint32) string {
	if b == branchChange {
		return BranchChange
	}
	return BranchReceive
}

// hdCache keeps each wallet's root and derived keys in memory: a key is
// derived once per process, not at every balance.
type hdCache struct {
	mu sync.Mutex
	m  map[string]*hdState
}

// hdState is one wallet's tree.
type hdState struct {
	root *hd.ExtendedKey
	net  *bitcoin.Network
	// rp is the wallet's recovery path (nil: none): address b/i is then
	// tr(root/b/i, and_v(v:pk(recovery_xpub/b/i), older(N))).
	rp   *recoveryPolicy
	mu   sync.Mutex
	keys map[[2]uint32]*bitcoin.DerivedKey
}

// key returns the derived key root/branch/idx.
func (h *hdState) key(branch, idx uint32) (*bitcoin.DerivedKey, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.keys[[2]uint32{branch, idx}]
	if k != nil {
		return k, nil
	}
	var leaf *bitcoin.RecoveryLeaf
	if h.rp != nil {
		var err error
		if leaf, err = h.rp.leaf(branch, idx); err != nil {
			return nil, err
		}
	}
	k, err := bitcoin.DeriveRecoveryKey(h.root, []uint32{branch, idx}, leaf, h.net)
	if err != nil {
		return nil, err
	}
	h.keys[[2]uint32{branch, idx}] = k
	return k, nil
}

// hdOf returns the wallet's tree: from memory, from wallet_hd, or computed
// from the key's public information (asked from the HSM once) and stored.
func (s *Service) hdOf(ctx context.Context, r *row) (*hdState, error) {
	s.hd.mu.Lock()
	h := s.hd.m[r.w.ID]
	s.hd.mu.Unlock()
	if h != nil {
		return h, nil
	}
	net, err := bitcoin.NetworkByName(r.w.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: stored network %q: %v", ErrUnavailable, r.w.Network, err)
	}
	var gk, cc string
	err = s.st.q().row(ctx, `SELECT group_key, chain_code FROM wallet_hd WHERE wallet_id = ?`, r.w.ID).Scan(&gk, &cc)
	var groupKey []byte
	var chainCode [32]byte
	switch {
	case err == nil:
		groupKey, err = hex.DecodeString(gk)
		ccb, err2 := hex.DecodeString(cc)
		if err != nil || err2 != nil || len(ccb) != 32 {
			return nil, fmt.Errorf("%w: stored extended key of wallet %s is corrupt", ErrUnavailable, r.w.ID)
		}
		copy(chainCode[:], ccb)
	case errors.Is(err, sql.ErrNoRows):
		if s.hsm == nil {
			return nil, fmt.Errorf("%w: no HSM to read the wallet's key from", ErrUnavailable)
		}
		info, err := s.hsm.PublicKey(ctx, r.w.KeyID)
		if err != nil {
			return nil, hsmErr("read wallet key", err)
		}
		if groupKey, chainCode, err = client.KeyRoot(info); err != nil {
			return nil, fmt.Errorf("%w: wallet key: %v", ErrUnavailable, err)
		}
		if _, err := s.st.q().exec(ctx, `INSERT INTO wallet_hd (wallet_id, group_key, chain_code, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (wallet_id) DO NOTHING`, r.w.ID, hex.EncodeToString(groupKey), hex.EncodeToString(chainCode[:]), s.nowNano()); err != nil {
			return nil, s.dbErr("store extended key", err)
		}
	default:
		return nil, s.dbErr("read extended key", err)
	}
	// The tree must be the wallet's key: its x-only key is the stored one.
	if len(groupKey) != 33 || hex.EncodeToString(groupKey[1:]) != r.w.PublicKey {
		return nil, fmt.Errorf("%w: extended key of wallet %s does not match its public key", ErrUnavailable, r.w.ID)
	}
	root, err := hd.NewRoot(groupKey, chainCode)
	if err != nil {
		return nil, fmt.Errorf("%w: extended key of wallet %s: %v", ErrUnavailable, r.w.ID, err)
	}
	rp, err := s.recoveryOf(ctx, r)
	if err != nil {
		return nil, err
	}
	h = &hdState{root: root, net: net, rp: rp, keys: map[[2]uint32]*bitcoin.DerivedKey{}}
	s.hd.mu.Lock()
	if s.hd.m == nil {
		s.hd.m = map[string]*hdState{}
	}
	if prev := s.hd.m[r.w.ID]; prev != nil {
		h = prev
	} else {
		s.hd.m[r.w.ID] = h
	}
	s.hd.mu.Unlock()
	return h, nil
}

// addrRow is a wallet_addresses row.
type addrRow struct {
	branch, idx uint32
	address     string
	used        bool
	created     int64
}

// addressRows reads a wallet's derived addresses, by branch and index.
func (s *Service) addressRows(ctx context.Context, q dbq, walletID string) ([]addrRow, error) {
	rows, err := q.query(ctx, `SELECT branch, idx, address, used, created_at FROM wallet_addresses WHERE wallet_id = ? ORDER BY branch, idx`, walletID)
	if err != nil {
		return nil, s.dbErr("read addresses", err)
	}
	defer rows.Close()
	var out []addrRow
	for rows.Next() {
		var a addrRow
		var b, i, used int64
		if err := rows.Scan(&b, &i, &a.address, &used, &a.created); err != nil {
			return nil, s.dbErr("read addresses", err)
		}
		if b < 0 || b > 1 || i < 0 || i >= int64(hd.HardenedOffset) {
			return nil, fmt.Errorf("%w: stored address %d/%d of wallet %s is corrupt", ErrUnavailable, b, i, walletID)
		}
		a.branch, a.idx, a.used = uint32(b), uint32(i), used != 0
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("read addresses", err)
	}
	return out, nil
}

// loadHD makes bw an HD wallet: it sets the root and adds every stored
// derived address, so that listing, spending and signing cover them all.
// A wallet whose extended key cannot be had (its root not stored yet and
// the HSM unreachable) stays a one-address wallet for this call: it has
// no derived addresses yet, and its change goes to its own address.
func (s *Service) loadHD(ctx context.Context, bw *btcWallet) error {
	h, err := s.hdOf(ctx, bw.r)
	if err != nil {
		if errors.Is(err, ErrUnavailable) && !s.hasHD(ctx, bw.r.w.ID) {
			s.log.Warn("extended_key_unavailable", "wallet_id", bw.r.w.ID, "error", err.Error())
			return nil
		}
		return err
	}
	rows, err := s.addressRows(ctx, s.st.q(), bw.r.w.ID)
	if err != nil {
		return err
	}
	if err := bw.w.SetRoot(h.root); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	keys := make([]*bitcoin.DerivedKey, 0, len(rows))
	for _, a := range rows {
		k, err := h.key(a.branch, a.idx)
		if err != nil {
			return fmt.Errorf("%w: derive %d/%d: %v", ErrUnavailable, a.branch, a.idx, err)
		}
		if k.Address().EncodeAddress() != a.address {
			return fmt.Errorf("%w: stored address %d/%d of wallet %s does not match its key", ErrUnavailable, a.branch, a.idx, bw.r.w.ID)
		}
		keys = append(keys, k)
	}
	if err := bw.w.AddKeys(keys...); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	bw.hd, bw.addrs = h, rows
	return nil
}

// hasHD reports whether the wallet has a stored root (and so may have
// derived addresses that must not be left out).
func (s *Service) hasHD(ctx context.Context, walletID string) bool {
	var n int
	err := s.st.q().row(ctx, `SELECT COUNT(*) FROM wallet_hd WHERE wallet_id = ?`, walletID).Scan(&n)
	return err != nil || n > 0
}

// watched returns every address of bw: its own, then the derived ones.
func (bw *btcWallet) watched() []btcutil.Address {
	out := make([]btcutil.Address, 0, 1+len(bw.addrs))
	out = append(out, bw.w.Address())
	for _, a := range bw.addrs {
		if k, err := bw.hd.key(a.branch, a.idx); err == nil {
			out = append(out, k.Address())
		}
	}
	return out
}

// listUTXOs asks the backend for the unspent outputs of every address of
// bw and marks the derived addresses they pay as used.
func (s *Service) listUTXOs(ctx context.Context, bw *btcWallet) ([]bitcoin.UTXO, error) {
	us, err := bitcoin.UTXOsOf(ctx, bw.be, bw.watched())
	if err != nil {
		return nil, chainErr("list utxos", err)
	}
	if err := s.markUsed(ctx, bw, us); err != nil {
		return nil, err
	}
	return us, nil
}

// markUsed sets the used flag of every derived address of bw that one of
// us pays.
func (s *Service) markUsed(ctx context.Context, bw *btcWallet, us []bitcoin.UTXO) error {
	if len(bw.addrs) == 0 {
		return nil
	}
	paid := map[string]bool{}
	for _, u := range us {
		paid[string(u.PkScript)] = true
	}
	for i := range bw.addrs {
		a := &bw.addrs[i]
		if a.used {
			continue
		}
		k, err := bw.hd.key(a.branch, a.idx)
		if err != nil || !paid[string(k.PkScript())] {
			continue
		}
		if _, err := s.st.q().exec(ctx, `UPDATE wallet_addresses SET used = 1 WHERE wallet_id = ? AND branch = ? AND idx = ?`,
			bw.r.w.ID, a.branch, a.idx); err != nil {
			return s.dbErr("mark address used", err)
		}
		a.used = true
	}
	return nil
}

// errGap reports a full gap inside the hand-out transaction.
var errGap = errors.New("gap limit reached")

// NewAddress hands out the wallet's next receive address root/0/i: each
// call a new one, never the same to two callers (the index is taken in a
// database transaction; the (wallet, branch, index) primary key settles a
// race). It needs no DKG and no signature. While the last [GapLimit]
// handed-out receive addresses are all unused it first asks the chain
// backend whether they have been paid meanwhile, and if none has, it
// refuses with ErrConflict: use one of them (ListAddresses) first.
// On Bitcoin Core the address is imported into the watch-only wallet at
// once (no rescan: it is new).
func (s *Service) NewAddress(ctx context.Context, walletID string) (*Address, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if bw.hd == nil {
		return nil, fmt.Errorf("%w: the wallet's extended key is not available yet (HSM unreachable)", ErrUnavailable)
	}
	refreshed := false
	for attempt := 0; attempt < 8; attempt++ {
		a, err := s.takeAddress(ctx, bw, branchReceive, true)
		if errors.Is(err, errGap) && !refreshed {
			// The DB says the gap is full; the chain may know better.
			refreshed = true
			if _, err := s.listUTXOs(ctx, bw); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, errGap) {
			return nil, fmt.Errorf("%w: the last %d receive addresses handed out are all unused (gap limit); use one of them (GET /v1/wallets/%s/addresses) before asking for another",
				ErrConflict, GapLimit, walletID)
		}
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if addr, err := bitcoin.ParseAddress(a.Address, bw.net); err == nil {
			s.watch(ctx, bw, addr)
		}
		s.log.Info("address_handed_out", "wallet_id", walletID, "path", a.Path)
		return a, nil
	}
	return nil, fmt.Errorf("%w: concurrent address requests; retry", ErrUnavailable)
}

// watch imports a new address (handed out, or the change of a stored
// spend before it is signed and broadcast) into a backend that needs it
// (Bitcoin Core's watch-only wallet), from "now": it has no history. A
// failure is logged only: the next listing imports it again.
func (s *Service) watch(ctx context.Context, bw *btcWallet, addr btcutil.Address) {
	im, ok := bw.be.(interface {
		ImportAddress(ctx context.Context, addr btcutil.Address, rescanFrom time.Time) error
	})
	if !ok {
		return
	}
	if err := im.ImportAddress(ctx, addr, time.Time{}); err != nil {
		s.log.Warn("address_import_failed", "wallet_id", bw.r.w.ID, "error", err.Error())
	}
}

// takeAddress stores the next address of branch in one transaction and
// returns it; with gap set it returns errGap when the last GapLimit
// addresses of the branch are all unused. errRetry means a concurrent
// hand-out took the index.
func (s *Service) takeAddress(ctx context.Context, bw *btcWallet, branch uint32, gap bool) (*Address, error) {
	var out *Address
	err := s.st.inTx(ctx, func(tx dbq) error {
		var one int
		if s.st.dialect == dialectPostgres {
			// One hand-out per wallet at a time (SQLite transactions are
			// already serialized): the gap count and the index stay exact.
			if err := tx.row(ctx, `SELECT 1 FROM wallets WHERE id = ? FOR UPDATE`, bw.r.w.ID).Scan(&one); err != nil {
				return err
			}
		}
		if gap {
			var unused int
			if err := tx.row(ctx, `SELECT COUNT(*) FROM wallet_addresses WHERE wallet_id = ? AND branch = ? AND used = 0
				AND idx > COALESCE((SELECT MAX(idx) FROM wallet_addresses WHERE wallet_id = ? AND branch = ? AND used = 1), -1)`,
				bw.r.w.ID, branch, bw.r.w.ID, branch).Scan(&unused); err != nil {
				return err
			}
			if unused >= GapLimit {
				return errGap
			}
		}
		a, err := s.insertNext(ctx, tx, bw, branch, false)
		out = a
		return err
	})
	if err != nil {
		if errors.Is(err, errGap) || errors.Is(err, errRetry) {
			return nil, err
		}
		return nil, s.dbErr("hand out address", err)
	}
	return out, nil
}

// insertNext inserts root/branch/(max+1) (skipping, with probability below
// 2^-127, an index BIP-32 has no key for) inside tx.
func (s *Service) insertNext(ctx context.Context, tx dbq, bw *btcWallet, branch uint32, used bool) (*Address, error) {
	var max sql.NullInt64
	if err := tx.row(ctx, `SELECT MAX(idx) FROM wallet_addresses WHERE wallet_id = ? AND branch = ?`, bw.r.w.ID, branch).Scan(&max); err != nil {
		return nil, err
	}
	next := int64(0)
	if max.Valid {
		next = max.Int64 + 1
	}
	for ; next < int64(hd.HardenedOffset); next++ {
		k, err := bw.hd.key(branch, uint32(next))
		if errors.Is(err, hd.ErrInvalidChild) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: derive %d/%d: %v", ErrUnavailable, branch, next, err)
		}
		now := s.nowNano()
		u := int64(0)
		if used {
			u = 1
		}
		_, err = tx.exec(ctx, `INSERT INTO wallet_addresses (wallet_id, branch, idx, address, used, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			bw.r.w.ID, branch, next, k.Address().EncodeAddress(), u, now)
		if isUnique(err) {
			return nil, errRetry
		}
		if err != nil {
			return nil, err
		}
		return &Address{Address: k.Address().EncodeAddress(), Branch: branchName(branch), Index: uint32(next),
			Path: hd.FormatPath([]uint32{branch, uint32(next)}), Used: used, CreatedAt: fromNano(now)}, nil
	}
	return nil, fmt.Errorf("%w: no %s index left", ErrConflict, branchName(branch))
}

// nextChange prepares the change address of a spend from bw: the next
// unused index of the change branch, added to bw.w as its change address.
// It is stored (claimed) only with the transaction that pays it
// (claimChange), so a dry run or a failed build takes no index.
func (s *Service) nextChange(ctx context.Context, bw *btcWallet) error {
	if bw.hd == nil {
		return nil // one-address wallet: change to its own address
	}
	var max sql.NullInt64
	if err := s.st.q().row(ctx, `SELECT MAX(idx) FROM wallet_addresses WHERE wallet_id = ? AND branch = ?`, bw.r.w.ID, branchChange).Scan(&max); err != nil {
		return s.dbErr("read change index", err)
	}
	next := int64(0)
	if max.Valid {
		next = max.Int64 + 1
	}
	for ; next < int64(hd.HardenedOffset); next++ {
		k, err := bw.hd.key(branchChange, uint32(next))
		if errors.Is(err, hd.ErrInvalidChild) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: derive change: %v", ErrUnavailable, err)
		}
		if err := bw.w.AddKeys(k); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if err := bw.w.SetChange(k.Path()); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		bw.change = k
		return nil
	}
	return fmt.Errorf("%w: no change index left", ErrConflict)
}

// claimChange stores the change address a built spend pays (nextChange),
// used, inside the transaction that stores the spend: a concurrent spend
// that prepared the same index loses on the primary key (errRetry) and
// builds again with the next one.
func (s *Service) claimChange(ctx context.Context, tx dbq, bw *btcWallet, changeIndex int) error {
	if bw.change == nil || changeIndex < 0 {
		return nil
	}
	p := bw.change.Path()
	_, err := tx.exec(ctx, `INSERT INTO wallet_addresses (wallet_id, branch, idx, address, used, created_at) VALUES (?, ?, ?, ?, 1, ?)`,
		bw.r.w.ID, p[0], p[1], bw.change.Address().EncodeAddress(), s.nowNano())
	if isUnique(err) {
		return errRetry
	}
	return err
}

// ListAddresses returns the wallet's base address and every derived
// address handed out (receive) or used as change, by branch and index.
// With balances, each carries the value of its unspent outputs (one
// listing of the wallet's UTXOs from the chain backend).
func (s *Service) ListAddresses(ctx context.Context, walletID string, balances bool) ([]Address, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	out := make([]Address, 0, 1+len(bw.addrs))
	out = append(out, Address{Address: bw.w.Address().EncodeAddress(), Branch: BranchBase, CreatedAt: bw.r.w.CreatedAt})
	scripts := [][]byte{bw.w.PkScript()}
	for _, a := range bw.addrs {
		k, err := bw.hd.key(a.branch, a.idx)
		if err != nil {
			return nil, fmt.Errorf("%w: derive %d/%d: %v", ErrUnavailable, a.branch, a.idx, err)
		}
		out = append(out, Address{Address: a.address, Branch: branchName(a.branch), Index: a.idx,
			Path: hd.FormatPath([]uint32{a.branch, a.idx}), Used: a.used, CreatedAt: fromNano(a.created)})
		scripts = append(scripts, k.PkScript())
	}
	if balances {
		us, err := s.listUTXOs(ctx, bw)
		if err != nil {
			return nil, err
		}
		sum := map[string]int64{}
		for _, u := range us {
			sum[string(u.PkScript)] += u.Value
		}
		for i := range out {
			v := sum[string(scripts[i])]
			out[i].Balance = &v
			if v > 0 && out[i].Branch != BranchBase {
				out[i].Used = true // markUsed stored it
			}
		}
	}
	return out, nil
}

// Descriptors returns the wallet's output descriptors (receive, change and
// base) and its extended public key, for a watch-only wallet elsewhere:
// they list and link every address of the wallet (as any xpub does) but
// cannot spend.
func (s *Service) Descriptors(ctx context.Context, walletID string) (*Descriptors, error) {
	r, err := s.walletRow(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if r.w.Kind != KindBitcoin {
		return nil, fmt.Errorf("%w: wallet %s is a %s, not a Bitcoin wallet", ErrUnsupported, r.w.ID, r.w.Kind)
	}
	h, err := s.hdOf(ctx, r)
	if err != nil {
		return nil, err
	}
	d := &Descriptors{GapLimit: GapLimit}
	if d.Receive, err = hd.Descriptor(h.root, branchReceive, h.net.Params); err != nil {
		return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
	}
	if d.Change, err = hd.Descriptor(h.root, branchChange, h.net.Params); err != nil {
		return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
	}
	if d.XPub, err = h.root.String(h.net.Params); err != nil {
		return nil, fmt.Errorf("%w: xpub: %v", ErrUnavailable, err)
	}
	fp := h.root.Fingerprint()
	d.Fingerprint = hex.EncodeToString(fp[:])
	// BIP-386 tr(KEY) with KEY the root xpub itself, no derivation step:
	// the BIP-86 output of P, the wallet's base address.
	if d.Base, err = hd.WithChecksum(fmt.Sprintf("tr([%s]%s)", d.Fingerprint, d.XPub)); err != nil {
		return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
	}
	if h.rp != nil {
		// A recovery path: every address carries the leaf of the recovery
		// key with the same branch and index (recovery.go),
		// tr([fp]xpub/b/*,and_v(v:pk(RXPUB/b/*),older(N))); the base
		// address the leaf of RXPUB/0/0.
		origin := "[" + d.Fingerprint + "]" + d.XPub
		if d.Receive, err = h.rp.descriptor(fmt.Sprintf("%s/%d/*", origin, branchReceive), branchReceive, 0, true, h.net); err != nil {
			return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
		}
		if d.Change, err = h.rp.descriptor(fmt.Sprintf("%s/%d/*", origin, branchChange), branchChange, 0, true, h.net); err != nil {
			return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
		}
		if d.Base, err = h.rp.descriptor(origin, 0, 0, false, h.net); err != nil {
			return nil, fmt.Errorf("%w: descriptor: %v", ErrUnavailable, err)
		}
	}
	return d, nil
}
