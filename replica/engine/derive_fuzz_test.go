package engine

import (
	"errors"
	"testing"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/group"
	thrschnorr "github.com/vhsm/vhsm/threshold/schnorr"
)

// FuzzSignBodyPath: any sign body decodes strictly or is refused; a path that passes checkPath has at
// most wire.MaxPathDepth unhardened indices and derives (or is refused as a bad body) without panic;
// a path that fails it is a bad body.
func FuzzSignBodyPath(f *testing.F) {
	f.Add([]byte(`{"key_id":"k","message":"AA==","path":[0,5]}`))
	f.Add([]byte(`{"key_id":"k","message":"AA==","path":[2147483648]}`))
	f.Add([]byte(`{"key_id":"k","message":"AA==","path":[0,0,0,0,0,0,0,0,0]}`))
	f.Add([]byte(`{"key_id":"k","message":"AA==","path":[-1]}`))
	f.Add([]byte(`{"key_id":"k","message":"AA==","path":null,"taproot":{}}`))
	P := group.Secp256k1().Generator()
	rec := &app.KeyRecord{Info: wire.KeyInfo{KeyID: "k"}, Origin: app.PoolItem{PublicKey: P.Bytes(), Commitment: P.Bytes()}}
	e := &Engine{}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b wire.SignBody
		if err := app.DecodeStrict(body, &b); err != nil {
			return
		}
		err := checkPath(b.Path)
		if err != nil {
			if !errors.Is(err, app.ErrBadBody) {
				t.Fatalf("refusal %v is not a bad body", err)
			}
			return
		}
		if len(b.Path) > wire.MaxPathDepth {
			t.Fatal("over-long path accepted")
		}
		for _, i := range b.Path {
			if i >= bip32.HardenedOffset {
				t.Fatal("hardened index accepted")
			}
		}
		if _, err := e.frostKey(rec, thrschnorr.Taproot{Mode: thrschnorr.TaprootBIP86}, b.Path); err != nil && !errors.Is(err, app.ErrBadBody) {
			t.Fatalf("derivation error %v", err)
		}
	})
}
