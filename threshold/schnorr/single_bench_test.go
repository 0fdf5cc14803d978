package schnorr

import (
	"crypto/rand"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// BenchmarkSingleSign is the non-threshold baseline: BIP-340 signing by one
// party holding the whole key (btcec).
func BenchmarkSingleSign(b *testing.B) {
	sk, err := btcec.NewPrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 32)
	if _, err := rand.Read(msg); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := btcschnorr.Sign(sk, msg); err != nil {
			b.Fatal(err)
		}
	}
}
