package engine

import (
	"crypto/rand"
	"testing"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// benchBLSKey stores replica 1's share of a fresh BLS key (a session record
// of one slot) and returns an engine over that store and the key's record.
func benchBLSKey(b *testing.B) (*Engine, *app.KeyRecord) {
	g := group.BLS12381G1()
	secret, _ := g.RandomScalar(rand.Reader)
	p, err := vss.NewPolynomial(g, 1, secret, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	st := &memStore{m: map[string][]byte{}}
	e := &Engine{cfg: Config{Shares: st, Me: 1}}
	s := &app.SessionInfo{Name: "bls-1", Kind: app.KindBLS}
	if err := e.storeShares(s, []group.Scalar{p.Share(1)}); err != nil {
		b.Fatal(err)
	}
	return e, &app.KeyRecord{Origin: app.PoolItem{Kind: app.KindBLS, Session: s.Name, Slot: 0, Commitment: p.Commit().Bytes()}}
}

// BenchmarkShareAndKey: opening a key share for a use (after the first).
func BenchmarkShareAndKey(b *testing.B) {
	e, k := benchBLSKey(b)
	if _, _, err := e.shareAndKey(&k.Origin); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := e.shareAndKey(&k.Origin); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBLSPartial: one replica's partial of an attestation root
// (opening the share and signing).
func BenchmarkBLSPartial(b *testing.B) {
	e, k := benchBLSKey(b)
	root := make([]byte, 32)
	b.ResetTimer()
	for range b.N {
		if _, err := e.blsPartial(k, root); err != nil {
			b.Fatal(err)
		}
	}
}
