package frost

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// The signing path of a (4,1) cluster: two signers, a BIP-86 key.

func benchSession2(b *testing.B) (*dealt, *Key, *SigningPackage, map[int]*Nonce) {
	d := deal(b, 1, 4, true)
	key, err := Taproot.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	if err != nil {
		b.Fatal(err)
	}
	pkg := &SigningPackage{Message: make([]byte, 32)}
	nonces := map[int]*Nonce{}
	for _, id := range []int{2, 3} {
		n, _ := Taproot.NewNonce(d.shares[id], rand.Reader)
		nonces[id] = n
		pkg.Commitments = append(pkg.Commitments, n.Commit(id))
	}
	return d, key, pkg, nonces
}

// BenchmarkSigner2 is one replica's work on a sign request: Prepare and
// its share.
func BenchmarkSigner2(b *testing.B) {
	d, key, pkg, nonces := benchSession2(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Taproot.Sign(pkg, key, 2, d.shares[2], nonces[2]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombiner2 is the client's: Prepare, Aggregate and one BIP-340
// verification.
func BenchmarkCombiner2(b *testing.B) {
	d, key, pkg, nonces := benchSession2(b)
	zs := map[int]group.Scalar{}
	for id, n := range nonces {
		zs[id], _ = Taproot.Sign(pkg, key, id, d.shares[id], n)
	}
	b.ReportAllocs()
	for b.Loop() {
		sig, err := Taproot.Aggregate(pkg, key, zs)
		if err != nil || !Taproot.Verify(key, pkg.Message, sig) {
			b.Fatal("aggregate")
		}
	}
}

// BenchmarkVerify2 is one BIP-340 verification of a threshold signature.
func BenchmarkVerify2(b *testing.B) {
	d, key, pkg, nonces := benchSession2(b)
	zs := map[int]group.Scalar{}
	for id, n := range nonces {
		zs[id], _ = Taproot.Sign(pkg, key, id, d.shares[id], n)
	}
	sig, _ := Taproot.Aggregate(pkg, key, zs)
	b.ReportAllocs()
	for b.Loop() {
		if !Taproot.Verify(key, pkg.Message, sig) {
			b.Fatal("verify")
		}
	}
}
