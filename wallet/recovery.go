package wallet

// Recovery path of a Bitcoin wallet (optional, chosen at creation): its
// outputs are tr(P, and_v(v:pk(R),older(N))). The HSM spends by the key
// path with the leaf's merkle root; the user's offline recovery key R alone
// spends by the script path once an output is N blocks deep (vhsm recover).
//
// The HD address code (addresses.go) derives every address b/i of a wallet
// with a recovery path as tr(root/b/i, leaf(xpub/b/i)) (recoveryPolicy.leaf):
// the recovery key of an address is xpub/branch/index, the same index as
// the threshold child. The wallet's base address (its own key, the address
// it was created with) uses branch 0, index 0.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// RecoveryRequest is the optional recovery path of a new Bitcoin wallet.
type RecoveryRequest struct {
	// XPub is the recovery key: a BIP-32 extended public key of the
	// wallet's network, optionally with its key origin "[fingerprint/path]".
	// Never an extended private key.
	XPub string `json:"xpub"`
	// Older is the relative timelock N in blocks (1..65535): an output is
	// spendable by the recovery key once it is N blocks deep.
	Older uint32 `json:"older"`
}

// Recovery describes a wallet's recovery path.
type Recovery struct {
	XPub  string `json:"xpub"`
	Older uint32 `json:"older"`
	// Descriptor is the BIP-386/miniscript descriptor of the wallet's base
	// address, tr(KEY,and_v(v:pk(XPUB/0/0),older(N)))#checksum, what
	// vhsm recover --descriptor takes; the ranged descriptors of its derived
	// addresses are in Service.Descriptors.
	Descriptor string `json:"descriptor"`
}

// recoveryMigration creates the table of recovery paths (one row per
// wallet that has one).
const recoveryMigration = `CREATE TABLE wallet_recovery (
		wallet_id TEXT PRIMARY KEY REFERENCES wallets(id),
		xpub TEXT NOT NULL,
		older BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	)`

// recoveryPolicy is a parsed recovery path.
type recoveryPolicy struct {
	xpub  *bitcoin.DescKey // the extended key, no path
	text  string
	older uint32
}

// parseRecovery validates a recovery request for net.
func parseRecovery(req *RecoveryRequest, net *bitcoin.Network) (*recoveryPolicy, error) {
	if req == nil {
		return nil, nil
	}
	if len(req.XPub) == 0 || len(req.XPub) > 256 {
		return nil, fmt.Errorf("%w: recovery.xpub is required (a BIP-32 extended public key)", ErrInvalid)
	}
	k, err := bitcoin.ParseDescKey(req.XPub, net)
	if err != nil {
		// The parser's messages name what is wrong, never the key.
		return nil, fmt.Errorf("%w: recovery.xpub: %v", ErrInvalid, err)
	}
	if !k.Extended() || k.Wildcard() || len(k.Path(0)) != 0 {
		return nil, fmt.Errorf("%w: recovery.xpub must be an extended public key without a derivation path (addresses use xpub/0/i and xpub/1/i)", ErrInvalid)
	}
	if req.Older < 1 || req.Older > bitcoin.MaxRecoveryOlder {
		return nil, fmt.Errorf("%w: recovery.older must be 1..%d blocks", ErrInvalid, bitcoin.MaxRecoveryOlder)
	}
	return &recoveryPolicy{xpub: k, text: k.String(), older: req.Older}, nil
}

// hashParts are the request-hash parts of the policy (idempotency).
func (rp *recoveryPolicy) hashParts() []string {
	if rp == nil {
		return nil
	}
	return []string{"recovery", rp.text, strconv.FormatUint(uint64(rp.older), 10)}
}

// keyExpr returns the recovery key expression of (branch, index), or of
// branch/* when ranged.
func (rp *recoveryPolicy) keyExpr(branch, index uint32, ranged bool) (*bitcoin.DescKey, error) {
	if ranged {
		return rp.xpub.Child(true, branch)
	}
	return rp.xpub.Child(false, branch, index)
}

// leaf returns the recovery leaf of address branch/index:
// and_v(v:pk(xpub/branch/index),older(N)).
func (rp *recoveryPolicy) leaf(branch, index uint32) (*bitcoin.RecoveryLeaf, error) {
	k, err := rp.keyExpr(branch, index, false)
	if err != nil {
		return nil, err
	}
	rk, err := k.Key(0)
	if err != nil {
		return nil, err
	}
	return bitcoin.NewRecoveryLeaf(rk, rp.older)
}

// output returns the output of the threshold key internalXOnly (the
// wallet's key, or its HD child at branch/index) with the recovery leaf of
// xpub/branch/index: its pkScript and merkle root are what the address
// code shows and what the key-path signer tweaks with.
func (rp *recoveryPolicy) output(internalXOnly []byte, branch, index uint32) (*bitcoin.RecoveryOutput, error) {
	p, err := bitcoin.ParseInternalKey(internalXOnly)
	if err != nil {
		return nil, err
	}
	leaf, err := rp.leaf(branch, index)
	if err != nil {
		return nil, err
	}
	return bitcoin.NewRecoveryOutput(p, leaf)
}

// descriptor returns tr(INTERNAL,and_v(v:pk(RKEY),older(N)))#checksum for
// an internal key expression (hex x-only key, or the HD "[fp]xpub/branch/*")
// and the matching recovery key (xpub/branch/index, or xpub/branch/*).
func (rp *recoveryPolicy) descriptor(internalExpr string, branch, index uint32, ranged bool, net *bitcoin.Network) (string, error) {
	ik, err := bitcoin.ParseDescKey(internalExpr, net)
	if err != nil {
		return "", err
	}
	rk, err := rp.keyExpr(branch, index, ranged)
	if err != nil {
		return "", err
	}
	d := bitcoin.RecoveryDescriptor{Internal: ik, Recovery: rk, Older: uint16(rp.older)}
	return d.String()
}

// singleOutput is the output of a wallet's base address (branch 0, index
// 0, the wallet's own key) and its descriptor.
func (rp *recoveryPolicy) singleOutput(publicKeyHex string, net *bitcoin.Network) (*bitcoin.RecoveryOutput, string, error) {
	pub, err := hex.DecodeString(publicKeyHex)
	if err != nil {
		return nil, "", fmt.Errorf("public key is not hex")
	}
	out, err := rp.output(pub, 0, 0)
	if err != nil {
		return nil, "", err
	}
	desc, err := rp.descriptor(publicKeyHex, 0, 0, false, net)
	if err != nil {
		return nil, "", err
	}
	return out, desc, nil
}

// storeRecovery records the policy of walletID in tx.
func storeRecovery(ctx context.Context, tx dbq, walletID string, rp *recoveryPolicy, now int64) error {
	if rp == nil {
		return nil
	}
	_, err := tx.exec(ctx, `INSERT INTO wallet_recovery (wallet_id, xpub, older, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (wallet_id) DO NOTHING`,
		walletID, rp.text, int64(rp.older), now)
	return err
}

// recoveryOf loads the recovery policy of a Bitcoin wallet (nil if it has
// none).
func (s *Service) recoveryOf(ctx context.Context, r *row) (*recoveryPolicy, error) {
	if r.w.Kind != KindBitcoin {
		return nil, nil
	}
	var text string
	var older int64
	err := s.st.q().row(ctx, `SELECT xpub, older FROM wallet_recovery WHERE wallet_id = ?`, r.w.ID).Scan(&text, &older)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.dbErr("read recovery path", err)
	}
	net, err := bitcoin.NetworkByName(r.w.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: stored network %q: %v", ErrUnavailable, r.w.Network, err)
	}
	if older < 1 || older > bitcoin.MaxRecoveryOlder {
		return nil, fmt.Errorf("%w: stored recovery path of wallet %s is corrupt", ErrUnavailable, r.w.ID)
	}
	rp, err := parseRecovery(&RecoveryRequest{XPub: text, Older: uint32(older)}, net)
	if err != nil {
		return nil, fmt.Errorf("%w: stored recovery path of wallet %s is corrupt", ErrUnavailable, r.w.ID)
	}
	return rp, nil
}

// recoveryWallet returns the chain wallet of a wallet with a recovery path
// (its base address; loadHD adds the derived ones), checking that its
// address is the stored one.
func recoveryWallet(r *row, rp *recoveryPolicy, net *bitcoin.Network) (*bitcoin.Wallet, error) {
	out, _, err := rp.singleOutput(r.w.PublicKey, net)
	if err != nil {
		return nil, fmt.Errorf("%w: recovery output of wallet %s: %v", ErrUnavailable, r.w.ID, err)
	}
	w, err := bitcoin.NewRecoveryWallet(r.w.KeyID, out, net)
	if err != nil {
		return nil, fmt.Errorf("%w: recovery output of wallet %s: %v", ErrUnavailable, r.w.ID, err)
	}
	if w.Address().EncodeAddress() != r.w.Address {
		return nil, fmt.Errorf("%w: stored address of wallet %s does not match its recovery path", ErrUnavailable, r.w.ID)
	}
	return w, nil
}

// recoveryInfo is the API view of a wallet's policy (base address descriptor).
func recoveryInfo(r *row, rp *recoveryPolicy) (*Recovery, error) {
	if rp == nil {
		return nil, nil
	}
	net, err := bitcoin.NetworkByName(r.w.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: stored network %q: %v", ErrUnavailable, r.w.Network, err)
	}
	_, desc, err := rp.singleOutput(r.w.PublicKey, net)
	if err != nil {
		return nil, fmt.Errorf("%w: recovery path of wallet %s: %v", ErrUnavailable, r.w.ID, err)
	}
	return &Recovery{XPub: rp.text, Older: rp.older, Descriptor: desc}, nil
}
