package bitcoin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// PathSigner is a [Signer] that also signs for the BIP-32 unhardened child of its key at a path
// (threshold/bip32: the child key P + t·G, then the BIP-341 tweak with merkleRoot). A [Wallet] with
// derived addresses ([Wallet.SetRoot], [Wallet.AddPath]) needs one to spend from them.
type PathSigner interface {
	Signer
	SignTaprootPath(ctx context.Context, keyID string, path []uint32, sighash [32]byte, merkleRoot []byte) ([64]byte, error)
}

// ErrNoPathSigner is returned by [Wallet.Sign] when an input pays a derived address and the signer
// cannot sign for a path.
var ErrNoPathSigner = errors.New("bitcoin: signer cannot sign for derived keys")

// walletKey is one key of a wallet: the root key itself (path nil, the wallet's original address) or
// a BIP-32 child of it, each with its output: BIP-86 (key path only), or with a recovery leaf
// (merkleRoot and tapTree set, recovery.go).
type walletKey struct {
	path       []uint32
	internal   []byte // x-only internal key, 32 bytes
	output     *btcec.PublicKey
	script     []byte
	address    *btcutil.AddressTaproot
	merkleRoot []byte // the tapscript tree's root; nil for BIP-86
	tapTree    []byte // BIP-371 PSBT_OUT_TAP_TREE of that tree; nil for BIP-86
}

// SetRoot makes w an HD wallet: root must be the extended key of w's own key (the same x-only key,
// with the real Y parity and the chain code, from chains/bitcoin/hd). Afterwards [Wallet.AddPath] adds
// derived addresses. It returns ErrInvalidRequest if root is not w's key.
func (w *Wallet) SetRoot(root *hd.ExtendedKey) error {
	if root == nil || !bytes.Equal(root.PublicKey()[1:], w.internalXOn) {
		return fmt.Errorf("%w: extended key is not the wallet's key", ErrInvalidRequest)
	}
	w.root = root
	return nil
}

// Root returns the extended key set by [Wallet.SetRoot], or nil.
func (w *Wallet) Root() *hd.ExtendedKey { return w.root }

// DerivedKey is one derived address of a wallet's root: the BIP-86 output of the child at a path.
// It is immutable: derive it once ([DeriveKey]) and add it to any [Wallet] of the same root
// ([Wallet.AddKeys]).
type DerivedKey struct {
	k    walletKey
	root [4]byte // fingerprint of the root it was derived from
	cc   [32]byte
}

// Path returns the key's derivation path below the root.
func (d *DerivedKey) Path() []uint32 { return slices.Clone(d.k.path) }

// MerkleRoot returns the key's tapscript merkle root (nil for a BIP-86 key): what the key-path
// signer tweaks the child key with.
func (d *DerivedKey) MerkleRoot() []byte { return bytes.Clone(d.k.merkleRoot) }

// Address returns the key's P2TR address.
func (d *DerivedKey) Address() *btcutil.AddressTaproot { return d.k.address }

// PkScript returns a copy of the key's output script.
func (d *DerivedKey) PkScript() []byte { return bytes.Clone(d.k.script) }

// DeriveKey derives the BIP-86 address of root's unhardened child at path (non-empty, e.g. 0/i
// receive or 1/i change) on net. Errors: a hardened index, an empty path, or (probability below
// 2^-127) a path BIP-32 has no key for ([hd.ErrInvalidChild]: skip that index).
func DeriveKey(root *hd.ExtendedKey, path []uint32, net *Network) (*DerivedKey, error) {
	return DeriveRecoveryKey(root, path, nil, net)
}

// DeriveRecoveryKey is [DeriveKey] for a wallet with a recovery path: the address of root's child
// at path is tr(child, leaf) ([NewRecoveryOutput]), whose key path the threshold key signs with the
// tweak of the leaf's merkle root. A nil leaf gives the BIP-86 address ([DeriveKey]).
func DeriveRecoveryKey(root *hd.ExtendedKey, path []uint32, leaf *RecoveryLeaf, net *Network) (*DerivedKey, error) {
	if root == nil || net == nil || len(path) == 0 {
		return nil, fmt.Errorf("%w: derive needs a root, a network and a non-empty path", ErrInvalidRequest)
	}
	child, err := root.Derive(path...)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
	}
	addr, err := child.Address(net.Params)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
	}
	internal, err := schnorr.ParsePubKey(child.PublicKey()[1:])
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
	}
	if leaf != nil {
		out, err := NewRecoveryOutput(internal, leaf)
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
		}
		ra, err := out.Address(net)
		if err != nil {
			return nil, fmt.Errorf("derive %s: %w", hd.FormatPath(path), err)
		}
		return &DerivedKey{
			k: walletKey{path: slices.Clone(path), internal: child.PublicKey()[1:], output: out.OutputKey,
				script: bytes.Clone(out.PkScript), address: ra, merkleRoot: bytes.Clone(out.MerkleRoot[:]), tapTree: out.Leaf.TapTree()},
			root: root.Fingerprint(), cc: root.ChainCode(),
		}, nil
	}
	return &DerivedKey{
		k: walletKey{path: slices.Clone(path), internal: child.PublicKey()[1:], output: TaprootOutputKey(internal, nil),
			script: script, address: addr},
		root: root.Fingerprint(), cc: root.ChainCode(),
	}, nil
}

// AddKeys adds derived addresses to w (whose root must be set, [Wallet.SetRoot]): their outputs
// are then selected by [Wallet.BuildSpend] and signed by [Wallet.Sign] for their paths. A key of
// another root is refused; adding a key twice is harmless.
func (w *Wallet) AddKeys(keys ...*DerivedKey) error {
	if w.root == nil {
		return fmt.Errorf("%w: wallet has no extended key", ErrInvalidRequest)
	}
	fp, cc := w.root.Fingerprint(), w.root.ChainCode()
	for _, d := range keys {
		if d == nil || d.root != fp || d.cc != cc {
			return fmt.Errorf("%w: derived key of another root", ErrInvalidRequest)
		}
	}
	if w.keys == nil {
		w.keys = make(map[string]*walletKey, len(keys))
	}
	for _, d := range keys {
		w.keys[string(d.k.script)] = &d.k
	}
	return nil
}

// AddPath derives the address at path ([DeriveKey]), adds it ([Wallet.AddKeys]) and returns it.
func (w *Wallet) AddPath(path []uint32) (*btcutil.AddressTaproot, error) {
	if w.root == nil {
		return nil, fmt.Errorf("%w: wallet has no extended key", ErrInvalidRequest)
	}
	if len(path) == 0 {
		return w.address, nil
	}
	d, err := DeriveKey(w.root, path, w.Network)
	if err != nil {
		return nil, err
	}
	if err := w.AddKeys(d); err != nil {
		return nil, err
	}
	return d.k.address, nil
}

// SetChange sends the change of [Wallet.BuildSpend] to the derived address at path, which must
// have been added with [Wallet.AddPath]; nil restores the wallet's own address.
func (w *Wallet) SetChange(path []uint32) error {
	if len(path) == 0 {
		w.change = nil
		return nil
	}
	for _, k := range w.keys {
		if slices.Equal(k.path, path) {
			w.change = k
			return nil
		}
	}
	return fmt.Errorf("%w: change path %s not added", ErrInvalidRequest, hd.FormatPath(path))
}

// Owns reports whether script pays one of the wallet's addresses: its own or an added one.
func (w *Wallet) Owns(script []byte) bool { return w.keyOf(script) != nil }

// PathOf returns the derivation path of the wallet address paid by script (empty for the wallet's
// own address) and whether script is the wallet's at all.
func (w *Wallet) PathOf(script []byte) ([]uint32, bool) {
	k := w.keyOf(script)
	if k == nil {
		return nil, false
	}
	return slices.Clone(k.path), true
}

// keyOf returns the key paying script, or nil.
func (w *Wallet) keyOf(script []byte) *walletKey {
	if bytes.Equal(script, w.pkScript) {
		return &walletKey{internal: w.internalXOn, output: w.output, script: w.pkScript, address: w.address,
			merkleRoot: w.merkleRoot, tapTree: w.tapTree}
	}
	return w.keys[string(script)]
}

// changeKey returns the key change goes to.
func (w *Wallet) changeKey() *walletKey {
	if w.change != nil {
		return w.change
	}
	return w.keyOf(w.pkScript)
}

// annotate writes BIP-371 Taproot data of the wallet's keys into pkt: the internal key of every
// input (and of the change output), and for derived keys PSBT_IN/OUT_TAP_BIP32_DERIVATION with the
// root's fingerprint and the path, which lets other signers and watch-only tools recognise them.
func (w *Wallet) annotate(pkt *psbt.Packet, changeIndex int) {
	w.annotateKeys(pkt, changeIndex, w.changeKey())
}

// AnnotatePSBT writes the BIP-371 data of the wallet's keys into a PSBT built from the wallet's
// outputs elsewhere (a fee bump): PSBT_IN_TAP_INTERNAL_KEY, PSBT_IN_TAP_MERKLE_ROOT and
// PSBT_IN_TAP_BIP32_DERIVATION of every input whose witness_utxo pays one of the wallet's addresses,
// and the PSBT_OUT_ fields of the output at changeIndex (-1: none) if it pays one.
func (w *Wallet) AnnotatePSBT(pkt *psbt.Packet, changeIndex int) {
	var k *walletKey
	if changeIndex >= 0 && changeIndex < len(pkt.UnsignedTx.TxOut) {
		k = w.keyOf(pkt.UnsignedTx.TxOut[changeIndex].PkScript)
	}
	if k == nil {
		changeIndex = -1
	}
	w.annotateKeys(pkt, changeIndex, k)
}

func (w *Wallet) annotateKeys(pkt *psbt.Packet, changeIndex int, change *walletKey) {
	deriv := w.derivation
	for i := range pkt.Inputs {
		in := &pkt.Inputs[i]
		if in.WitnessUtxo == nil {
			continue
		}
		if k := w.keyOf(in.WitnessUtxo.PkScript); k != nil {
			in.TaprootInternalKey = bytes.Clone(k.internal)
			in.TaprootBip32Derivation = deriv(k)
			// A recovery leaf: BIP-371 PSBT_IN_TAP_MERKLE_ROOT, what the key path is tweaked with.
			in.TaprootMerkleRoot = bytes.Clone(k.merkleRoot)
		}
	}
	if changeIndex >= 0 {
		k := change
		pkt.Outputs[changeIndex].TaprootInternalKey = bytes.Clone(k.internal)
		pkt.Outputs[changeIndex].TaprootBip32Derivation = deriv(k)
		pkt.Outputs[changeIndex].TaprootTapTree = bytes.Clone(k.tapTree)
	}
}

// derivation returns BIP-371 PSBT_IN/OUT_TAP_BIP32_DERIVATION of a derived key (root fingerprint and
// path, no leaf hashes: the threshold key signs the key path only), nil for the wallet's own key.
func (w *Wallet) derivation(k *walletKey) []*psbt.TaprootBip32Derivation {
	if w.root == nil || len(k.path) == 0 {
		return nil
	}
	fp := w.root.Fingerprint()
	return []*psbt.TaprootBip32Derivation{{
		XOnlyPubKey:          bytes.Clone(k.internal),
		MasterKeyFingerprint: uint32(fp[0]) | uint32(fp[1])<<8 | uint32(fp[2])<<16 | uint32(fp[3])<<24,
		Bip32Path:            slices.Clone(k.path),
	}}
}

// signKey asks signer for a key-path signature of digest by key k: the wallet's own key, or a derived
// child by its path (through [PathSigner]), tweaked with k's merkle root (nil: BIP-86).
func (w *Wallet) signKey(ctx context.Context, signer Signer, k *walletKey, digest [32]byte) ([64]byte, error) {
	if len(k.path) == 0 {
		return signer.SignTaproot(ctx, w.KeyID, digest, k.merkleRoot)
	}
	if ps, ok := signer.(PathSigner); ok {
		return ps.SignTaprootPath(ctx, w.KeyID, k.path, digest, k.merkleRoot)
	}
	return [64]byte{}, ErrNoPathSigner
}
