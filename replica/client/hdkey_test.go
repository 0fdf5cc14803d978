package client

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
)

// childOutputKey derives the BIP-86 output key of root/path with btcutil's hdkeychain from the xpub
// built from KeyRoot, and txscript's BIP-86 tweak: an implementation not written here.
func childOutputKey(t *testing.T, info KeyInfo, path []uint32) *btcec.PublicKey {
	t.Helper()
	P, cc, err := KeyRoot(info)
	if err != nil {
		t.Fatal(err)
	}
	xpub := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], P, cc[:], make([]byte, 4), 0, 0, false).String()
	k, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range path {
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return txscript.ComputeTaprootKeyNoScript(pub)
}

// TestSignTaprootPath: signatures for children 0/0, 0/5 and 1/3 verify (btcec) under the BIP-86
// output key hdkeychain derives from the key's xpub, not under the root's; a nil path is SignTaproot.
func TestSignTaprootPath(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{})
	c := fc.client()
	var sighash [32]byte
	copy(sighash[:], "thirty-two byte sighash of a tx")
	for _, path := range [][]uint32{{0, 0}, {0, 5}, {1, 3}, nil} {
		sig, err := c.SignTaprootPath(context.Background(), "btc", path, sighash, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := btcschnorr.ParseSignature(sig[:])
		if err != nil {
			t.Fatal(err)
		}
		if !s.Verify(sighash[:], childOutputKey(t, info, path)) {
			t.Fatalf("path %v: btcec rejects the signature under the child's output key", path)
		}
		if path != nil && s.Verify(sighash[:], childOutputKey(t, info, nil)) {
			t.Fatalf("path %v: signature verifies under the root", path)
		}
	}
}

// TestSignTaprootPathBadInput: hardened and over-long paths and a bad merkle root are refused
// before any request.
func TestSignTaprootPathBadInput(t *testing.T) {
	fc, _ := schnorrFake(t, 4, 1, schnorrFaults{})
	c := fc.client()
	for _, path := range [][]uint32{{bip32.HardenedOffset}, {0, 1 << 31}, make([]uint32, wire.MaxPathDepth+1)} {
		if _, err := c.SignTaprootPath(context.Background(), "btc", path, [32]byte{}, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("path %v: %v", path, err)
		}
	}
	if _, err := c.SignTaprootPath(context.Background(), "btc", []uint32{0}, [32]byte{}, []byte{1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad merkle root: %v", err)
	}
}

// TestSignTaprootPathWrongPathReplica: a replica that signs for another path than the one asked
// (a substitution) gives a share that fails the check against its verification key; it is named and
// the signature, made without it, verifies under the asked child.
func TestSignTaprootPathWrongPathReplica(t *testing.T) {
	fc, info := schnorrFake(t, 4, 1, schnorrFaults{wrongPath: map[int]bool{2: true}})
	var mu sync.Mutex
	named := map[int]bool{}
	c := fc.client(WithCulpritHandler(func(_ string, cs []Culprit) {
		mu.Lock()
		defer mu.Unlock()
		for _, cu := range cs {
			named[cu.Replica] = true
		}
	}))
	for k := range 12 {
		h := [32]byte{byte(k)}
		sig, err := c.SignTaprootPath(context.Background(), "btc", []uint32{0, uint32(k)}, h, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := btcschnorr.ParseSignature(sig[:])
		if s == nil || !s.Verify(h[:], childOutputKey(t, info, []uint32{0, uint32(k)})) {
			t.Fatal("signature does not verify under the asked child")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !named[2] || len(named) != 1 {
		t.Fatalf("named %v, want only replica 2", named)
	}
}

// TestKeyRoot: the root is C_0 with its parity and the chain code of the commitment; non-schnorr
// keys and a public key not matching the commitment are refused.
func TestKeyRoot(t *testing.T) {
	info, _ := testKey(t, "k", wire.SchemeSchnorr, 1)
	P, cc, err := KeyRoot(info)
	if err != nil || len(P) != 33 || !bytes.Equal(P[1:], info.PublicKey) || cc != bip32.ChainCode(P, info.Commitment) {
		t.Fatalf("KeyRoot: %x %x %v", P, cc, err)
	}
	bad := info
	bad.PublicKey = bytes.Repeat([]byte{1}, 32)
	if _, _, err := KeyRoot(bad); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("mismatched key: %v", err)
	}
	bad = info
	bad.Commitment = bad.Commitment[:10]
	if _, _, err := KeyRoot(bad); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bad commitment: %v", err)
	}
	b, _ := testKey(t, "b", wire.SchemeBLS, 1)
	if _, _, err := KeyRoot(b); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bls key: %v", err)
	}
}
