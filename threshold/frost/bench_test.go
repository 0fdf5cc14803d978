package frost

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// benchSession prepares a 3-of-4 session (t = 2) under a BIP-86 key.
func benchSession(b *testing.B) (*dealt, *Key, *SigningPackage, map[int]*Nonce) {
	d := deal(b, 2, 4, true)
	key, err := Taproot.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	if err != nil {
		b.Fatal(err)
	}
	pkg := &SigningPackage{Message: make([]byte, 32)}
	nonces := map[int]*Nonce{}
	for _, id := range []int{1, 2, 4} {
		n, _ := Taproot.NewNonce(d.shares[id], rand.Reader)
		nonces[id] = n
		pkg.Commitments = append(pkg.Commitments, n.Commit(id))
	}
	return d, key, pkg, nonces
}

func BenchmarkNewNonce(b *testing.B) {
	d := deal(b, 2, 4, false)
	for b.Loop() {
		if _, err := Taproot.NewNonce(d.shares[1], rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepare(b *testing.B) {
	_, key, pkg, _ := benchSession(b)
	for b.Loop() {
		if _, err := Taproot.Prepare(pkg, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is one signer's round two: Prepare and the share.
func BenchmarkSign(b *testing.B) {
	d, key, pkg, nonces := benchSession(b)
	for b.Loop() {
		if _, err := Taproot.Sign(pkg, key, 2, d.shares[2], nonces[2]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyShare(b *testing.B) {
	d, key, pkg, nonces := benchSession(b)
	ss, _ := Taproot.Prepare(pkg, key)
	z, _ := ss.Sign(2, d.shares[2], nonces[2])
	for b.Loop() {
		if err := ss.VerifyShare(2, d.vks[2], z); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAggregateVerify is the client's side: Prepare, Aggregate and
// one BIP-340 verification.
func BenchmarkAggregateVerify(b *testing.B) {
	d, key, pkg, nonces := benchSession(b)
	zs := map[int]group.Scalar{}
	for id, n := range nonces {
		zs[id], _ = Taproot.Sign(pkg, key, id, d.shares[id], n)
	}
	for b.Loop() {
		sig, err := Taproot.Aggregate(pkg, key, zs)
		if err != nil || !Taproot.Verify(key, pkg.Message, sig) {
			b.Fatal("aggregate")
		}
	}
}
