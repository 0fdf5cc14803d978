package vss

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
)

func groups() []group.Group { return []group.Group{group.Secp256k1(), group.BLS12381G1()} }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustScalar(t *testing.T, g group.Group, s string) group.Scalar {
	t.Helper()
	x, err := g.DecodeScalar(mustHex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustPoint(t *testing.T, g group.Group, s string) group.Point {
	t.Helper()
	p, err := g.DecodePoint(mustHex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCFRGFrostSharing checks Share, interpolation and the group key against
// the trusted-dealer sharing of the FROST(secp256k1, SHA-256) test vector
// (RFC 9591 draft, cfrg/draft-irtf-cfrg-frost poc).
func TestCFRGFrostSharing(t *testing.T) {
	raw, err := os.ReadFile("testdata/cfrg-frost-secp256k1-sha256.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Inputs struct {
			ParticipantList []int    `json:"participant_list"`
			GroupSecretKey  string   `json:"group_secret_key"`
			GroupPublicKey  string   `json:"group_public_key"`
			Coeffs          []string `json:"share_polynomial_coefficients"`
			Shares          []struct {
				Identifier int    `json:"identifier"`
				Share      string `json:"participant_share"`
			} `json:"participant_shares"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	g := group.Secp256k1()
	in := v.Inputs
	p := &Polynomial{g: g, coeffs: []group.Scalar{mustScalar(t, g, in.GroupSecretKey)}}
	for _, c := range in.Coeffs {
		p.coeffs = append(p.coeffs, mustScalar(t, g, c))
	}
	if len(in.Shares) != 3 {
		t.Fatalf("vector has %d shares, want 3", len(in.Shares))
	}
	com := p.Commit()
	if !com.Secret().Equal(mustPoint(t, g, in.GroupPublicKey)) {
		t.Error("C_0 != group public key")
	}
	shares := map[int]group.Scalar{}
	for _, s := range in.Shares {
		want := mustScalar(t, g, s.Share)
		if got := p.Share(s.Identifier); !got.Equal(want) {
			t.Errorf("Share(%d) mismatch", s.Identifier)
		}
		if !com.Verify(s.Identifier, want) {
			t.Errorf("Verify(%d) rejected the vector share", s.Identifier)
		}
		shares[s.Identifier] = want
	}
	signers := map[int]group.Scalar{}
	for _, i := range in.ParticipantList {
		signers[i] = shares[i]
	}
	got, err := InterpolateScalars(g, signers)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(mustScalar(t, g, in.GroupSecretKey)) {
		t.Error("interpolated secret mismatch")
	}
}

// TestZcashFrostDKG checks commitments, shares and the summed (Joint-Feldman)
// outputs against the ZcashFoundation/frost secp256k1 DKG vector: each
// participant's final signing share is Σ_j f_j(i), its verifying share
// Σ_j Eval_j(i), and the group key Σ_j C_j0.
func TestZcashFrostDKG(t *testing.T) {
	raw, err := os.ReadFile("testdata/zf-frost-secp256k1-vectors_dkg.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	type party struct {
		Identifier     int               `json:"identifier"`
		SigningKey     string            `json:"signing_key"`
		Coefficient    string            `json:"coefficient"`
		Commitments    []string          `json:"vss_commitments"`
		SigningShares  map[string]string `json:"signing_shares"`
		VerifyingShare string            `json:"verifying_share"`
		SigningShare   string            `json:"signing_share"`
	}
	g := group.Secp256k1()
	var vk string
	if err := json.Unmarshal(v.Inputs["verifying_key"], &vk); err != nil {
		t.Fatal(err)
	}
	parties := map[int]party{}
	polys := map[int]*Polynomial{}
	var sum Commitment
	for i := 1; i <= 3; i++ {
		var p party
		if err := json.Unmarshal(v.Inputs[strconv.Itoa(i)], &p); err != nil {
			t.Fatal(err)
		}
		parties[i] = p
		poly := &Polynomial{g: g, coeffs: []group.Scalar{mustScalar(t, g, p.SigningKey), mustScalar(t, g, p.Coefficient)}}
		polys[i] = poly
		com := poly.Commit()
		var want []byte
		for _, c := range p.Commitments {
			want = append(want, mustHex(t, c)...)
		}
		if !bytes.Equal(com.Bytes(), want) {
			t.Fatalf("party %d: commitment mismatch", i)
		}
		dec, err := DecodeCommitment(g, want)
		if err != nil || !dec.Equal(com) {
			t.Fatalf("party %d: decode commitment: %v", i, err)
		}
		if sum == nil {
			sum = com
		} else if sum, err = sum.Add(com); err != nil {
			t.Fatal(err)
		}
	}
	if !sum.Secret().Equal(mustPoint(t, g, vk)) {
		t.Error("Σ C_j0 != verifying key")
	}
	// signing_shares[j] of party i is the share f_j(i) it received from j.
	for i, p := range parties {
		if len(p.SigningShares) != 2 {
			t.Fatalf("party %d: %d received shares, want 2", i, len(p.SigningShares))
		}
		for js, s := range p.SigningShares {
			j, err := strconv.Atoi(js)
			if err != nil || polys[j] == nil {
				t.Fatalf("party %d: bad sender %q", i, js)
			}
			if !polys[j].Share(i).Equal(mustScalar(t, g, s)) {
				t.Errorf("share from %d to %d mismatch", j, i)
			}
			if !polys[j].Commit().Verify(i, mustScalar(t, g, s)) {
				t.Errorf("share from %d to %d does not verify", j, i)
			}
		}
		final := g.Zero()
		for j := 1; j <= 3; j++ {
			final = final.Add(polys[j].Share(i))
		}
		if !final.Equal(mustScalar(t, g, p.SigningShare)) {
			t.Errorf("party %d: signing share mismatch", i)
		}
		if !sum.Eval(i).Equal(mustPoint(t, g, p.VerifyingShare)) {
			t.Errorf("party %d: verifying share mismatch", i)
		}
	}
}

func TestShareVerifyInterpolate(t *testing.T) {
	for _, g := range groups() {
		for _, deg := range []int{0, 1, 2, 5} {
			t.Run(g.Name()+"/t="+strconv.Itoa(deg), func(t *testing.T) {
				n := 3*deg + 1
				p, err := NewPolynomial(g, deg, nil, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if p.Degree() != deg {
					t.Fatalf("degree %d, want %d", p.Degree(), deg)
				}
				com := p.Commit()
				if !com.Secret().Equal(g.BaseMul(p.Secret())) {
					t.Fatal("C_0 != secret·G")
				}
				shares := map[int]group.Scalar{}
				keys := map[int]group.Point{}
				for i := 1; i <= n; i++ {
					s := p.Share(i)
					if !com.Verify(i, s) {
						t.Fatalf("share %d does not verify", i)
					}
					if com.Verify(i, s.Add(g.ScalarFromUint64(1))) {
						t.Fatalf("perturbed share %d verifies", i)
					}
					if i < n && com.Verify(i+1, s) {
						t.Fatalf("share %d verifies at index %d", i, i+1)
					}
					shares[i] = s
					keys[i] = com.Eval(i)
				}
				// Any t+1 consecutive shares recover the secret and the key.
				for start := 1; start+deg <= n; start++ {
					sub, subKeys := map[int]group.Scalar{}, map[int]group.Point{}
					for i := start; i <= start+deg; i++ {
						sub[i], subKeys[i] = shares[i], keys[i]
					}
					got, err := InterpolateScalars(g, sub)
					if err != nil {
						t.Fatal(err)
					}
					if !got.Equal(p.Secret()) {
						t.Fatalf("interpolation from %d..%d wrong", start, start+deg)
					}
					pk, err := InterpolatePoints(g, subKeys)
					if err != nil {
						t.Fatal(err)
					}
					if !pk.Equal(com.Secret()) {
						t.Fatalf("point interpolation from %d..%d wrong", start, start+deg)
					}
				}
				// t shares do not determine the secret (t ≥ 1).
				if deg >= 1 {
					sub := map[int]group.Scalar{}
					for i := 1; i <= deg; i++ {
						sub[i] = shares[i]
					}
					got, err := InterpolateScalars(g, sub)
					if err != nil {
						t.Fatal(err)
					}
					if got.Equal(p.Secret()) {
						t.Fatal("t shares interpolated to the secret")
					}
				}
				p.Wipe()
				if !p.Secret().IsZero() {
					t.Fatal("Wipe left the secret")
				}
			})
		}
	}
}

func TestChosenSecretAndAdd(t *testing.T) {
	for _, g := range groups() {
		s1, _ := g.RandomScalar(rand.Reader)
		s2, _ := g.RandomScalar(rand.Reader)
		p1, err := NewPolynomial(g, 2, s1, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := NewPolynomial(g, 2, s2, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !p1.Secret().Equal(s1) {
			t.Fatal("chosen secret not used")
		}
		sum, err := p1.Commit().Add(p2.Commit())
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 7; i++ {
			if !sum.Verify(i, p1.Share(i).Add(p2.Share(i))) {
				t.Fatalf("%s: summed share %d does not verify", g.Name(), i)
			}
		}
		if !sum.Secret().Equal(g.BaseMul(s1.Add(s2))) {
			t.Fatal("summed C_0 wrong")
		}
		p3, _ := NewPolynomial(g, 1, nil, rand.Reader)
		if _, err := sum.Add(p3.Commit()); !errors.Is(err, ErrLengthMismatch) {
			t.Fatalf("Add of different degrees: %v", err)
		}
		if _, err := NewPolynomial(g, 1, g.Zero(), rand.Reader); !errors.Is(err, ErrZeroSecret) {
			t.Fatalf("zero secret: %v", err)
		}
		for _, bad := range []int{-1, MaxDegree + 1} {
			if _, err := NewPolynomial(g, bad, nil, rand.Reader); !errors.Is(err, ErrInvalidDegree) {
				t.Fatalf("degree %d: %v", bad, err)
			}
		}
		if _, err := NewPolynomial(g, 3, nil, bytes.NewReader(make([]byte, 10))); err == nil {
			t.Fatal("short randomness accepted")
		}
	}
}

func TestLagrangeErrors(t *testing.T) {
	g := group.Secp256k1()
	cases := []struct {
		name    string
		indices []int
		i       int
		want    error
	}{
		{"empty", nil, 1, ErrNoShares},
		{"zero", []int{0, 1}, 1, ErrInvalidIndex},
		{"negative", []int{-2, 1}, 1, ErrInvalidIndex},
		{"too large", []int{1, MaxIndex + 1}, 1, ErrInvalidIndex},
		{"duplicate", []int{1, 2, 2}, 1, ErrDuplicateIndex},
		{"missing", []int{1, 2, 3}, 4, ErrIndexNotInSet},
	}
	for _, c := range cases {
		if _, err := LagrangeCoefficient(g, c.indices, c.i); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// λ_1 for {1,2} is 2/(2−1) = 2; λ_2 is 1/(1−2) = −1.
	l1, err := LagrangeCoefficient(g, []int{1, 2}, 1)
	if err != nil || !l1.Equal(g.ScalarFromUint64(2)) {
		t.Fatalf("λ_1 = wrong (%v)", err)
	}
	l2, err := LagrangeCoefficient(g, []int{2, 1}, 2)
	if err != nil || !l2.Equal(g.ScalarFromUint64(1).Neg()) {
		t.Fatalf("λ_2 = wrong (%v)", err)
	}
	if _, err := InterpolateScalars(g, map[int]group.Scalar{}); !errors.Is(err, ErrNoShares) {
		t.Fatalf("empty interpolation: %v", err)
	}
	if _, err := InterpolateScalars(g, map[int]group.Scalar{1: nil}); !errors.Is(err, ErrNilValue) {
		t.Fatalf("nil share: %v", err)
	}
	if _, err := InterpolatePoints(g, map[int]group.Point{0: g.Generator()}); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("index 0: %v", err)
	}
	if _, err := InterpolatePoints(g, map[int]group.Point{1: nil}); !errors.Is(err, ErrNilValue) {
		t.Fatalf("nil point: %v", err)
	}
}

func TestEvalVerifyEdgeCases(t *testing.T) {
	g := group.BLS12381G1()
	p, _ := NewPolynomial(g, 1, nil, rand.Reader)
	com := p.Commit()
	if com.Eval(0) != nil || com.Eval(-1) != nil || com.Eval(MaxIndex+1) != nil {
		t.Fatal("Eval accepted an invalid index")
	}
	if com.Verify(0, p.Secret()) {
		t.Fatal("Verify accepted index 0")
	}
	if com.Verify(1, nil) {
		t.Fatal("Verify accepted a nil share")
	}
	if (Commitment{}).Verify(1, p.Share(1)) || (Commitment{nil}).Eval(1) != nil {
		t.Fatal("empty or nil commitment accepted")
	}
	if com.Secret() == nil || (Commitment{}).Secret() != nil {
		t.Fatal("Secret of commitment")
	}
}

func TestDecodeCommitment(t *testing.T) {
	for _, g := range groups() {
		p, _ := NewPolynomial(g, 3, nil, rand.Reader)
		com := p.Commit()
		b := com.Bytes()
		if len(b) != 4*g.PointLen() {
			t.Fatalf("encoding length %d", len(b))
		}
		dec, err := DecodeCommitment(g, b)
		if err != nil || !dec.Equal(com) || !bytes.Equal(dec.Bytes(), b) {
			t.Fatalf("%s: round trip failed: %v", g.Name(), err)
		}
		identity := append(append([]byte{}, b[:g.PointLen()]...), g.Identity().Bytes()...)
		flipped := append([]byte{}, b...)
		flipped[g.PointLen()] = 0x07 // neither SEC1 nor ZCash compressed
		bad := [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0), identity, flipped,
			bytes.Repeat(b[:g.PointLen()], MaxDegree+2)}
		for k, x := range bad {
			if _, err := DecodeCommitment(g, x); !errors.Is(err, ErrInvalidCommitment) {
				t.Errorf("%s: bad encoding %d accepted or wrong error: %v", g.Name(), k, err)
			}
		}
		// The encoding of the other group is rejected.
		other := groups()[0]
		if other.Name() == g.Name() {
			other = groups()[1]
		}
		q, _ := NewPolynomial(other, 0, nil, rand.Reader)
		if _, err := DecodeCommitment(g, q.Commit().Bytes()); err == nil {
			t.Errorf("%s: decoded a %s commitment", g.Name(), other.Name())
		}
	}
}

func FuzzDecodeCommitment(f *testing.F) {
	for _, g := range groups() {
		p, _ := NewPolynomial(g, 2, nil, rand.Reader)
		f.Add(p.Commit().Bytes())
	}
	f.Add([]byte{})
	f.Add(make([]byte, 33))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, g := range groups() {
			c, err := DecodeCommitment(g, b)
			if err != nil {
				continue
			}
			if !bytes.Equal(c.Bytes(), b) {
				t.Fatalf("%s: non-canonical encoding accepted", g.Name())
			}
			if c.Eval(1) == nil {
				t.Fatalf("%s: decoded commitment unusable", g.Name())
			}
		}
	})
}

func BenchmarkCommitVerify(b *testing.B) {
	for _, g := range groups() {
		p, _ := NewPolynomial(g, 2, nil, rand.Reader)
		com := p.Commit()
		s := p.Share(5)
		b.Run(g.Name(), func(b *testing.B) {
			for b.Loop() {
				if !com.Verify(5, s) {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

// TestLagrangeCoefficientAt checks L_i(x) against its definition: L_i(j) is
// 1 for j = i and 0 for the other indices of the set, L_i(0) = λ_i, and
// Σ_i L_i(x)·f(i) = f(x) at a point outside the set.
func TestLagrangeCoefficientAt(t *testing.T) {
	for _, g := range groups() {
		set := []int{2, 3, 7}
		for _, i := range set {
			for _, j := range set {
				l, err := LagrangeCoefficientAt(g, set, i, j)
				if err != nil {
					t.Fatal(err)
				}
				want := g.Zero()
				if i == j {
					want = g.ScalarFromUint64(1)
				}
				if !l.Equal(want) {
					t.Fatalf("%s: L_%d(%d) wrong", g.Name(), i, j)
				}
			}
			l0, err := LagrangeCoefficientAt(g, set, i, 0)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := LagrangeCoefficient(g, set, i)
			if !l0.Equal(want) {
				t.Fatalf("%s: L_%d(0) != λ_%d", g.Name(), i, i)
			}
		}
		p, err := NewPolynomial(g, 2, nil, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		acc := g.Zero()
		for _, i := range set {
			l, _ := LagrangeCoefficientAt(g, set, i, 11)
			acc = acc.Add(l.Mul(p.Share(i)))
		}
		if !acc.Equal(p.Share(11)) {
			t.Fatalf("%s: Σ L_i(11)·f(i) != f(11)", g.Name())
		}
		if _, err := LagrangeCoefficientAt(g, set, 2, -1); !errors.Is(err, ErrInvalidIndex) {
			t.Fatalf("x = -1: %v", err)
		}
		if _, err := LagrangeCoefficientAt(g, set, 2, MaxIndex+1); !errors.Is(err, ErrInvalidIndex) {
			t.Fatalf("x too large: %v", err)
		}
		if _, err := LagrangeCoefficientAt(g, set, 4, 0); !errors.Is(err, ErrIndexNotInSet) {
			t.Fatalf("i not in set: %v", err)
		}
	}
}

// TestInterpolateConsistent checks that 2t+1 or more points of a degree-t
// polynomial give its value at zero, that changing any one of them — or any
// t of them, together and in the same way — is caught, and that fewer than
// 2t+1 points are refused.
func TestInterpolateConsistent(t *testing.T) {
	for _, g := range groups() {
		for _, deg := range []int{0, 1, 2} {
			t.Run(g.Name()+"/t="+strconv.Itoa(deg), func(t *testing.T) {
				p, err := NewPolynomial(g, deg, nil, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				H := g.BaseMul(g.ScalarFromUint64(12345)) // stands for H(x)
				want := H.Mul(p.Secret())
				n := 3*deg + 1
				all := map[int]group.Point{}
				for i := 1; i <= n; i++ {
					all[i] = H.Mul(p.Share(i))
				}
				// Every window of 2t+1 indices, and all n.
				for start := 1; start+2*deg <= n; start++ {
					sub := map[int]group.Point{}
					for i := start; i <= start+2*deg; i++ {
						sub[i] = all[i]
					}
					got, err := InterpolateConsistent(g, sub, deg)
					if err != nil || !got.Equal(want) {
						t.Fatalf("window at %d: wrong value (%v)", start, err)
					}
					// One wrong point, in any position (with t = 0 no point
					// may be wrong, and a single point is never checked).
					for bad := range sub {
						if deg == 0 {
							break
						}
						orig := sub[bad]
						sub[bad] = orig.Add(H)
						if _, err := InterpolateConsistent(g, sub, deg); !errors.Is(err, ErrInconsistent) {
							t.Fatalf("window at %d, point %d changed: %v", start, bad, err)
						}
						sub[bad] = orig
					}
				}
				got, err := InterpolateConsistent(g, all, deg)
				if err != nil || !got.Equal(want) {
					t.Fatalf("all points: wrong value (%v)", err)
				}
				if deg > 0 {
					// t colluding points that agree on another polynomial
					// g' = f + δ·(x−i_1)…: shift the first t by values of a
					// degree-t polynomial vanishing on the others' first
					// point — still caught among 2t+1.
					sub := map[int]group.Point{}
					for i := 1; i <= 2*deg+1; i++ {
						sub[i] = all[i]
					}
					q, _ := NewPolynomial(g, deg, nil, rand.Reader)
					for i := 1; i <= deg; i++ {
						sub[i] = sub[i].Add(H.Mul(q.Share(i)))
					}
					if _, err := InterpolateConsistent(g, sub, deg); !errors.Is(err, ErrInconsistent) {
						t.Fatalf("t colluding points: %v", err)
					}
					short := map[int]group.Point{}
					for i := 1; i <= 2*deg; i++ {
						short[i] = all[i]
					}
					if _, err := InterpolateConsistent(g, short, deg); !errors.Is(err, ErrTooFewPoints) {
						t.Fatalf("2t points: %v", err)
					}
				}
			})
		}
		if _, err := InterpolateConsistent(g, map[int]group.Point{1: g.Generator(), 2: nil, 3: g.Generator()}, 1); !errors.Is(err, ErrNilValue) {
			t.Fatalf("nil point: %v", err)
		}
		if _, err := InterpolateConsistent(g, map[int]group.Point{1: g.Generator()}, -1); !errors.Is(err, ErrInvalidDegree) {
			t.Fatalf("t = -1: %v", err)
		}
	}
}

// TestLagrangeIntegers: wherever LagrangeIntegers answers, m·L_i(x) equals
// c_i in the group's scalars, the coefficients are bounded, and for
// consecutive indices at zero m is 1; sets it cannot answer (large or
// far-apart indices, x in the set, bad sets) say so instead.
func TestLagrangeIntegers(t *testing.T) {
	g := group.BLS12381G1()
	signed := func(v int64) group.Scalar {
		if v < 0 {
			return g.ScalarFromUint64(uint64(-v)).Neg()
		}
		return g.ScalarFromUint64(uint64(v))
	}
	sets := [][]int{{1, 2}, {1, 3}, {2, 4}, {3, 4}, {1, 2, 3}, {2, 5, 7}, {1, 2, 3, 4, 5}, {4, 5, 6, 7, 8, 9, 10}, {1, 100}}
	var buf [2]byte
	for range 200 { // random sets of 2 to 6 indices among 1..20
		_, _ = rand.Read(buf[:])
		set := []int{}
		for k := range int(buf[0]%5) + 2 {
			if i := (int(buf[1])+7*k*k+k)%20 + 1; !slices.Contains(set, i) {
				set = append(set, i)
			}
		}
		if len(set) > 0 {
			sets = append(sets, set)
		}
	}
	answered := 0
	for _, set := range sets {
		for _, x := range []int{0, 1, 5, 6, 11, 21} {
			c, m, ok := LagrangeIntegers(set, x)
			if slices.Contains(set, x) {
				if ok {
					t.Fatalf("%v at %d: answered for x in the set", set, x)
				}
				continue
			}
			if !ok {
				continue
			}
			answered++
			if m < 1 || m > MaxSmallCoefficient || len(c) != len(set) {
				t.Fatalf("%v at %d: m = %d, %d coefficients", set, x, m, len(c))
			}
			for k, i := range set {
				l, err := LagrangeCoefficientAt(g, set, i, x)
				if err != nil {
					t.Fatal(err)
				}
				if c[k] > MaxSmallCoefficient || c[k] < -MaxSmallCoefficient || !l.Mul(signed(m)).Equal(signed(c[k])) {
					t.Fatalf("%v at %d: m·L_%d = %d·L ≠ %d", set, x, i, m, c[k])
				}
			}
		}
	}
	if answered < len(sets) {
		t.Fatalf("only %d answers for %d sets", answered, len(sets))
	}
	for _, set := range [][]int{{1, 2}, {2, 3}, {1, 2, 3}, {5, 6, 7, 8}} {
		if _, m, ok := LagrangeIntegers(set, 0); !ok || m != 1 {
			t.Fatalf("%v at 0: m = %d, ok %v; want an integral basis", set, m, ok)
		}
	}
	for _, bad := range []struct {
		set []int
		x   int
	}{
		{nil, 0}, {[]int{0, 1}, 2}, {[]int{1, 1}, 0}, {[]int{1, 2}, -1}, {[]int{1, 2}, MaxIndex + 1},
		{[]int{7, 40000, 50001}, 0},                          // m beyond the bound
		{[]int{1, 300, 600, 900, 1200, 1500, 1800, 2100}, 0}, // products beyond 2^40
	} {
		if c, _, ok := LagrangeIntegers(bad.set, bad.x); ok || c != nil {
			t.Fatalf("%v at %d: answered", bad.set, bad.x)
		}
	}
}

// TestInterpolateIndexSets: interpolation in the exponent (InterpolatePoints,
// InterpolateConsistent and the incremental interpolator fed in another
// order) over index sets whose Lagrange basis is integral, has a common
// denominator above 1, or has no small integers at all (the full-scalar
// path) gives f(0)·H, and a wrong point among 2t+1 is refused.
func TestInterpolateIndexSets(t *testing.T) {
	for _, g := range groups() {
		H := g.BaseMul(g.ScalarFromUint64(777))
		for _, c := range []struct {
			deg int
			set []int
		}{
			{1, []int{1, 2, 3}}, {1, []int{1, 3, 5}}, {1, []int{2, 4, 9}}, {1, []int{7, 40000, 50001}},
			{2, []int{1, 2, 3, 4, 5}}, {2, []int{2, 5, 9, 11, 13}}, {2, []int{1, 300, 65536, 2, 17}},
		} {
			p, err := NewPolynomial(g, c.deg, nil, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			want := H.Mul(p.Secret())
			pts := map[int]group.Point{}
			for _, i := range c.set {
				pts[i] = H.Mul(p.Share(i))
			}
			base := map[int]group.Point{}
			for _, i := range c.set[len(c.set)-c.deg-1:] {
				base[i] = pts[i]
			}
			if got, err := InterpolatePoints(g, base); err != nil || !got.Equal(want) {
				t.Fatalf("%s %v: InterpolatePoints wrong (%v)", g.Name(), c.set, err)
			}
			if got, err := InterpolateConsistent(g, pts, c.deg); err != nil || !got.Equal(want) {
				t.Fatalf("%s %v: InterpolateConsistent wrong (%v)", g.Name(), c.set, err)
			}
			ip, _ := NewConsistentInterpolator(g, c.deg)
			for k := len(c.set) - 1; k >= 0; k-- { // largest index first
				if err := ip.Add(c.set[k], pts[c.set[k]]); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := ip.Value(); err != nil || !got.Equal(want) {
				t.Fatalf("%s %v: incremental, reversed: wrong (%v)", g.Name(), c.set, err)
			}
			for _, bad := range c.set {
				orig := pts[bad]
				pts[bad] = orig.Add(H)
				if _, err := InterpolateConsistent(g, pts, c.deg); !errors.Is(err, ErrInconsistent) {
					t.Fatalf("%s %v: point %d changed: %v", g.Name(), c.set, bad, err)
				}
				pts[bad] = orig
			}
		}
	}
}

// TestMulSmall: mulSmall agrees with Mul in both groups, for signs, zero and
// the largest small coefficients, and on the identity.
func TestMulSmall(t *testing.T) {
	for _, g := range groups() {
		P := g.BaseMul(g.ScalarFromUint64(4242))
		for _, c := range []int64{0, 1, -1, 2, -2, 3, 255, -(MaxSmallCoefficient), MaxSmallCoefficient, 123457} {
			want := P.Mul(g.ScalarFromUint64(uint64(max(c, -c))))
			if c < 0 {
				want = want.Neg()
			}
			if !mulSmall(g, P, c).Equal(want) {
				t.Fatalf("%s: %d·P differs", g.Name(), c)
			}
		}
		if !mulSmall(g, g.Identity(), 5).IsIdentity() {
			t.Fatalf("%s: 5·O is not O", g.Name())
		}
	}
}
