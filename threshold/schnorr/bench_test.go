package schnorr

import (
	"crypto/rand"
	"testing"
)

func BenchmarkVerify(b *testing.B) {
	msg := make([]byte, 32)
	px, sig := signRandom(b, msg)
	for b.Loop() {
		if !Verify(px, msg, sig) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkBaseMul(b *testing.B) {
	g := secp()
	s, err := g.RandomScalar(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		g.BaseMul(s)
	}
}
