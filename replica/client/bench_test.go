package client

import (
	"context"
	"testing"
)

// BenchmarkSignSchnorrFake measures the client's own cost of a Schnorr
// signature (request signing, TLS round trips on loopback, nonce
// agreement, partial verification, combination) against fake replicas.
func BenchmarkSignSchnorrFake(b *testing.B) {
	fc, _ := schnorrFake(b, 4, 1, schnorrFaults{})
	c, err := New(fc.cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.SignSchnorr(ctx, "btc", []byte("m"), nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := c.SignSchnorr(ctx, "btc", []byte("m"), nil); err != nil {
			b.Fatal(err)
		}
	}
}
