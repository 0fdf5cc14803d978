package bitcoin

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"
)

// keySigner is a test-only Signer holding one whole secp256k1 key. The HSM never does this; it stands
// in for the replica cluster so that this package can be tested on its own.
type keySigner struct {
	priv *btcec.PrivateKey
	// wrongTweak signs with the untweaked key (a signer that forgot the BIP-341 tweak).
	wrongTweak bool
	calls      int
}

func newKeySigner(t testing.TB) *keySigner {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	priv, _ := btcec.PrivKeyFromBytes(b[:])
	return &keySigner{priv: priv}
}

func (s *keySigner) xonly() []byte { return schnorr.SerializePubKey(s.priv.PubKey()) }

func (s *keySigner) SignTaproot(_ context.Context, _ string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	s.calls++
	key := s.priv
	if !s.wrongTweak {
		// BIP-341 taproot_tweak_seckey (negates the key first if P has odd Y).
		key = txscript.TweakTaprootPrivKey(*s.priv, merkleRoot)
	}
	sig, err := schnorr.Sign(key, sighash[:])
	if err != nil {
		return [64]byte{}, err
	}
	var out [64]byte
	copy(out[:], sig.Serialize())
	return out, nil
}

var _ Signer = (*keySigner)(nil)
