package frost

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// vectorFile is the layout of the RFC 9591 Appendix E / ZF frost test
// vectors (cfrg/draft-irtf-cfrg-frost poc/*.json and
// ZcashFoundation/frost tests/helpers/vectors.json).
type vectorFile struct {
	Config struct {
		MaxParticipants string `json:"MAX_PARTICIPANTS"`
		NumParticipants string `json:"NUM_PARTICIPANTS"`
		MinParticipants string `json:"MIN_PARTICIPANTS"`
	} `json:"config"`
	Inputs struct {
		ParticipantList   []int    `json:"participant_list"`
		GroupSecretKey    string   `json:"group_secret_key"`
		GroupPublicKey    string   `json:"group_public_key"`
		VerifyingKey      string   `json:"verifying_key_key"`
		Message           string   `json:"message"`
		ShareCoefficients []string `json:"share_polynomial_coefficients"`
		ParticipantShares []struct {
			ID    int    `json:"identifier"`
			Share string `json:"participant_share"`
		} `json:"participant_shares"`
	} `json:"inputs"`
	RoundOne struct {
		Outputs []struct {
			ID                 int    `json:"identifier"`
			HidingRandomness   string `json:"hiding_nonce_randomness"`
			BindingRandomness  string `json:"binding_nonce_randomness"`
			HidingNonce        string `json:"hiding_nonce"`
			BindingNonce       string `json:"binding_nonce"`
			HidingCommitment   string `json:"hiding_nonce_commitment"`
			BindingCommitment  string `json:"binding_nonce_commitment"`
			BindingFactorInput string `json:"binding_factor_input"`
			BindingFactor      string `json:"binding_factor"`
		} `json:"outputs"`
	} `json:"round_one_outputs"`
	RoundTwo struct {
		Outputs []struct {
			ID       int    `json:"identifier"`
			SigShare string `json:"sig_share"`
		} `json:"outputs"`
	} `json:"round_two_outputs"`
	FinalOutput struct {
		Sig string `json:"sig"`
	} `json:"final_output"`
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func scalarHex(tb testing.TB, s string) group.Scalar {
	tb.Helper()
	x, err := secp().DecodeScalar(unhex(tb, s))
	if err != nil {
		tb.Fatalf("scalar %q: %v", s, err)
	}
	return x
}

func pointHex(tb testing.TB, s string) group.Point {
	tb.Helper()
	p, err := secp().DecodePoint(unhex(tb, s))
	if err != nil {
		tb.Fatalf("point %q: %v", s, err)
	}
	return p
}

func eqScalar(tb testing.TB, what string, got group.Scalar, want string) {
	tb.Helper()
	if h := hex.EncodeToString(got.Bytes()); h != want {
		tb.Errorf("%s = %s, want %s", what, h, want)
	}
}

func eqPoint(tb testing.TB, what string, got group.Point, want string) {
	tb.Helper()
	if h := hex.EncodeToString(got.Bytes()); h != want {
		tb.Errorf("%s = %s, want %s", what, h, want)
	}
}

// TestVectors reproduces every step of the known-answer vectors of both
// suites: nonces from the given randomness, commitments, binding factor
// inputs and binding factors, signature shares, the final signature, and
// its verification (for Taproot also with btcec's BIP-340 verifier).
func TestVectors(t *testing.T) {
	for _, tc := range []struct {
		file  string
		suite Suite
	}{
		{"cfrg-frost-secp256k1-sha256.json", RFC9591},
		{"zf-frost-secp256k1-vectors.json", RFC9591},
		{"zf-frost-secp256k1-tr-vectors.json", Taproot},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var v vectorFile
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			s := tc.suite
			in := v.Inputs
			pkHex := in.GroupPublicKey
			if pkHex == "" {
				pkHex = in.VerifyingKey
			}
			P := pointHex(t, pkHex)
			// The inputs are consistent: P = x·G and the shares lie on
			// f(X) = x + a_1·X.
			x := scalarHex(t, in.GroupSecretKey)
			if !secp().BaseMul(x).Equal(P) {
				t.Fatal("group key is not group_secret_key·G")
			}
			shares := map[int]group.Scalar{}
			for _, ps := range in.ParticipantShares {
				shares[ps.ID] = scalarHex(t, ps.Share)
				f := x
				xi := secp().ScalarFromUint64(uint64(ps.ID))
				pow := xi
				for _, a := range in.ShareCoefficients {
					f = f.Add(scalarHex(t, a).Mul(pow))
					pow = pow.Mul(xi)
				}
				if !f.Equal(shares[ps.ID]) {
					t.Fatalf("share %d is not f(%d)", ps.ID, ps.ID)
				}
			}
			key, err := s.NewKey(P, schnorr.Taproot{})
			if err != nil {
				t.Fatal(err)
			}

			// Round one: RFC 9591 §5.1 commit with the given randomness.
			nonces := map[int]*Nonce{}
			pkg := &SigningPackage{Message: unhex(t, in.Message)}
			for _, o := range v.RoundOne.Outputs {
				n := s.NonceFromRandomness(shares[o.ID],
					[32]byte(unhex(t, o.HidingRandomness)), [32]byte(unhex(t, o.BindingRandomness)))
				eqScalar(t, "hiding_nonce", n.Hiding, o.HidingNonce)
				eqScalar(t, "binding_nonce", n.Binding, o.BindingNonce)
				c := n.Commit(o.ID)
				eqPoint(t, "hiding_nonce_commitment", c.Hiding, o.HidingCommitment)
				eqPoint(t, "binding_nonce_commitment", c.Binding, o.BindingCommitment)
				nonces[o.ID] = n
				// Prepend, so that the package arrives unsorted.
				pkg.Commitments = append([]Commitment{c}, pkg.Commitments...)
			}
			ss, err := s.Prepare(pkg, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := ss.IDs(); len(got) != len(in.ParticipantList) {
				t.Fatalf("ids %v, want %v", got, in.ParticipantList)
			}
			for _, o := range v.RoundOne.Outputs {
				if got := hex.EncodeToString(ss.bindingFactorInput(o.ID)); got != o.BindingFactorInput {
					t.Errorf("binding_factor_input(%d) = %s, want %s", o.ID, got, o.BindingFactorInput)
				}
				rho, err := ss.BindingFactor(o.ID)
				if err != nil {
					t.Fatal(err)
				}
				eqScalar(t, "binding_factor", rho, o.BindingFactor)
			}

			// Round two: RFC 9591 §5.2 sign, §5.4 verify_signature_share.
			zs := map[int]group.Scalar{}
			for _, o := range v.RoundTwo.Outputs {
				z, err := ss.Sign(o.ID, shares[o.ID], nonces[o.ID])
				if err != nil {
					t.Fatal(err)
				}
				eqScalar(t, "sig_share", z, o.SigShare)
				// The one-shot wrapper gives the same share.
				z2, err := s.Sign(pkg, key, o.ID, shares[o.ID], nonces[o.ID])
				if err != nil || !z2.Equal(z) {
					t.Errorf("Suite.Sign differs from Session.Sign: %v", err)
				}
				vk := secp().BaseMul(shares[o.ID])
				if err := ss.VerifyShare(o.ID, vk, z); err != nil {
					t.Errorf("VerifyShare(%d): %v", o.ID, err)
				}
				if err := s.VerifyShare(pkg, key, o.ID, vk, z); err != nil {
					t.Errorf("Suite.VerifyShare(%d): %v", o.ID, err)
				}
				zs[o.ID] = z
			}

			// RFC 9591 §5.3 aggregate.
			sig, err := ss.Aggregate(zs)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sig); got != v.FinalOutput.Sig {
				t.Errorf("sig = %s, want %s", got, v.FinalOutput.Sig)
			}
			if len(sig) != s.SignatureLen() {
				t.Errorf("signature length %d, want %d", len(sig), s.SignatureLen())
			}
			if !s.Verify(key, pkg.Message, sig) {
				t.Error("Verify rejects the vector signature")
			}
			if !s.Verify(key, pkg.Message, unhex(t, v.FinalOutput.Sig)) {
				t.Error("Verify rejects the published signature")
			}
			bad := bytes.Clone(sig)
			bad[len(bad)-1] ^= 1
			if s.Verify(key, pkg.Message, bad) {
				t.Error("Verify accepts a modified signature")
			}
			// The shares interpolate to the group secret.
			sub := map[int]group.Scalar{}
			for _, id := range in.ParticipantList {
				sub[id] = shares[id]
			}
			if got, err := vss.InterpolateScalars(secp(), sub); err != nil || !got.Equal(x) {
				t.Errorf("participant shares do not interpolate to the secret: %v", err)
			}
			if s == Taproot {
				// The vectors sign with frost-secp256k1-tr round2::sign (no tweak):
				// the 64-byte signature is BIP-340 under bytes(P).
				btcVerify(t, group.XOnly(P), pkg.Message, sig)
			}
		})
	}
}

// btcVerify checks sig against the x-only key with btcec's BIP-340
// verifier. btcec's schnorr.Verify takes 32-byte messages only; for other
// lengths (the vectors sign the 4-byte "test") it runs BIP-340 Verify
// ("Messages of arbitrary size") on btcec's own field and curve arithmetic,
// independent of threshold/group and threshold/schnorr.
func btcVerify(tb testing.TB, xonly [32]byte, msg, sig []byte) {
	tb.Helper()
	pub, err := btcschnorr.ParsePubKey(xonly[:])
	if err != nil {
		tb.Fatalf("btcec parse key: %v", err)
	}
	if len(msg) == 32 {
		s, err := btcschnorr.ParseSignature(sig)
		if err != nil {
			tb.Fatalf("btcec parse signature: %v", err)
		}
		if !s.Verify(msg, pub) {
			tb.Errorf("btcec rejects the signature")
		}
		return
	}
	// BIP-340 Verify: P = lift_x(pk) (ParsePubKey); r = sig[0:32] < p;
	// s = sig[32:64] < n; e = int(hash_BIP0340/challenge(r ‖ pk ‖ m)) mod n;
	// R = s·G − e·P; fail if R is infinite, has odd Y, or x(R) ≠ r.
	if len(sig) != 64 {
		tb.Fatalf("signature length %d", len(sig))
	}
	var r btcec.FieldVal
	if r.SetByteSlice(sig[:32]) {
		tb.Fatal("btcec: r ≥ p")
	}
	var s btcec.ModNScalar
	if s.SetByteSlice(sig[32:]) {
		tb.Fatal("btcec: s ≥ n")
	}
	tag := sha256.Sum256([]byte("BIP0340/challenge"))
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	h.Write(sig[:32])
	h.Write(xonly[:])
	h.Write(msg)
	var e btcec.ModNScalar
	e.SetByteSlice(h.Sum(nil))
	e.Negate()
	var P, sG, eP, R btcec.JacobianPoint
	pub.AsJacobian(&P)
	btcec.ScalarBaseMultNonConst(&s, &sG)
	btcec.ScalarMultNonConst(&e, &P, &eP)
	btcec.AddNonConst(&sG, &eP, &R)
	if (R.X.IsZero() && R.Y.IsZero()) || R.Z.IsZero() {
		tb.Fatal("btcec: R is infinite")
	}
	R.ToAffine()
	if R.Y.IsOdd() || !R.X.Equals(&r) {
		tb.Errorf("btcec BIP-340 verification fails")
	}
}
