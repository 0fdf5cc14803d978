package faulttest

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// signWithNonce is BIP-340 Sign with the nonce k chosen by the caller
// instead of derived from the message: the reuse a correct signer never
// commits, made on purpose to test the detector.
func signWithNonce(t *testing.T, d, k *btcec.ModNScalar, msg []byte) [64]byte {
	t.Helper()
	var P, R btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(d, &P)
	P.ToAffine()
	// BIP-340 Sign, step 3: negate d if P has odd Y.
	dd := *d
	if P.Y.IsOdd() {
		dd.Negate()
	}
	btcec.ScalarBaseMultNonConst(k, &R)
	R.ToAffine()
	// Step 8: negate k if R has odd Y.
	kk := *k
	if R.Y.IsOdd() {
		kk.Negate()
	}
	var rx, px [32]byte
	R.X.PutBytes(&rx)
	P.X.PutBytes(&px)
	// Step 10: e = int(hash_BIP0340/challenge(bytes(R) ‖ bytes(P) ‖ m)) mod n.
	h := chainhash.TaggedHash(chainhash.TagBIP0340Challenge, rx[:], px[:], msg)
	var e btcec.ModNScalar
	e.SetByteSlice(h[:])
	// Step 11: sig = bytes(R) ‖ bytes((k + e·d) mod n).
	s := new(btcec.ModNScalar).Mul2(&e, &dd).Add(&kk)
	var sig [64]byte
	copy(sig[:32], rx[:])
	sb := s.Bytes()
	copy(sig[32:], sb[:])
	return sig
}

// TestSigLogDetectsReuse checks the nonce-reuse detector the cluster tests
// rely on: two messages signed with one nonce are caught, the same
// signature recorded twice is not, and a signature that does not verify is
// refused.
func TestSigLogDetectsReuse(t *testing.T) {
	var d, k btcec.ModNScalar
	d.SetInt(123456789)
	k.SetInt(987654321)
	var P btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&d, &P)
	P.ToAffine()
	pub := schnorr.SerializePubKey(btcec.NewPublicKey(&P.X, &P.Y))
	m1, m2 := msgHash("one"), msgHash("two")
	s1, s2 := signWithNonce(t, &d, &k, m1), signWithNonce(t, &d, &k, m2)

	l := newSigLog()
	if err := l.add("k", pub, m1, s1); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	if err := l.add("k", pub, m1, s1); err != nil {
		t.Fatalf("same signature twice: %v", err)
	}
	bad := s2
	bad[63] ^= 1
	if err := l.add("k", pub, m2, bad); err == nil {
		t.Fatal("signature that does not verify accepted")
	}
	if err := l.add("k", pub, m2, s2); err == nil || !strings.Contains(err.Error(), "nonce reuse") {
		t.Fatalf("nonce reuse across two messages not detected: %v", err)
	}
}
