package bls

import "testing"

// BenchmarkSingleSign is the non-threshold baseline: one party signing with
// the whole secret key (the same computation as a partial signature, H(m)^sk).
func BenchmarkSingleSign(b *testing.B) {
	d := deal(b, 4, 1)
	msg := []byte("benchmark message")
	for b.Loop() {
		if _, err := PartialSign(d.secret, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies a combined signature under the group key (what
// every client does with a signature it receives).
func BenchmarkVerify(b *testing.B) {
	d := deal(b, 4, 1)
	msg := []byte("benchmark message")
	sig, err := Combine(d.pub, d.vks, 1, msg, d.partials(b, msg))
	if err != nil {
		b.Fatal(err)
	}
	pub := d.pub.Bytes()
	for b.Loop() {
		if !Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
	}
}
