package bls

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	herumi "github.com/herumi/bls-eth-go-binary/bls"
	blst "github.com/supranational/blst/bindings/go"
	"gopkg.in/yaml.v3"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// TestPartialSignMatchesHerumi: PartialSign (blst) computes exactly the
// bytes herumi's signing computes with the same secret, for random shares
// and messages of several lengths, and refuses a zero share.
func TestPartialSignMatchesHerumi(t *testing.T) {
	g := group.BLS12381G1()
	for i := range 50 {
		x, err := g.RandomScalar(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, i*7)
		rand.Read(msg)
		got, err := PartialSign(x, msg)
		if err != nil {
			t.Fatal(err)
		}
		want := herumi.CastToSecretKey(group.BLSFr(x)).SignByte(msg).Serialize()
		if !bytes.Equal(got, want) {
			t.Fatalf("message of %d bytes: blst and herumi signatures differ", len(msg))
		}
	}
	if _, err := PartialSign(g.Zero(), []byte("m")); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("zero share: %v", err)
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCases(t *testing.T, handler string, v func(name string) any) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", handler, "*", "data.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no %s vectors: %v", handler, err)
	}
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(p))
		if err := yaml.Unmarshal(b, v(name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// blstVerify is the independent check: supranational/blst, POP DST, with
// subgroup checks of both the signature and the key.
func blstVerify(pub, msg, sig []byte) bool {
	pk := new(blst.P1Affine).Uncompress(pub)
	s := new(blst.P2Affine).Uncompress(sig)
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, msg, popDST)
}

// Ethereum consensus spec tests, phase0 bls/sign.
func TestSignVectors(t *testing.T) {
	type tc struct {
		Input struct {
			Privkey string `yaml:"privkey"`
			Message string `yaml:"message"`
		} `yaml:"input"`
		Output *string `yaml:"output"`
	}
	cases := map[string]*tc{}
	readCases(t, "sign", func(n string) any { cases[n] = &tc{}; return cases[n] })
	g := group.BLS12381G1()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			sk, err := g.DecodeScalar(unhex(t, c.Input.Privkey))
			if err == nil && sk.IsZero() {
				err = errors.New("zero key")
			}
			if c.Output == nil {
				// Invalid key: the spec expects no signature.
				if err == nil {
					if _, err := PartialSign(sk, unhex(t, c.Input.Message)); err == nil {
						t.Fatal("signed with an invalid key")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := unhex(t, c.Input.Message)
			sig, err := PartialSign(sk, msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sig, unhex(t, *c.Output)) {
				t.Fatalf("signature mismatch")
			}
			pub := g.BaseMul(sk).Bytes()
			if !Verify(pub, msg, sig) || !blstVerify(pub, msg, sig) {
				t.Fatal("vector signature does not verify")
			}
		})
	}
	if _, ok := cases["sign_case_zero_privkey"]; !ok {
		t.Fatal("zero-key case missing")
	}
}

// Ethereum consensus spec tests, phase0 bls/verify.
func TestVerifyVectors(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkey    string `yaml:"pubkey"`
			Message   string `yaml:"message"`
			Signature string `yaml:"signature"`
		} `yaml:"input"`
		Output bool `yaml:"output"`
	}
	cases := map[string]*tc{}
	readCases(t, "verify", func(n string) any { cases[n] = &tc{}; return cases[n] })
	var valid, invalid int
	for name, c := range cases {
		pub, msg, sig := unhex(t, c.Input.Pubkey), unhex(t, c.Input.Message), unhex(t, c.Input.Signature)
		if got := Verify(pub, msg, sig); got != c.Output {
			t.Errorf("%s: Verify = %v, want %v", name, got, c.Output)
		}
		if got := blstVerify(pub, msg, sig); got != c.Output {
			t.Errorf("%s: blst = %v, want %v", name, got, c.Output)
		}
		if c.Output {
			valid++
		} else {
			invalid++
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("vectors not exercised: %d valid, %d invalid", valid, invalid)
	}
}

// Ethereum consensus spec tests, phase0 bls/fast_aggregate_verify: n keys
// sign one message and the sum of their signatures verifies under the sum of
// their keys. This is the linearity in the key that threshold combination
// rests on (Boldyreva 2003), checked here with this package's decoders and
// verifier: FastAggregateVerify(PKs, m, σ) is Verify(Σ PK_i, m, σ) after
// every PK_i passed KeyValidate (which [group.Group.DecodePoint] is), and it
// fails for an empty key list.
func TestFastAggregateVerifyVectors(t *testing.T) {
	type tc struct {
		Input struct {
			Pubkeys   []string `yaml:"pubkeys"`
			Message   string   `yaml:"message"`
			Signature string   `yaml:"signature"`
		} `yaml:"input"`
		Output bool `yaml:"output"`
	}
	cases := map[string]*tc{}
	readCases(t, "fast_aggregate_verify", func(n string) any { cases[n] = &tc{}; return cases[n] })
	g := group.BLS12381G1()
	var valid, invalid int
	for name, c := range cases {
		msg, sig := unhex(t, c.Input.Message), unhex(t, c.Input.Signature)
		got := len(c.Input.Pubkeys) > 0
		sum := g.Identity()
		for _, pk := range c.Input.Pubkeys {
			P, err := g.DecodePoint(unhex(t, pk))
			if err != nil {
				got = false
				break
			}
			sum = sum.Add(P)
		}
		got = got && !sum.IsIdentity() && Verify(sum.Bytes(), msg, sig)
		if got != c.Output {
			t.Errorf("%s: %v, want %v", name, got, c.Output)
		}
		if got && !blstVerify(sum.Bytes(), msg, sig) {
			t.Errorf("%s: blst rejects the signature under the summed key", name)
		}
		if c.Output {
			valid++
		} else {
			invalid++
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("vectors not exercised: %d valid, %d invalid", valid, invalid)
	}
}

// Ethereum consensus spec tests, phase0 bls/aggregate: the sum of
// signatures, computed with the G2 multi-scalar multiplication that
// [Combine] interpolates with (all coefficients 1 here) on signatures
// parsed by this package's decoder. The spec's Aggregate accepts the
// identity signature; this package's decoder rejects it by design (a partial
// or signature is never the identity), and the test checks that it does.
func TestAggregateVectors(t *testing.T) {
	type tc struct {
		Input  []string `yaml:"input"`
		Output *string  `yaml:"output"`
	}
	cases := map[string]*tc{}
	readCases(t, "aggregate", func(n string) any { cases[n] = &tc{}; return cases[n] })
	summed := 0
	for name, c := range cases {
		if c.Output == nil {
			// Aggregate of no signatures is undefined (spec: error).
			if len(c.Input) != 0 {
				t.Errorf("%s: no output for %d inputs", name, len(c.Input))
			}
			continue
		}
		var sigs []herumi.G2
		var coeffs []herumi.Fr
		identity := false
		for _, in := range c.Input {
			s, err := decodeSignature(unhex(t, in))
			if err != nil {
				identity = true
				if b := unhex(t, in); b[0] != 0xc0 || !bytes.Equal(b[1:], make([]byte, SignatureLen-1)) {
					t.Fatalf("%s: valid signature rejected: %v", name, err)
				}
				continue
			}
			var one herumi.Fr
			one.SetInt64(1)
			sigs = append(sigs, *herumi.CastFromSign(s))
			coeffs = append(coeffs, one)
		}
		if identity {
			continue // the identity input is rejected, as checked above
		}
		var sum herumi.G2
		herumi.G2MulVec(&sum, sigs, coeffs)
		if got := herumi.CastToSign(&sum).Serialize(); !bytes.Equal(got, unhex(t, *c.Output)) {
			t.Errorf("%s: aggregate %x", name, got)
		}
		summed++
	}
	if summed != 3 {
		t.Fatalf("summed %d aggregate vectors, want 3", summed)
	}
}

// dealing is a Shamir sharing made in the test, standing in for a DKG.
type dealing struct {
	secret group.Scalar
	pub    group.Point
	shares map[int]group.Scalar
	vks    map[int]group.Point
}

func deal(t testing.TB, n, th int) dealing {
	t.Helper()
	g := group.BLS12381G1()
	p, err := vss.NewPolynomial(g, th, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Commit()
	d := dealing{secret: p.Secret(), pub: c.Secret(), shares: map[int]group.Scalar{}, vks: map[int]group.Point{}}
	for i := 1; i <= n; i++ {
		d.shares[i] = p.Share(i)
		d.vks[i] = c.Eval(i) // verification keys from the commitment only
	}
	return d
}

// partials are every replica's partial signature on msg, in the form
// replicas send (uncompressed).
func (d dealing) partials(t testing.TB, msg []byte) map[int][]byte {
	t.Helper()
	out := map[int][]byte{}
	for i, s := range d.shares {
		sig, err := PartialSignUncompressed(s, msg)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = sig
	}
	return out
}

func TestThresholdSign(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		t.Run(fmt.Sprintf("n=%d,t=%d", cfg.n, cfg.t), func(t *testing.T) {
			d := deal(t, cfg.n, cfg.t)
			msg := []byte("deposit data signing root")
			want, err := PartialSign(d.secret, msg)
			if err != nil {
				t.Fatal(err)
			}
			all := d.partials(t, msg)
			for i, p := range all {
				if err := VerifyPartial(d.vks[i], msg, p); err != nil {
					t.Fatalf("honest partial %d rejected: %v", i, err)
				}
				if j := i%cfg.n + 1; VerifyPartial(d.vks[j], msg, p) == nil {
					t.Fatalf("partial %d verifies under key %d", i, j)
				}
			}
			// Every (t+1)-subset of signers gives the same signature.
			subsets := [][]int{}
			for start := 1; start+cfg.t <= cfg.n; start++ {
				s := []int{}
				for k := 0; k <= cfg.t; k++ {
					s = append(s, start+k)
				}
				subsets = append(subsets, s)
			}
			for _, s := range subsets {
				ps := map[int][]byte{}
				for _, i := range s {
					ps[i] = all[i]
				}
				sig, err := Combine(d.pub, d.vks, cfg.t, msg, ps)
				if err != nil {
					t.Fatalf("subset %v: %v", s, err)
				}
				if !bytes.Equal(sig, want) {
					t.Fatalf("subset %v: combined signature differs from the key's signature", s)
				}
				if !Verify(d.pub.Bytes(), msg, sig) || !blstVerify(d.pub.Bytes(), msg, sig) {
					t.Fatalf("subset %v: combined signature rejected", s)
				}
			}
			if _, err := Combine(d.pub, d.vks, cfg.t, msg, map[int][]byte{1: all[1]}); !errors.Is(err, ErrNotEnoughPartials) {
				t.Fatalf("combined from one partial: %v", err)
			}
		})
	}
}

// corruptions are the ways a Byzantine replica can answer.
var corruptions = map[string]func(d dealing, i int, msg, good []byte) []byte{
	"other message": func(d dealing, i int, msg, _ []byte) []byte {
		s, _ := PartialSign(d.shares[i], append(slices.Clone(msg), '!'))
		return s
	},
	"other share": func(d dealing, i int, msg, _ []byte) []byte {
		s, _ := PartialSign(d.shares[i].Add(group.BLS12381G1().ScalarFromUint64(1)), msg)
		return s
	},
	"group key signature": func(d dealing, _ int, msg, _ []byte) []byte {
		s, _ := PartialSign(d.secret, msg)
		return s
	},
	"flipped bit": func(_ dealing, _ int, _, good []byte) []byte {
		b := slices.Clone(good)
		b[50] ^= 1
		return b
	},
	"truncated":        func(_ dealing, _ int, _, good []byte) []byte { return good[:95] },
	"truncated by one": func(_ dealing, _ int, _, good []byte) []byte { return good[:len(good)-1] },
	"identity": func(dealing, int, []byte, []byte) []byte {
		b := make([]byte, 96)
		b[0] = 0xc0
		return b
	},
	"identity, uncompressed": func(dealing, int, []byte, []byte) []byte {
		b := make([]byte, PartialLen)
		b[0] = 0x40
		return b
	},
	"off the curve": func(d dealing, i int, msg, _ []byte) []byte {
		b, _ := PartialSignUncompressed(d.shares[i], msg)
		b[PartialLen-1] ^= 1 // y.c0
		return b
	},
	"compressed flag on the long form": func(d dealing, i int, msg, _ []byte) []byte {
		b, _ := PartialSignUncompressed(d.shares[i], msg)
		b[0] |= 0x80
		return b
	},
	"compressed, padded": func(d dealing, i int, msg, _ []byte) []byte {
		b, _ := PartialSign(d.shares[i], msg)
		return append(b, make([]byte, PartialLen-SignatureLen)...)
	},
	"empty": func(dealing, int, []byte, []byte) []byte { return nil },
}

func TestCombineRobust(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		msg := []byte("voluntary exit")
		want, _ := PartialSign(d.secret, msg)
		for name, corrupt := range corruptions {
			t.Run(fmt.Sprintf("n=%d,t=%d/%s", cfg.n, cfg.t, name), func(t *testing.T) {
				ps := d.partials(t, msg)
				// t bad partials at the lowest indices: combination succeeds
				// and names them.
				bad := []int{}
				for i := 1; i <= cfg.t; i++ {
					ps[i] = corrupt(d, i, msg, ps[i])
					bad = append(bad, i)
				}
				sig, err := Combine(d.pub, d.vks, cfg.t, msg, ps)
				var ce *CulpritError
				if !errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, bad) {
					t.Fatalf("culprits: %v, want %v", err, bad)
				}
				if !bytes.Equal(sig, want) || !blstVerify(d.pub.Bytes(), msg, sig) {
					t.Fatal("robust combination gave a wrong signature")
				}
				// t+1 bad among only 2t+1 answers: fail, naming them all.
				ps2 := map[int][]byte{}
				for i := 1; i <= 2*cfg.t+1; i++ {
					ps2[i] = ps[i]
				}
				ps2[cfg.t+1] = corrupt(d, cfg.t+1, msg, ps2[cfg.t+1])
				sig, err = Combine(d.pub, d.vks, cfg.t, msg, ps2)
				if sig != nil || !errors.Is(err, ErrNotEnoughPartials) || !errors.As(err, &ce) ||
					!slices.Equal(ce.Culprits, append(bad, cfg.t+1)) {
					t.Fatalf("t+1 bad partials: sig=%x err=%v", sig, err)
				}
			})
		}
	}
}

func TestCombineRejectsUnknownReplicaAndBadKeys(t *testing.T) {
	d := deal(t, 4, 1)
	msg := []byte("m")
	all := d.partials(t, msg)
	// A replica without a verification key is a culprit even if it
	// forwards another replica's valid partial.
	ps := map[int][]byte{0: all[1], 3: all[3], 9: all[1]}
	sig, err := Combine(d.pub, d.vks, 1, msg, ps)
	var ce *CulpritError
	if sig != nil || !errors.As(err, &ce) || !slices.Equal(ce.Culprits, []int{0, 9}) || !errors.Is(err, ErrNotEnoughPartials) {
		t.Fatalf("unknown replicas: sig=%x err=%v", sig, err)
	}
	// Verification keys inconsistent with the group key: the final check
	// catches it.
	other := deal(t, 4, 1)
	if _, err := Combine(other.pub, d.vks, 1, msg, d.partials(t, msg)); !errors.Is(err, ErrVerify) {
		t.Fatalf("mismatched group key: %v", err)
	}
	if _, err := Combine(group.BLS12381G1().Identity(), d.vks, 1, msg, d.partials(t, msg)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("identity group key: %v", err)
	}
	if _, err := Combine(group.Secp256k1().Generator(), d.vks, 1, msg, d.partials(t, msg)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("foreign group key: %v", err)
	}
	if _, err := PartialSign(group.Secp256k1().ScalarFromUint64(3), msg); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("foreign share: %v", err)
	}
	if _, err := Combine(d.pub, d.vks, -1, msg, d.partials(t, msg)); !errors.Is(err, ErrInvalidThreshold) {
		t.Fatalf("negative threshold: %v", err)
	}
}

func TestCombineUsesOnlyNeededPartials(t *testing.T) {
	d := deal(t, 4, 1)
	msg := []byte("m")
	ps := d.partials(t, msg)
	ps[4] = []byte("garbage from a replica whose partial is not needed")
	sig, err := Combine(d.pub, d.vks, 1, msg, ps)
	if err != nil || !blstVerify(d.pub.Bytes(), msg, sig) {
		t.Fatalf("sig=%x err=%v", sig, err)
	}
}

func FuzzDecodeSignature(f *testing.F) {
	d := deal(f, 4, 1)
	good, _ := PartialSign(d.shares[1], []byte("m"))
	f.Add(good)
	f.Add(make([]byte, 96))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSignature(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Serialize(), b) {
			t.Fatal("accepted a non-canonical signature")
		}
		if new(blst.P2Affine).Uncompress(b) == nil || !new(blst.P2Affine).Uncompress(b).SigValidate(true) {
			t.Fatal("accepted a signature blst rejects")
		}
		_ = VerifyPartial(d.vks[1], []byte("m"), b)
	})
}

func BenchmarkPartialSign(b *testing.B) {
	d := deal(b, 4, 1)
	msg := []byte("benchmark message")
	for b.Loop() {
		if _, err := PartialSign(d.shares[1], msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPartial(b *testing.B) {
	d := deal(b, 4, 1)
	msg := []byte("benchmark message")
	p, _ := PartialSign(d.shares[1], msg)
	for b.Loop() {
		if err := VerifyPartial(d.vks[1], msg, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine(b *testing.B) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		b.Run(fmt.Sprintf("n=%d,t=%d", cfg.n, cfg.t), func(b *testing.B) {
			d := deal(b, cfg.n, cfg.t)
			msg := []byte("benchmark message")
			ps := d.partials(b, msg)
			for b.Loop() {
				if _, err := Combine(d.pub, d.vks, cfg.t, msg, ps); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The client's optimistic path: 2t+1 partials, checked for
		// consistency; in the form replicas send, and compressed.
		for _, form := range []string{"uncompressed", "compressed"} {
			b.Run(fmt.Sprintf("n=%d,t=%d/consistent/%s", cfg.n, cfg.t, form), func(b *testing.B) {
				d := deal(b, cfg.n, cfg.t)
				msg := []byte("benchmark message")
				ps := d.partials(b, msg)
				for i := 2*cfg.t + 2; i <= cfg.n; i++ {
					delete(ps, i)
				}
				if form == "compressed" {
					for i := range ps {
						ps[i], _ = PartialSign(d.shares[i], msg)
					}
				}
				for b.Loop() {
					if _, err := CombineConsistent(cfg.t, ps); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		// The client's fast path: t+1 partials, only the result verified.
		b.Run(fmt.Sprintf("n=%d,t=%d/unchecked", cfg.n, cfg.t), func(b *testing.B) {
			d := deal(b, cfg.n, cfg.t)
			msg := []byte("benchmark message")
			ps := d.partials(b, msg)
			for i := cfg.t + 2; i <= cfg.n; i++ {
				delete(ps, i)
			}
			for b.Loop() {
				if _, err := CombineUnchecked(d.pub, cfg.t, msg, ps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCombineUnchecked: t+1 honest partials combine to the single-party
// signature (checked by blst); one wrong partial among them, or a wrong
// count, gives an error and no signature.
func TestCombineUnchecked(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		msg := []byte("fast path")
		want, _ := PartialSign(d.secret, msg)
		ps := d.partials(t, msg)
		first := map[int][]byte{}
		for i := cfg.n - cfg.t; i <= cfg.n; i++ { // the highest t+1
			first[i] = ps[i]
		}
		sig, err := CombineUnchecked(d.pub, cfg.t, msg, first)
		if err != nil || !bytes.Equal(sig, want) || !blstVerify(d.pub.Bytes(), msg, sig) {
			t.Fatalf("n=%d: honest partials: %v", cfg.n, err)
		}
		for name, corrupt := range corruptions {
			bad := maps.Clone(first)
			bad[cfg.n] = corrupt(d, cfg.n, msg, bad[cfg.n])
			if sig, err := CombineUnchecked(d.pub, cfg.t, msg, bad); err == nil || sig != nil {
				t.Errorf("n=%d %s: combined a wrong partial: %v", cfg.n, name, err)
			}
		}
		if _, err := CombineUnchecked(d.pub, cfg.t, msg, ps); !errors.Is(err, ErrNotEnoughPartials) {
			t.Errorf("n=%d: all n partials accepted: %v", cfg.n, err)
		}
		if _, err := CombineUnchecked(d.pub, cfg.t, []byte("other message"), first); !errors.Is(err, ErrVerify) {
			t.Errorf("n=%d: other message: %v", cfg.n, err)
		}
	}
}

// TestCombineConsistent: every window of 2t+1 honest partials gives the
// group key's signature (checked with blst); one wrong partial at any
// position, or t wrong partials that agree with each other, gives an error
// and no signature; fewer than 2t+1 partials are refused.
func TestCombineConsistent(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		msg := []byte("consistent partials")
		want, _ := PartialSign(d.secret, msg)
		ps := d.partials(t, msg)
		for start := 1; start <= cfg.n; start++ {
			sub := map[int][]byte{}
			for k := range 2*cfg.t + 1 {
				i := (start+k-1)%cfg.n + 1
				sub[i] = ps[i]
			}
			sig, err := CombineConsistent(cfg.t, sub)
			if err != nil || !bytes.Equal(sig, want) || !blstVerify(d.pub.Bytes(), msg, sig) {
				t.Fatalf("n=%d window %d: %v", cfg.n, start, err)
			}
			for i := range sub {
				for name, corrupt := range corruptions {
					bad := maps.Clone(sub)
					bad[i] = corrupt(d, i, msg, bad[i])
					if sig, err := CombineConsistent(cfg.t, bad); err == nil || sig != nil {
						t.Fatalf("n=%d replica %d %s: combined a wrong partial: %v", cfg.n, i, name, err)
					}
				}
			}
		}
		if sig, err := CombineConsistent(cfg.t, ps); err != nil || !bytes.Equal(sig, want) {
			t.Fatalf("n=%d: all partials: %v", cfg.n, err)
		}
		colluding := map[int][]byte{}
		for i := 1; i <= 2*cfg.t+1; i++ {
			colluding[i] = ps[i]
		}
		for i := 1; i <= cfg.t; i++ {
			colluding[i] = corruptions["other share"](d, i, msg, nil)
		}
		if _, err := CombineConsistent(cfg.t, colluding); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("n=%d: t colluding partials: %v", cfg.n, err)
		}
		short := map[int][]byte{}
		for i := 1; i <= 2*cfg.t; i++ {
			short[i] = ps[i]
		}
		if _, err := CombineConsistent(cfg.t, short); !errors.Is(err, ErrNotEnoughPartials) {
			t.Fatalf("n=%d: 2t partials: %v", cfg.n, err)
		}
		if _, err := CombineConsistent(-1, ps); !errors.Is(err, ErrInvalidThreshold) {
			t.Fatalf("t = -1: %v", err)
		}
	}
}

// TestDecodeG2Unchecked: the blst-to-herumi move of a decoded point, from
// either form, gives the point herumi decodes itself; the identity, a wrong
// length, a non-canonical or off-curve encoding are refused.
func TestDecodeG2Unchecked(t *testing.T) {
	d := deal(t, 4, 1)
	for k := range 20 {
		msg := []byte{byte(k)}
		for _, share := range d.shares {
			comp, _ := PartialSign(share, msg)
			unc, _ := PartialSignUncompressed(share, msg)
			want, err := decodeSignature(comp)
			if err != nil {
				t.Fatal(err)
			}
			for _, enc := range [][]byte{comp, unc} {
				var p herumi.G2
				if err := decodeG2Unchecked(&p, enc); err != nil {
					t.Fatal(err)
				}
				if !p.IsEqual(herumi.CastFromSign(want)) || !bytes.Equal(p.Serialize(), comp) {
					t.Fatalf("partial %x decoded to another point", enc)
				}
				if got, err := decodeSignature(enc); err != nil || !got.IsEqual(want) {
					t.Fatalf("partial %x: decodeSignature: %v", enc, err)
				}
			}
		}
	}
	good, _ := PartialSign(d.shares[1], []byte("x"))
	goodLong, _ := PartialSignUncompressed(d.shares[1], []byte("x"))
	identity := make([]byte, SignatureLen)
	identity[0] = 0xc0
	identityLong := make([]byte, PartialLen)
	identityLong[0] = 0x40
	flipped := bytes.Clone(good)
	flipped[60] ^= 0x01
	offCurve := bytes.Clone(goodLong)
	offCurve[150] ^= 0x01 // y.c0
	for name, enc := range map[string][]byte{
		"identity": identity, "short": good[:95], "long": append(bytes.Clone(good), 0), "empty": nil,
		"uncompressed flag": append([]byte{good[0] &^ 0x80}, good[1:]...), "flipped": flipped,
		"identity, long form": identityLong, "off the curve": offCurve, "long form, short": goodLong[:PartialLen-1],
		"long form, long": append(bytes.Clone(goodLong), 0), "compressed flag on the long form": append([]byte{goodLong[0] | 0x80}, goodLong[1:]...),
		"long form, sort flag": append([]byte{goodLong[0] | 0x20}, goodLong[1:]...),
	} {
		var p herumi.G2
		err := decodeG2Unchecked(&p, enc)
		if err == nil && name != "flipped" {
			t.Errorf("%s: decoded", name)
		}
		if err == nil && name == "flipped" {
			// Another x may still be on the curve; then it is a different point.
			if bytes.Equal(p.Serialize(), good) {
				t.Error("flipped: same point")
			}
		}
		if name != "flipped" {
			if _, err := decodeSignature(enc); err == nil {
				t.Errorf("%s: decodeSignature decoded", name)
			}
		}
	}
}

// TestDecodeSignatureRejectsNonSubgroup: a canonical encoding of a point
// on the G2 curve outside the order-r subgroup is refused by every entry
// point that takes a signature (decodeSignature relies on herumi's
// Deserialize, with VerifyOrderG2 set by group.InitBLS, for the check).
func TestDecodeSignatureRejectsNonSubgroup(t *testing.T) {
	group.InitBLS()
	var enc []byte
	func() {
		herumi.VerifyOrderG2(false)
		defer herumi.VerifyOrderG2(true)
		for i := 1; i < 200 && enc == nil; i++ {
			b := make([]byte, SignatureLen)
			b[0] = 0x80                 // compressed, x.c1 = 0
			b[SignatureLen-1] = byte(i) // x.c0 = i
			var p herumi.G2
			if p.Deserialize(b) == nil && !p.IsZero() && !p.IsValidOrder() {
				enc = b
			}
		}
	}()
	if enc == nil {
		t.Fatal("no curve point outside the subgroup found")
	}
	if q := new(blst.P2Affine).Uncompress(enc); q == nil || q.InG2() {
		t.Fatal("blst disagrees: not a curve point outside G2")
	}
	long := new(blst.P2Affine).Uncompress(enc).Serialize()
	for _, enc := range [][]byte{enc, long} {
		if _, err := decodeSignature(enc); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("decodeSignature accepts a point outside G2 (%d bytes): %v", len(enc), err)
		}
	}
	g := group.BLS12381G1()
	sk, err := g.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := g.BaseMul(sk)
	if Verify(pub.Bytes(), []byte("m"), enc) || VerifyPartial(pub, []byte("m"), enc) == nil || VerifyPartial(pub, []byte("m"), long) == nil {
		t.Fatal("a signature outside G2 verifies")
	}
	if _, err := CombineUnchecked(pub, 1, []byte("m"), map[int][]byte{1: enc, 2: enc}); err == nil {
		t.Fatal("CombineUnchecked accepts partials outside G2")
	}
	d := deal(t, 4, 1)
	ps := d.partials(t, []byte("m"))
	for _, enc := range [][]byte{enc, long} {
		// Three equal partials are consistent, and interpolate to the same
		// point outside G2: the check of the result refuses it.
		if sig, err := CombineConsistent(1, map[int][]byte{1: enc, 2: enc, 3: enc}); !errors.Is(err, ErrInconsistent) || sig != nil {
			t.Fatalf("CombineConsistent accepts partials outside G2: %v", err)
		}
		// One honest partial swapped for that point, or that point added to
		// it: refused too.
		for i := 1; i <= 3; i++ {
			var honest, off, sum herumi.G2
			_ = decodeG2Unchecked(&honest, ps[i])
			_ = decodeG2Unchecked(&off, enc)
			herumi.G2Add(&sum, &honest, &off)
			shifted := new(blst.P2Affine).Uncompress(sum.Serialize()).Serialize()
			for _, b := range [][]byte{enc, shifted} {
				bad := map[int][]byte{1: ps[1], 2: ps[2], 3: ps[3]}
				bad[i] = b
				if sig, err := CombineConsistent(1, bad); err == nil || sig != nil {
					t.Fatalf("partial %d outside G2 accepted", i)
				}
			}
		}
	}
}

// FuzzDecodeG2Unchecked: any input, compressed or uncompressed, decodes to
// the point it encodes (herumi re-encodes it byte for byte in the same
// form) or is refused; nothing panics.
func FuzzDecodeG2Unchecked(f *testing.F) {
	group.InitBLS()
	var sk herumi.SecretKey
	sk.SetByCSPRNG()
	f.Add(sk.SignByte([]byte("m")).Serialize())
	f.Add(herumi.CastFromSign(sk.SignByte([]byte("m"))).SerializeUncompressed())
	f.Add(make([]byte, SignatureLen))
	f.Add(make([]byte, PartialLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p herumi.G2
		if decodeG2Unchecked(&p, b) != nil {
			return
		}
		enc := p.Serialize()
		if len(b) == PartialLen {
			enc = p.SerializeUncompressed()
		}
		if p.IsZero() || !bytes.Equal(enc, b) {
			t.Fatalf("%x decoded to another point", b)
		}
	})
}
