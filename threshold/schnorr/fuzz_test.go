package schnorr

import (
	"bytes"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// FuzzVerify decodes arbitrary keys and signatures without panicking and,
// for 32-byte messages, agrees with btcec's BIP-340 verifier.
func FuzzVerify(f *testing.F) {
	msg := bytes.Repeat([]byte{7}, 32)
	px, sig := signRandom(f, msg)
	f.Add(px[:], msg, sig[:])
	f.Add(px[:], []byte{}, sig[:])
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 32), msg, bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, pub, m, s []byte) {
		if len(pub) != XOnlyLen || len(s) != SignatureLen {
			return
		}
		var pk [32]byte
		var sg [SignatureLen]byte
		copy(pk[:], pub)
		copy(sg[:], s)
		ok := Verify(pk, m, sg)
		if len(m) != 32 {
			return
		}
		want := false
		if bpk, err := btcschnorr.ParsePubKey(pub); err == nil {
			if bs, err := btcschnorr.ParseSignature(s); err == nil {
				want = bs.Verify(m, bpk)
			}
		}
		if ok != want {
			t.Fatalf("Verify = %v, btcec says %v", ok, want)
		}
	})
}
