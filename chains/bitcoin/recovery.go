package bitcoin

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Recovery leaf constants.
const (
	// TapLeafVersion is BIP-342's tapscript leaf version, 0xc0.
	TapLeafVersion = 0xc0
	// MaxRecoveryOlder is the largest relative timelock of a recovery leaf: BIP-68 block-based lock
	// times carry 16 bits of blocks (type flag bit 22 clear), so 65535 blocks (about 455 days).
	MaxRecoveryOlder = 0xffff
)

// ErrRecovery reports an invalid recovery configuration (key, timelock, descriptor) or a recovery
// output that cannot be built.
var ErrRecovery = errors.New("bitcoin: invalid recovery path")

// RecoveryLeaf is the one tapscript leaf of a wallet output with a recovery path, the miniscript
// and_v(v:pk(K),older(N)): spendable by the recovery key K alone once the output is N blocks deep.
type RecoveryLeaf struct {
	Key   [32]byte // x-only recovery key K (BIP-340)
	Older uint16   // relative timelock N in blocks, 1..65535
}

// NewRecoveryLeaf returns the leaf for the recovery key key and timelock older (1..65535 blocks).
func NewRecoveryLeaf(key *btcec.PublicKey, older uint32) (*RecoveryLeaf, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no recovery key", ErrRecovery)
	}
	if older < 1 || older > MaxRecoveryOlder {
		return nil, fmt.Errorf("%w: older must be 1..%d blocks, got %d", ErrRecovery, MaxRecoveryOlder, older)
	}
	l := &RecoveryLeaf{Older: uint16(older)}
	copy(l.Key[:], schnorr.SerializePubKey(key))
	return l, nil
}

// Script returns the leaf's tapscript. Miniscript compiles pk(K) to c:pk_k(K) = <K> CHECKSIG, the v:
// wrapper turns the final CHECKSIG into CHECKSIGVERIFY, older(N) is <N> CHECKSEQUENCEVERIFY and
// and_v(X,Y) is [X] [Y]:
//
//	<K> OP_CHECKSIGVERIFY <N> OP_CHECKSEQUENCEVERIFY
//
// with K a 32-byte push (BIP-342 x-only key) and N minimally encoded (OP_1..OP_16, else a script
// number). CHECKSEQUENCEVERIFY leaves N (non-zero) on the stack, which makes the script succeed.
func (l *RecoveryLeaf) Script() []byte {
	s := make([]byte, 0, 40)
	s = append(s, txscript.OP_DATA_32)
	s = append(s, l.Key[:]...)
	s = append(s, txscript.OP_CHECKSIGVERIFY)
	s = appendScriptNum(s, int64(l.Older))
	s = append(s, txscript.OP_CHECKSEQUENCEVERIFY)
	return s
}

// appendScriptNum appends the minimal push of n ≥ 1 (BIP-62 minimal push, as miniscript writes it):
// OP_1..OP_16 for 1..16, else the little-endian sign-magnitude script number with its length.
func appendScriptNum(s []byte, n int64) []byte {
	if n >= 1 && n <= 16 {
		return append(s, byte(txscript.OP_1-1+n))
	}
	var num []byte
	for v := n; v > 0; v >>= 8 {
		num = append(num, byte(v))
	}
	if num[len(num)-1]&0x80 != 0 {
		num = append(num, 0) // the top bit is the sign: add a byte to keep n positive
	}
	s = append(s, byte(len(num)))
	return append(s, num...)
}

// TapTree returns the BIP-371 PSBT_OUT_TAP_TREE value of the one-leaf tree: for each leaf in depth-first
// order, <depth> <leaf version> <compact_size script length> <script>; here depth 0, version 0xc0.
func (l *RecoveryLeaf) TapTree() []byte {
	script := l.Script()
	var b bytes.Buffer
	b.Write([]byte{0, TapLeafVersion})
	_ = wire.WriteVarInt(&b, 0, uint64(len(script))) // a bytes.Buffer write cannot fail
	b.Write(script)
	return b.Bytes()
}

// LeafHash returns BIP-341's tapleaf hash of the leaf ([tapLeafHash] of its script).
func (l *RecoveryLeaf) LeafHash() [32]byte { return tapLeafHash(l.Script()) }

// tapLeafHash is BIP-341's hash_TapLeaf(0xc0 ‖ compact_size(len(script)) ‖ script).
func tapLeafHash(script []byte) [32]byte {
	var size bytes.Buffer
	_ = wire.WriteVarInt(&size, 0, uint64(len(script))) // a bytes.Buffer write cannot fail
	return *chainhash.TaggedHash([]byte("TapLeaf"), []byte{TapLeafVersion}, size.Bytes(), script)
}

// MerkleRoot returns the script tree's merkle root. With a single leaf, BIP-341
// taproot_tree_helper returns the leaf hash itself as the root.
func (l *RecoveryLeaf) MerkleRoot() [32]byte { return l.LeafHash() }

// RecoveryOutput is a Taproot output tr(P, and_v(v:pk(K),older(N))): the internal key P (a threshold
// key) spends by the key path with the tweak of the leaf's merkle root; K spends by the script path
// after N blocks.
type RecoveryOutput struct {
	Internal   *btcec.PublicKey // P, even-Y lift of its x-only form
	Leaf       RecoveryLeaf
	MerkleRoot [32]byte         // = the leaf hash (one leaf)
	OutputKey  *btcec.PublicKey // Q = P + hash_TapTweak(P ‖ root)·G
	PkScript   []byte           // OP_1 <x(Q)>
	// ControlBlock is the BIP-341 control block of the leaf: (0xc0 | parity of Q's Y) ‖ x(P); no path
	// (the leaf is the root).
	ControlBlock []byte
}

// NewRecoveryOutput returns the output of internal key internal with the recovery leaf leaf.
func NewRecoveryOutput(internal *btcec.PublicKey, leaf *RecoveryLeaf) (*RecoveryOutput, error) {
	if internal == nil || leaf == nil {
		return nil, fmt.Errorf("%w: missing internal key or leaf", ErrRecovery)
	}
	if leaf.Older < 1 {
		return nil, fmt.Errorf("%w: older must be 1..%d blocks", ErrRecovery, MaxRecoveryOlder)
	}
	root := leaf.MerkleRoot()
	p, q, parity, err := taprootTweak(internal, root)
	if err != nil {
		return nil, err
	}
	px, qx := schnorr.SerializePubKey(p), schnorr.SerializePubKey(q)
	// BIP-341 control block: c[0] = leaf_version | parity of Q's Y; c[1:33] = bytes(P); no path.
	cb := make([]byte, 0, 33)
	cb = append(cb, TapLeafVersion|parity)
	cb = append(cb, px...)
	return &RecoveryOutput{
		Internal: p, Leaf: *leaf, MerkleRoot: root, OutputKey: q,
		PkScript: append([]byte{txscript.OP_1, txscript.OP_DATA_32}, qx...), ControlBlock: cb,
	}, nil
}

// taprootTweak is BIP-341 taproot_tweak_pubkey for a script tree with merkle root root: it returns
// P = lift_x(x(internal)) (even Y), Q = P + int(hash_TapTweak(bytes(P) ‖ root))·G and the parity of
// Q's Y.
func taprootTweak(internal *btcec.PublicKey, root [32]byte) (p, q *btcec.PublicKey, parity byte, err error) {
	px := schnorr.SerializePubKey(internal)
	if p, err = schnorr.ParsePubKey(px); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: internal key: %v", ErrRecovery, err)
	}
	th := chainhash.TaggedHash([]byte("TapTweak"), px, root[:])
	var t btcec.ModNScalar
	if overflow := t.SetByteSlice(th[:]); overflow {
		// BIP-341: "if t >= SECP256K1_ORDER: raise ValueError"; probability about 2^-128.
		return nil, nil, 0, fmt.Errorf("%w: tweak is not below the group order", ErrRecovery)
	}
	var pj, tg, qj btcec.JacobianPoint
	p.AsJacobian(&pj)
	btcec.ScalarBaseMultNonConst(&t, &tg)
	btcec.AddNonConst(&pj, &tg, &qj)
	if (qj.X.IsZero() && qj.Y.IsZero()) || qj.Z.IsZero() {
		return nil, nil, 0, fmt.Errorf("%w: output key is the point at infinity", ErrRecovery)
	}
	qj.ToAffine()
	q = btcec.NewPublicKey(&qj.X, &qj.Y)
	return p, q, q.SerializeCompressed()[0] & 1, nil
}

// Address returns the output's P2TR address on net.
func (o *RecoveryOutput) Address(net *Network) (*btcutil.AddressTaproot, error) {
	if net == nil {
		return nil, fmt.Errorf("%w: no network", ErrRecovery)
	}
	a, err := btcutil.NewAddressTaproot(o.PkScript[2:], net.Params)
	if err != nil {
		return nil, fmt.Errorf("recovery address: %w", err)
	}
	return a, nil
}

// Pays reports whether pkScript is this output's script.
func (o *RecoveryOutput) Pays(pkScript []byte) bool { return bytes.Equal(pkScript, o.PkScript) }

// NewRecoveryWallet returns the wallet of one recovery output: the threshold key keyID (the output's
// internal key) spends it by the key path, and [Wallet.Sign] asks the signer for the tweak with the
// leaf's merkle root. [Wallet.BuildSpend] sends change back to the same output and marks every input
// with BIP-371 PSBT_IN_TAP_MERKLE_ROOT.
func NewRecoveryWallet(keyID string, out *RecoveryOutput, net *Network) (*Wallet, error) {
	if out == nil || net == nil {
		return nil, fmt.Errorf("%w: missing output or network", ErrRecovery)
	}
	addr, err := out.Address(net)
	if err != nil {
		return nil, err
	}
	return &Wallet{
		KeyID: keyID, Network: net, internal: out.Internal, output: out.OutputKey,
		pkScript: bytes.Clone(out.PkScript), address: addr, internalXOn: schnorr.SerializePubKey(out.Internal),
		merkleRoot: bytes.Clone(out.MerkleRoot[:]), tapTree: out.Leaf.TapTree(),
	}, nil
}

// MerkleRoot returns the wallet's tapscript merkle root (nil for a BIP-86 key-path-only wallet): what
// a key-path signer tweaks the key with.
func (w *Wallet) MerkleRoot() []byte { return bytes.Clone(w.merkleRoot) }
