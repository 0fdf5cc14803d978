package bip32

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/vhsm/vhsm/threshold/group"
)

func randomKey(t *testing.T) (group.Scalar, group.Point) {
	t.Helper()
	x, err := group.Secp256k1().RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return x, group.Secp256k1().Generator().Mul(x)
}

// TestDeriveMatchesHDKeychain: every derived key equals btcutil hdkeychain's public derivation from
// the same (key, chain code), and its tweak satisfies K = P + t·G.
func TestDeriveMatchesHDKeychain(t *testing.T) {
	g := group.Secp256k1()
	for range 4 {
		_, P := randomKey(t)
		var cc [32]byte
		if _, err := rand.Read(cc[:]); err != nil {
			t.Fatal(err)
		}
		theirs := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], P.Bytes(), cc[:], make([]byte, 4), 0, 0, false)
		for _, path := range [][]uint32{{}, {0}, {0, 0}, {0, 5}, {1, 3}, {7, 1 << 30, 2, 9}, {HardenedOffset - 1}} {
			K, tw, err := Derive(P, cc, path, 8)
			if err != nil {
				t.Fatalf("Derive(%v): %v", path, err)
			}
			want := theirs
			for _, i := range path {
				if want, err = want.Derive(i); err != nil {
					t.Fatal(err)
				}
			}
			wk, err := want.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(K.Bytes(), wk.SerializeCompressed()) {
				t.Fatalf("path %v: key %x, hdkeychain %x", path, K.Bytes(), wk.SerializeCompressed())
			}
			if !P.Add(g.Generator().Mul(tw)).Equal(K) {
				t.Fatalf("path %v: K != P + t·G", path)
			}
		}
	}
}

// TestShiftedSecretIsChildSecret: the secret of a child is x + t: the additive argument in numbers.
func TestShiftedSecretIsChildSecret(t *testing.T) {
	x, P := randomKey(t)
	cc := ChainCode(P.Bytes(), []byte("commitment"))
	K, tw, err := Derive(P, cc, []uint32{0, 5}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !group.Secp256k1().Generator().Mul(x.Add(tw)).Equal(K) {
		t.Fatal("(x + t)·G != K")
	}
}

// TestErrors: hardened indices, over-long paths and unusable keys are refused.
func TestErrors(t *testing.T) {
	_, P := randomKey(t)
	var cc [32]byte
	if _, _, _, err := Child(P, cc, HardenedOffset); !errors.Is(err, ErrHardened) {
		t.Errorf("hardened child: %v", err)
	}
	if _, _, err := Derive(P, cc, []uint32{0, HardenedOffset + 5}, 8); !errors.Is(err, ErrHardened) {
		t.Errorf("hardened path: %v", err)
	}
	if _, _, err := Derive(P, cc, make([]uint32, 9), 8); !errors.Is(err, ErrPathTooLong) {
		t.Errorf("long path: %v", err)
	}
	if _, _, err := Derive(nil, cc, []uint32{0}, 8); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil key: %v", err)
	}
	if _, _, err := Derive(group.Secp256k1().Identity(), cc, []uint32{0}, 8); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("identity key: %v", err)
	}
	if _, _, _, err := Child(group.BLS12381G1().Generator(), cc, 0); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("bls key: %v", err)
	}
}

// TestChainCode pins the construction.
func TestChainCode(t *testing.T) {
	key := group.Secp256k1().Generator().Bytes()
	com := []byte("commitment")
	tag := sha256.Sum256([]byte("vhsm/BIP32/chaincode"))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], 33)
	want := sha256.Sum256(bytes.Join([][]byte{tag[:], tag[:], n[:], key, com}, nil))
	if got := ChainCode(key, com); got != want {
		t.Fatalf("ChainCode = %x, want %x", got, want)
	}
}

// FuzzDerive: any path and chain code either derives a key equal to P + t·G or fails with a
// documented error; nothing panics.
func FuzzDerive(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 5}, []byte("cc"))
	f.Add([]byte{0x80, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, raw, ccb []byte) {
		var path []uint32
		for len(raw) >= 4 && len(path) < 12 {
			path = append(path, binary.BigEndian.Uint32(raw))
			raw = raw[4:]
		}
		var cc [32]byte
		copy(cc[:], ccb)
		P := group.Secp256k1().Generator()
		K, tw, err := Derive(P, cc, path, 8)
		if err != nil {
			if !errors.Is(err, ErrHardened) && !errors.Is(err, ErrPathTooLong) && !errors.Is(err, ErrInvalidChild) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if !P.Add(group.Secp256k1().Generator().Mul(tw)).Equal(K) {
			t.Fatal("K != P + t·G")
		}
	})
}
