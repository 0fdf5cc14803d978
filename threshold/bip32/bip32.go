// Package bip32 is the public-key half of BIP-32 for threshold keys: the
// chain code of a DKG key's tree and CKDpub, the unhardened child
// derivation, with the additive tweak that leads from the group key to a
// child. It is what a replica needs to sign for a child key and what a
// client needs to check the result; encodings (xpub strings, descriptors,
// addresses) live in chains/bitcoin/hd, which builds on this package.
//
// The package is pure: no I/O, clock, logging or goroutines, and it never
// sees a share. Every value here is public.
//
// # The additive tweak
//
// BIP-32 "Public parent key → public child key", for i < 2^31:
//
//	I = HMAC-SHA512(Key = c_par, Data = serP(K_par) ‖ ser32(i))
//	K_i = K_par + parse256(I_L)·G,  c_i = I_R
//
// Each level adds a public scalar, so a key at any depth below the group key
// P is K = P + t·G with t the sum of the I_L of its path ([Derive]). A
// threshold signer holding a share x_i of P's secret x holds, with
// x_i + t, a share of K's secret x + t (threshold/frost NewDerivedKey), so
// replicas sign for any child without holding anything new. Hardened
// derivation (i ≥ 2^31) needs the private key and is refused.
//
// # The chain code
//
// [ChainCode] is a tagged hash of the group key and its committed DKG
// commitment: every replica and every client that may read the key's
// public data computes the same value, with no agreement step of its own.
// threshold/README.md ("Derived keys") argues why a chain code known to
// the key's users is enough.
package bip32

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/threshold/group"
)

// Errors.
var (
	// ErrInvalidKey is returned for a parent key that is nil, the identity
	// or not a secp256k1 point.
	ErrInvalidKey = errors.New("bip32: invalid public key")
	// ErrHardened is returned for a child index ≥ 2^31: hardened
	// derivation needs the private key, which nobody holds.
	ErrHardened = errors.New("bip32: hardened derivation needs the private key")
	// ErrInvalidChild is returned when BIP-32 has no key for an index:
	// parse256(I_L) ≥ n or the child is the point at infinity. BIP-32:
	// "proceed with the next value for i". The probability is below 2^-127.
	ErrInvalidChild = errors.New("bip32: invalid child key")
	// ErrPathTooLong is returned by [Derive] for a path longer than the
	// caller's bound.
	ErrPathTooLong = errors.New("bip32: derivation path too long")
)

// HardenedOffset is BIP-32's first hardened index, 2^31. Indices at or
// above it cannot be derived from a public key.
const HardenedOffset = uint32(1) << 31

// chainCodeTag is the BIP-340 tagged-hash tag of [ChainCode].
const chainCodeTag = "vhsm/BIP32/chaincode"

// ChainCode returns the BIP-32 chain code of the root of groupKey's tree:
//
//	tagged_hash("vhsm/BIP32/chaincode", ser32(len(groupKey)) ‖ groupKey ‖ commitment)
//
// with BIP-340's tagged_hash(tag, x) = SHA256(SHA256(tag) ‖ SHA256(tag) ‖ x).
// groupKey is the 33-byte compressed group key P (its real Y parity) and
// commitment the canonical encoding of the key's committed Feldman
// commitment C_0 ‖ … ‖ C_t (threshold/vss Commitment.Bytes, the key
// information's commitment field).
func ChainCode(groupKey, commitment []byte) [32]byte {
	tag := sha256.Sum256([]byte(chainCodeTag))
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(groupKey)))
	h.Write(n[:])
	h.Write(groupKey)
	h.Write(commitment)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func secp() group.Group { return group.Secp256k1() }

// usable reports whether p is a secp256k1 point other than the identity.
func usable(p group.Point) bool {
	if p == nil || p.IsIdentity() {
		return false
	}
	_, err := secp().DecodePoint(p.Bytes())
	return err == nil
}

// Child is BIP-32 CKDpub: it returns the unhardened child i of (parent,
// chainCode): the child key K_i, its chain code c_i and the scalar
// parse256(I_L) with K_i = parent + I_L·G. It returns ErrHardened for
// i ≥ 2^31, ErrInvalidChild when BIP-32 defines no key for i (the caller
// skips i) and ErrInvalidKey for an unusable parent.
func Child(parent group.Point, chainCode [32]byte, i uint32) (group.Point, [32]byte, group.Scalar, error) {
	var cc [32]byte
	if i >= HardenedOffset {
		return nil, cc, nil, fmt.Errorf("child %d: %w", i, ErrHardened)
	}
	if !usable(parent) {
		return nil, cc, nil, fmt.Errorf("child %d: %w", i, ErrInvalidKey)
	}
	// BIP-32 CKDpub: "Check whether i ≥ 2^31 (whether the child is a hardened
	// key). If not (normal child): let I = HMAC-SHA512(Key = c_par, Data =
	// serP(K_par) || ser32(i))."
	mac := hmac.New(sha512.New, chainCode[:])
	mac.Write(parent.Bytes())
	var ser [4]byte
	binary.BigEndian.PutUint32(ser[:], i)
	mac.Write(ser[:])
	I := mac.Sum(nil)
	// "Split I into two 32-byte sequences, I_L and I_R."
	// "In case parse256(I_L) ≥ n or K_i is the point at infinity, the
	// resulting key is invalid, and one should proceed with the next value
	// for i."
	il, err := secp().DecodeScalar(I[:32])
	if err != nil {
		return nil, cc, nil, fmt.Errorf("child %d: %w", i, ErrInvalidChild)
	}
	// "The returned child key K_i is point(parse256(I_L)) + K_par."
	// I_L is public: variable-time multiplication.
	ki := group.MulPublic(secp().Generator(), il).Add(parent)
	if ki.IsIdentity() {
		return nil, cc, nil, fmt.Errorf("child %d: %w", i, ErrInvalidChild)
	}
	// "The returned chain code c_i is I_R."
	copy(cc[:], I[32:])
	return ki, cc, il, nil
}

// Derive applies [Child] along path from (root, chainCode) and returns the
// key K at its end and the tweak t with K = root + t·G (the sum of the I_L
// of the path; zero for the empty path). A path longer than maxDepth is
// refused with ErrPathTooLong before any work; the errors of Child are
// returned as they are.
func Derive(root group.Point, chainCode [32]byte, path []uint32, maxDepth int) (group.Point, group.Scalar, error) {
	if len(path) > maxDepth {
		return nil, nil, fmt.Errorf("derive: %d indices, at most %d: %w", len(path), maxDepth, ErrPathTooLong)
	}
	if !usable(root) {
		return nil, nil, fmt.Errorf("derive: %w", ErrInvalidKey)
	}
	for _, i := range path {
		if i >= HardenedOffset {
			return nil, nil, fmt.Errorf("derive: child %d: %w", i, ErrHardened)
		}
	}
	k, cc, t := root, chainCode, secp().Zero()
	for _, i := range path {
		var il group.Scalar
		var err error
		if k, cc, il, err = Child(k, cc, i); err != nil {
			return nil, nil, err
		}
		t = t.Add(il)
	}
	return k, t, nil
}
