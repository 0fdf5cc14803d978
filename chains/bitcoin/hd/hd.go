package hd

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Errors.
var (
	// ErrInvalidKey is returned for a group key that is not a valid
	// compressed secp256k1 point other than infinity.
	ErrInvalidKey = errors.New("hd: invalid public key")
	// ErrHardened is returned for a child index ≥ 2^31: hardened
	// derivation needs the private key.
	ErrHardened = bip32.ErrHardened
	// ErrInvalidChild is returned when BIP-32 has no key for an index:
	// parse256(I_L) ≥ n or the child is the point at infinity. BIP-32:
	// "proceed with the next value for i". The probability is below 2^-127.
	ErrInvalidChild = bip32.ErrInvalidChild
	// ErrDepth is returned when a derivation would exceed depth 255.
	ErrDepth = errors.New("hd: maximum depth exceeded")
	// ErrInvalidNetwork is returned for nil chain parameters.
	ErrInvalidNetwork = errors.New("hd: invalid network parameters")
	// ErrInvalidDescriptor is returned for a descriptor with a character
	// outside the BIP-380 character set.
	ErrInvalidDescriptor = errors.New("hd: invalid descriptor")
)

// HardenedOffset is BIP-32's first hardened index, 2^31. Indices at or
// above it cannot be derived from a public key.
const HardenedOffset = bip32.HardenedOffset

// Branches of a BIP-44-style wallet under the root: receive addresses are
// root/0/i, change addresses root/1/i.
const (
	ReceiveBranch uint32 = 0
	ChangeBranch  uint32 = 1
)

// ChainCode returns the BIP-32 chain code of the root of groupKey's tree,
// threshold/bip32 ChainCode:
//
//	tagged_hash("vhsm/BIP32/chaincode", ser32(len(groupKey)) ‖ groupKey ‖ commitment)
//
// groupKey is the 33-byte compressed group key and commitment the canonical
// encoding of the key's committed public DKG data (its joint Feldman
// commitment C_0 ‖ … ‖ C_t). Every replica computes the same value from
// the committed key, with no agreement step of its own; the package
// documentation ("Why a public chain code is enough") argues why that
// suffices.
func ChainCode(groupKey, commitment []byte) [32]byte { return bip32.ChainCode(groupKey, commitment) }

// ExtendedKey is a BIP-32 extended public key of a threshold key's tree,
// with the tweak that leads to it from the root. It is immutable.
type ExtendedKey struct {
	key       group.Point // K, never the identity
	chainCode [32]byte
	depth     uint8
	parentFP  [4]byte
	childNum  uint32
	// tweak is t with K = root + t·G: the sum of I_L along the path.
	tweak group.Scalar
}

func secp() group.Group { return group.Secp256k1() }

// NewRoot returns the root of the tree of groupKey (33-byte compressed) with
// chainCode (normally [ChainCode] of the key): depth 0, parent fingerprint
// zero, child number 0, tweak 0. It returns ErrInvalidKey for anything but
// a valid compressed point other than infinity.
func NewRoot(groupKey []byte, chainCode [32]byte) (*ExtendedKey, error) {
	p, err := secp().DecodePoint(groupKey)
	if err != nil {
		return nil, fmt.Errorf("new root: %w", ErrInvalidKey)
	}
	return &ExtendedKey{key: p, chainCode: chainCode, tweak: secp().Zero()}, nil
}

// Child returns the unhardened child i of k, BIP-32 CKDpub
// (threshold/bip32 Child). It returns ErrHardened for i ≥ 2^31,
// ErrInvalidChild when BIP-32 defines no key for i (the caller skips i),
// and ErrDepth below depth 255.
func (k *ExtendedKey) Child(i uint32) (*ExtendedKey, error) {
	if i >= HardenedOffset {
		return nil, fmt.Errorf("child %d: %w", i, ErrHardened)
	}
	if k.depth == 255 {
		return nil, fmt.Errorf("child %d: %w", i, ErrDepth)
	}
	ki, cc, il, err := bip32.Child(k.key, k.chainCode, i)
	if err != nil {
		return nil, err
	}
	return &ExtendedKey{key: ki, chainCode: cc, depth: k.depth + 1, parentFP: k.Fingerprint(), childNum: i,
		tweak: k.tweak.Add(il)}, nil
}

// Derive applies [ExtendedKey.Child] for each index of path in turn: for
// the root, Derive(ReceiveBranch, i) is root/0/i.
func (k *ExtendedKey) Derive(path ...uint32) (*ExtendedKey, error) {
	for _, i := range path {
		var err error
		if k, err = k.Child(i); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// PublicKey returns serP(K), the 33-byte compressed key.
func (k *ExtendedKey) PublicKey() []byte { return k.key.Bytes() }

// Point returns K.
func (k *ExtendedKey) Point() group.Point { return k.key }

// Tweak returns t with K = root + t·G (zero for the root): the additive
// tweak a threshold signer adds to its share of the root key to hold a
// share of K. It is public.
func (k *ExtendedKey) Tweak() group.Scalar { return k.tweak }

// ChainCode returns the chain code of k.
func (k *ExtendedKey) ChainCode() [32]byte { return k.chainCode }

// Depth returns the number of derivations from the root (0 for the root).
func (k *ExtendedKey) Depth() uint8 { return k.depth }

// ChildNumber returns the index k was derived with (0 for the root).
func (k *ExtendedKey) ChildNumber() uint32 { return k.childNum }

// ParentFingerprint returns the fingerprint of k's parent (zero for the
// root).
func (k *ExtendedKey) ParentFingerprint() [4]byte { return k.parentFP }

// Fingerprint returns BIP-32's key fingerprint, the first 4 bytes of
// HASH160(serP(K)). For the root this is the "master fingerprint" of key
// origins.
func (k *ExtendedKey) Fingerprint() [4]byte {
	var fp [4]byte
	copy(fp[:], btcutil.Hash160(k.key.Bytes()))
	return fp
}

// String returns the BIP-32 serialization of k for net: base58check of
// version ‖ depth ‖ parent fingerprint ‖ child number ‖ chain code ‖
// serP(K), 78 bytes, with net.HDPublicKeyID as version ("xpub" on mainnet,
// "tpub" on testnet3, testnet4, signet and regtest). It returns
// ErrInvalidNetwork for nil params.
func (k *ExtendedKey) String(net *chaincfg.Params) (string, error) {
	if net == nil {
		return "", ErrInvalidNetwork
	}
	// BIP-32 "Serialization format".
	b := make([]byte, 0, 82)
	b = append(b, net.HDPublicKeyID[:]...)
	b = append(b, k.depth)
	b = append(b, k.parentFP[:]...)
	b = binary.BigEndian.AppendUint32(b, k.childNum)
	b = append(b, k.chainCode[:]...)
	b = append(b, k.key.Bytes()...)
	// "the 78 bytes are encoded ... with a 32-bit checksum (derived from the
	// double SHA-256 checksum)".
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	b = append(b, h2[:4]...)
	return base58.Encode(b), nil
}

// TaprootOutputKey returns the BIP-86 output key of k as an internal key:
// Q = lift_x(bytes(K)) + int(hash_TapTweak(bytes(K)))·G (BIP-341
// taproot_tweak_pubkey with an empty script). It returns Q with its actual
// Y parity; its x coordinate group.XOnly(Q) is the witness program.
// ErrInvalidChild is returned in the (negligible) cases BIP-341 refuses:
// the tweak is ≥ n or Q is infinity.
func (k *ExtendedKey) TaprootOutputKey() (group.Point, error) {
	x := group.XOnly(k.key)
	t, err := schnorr.TapTweak(x, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	if err != nil {
		return nil, fmt.Errorf("taproot output key: %w", ErrInvalidChild)
	}
	// lift_x(bytes(K)): the even-Y point with K's x coordinate.
	even := k.key
	if !group.HasEvenY(even) {
		even = even.Neg()
	}
	q := even.Add(group.MulPublic(secp().Generator(), t))
	if q.IsIdentity() {
		return nil, fmt.Errorf("taproot output key: %w", ErrInvalidChild)
	}
	return q, nil
}

// Address returns the BIP-86 P2TR address of k on net: the bech32m
// (BIP-350) encoding of witness version 1 and bytes(Q).
func (k *ExtendedKey) Address(net *chaincfg.Params) (*btcutil.AddressTaproot, error) {
	if net == nil {
		return nil, ErrInvalidNetwork
	}
	q, err := k.TaprootOutputKey()
	if err != nil {
		return nil, err
	}
	qx := group.XOnly(q)
	a, err := btcutil.NewAddressTaproot(qx[:], net)
	if err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	return a, nil
}
