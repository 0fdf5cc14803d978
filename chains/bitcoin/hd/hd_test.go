package hd

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/vhsm/vhsm/threshold/group"
)

// nets are the parameter sets the tests serialise for: xpub (mainnet) and tpub (testnet3; testnet4,
// signet and regtest share its version bytes and, but for regtest, its HRP).
var nets = []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams}

// randomRoot returns a random private root (x, c) as an hdkeychain private master with depth 0, and
// our public root of x·G with c.
func randomRoot(t *testing.T) (group.Scalar, *hdkeychain.ExtendedKey, *ExtendedKey) {
	t.Helper()
	x, err := group.Secp256k1().RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var c [32]byte
	if _, err := rand.Read(c[:]); err != nil {
		t.Fatal(err)
	}
	priv := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPrivateKeyID[:], x.Bytes(), c[:], []byte{0, 0, 0, 0}, 0, 0, true)
	root, err := NewRoot(group.Secp256k1().BaseMul(x).Bytes(), c)
	if err != nil {
		t.Fatal(err)
	}
	return x, priv, root
}

// TestCrossCheckHDKeychain derives receive and change children of random roots and checks every
// one against btcd's hdkeychain: the public key, the xpub string on every network, the private key
// x + t that hdkeychain's private derivation gives (so Tweak is right), and the BIP-86 address
// against txscript.ComputeTaprootKeyNoScript.
func TestCrossCheckHDKeychain(t *testing.T) {
	for range 4 {
		x, priv, root := randomRoot(t)
		pub, err := priv.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		check := func(name string, ours *ExtendedKey, theirPub, theirPriv *hdkeychain.ExtendedKey) {
			t.Helper()
			tp, err := theirPub.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ours.PublicKey(), tp.SerializeCompressed()) {
				t.Fatalf("%s: key %x, hdkeychain %x", name, ours.PublicKey(), tp.SerializeCompressed())
			}
			for _, net := range nets {
				s, err := ours.String(net)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := theirPub.CloneWithVersion(net.HDPublicKeyID[:])
				if err != nil {
					t.Fatal(err)
				}
				if s != theirs.String() {
					t.Fatalf("%s on %s: %s, hdkeychain %s", name, net.Name, s, theirs.String())
				}
				wantPrefix := "tpub"
				if net == &chaincfg.MainNetParams {
					wantPrefix = "xpub"
				}
				if !strings.HasPrefix(s, wantPrefix) {
					t.Fatalf("%s on %s: %s", name, net.Name, s)
				}
				a, err := ours.Address(net)
				if err != nil {
					t.Fatal(err)
				}
				q := txscript.ComputeTaprootKeyNoScript(tp)
				wa, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(q), net)
				if err != nil {
					t.Fatal(err)
				}
				if a.EncodeAddress() != wa.EncodeAddress() {
					t.Fatalf("%s on %s: address %s, txscript %s", name, net.Name, a.EncodeAddress(), wa.EncodeAddress())
				}
			}
			// The private key hdkeychain derives is x + t: the tweak threshold signers add.
			sk, err := theirPriv.ECPrivKey()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := x.Add(ours.Tweak()).Bytes(), sk.Key.Bytes(); !bytes.Equal(got, want[:]) {
				t.Fatalf("%s: x + t = %x, hdkeychain private key %x", name, got, sk.Key.Bytes())
			}
			// K = root + t·G.
			if !root.Point().Add(group.Secp256k1().BaseMul(ours.Tweak())).Equal(ours.Point()) {
				t.Fatalf("%s: K != root + t·G", name)
			}
		}
		check("root", root, pub, priv)
		for _, branch := range []uint32{ReceiveBranch, ChangeBranch} {
			theirBranch, err := pub.Derive(branch)
			if err != nil {
				t.Fatal(err)
			}
			theirBranchPriv, err := priv.Derive(branch)
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint32(5) {
				ours, err := root.Derive(branch, i)
				if err != nil {
					t.Fatal(err)
				}
				if ours.Depth() != 2 || ours.ChildNumber() != i {
					t.Fatalf("depth %d child %d", ours.Depth(), ours.ChildNumber())
				}
				tp, err := theirBranch.Derive(i)
				if err != nil {
					t.Fatal(err)
				}
				tk, err := theirBranchPriv.Derive(i)
				if err != nil {
					t.Fatal(err)
				}
				check("child", ours, tp, tk)
			}
		}
	}
}

// TestPublicDerivationVectors reproduces btcd's public-derivation vectors, which start from the BIP-32
// test vector 1 and 2 master xpubs (depth 0: our root convention).
func TestPublicDerivationVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/btcd-public-derivation.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name   string   `json:"name"`
		Master string   `json:"master"`
		Path   []uint32 `json:"path"`
		Xpub   string   `json:"xpub"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("%d vectors", len(vs))
	}
	for _, v := range vs {
		m, err := hdkeychain.NewKeyFromString(v.Master)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := m.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		var c [32]byte
		copy(c[:], m.ChainCode())
		root, err := NewRoot(pk.SerializeCompressed(), c)
		if err != nil {
			t.Fatal(err)
		}
		k, err := root.Derive(v.Path...)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		got, err := k.String(&chaincfg.MainNetParams)
		if err != nil || got != v.Xpub {
			t.Errorf("%s: %s, %v; want %s", v.Name, got, err, v.Xpub)
		}
	}
}

// TestBIP341KeyPathVector checks the BIP-86 output key and address of the BIP-341 wallet vector
// with no script tree (tweak and tweakedPubkey of taproot_tweak_pubkey(P, b"")).
func TestBIP341KeyPathVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/bip341-wallet-test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs struct {
		ScriptPubKey []struct {
			Given struct {
				InternalPubkey string          `json:"internalPubkey"`
				ScriptTree     json.RawMessage `json:"scriptTree"`
			} `json:"given"`
			Intermediary struct {
				TweakedPubkey string `json:"tweakedPubkey"`
			} `json:"intermediary"`
			Expected struct {
				Address string `json:"bip350Address"`
			} `json:"expected"`
		} `json:"scriptPubKey"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vs.ScriptPubKey {
		if string(v.Given.ScriptTree) != "null" {
			continue
		}
		n++
		x, err := hex.DecodeString(v.Given.InternalPubkey)
		if err != nil {
			t.Fatal(err)
		}
		// Either parity of the internal key gives the same output: lift_x takes the even one.
		for _, prefix := range []byte{2, 3} {
			root, err := NewRoot(append([]byte{prefix}, x...), [32]byte{})
			if err != nil {
				t.Fatal(err)
			}
			q, err := root.TaprootOutputKey()
			if err != nil {
				t.Fatal(err)
			}
			if qx := group.XOnly(q); hex.EncodeToString(qx[:]) != v.Intermediary.TweakedPubkey {
				t.Errorf("output key %x, want %s", qx, v.Intermediary.TweakedPubkey)
			}
			a, err := root.Address(&chaincfg.MainNetParams)
			if err != nil || a.EncodeAddress() != v.Expected.Address {
				t.Errorf("address %v, %v; want %s", a, err, v.Expected.Address)
			}
		}
	}
	if n == 0 {
		t.Fatal("no key-path-only vector")
	}
}

// TestChainCode pins the construction: the BIP-340 tagged hash, length-prefixed key, then the
// commitment; it depends on both inputs.
func TestChainCode(t *testing.T) {
	key := group.Secp256k1().Generator().Bytes()
	com := []byte("commitment")
	tag := sha256.Sum256([]byte("vhsm/BIP32/chaincode"))
	want := sha256.Sum256(bytes.Join([][]byte{tag[:], tag[:], {0, 0, 0, 33}, key, com}, nil))
	if got := ChainCode(key, com); got != want {
		t.Fatalf("ChainCode = %x, want %x", got, want)
	}
	if ChainCode(key, []byte("commitmenu")) == want || ChainCode(key[:32], append(key[32:], com...)) == want {
		t.Fatal("ChainCode ignores its input or its split")
	}
}

// TestErrors: hardened indices, bad keys, nil networks and the depth limit.
func TestErrors(t *testing.T) {
	_, _, root := randomRoot(t)
	if _, err := root.Child(HardenedOffset); !errors.Is(err, ErrHardened) {
		t.Errorf("hardened child: %v", err)
	}
	if _, err := root.Derive(0, HardenedOffset+5); !errors.Is(err, ErrHardened) {
		t.Errorf("hardened path: %v", err)
	}
	if _, err := root.Child(HardenedOffset - 1); err != nil {
		t.Errorf("largest normal index: %v", err)
	}
	for _, k := range [][]byte{nil, make([]byte, 33), root.PublicKey()[1:], append([]byte{4}, root.PublicKey()[1:]...),
		append([]byte{2}, bytes.Repeat([]byte{0xff}, 32)...)} {
		if _, err := NewRoot(k, [32]byte{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewRoot(%x): %v", k, err)
		}
	}
	if _, err := root.String(nil); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("String(nil): %v", err)
	}
	if _, err := root.Address(nil); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("Address(nil): %v", err)
	}
	deep := *root
	deep.depth = 255
	if _, err := deep.Child(0); !errors.Is(err, ErrDepth) {
		t.Errorf("depth 255: %v", err)
	}
}

// TestRootFields: the depth-0 convention of the root.
func TestRootFields(t *testing.T) {
	_, _, root := randomRoot(t)
	if root.Depth() != 0 || root.ChildNumber() != 0 || root.ParentFingerprint() != [4]byte{} || !root.Tweak().IsZero() {
		t.Fatal("root is not a depth-0 master")
	}
	c, err := root.Child(7)
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentFingerprint() != root.Fingerprint() || c.ChildNumber() != 7 || c.Depth() != 1 {
		t.Fatal("child fields")
	}
	fp := btcutil.Hash160(root.PublicKey())[:4]
	if got := root.Fingerprint(); !bytes.Equal(got[:], fp) {
		t.Fatal("fingerprint")
	}
}

// FuzzNewRoot: NewRoot accepts exactly the valid compressed points btcec accepts, and the key it
// keeps re-encodes to the input.
func FuzzNewRoot(f *testing.F) {
	f.Add(group.Secp256k1().Generator().Bytes())
	f.Add(make([]byte, 33))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := NewRoot(b, [32]byte{})
		_, perr := btcec.ParsePubKey(b)
		valid := perr == nil && len(b) == 33 && (b[0] == 2 || b[0] == 3)
		if (err == nil) != valid {
			t.Fatalf("NewRoot(%x) = %v, btcec %v", b, err, perr)
		}
		if err == nil && !bytes.Equal(k.PublicKey(), b) {
			t.Fatalf("round trip %x -> %x", b, k.PublicKey())
		}
	})
}
