package schnorr

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func unhex32(tb testing.TB, s string) [32]byte {
	tb.Helper()
	var out [32]byte
	b := unhex(tb, s)
	if len(b) != 32 {
		tb.Fatalf("want 32 bytes, got %d", len(b))
	}
	copy(out[:], b)
	return out
}

func scalarOf(tb testing.TB, b []byte) group.Scalar {
	tb.Helper()
	s, err := secp().DecodeScalar(b)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// bip340Nonce derives the BIP-340 nonce k' (before the even-Y negation of
// R) for secret key d0 and auxiliary randomness aux, following BIP-340
// Sign steps 2–5 exactly; it returns k' and bytes(P).
func bip340Nonce(tb testing.TB, d0 group.Scalar, msg []byte, aux [32]byte) (group.Scalar, [32]byte) {
	tb.Helper()
	g := secp()
	// Step 2: let P = d'·G. Step 3: d = d' if has_even_y(P), else n − d'.
	P := g.BaseMul(d0)
	d := d0
	if !group.HasEvenY(P) {
		d = d0.Neg()
	}
	px := group.XOnly(P)
	// Step 4: t = bytes(d) xor hash_BIP0340/aux(a).
	ha := taggedHash("BIP0340/aux", aux[:])
	tt := d.Bytes()
	for i := range tt {
		tt[i] ^= ha[i]
	}
	// Step 5: rand = hash_BIP0340/nonce(t ‖ bytes(P) ‖ m); k' = int(rand) mod n.
	k := scalarModN(taggedHash("BIP0340/nonce", tt, px[:], msg))
	if k.IsZero() {
		tb.Fatal("k' = 0")
	}
	return k, px
}

// bip340Sign is single-party BIP-340 signing (Sign steps 1–9) with secret
// key d0 and auxiliary randomness aux, written from the BIP in this test
// only: the package verifies, and signing is threshold/frost's, so this is
// the reference that reproduces the signing vectors and makes signatures
// for the other tests.
func bip340Sign(tb testing.TB, d0 group.Scalar, msg []byte, aux [32]byte) [SignatureLen]byte {
	tb.Helper()
	g := secp()
	d := d0
	if !group.HasEvenY(g.BaseMul(d0)) {
		d = d0.Neg()
	}
	k0, px := bip340Nonce(tb, d0, msg, aux)
	// Step 6: R = k'·G; k = k' if has_even_y(R), otherwise n − k'.
	R := g.BaseMul(k0)
	k := k0
	if !group.HasEvenY(R) {
		k = k0.Neg()
	}
	// Steps 7–9: e = hash(bytes(R) ‖ bytes(P) ‖ m) mod n; sig = bytes(R) ‖ bytes(k + e·d).
	rx := group.XOnly(R)
	e := challenge(rx, px, msg)
	var sig [SignatureLen]byte
	copy(sig[:32], rx[:])
	copy(sig[32:], k.Add(e.Mul(d)).Bytes())
	return sig
}

// signRandom signs msg with bip340Sign under a fresh random key and returns
// the x-only key and the signature.
func signRandom(tb testing.TB, msg []byte) ([32]byte, [SignatureLen]byte) {
	tb.Helper()
	d, err := secp().RandomScalar(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	var aux [32]byte
	if _, err := rand.Read(aux[:]); err != nil {
		tb.Fatal(err)
	}
	sig := bip340Sign(tb, d, msg, aux)
	return group.XOnly(secp().BaseMul(d)), sig
}

// TestBIP340Vectors runs every BIP-340 vector through Verify, and
// reproduces every signing vector with the single-party signer of this test
// (which checks that the vectors' keys and nonces are read as BIP-340 says;
// threshold/frost's TestTaprootTweakVectors and TestRandomRuns cover
// threshold signing).
func TestBIP340Vectors(t *testing.T) {
	f, err := os.Open("testdata/bip340-test-vectors.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 {
		t.Fatalf("want 19 vectors, got %d rows", len(rows)-1)
	}
	signed := 0
	for _, row := range rows[1:] {
		t.Run("vector "+row[0], func(t *testing.T) {
			sk, pub, aux, msg, sigb := row[1], unhex32(t, row[2]), row[3], unhex(t, row[4]), unhex(t, row[5])
			wantOK, err := strconv.ParseBool(row[6])
			if err != nil {
				t.Fatal(err)
			}
			var sig [SignatureLen]byte
			copy(sig[:], sigb)
			if got := Verify(pub, msg, sig); got != wantOK {
				t.Fatalf("Verify = %v, want %v (%s)", got, wantOK, row[7])
			}
			// VerifyPoint under lift_x(pub) and its negation (bytes(P) is
			// the same): the same verdict. A key that is not on the curve
			// has no point; VerifyPoint refuses the identity and nil.
			if P, err := group.LiftX(pub[:]); err == nil {
				if got := VerifyPoint(P, msg, sig); got != wantOK {
					t.Fatalf("VerifyPoint = %v, want %v (%s)", got, wantOK, row[7])
				}
				if got := VerifyPoint(P.Neg(), msg, sig); got != wantOK {
					t.Fatalf("VerifyPoint(−P) = %v, want %v (%s)", got, wantOK, row[7])
				}
				tab, err := group.NewPublicTable(P)
				if err != nil {
					t.Fatal(err)
				}
				if got := VerifyTable(tab, msg, sig); got != wantOK {
					t.Fatalf("VerifyTable = %v, want %v (%s)", got, wantOK, row[7])
				}
				if odd, _ := group.NewPublicTable(P.Neg()); VerifyTable(odd, msg, sig) {
					t.Fatal("VerifyTable accepts a table of an odd-Y point")
				}
			} else if wantOK {
				t.Fatal("valid vector with a key off the curve")
			}
			if VerifyPoint(nil, msg, sig) || VerifyPoint(group.Secp256k1().Identity(), msg, sig) || VerifyTable(nil, msg, sig) {
				t.Fatal("VerifyPoint accepts a nil or identity key")
			}
			if sk == "" {
				return
			}
			d0 := scalarOf(t, unhex(t, sk))
			if _, px := bip340Nonce(t, d0, msg, unhex32(t, aux)); px != pub {
				t.Fatal("public key of the secret key differs from the vector")
			}
			if sig := bip340Sign(t, d0, msg, unhex32(t, aux)); !bytes.Equal(sig[:], sigb) {
				t.Fatalf("signature %x, want %s", sig, row[5])
			}
			signed++
		})
	}
	if signed != 8 {
		t.Fatalf("reproduced %d signing vectors, want 8 (0–3, 15–18)", signed)
	}
}

type bip341Vectors struct {
	ScriptPubKey []struct {
		Given struct {
			InternalPubkey string `json:"internalPubkey"`
		} `json:"given"`
		Intermediary struct {
			MerkleRoot    *string `json:"merkleRoot"`
			Tweak         string  `json:"tweak"`
			TweakedPubkey string  `json:"tweakedPubkey"`
		} `json:"intermediary"`
		Expected struct {
			ScriptPubKey            string   `json:"scriptPubKey"`
			ScriptPathControlBlocks []string `json:"scriptPathControlBlocks"`
		} `json:"expected"`
	} `json:"scriptPubKey"`
	KeyPathSpending []struct {
		InputSpending []struct {
			Given struct {
				TxinIndex       int     `json:"txinIndex"`
				InternalPrivkey string  `json:"internalPrivkey"`
				MerkleRoot      *string `json:"merkleRoot"`
				HashType        int     `json:"hashType"`
			} `json:"given"`
			Intermediary struct {
				InternalPubkey string `json:"internalPubkey"`
				Tweak          string `json:"tweak"`
				TweakedPrivkey string `json:"tweakedPrivkey"`
				SigHash        string `json:"sigHash"`
			} `json:"intermediary"`
			Expected struct {
				Witness []string `json:"witness"`
			} `json:"expected"`
		} `json:"inputSpending"`
	} `json:"keyPathSpending"`
}

func loadBIP341(t *testing.T) *bip341Vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/bip341-wallet-test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	v := &bip341Vectors{}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func taprootOf(t *testing.T, root *string) Taproot {
	if root == nil {
		return Taproot{Mode: TaprootBIP86}
	}
	return Taproot{Mode: TaprootScript, MerkleRoot: unhex32(t, *root)}
}

// TestBIP341ScriptPubKey checks TapTweak and OutputKey against the
// scriptPubKey section: tweak, tweaked key, the scriptPubKey, and the output
// key parity recorded in the control blocks.
func TestBIP341ScriptPubKey(t *testing.T) {
	v := loadBIP341(t)
	if len(v.ScriptPubKey) != 7 {
		t.Fatalf("want 7 scriptPubKey vectors, got %d", len(v.ScriptPubKey))
	}
	parities := 0
	for n, tc := range v.ScriptPubKey {
		internal := unhex32(t, tc.Given.InternalPubkey)
		tr := taprootOf(t, tc.Intermediary.MerkleRoot)
		tw, err := TapTweak(internal, tr)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if hex.EncodeToString(tw.Bytes()) != tc.Intermediary.Tweak {
			t.Errorf("%d: tweak %x", n, tw.Bytes())
		}
		P, err := group.LiftX(internal[:])
		if err != nil {
			t.Fatal(err)
		}
		Q, odd, err := OutputKey(P, tr)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(Q[:]) != tc.Intermediary.TweakedPubkey {
			t.Errorf("%d: output key %x", n, Q)
		}
		if "5120"+hex.EncodeToString(Q[:]) != tc.Expected.ScriptPubKey {
			t.Errorf("%d: scriptPubKey", n)
		}
		// BIP-341 control block: c[0] = leaf_version | parity of Q.
		for _, cb := range tc.Expected.ScriptPathControlBlocks {
			parities++
			if got := unhex(t, cb)[0]&1 == 1; got != odd {
				t.Errorf("%d: output key parity odd=%v, control block says %v", n, odd, got)
			}
		}
	}
	if parities == 0 {
		t.Fatal("no control block parity checked")
	}
}

// TestBIP341KeyPathSpending reproduces the key-path signatures of the
// BIP-341 wallet vectors: TapTweak and OutputKey give the vectors' tweak and
// output key, and single-party BIP-340 signing with the tweaked private key
// (aux_rand all zero, as the vectors were generated) gives their witness.
func TestBIP341KeyPathSpending(t *testing.T) {
	v := loadBIP341(t)
	count := 0
	for _, tx := range v.KeyPathSpending {
		for _, in := range tx.InputSpending {
			count++
			tr := taprootOf(t, in.Given.MerkleRoot)
			d0 := scalarOf(t, unhex(t, in.Given.InternalPrivkey))
			P := secp().BaseMul(d0)
			if px := group.XOnly(P); hex.EncodeToString(px[:]) != in.Intermediary.InternalPubkey {
				t.Fatalf("input %d: internal key", in.Given.TxinIndex)
			}
			// BIP-341 taproot_tweak_seckey: the tweaked key is
			// (d0 or n − d0, for even Y of P) + t.
			tw, err := TapTweak(group.XOnly(P), tr)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(tw.Bytes()) != in.Intermediary.Tweak {
				t.Fatalf("input %d: tweak", in.Given.TxinIndex)
			}
			d := d0
			if !group.HasEvenY(P) {
				d = d.Neg()
			}
			tweaked := d.Add(tw)
			if hex.EncodeToString(tweaked.Bytes()) != in.Intermediary.TweakedPrivkey {
				t.Fatalf("input %d: tweaked private key", in.Given.TxinIndex)
			}
			msg := unhex(t, in.Intermediary.SigHash)
			_, qx := bip340Nonce(t, tweaked, msg, [32]byte{})
			if Q, _, _ := OutputKey(P, tr); Q != qx {
				t.Fatalf("input %d: output key differs from the tweaked private key's", in.Given.TxinIndex)
			}
			sig := bip340Sign(t, tweaked, msg, [32]byte{})
			if !Verify(qx, msg, sig) {
				t.Fatalf("input %d: signature does not verify", in.Given.TxinIndex)
			}
			// BIP-341: the witness signature is the 64-byte signature, with
			// the hash type appended unless it is SIGHASH_DEFAULT (0).
			want := unhex(t, in.Expected.Witness[0])
			got := sig[:]
			if in.Given.HashType != 0 {
				got = append(got, byte(in.Given.HashType))
			}
			if !bytes.Equal(got, want) {
				t.Errorf("input %d: witness %x, want %x", in.Given.TxinIndex, got, want)
			}
		}
	}
	if count != 7 {
		t.Fatalf("want 7 key-path inputs, got %d", count)
	}
}
