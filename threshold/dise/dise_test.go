package dise

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// dealing is a Shamir sharing made in the test, standing in for a DKG.
type dealing struct {
	t      int
	secret group.Scalar
	pub    group.Point
	shares map[int]group.Scalar
	vks    map[int]group.Point
	com    vss.Commitment
}

func deal(tb testing.TB, n, t int) dealing {
	tb.Helper()
	p, err := vss.NewPolynomial(g1(), t, nil, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	c := p.Commit()
	d := dealing{t: t, secret: p.Secret(), pub: c.Secret(), shares: map[int]group.Scalar{}, vks: map[int]group.Point{}, com: c}
	for i := 1; i <= n; i++ {
		d.shares[i] = p.Share(i)
		d.vks[i] = c.Eval(i) // from the commitment, never from the replica
	}
	return d
}

// evaluate has the replicas in idx evaluate x (all replicas if idx is empty).
func (d dealing) evaluate(tb testing.TB, x []byte, idx ...int) map[int][]byte {
	tb.Helper()
	if len(idx) == 0 {
		for i := range d.shares {
			idx = append(idx, i)
		}
	}
	out := map[int][]byte{}
	for _, i := range idx {
		e, err := Evaluate(d.shares[i], i, x, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = e.Bytes()
	}
	return out
}

// output runs the DPRF with the first t+1 replicas.
func (d dealing) output(tb testing.TB, x []byte) []byte {
	tb.Helper()
	idx := []int{}
	for i := 1; i <= d.t+1; i++ {
		idx = append(idx, i)
	}
	w, err := CombineEvaluations(d.vks, d.t, x, d.evaluate(tb, x, idx...))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// enc is a test encryptor identity.
func encryptor(j byte) [EncryptorLen]byte { return [EncryptorLen]byte{0: j, EncryptorLen - 1: j} }

func (d dealing) encrypt(tb testing.TB, keyID string, j byte, m []byte) []byte {
	tb.Helper()
	p, err := PrepareEncrypt(keyID, encryptor(j), m, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ct, err := FinishEncrypt(p, d.output(tb, p.Input()))
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// decrypt runs decryption with the replicas in idx.
func (d dealing) decrypt(ct []byte, idx ...int) ([]byte, error) {
	x, err := ParseCiphertext(ct)
	if err != nil {
		return nil, err
	}
	evals := map[int][]byte{}
	for _, i := range idx {
		e, err := Evaluate(d.shares[i], i, x, rand.Reader)
		if err != nil {
			return nil, err
		}
		evals[i] = e.Bytes()
	}
	w, err := CombineEvaluations(d.vks, d.t, x, evals)
	if err != nil {
		return nil, err
	}
	return FinishDecrypt(ct, w)
}

func TestRoundTrip(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		t.Run(fmt.Sprintf("n=%d,t=%d", cfg.n, cfg.t), func(t *testing.T) {
			d := deal(t, cfg.n, cfg.t)
			for _, m := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("wallet seed backup "), 20)} {
				ct := d.encrypt(t, "key-1", 3, m)
				if len(ct) != len(Input{KeyID: "key-1"}.Bytes())+RhoLen+len(m) {
					t.Fatalf("ciphertext length %d", len(ct))
				}
				// Versioned, and carrying the key id and the encryptor.
				x, err := ParseCiphertext(ct)
				if err != nil || ct[0] != InputVersion {
					t.Fatalf("ciphertext header: version %d, %v", ct[0], err)
				}
				if in, err := DecodeInput(x); err != nil || in.KeyID != "key-1" || in.Encryptor != encryptor(3) || !in.Names(encryptor(3)) || in.Names(encryptor(4)) {
					t.Fatalf("ciphertext input %+v, %v", in, err)
				}
				// Decrypt with a different set of t+1 replicas.
				idx := []int{}
				for i := cfg.n - cfg.t; i <= cfg.n; i++ {
					idx = append(idx, i)
				}
				got, err := d.decrypt(ct, idx...)
				if err != nil || !bytes.Equal(got, m) {
					t.Fatalf("decrypt: %v", err)
				}
				// Two encryptions of one message differ (fresh ρ).
				if bytes.Equal(ct, d.encrypt(t, "key-1", 3, m)) {
					t.Fatal("encryption is deterministic")
				}
			}
		})
	}
}

// The combined output is the PRF of the whole key, whatever the signer set.
func TestDPRFMatchesCentralKey(t *testing.T) {
	d := deal(t, 7, 2)
	p, err := PrepareEncrypt("k", encryptor(1), []byte("m"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := p.Input()
	H, err := hashInput(x)
	if err != nil {
		t.Fatal(err)
	}
	want := outputHash(x, H.Mul(d.secret))
	all := d.evaluate(t, x)
	for _, set := range [][]int{{1, 2, 3}, {5, 6, 7}, {1, 4, 7}} {
		evals := map[int][]byte{}
		for _, i := range set {
			evals[i] = all[i]
		}
		w, err := CombineEvaluations(d.vks, 2, x, evals)
		if err != nil || !bytes.Equal(w, want) {
			t.Fatalf("set %v: %v", set, err)
		}
	}
	if _, err := CombineEvaluations(d.vks, 2, x, map[int][]byte{1: all[1], 2: all[2]}); !errors.Is(err, ErrNotEnoughEvaluations) {
		t.Fatalf("t evaluations: %v", err)
	}
}

func TestTamperEveryByte(t *testing.T) {
	d := deal(t, 4, 1)
	m := []byte("transfer 1 BTC")
	ct := d.encrypt(t, "key-1", 2, m)
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80} {
			bad := slices.Clone(ct)
			bad[i] ^= mask
			if got, err := d.decrypt(bad, 1, 2); err == nil {
				t.Fatalf("byte %d mask %#x: tampered ciphertext decrypted (%d bytes)", i, mask, len(got))
			}
		}
	}
	for _, bad := range [][]byte{ct[:len(ct)-1], append(slices.Clone(ct), 0), ct[:40], nil} {
		if _, err := d.decrypt(bad, 1, 2); err == nil {
			t.Fatalf("truncated/extended ciphertext (%d bytes) decrypted", len(bad))
		}
	}
	// The untampered ciphertext still decrypts.
	if got, err := d.decrypt(ct, 3, 4); err != nil || !bytes.Equal(got, m) {
		t.Fatalf("original: %v", err)
	}
}

// Public data (group key, verification keys, Feldman commitments) does not
// give the mask: the thesis's attack — its DPRF mapped x to x·G, so x·(k·G)
// was the output — fails, as do other computations from public values.
func TestPublicDataDoesNotDecrypt(t *testing.T) {
	d := deal(t, 4, 1)
	ct := d.encrypt(t, "key-1", 1, []byte("secret"))
	x, err := ParseCiphertext(ct)
	if err != nil {
		t.Fatal(err)
	}
	H, _ := hashInput(x)
	s := g1().HashToScalar([]byte("attacker"), x)
	pubInterp, err := vss.InterpolatePoints(g1(), map[int]group.Point{1: d.vks[1], 2: d.vks[2]})
	if err != nil || !pubInterp.Equal(d.pub) {
		t.Fatal("verification keys inconsistent with the group key")
	}
	guesses := map[string]group.Point{
		"x·PK (thesis)":  d.pub.Mul(s),
		"PK":             d.pub,
		"H1(x)":          H,
		"H1(x)+PK":       H.Add(d.pub),
		"λ-combined vks": pubInterp,
	}
	for k, C := range d.com {
		guesses[fmt.Sprintf("commitment C_%d", k)] = C
		guesses[fmt.Sprintf("H1(x)+C_%d", k)] = H.Add(C)
		guesses[fmt.Sprintf("s·C_%d", k)] = C.Mul(s)
	}
	for i, vk := range d.vks {
		guesses[fmt.Sprintf("vk_%d", i)] = vk
		guesses[fmt.Sprintf("s·vk_%d", i)] = vk.Mul(s)
	}
	for name, Y := range guesses {
		if _, err := FinishDecrypt(ct, outputHash(x, Y)); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Sanity: the same computation with the secret succeeds.
	if _, err := FinishDecrypt(ct, outputHash(x, H.Mul(d.secret))); err != nil {
		t.Fatal(err)
	}
}

// Evaluations are bound to the key id and the encryptor in the input.
func TestEvaluationBoundToInput(t *testing.T) {
	d := deal(t, 4, 1)
	ct := d.encrypt(t, "key-1", 1, []byte("secret"))
	x, _ := ParseCiphertext(ct)
	in, err := DecodeInput(x)
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]Input{
		"key id":    {KeyID: "key-2", Encryptor: in.Encryptor, Alpha: in.Alpha},
		"encryptor": {KeyID: in.KeyID, Encryptor: encryptor(2), Alpha: in.Alpha},
	} {
		x2 := other.Bytes()
		evals := d.evaluate(t, x2, 1, 2)
		// Evaluations on x2 do not verify for x...
		if _, err := CombineEvaluations(d.vks, 1, x, evals); !errors.Is(err, ErrNotEnoughEvaluations) {
			t.Fatalf("%s: evaluations for another input accepted: %v", name, err)
		}
		// ...and their output does not decrypt the ciphertext.
		w2, err := CombineEvaluations(d.vks, 1, x2, evals)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FinishDecrypt(ct, w2); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("%s: output for another input decrypts: %v", name, err)
		}
	}
}

// bad are the ways a Byzantine replica can answer a DPRF request.
var bad = map[string]func(d dealing, i int, x []byte, good []byte) []byte{
	"wrong Y": func(_ dealing, _ int, _ []byte, good []byte) []byte {
		e, _ := DecodeEvaluation(good)
		e.Y = e.Y.Add(g1().Generator())
		return e.Bytes()
	},
	"other share": func(d dealing, i int, x []byte, _ []byte) []byte {
		e, _ := Evaluate(d.shares[i].Add(g1().ScalarFromUint64(1)), i, x, rand.Reader)
		return e.Bytes()
	},
	"other replica's evaluation": func(d dealing, i int, x []byte, _ []byte) []byte {
		j := i%len(d.shares) + 1
		e, _ := Evaluate(d.shares[j], j, x, rand.Reader)
		return e.Bytes()
	},
	"relabelled index": func(d dealing, i int, x []byte, _ []byte) []byte {
		j := i%len(d.shares) + 1
		e, _ := Evaluate(d.shares[j], j, x, rand.Reader)
		e.Index = i
		return e.Bytes()
	},
	"bad proof": func(_ dealing, _ int, _ []byte, good []byte) []byte {
		b := slices.Clone(good)
		b[len(b)-1] ^= 1
		return b
	},
	"proof for another input": func(d dealing, i int, x []byte, _ []byte) []byte {
		x2 := slices.Clone(x)
		x2[len(x2)-1] ^= 1
		e, _ := Evaluate(d.shares[i], i, x2, rand.Reader)
		return e.Bytes()
	},
	"garbage": func(dealing, int, []byte, []byte) []byte { return []byte("garbage") },
	"empty":   func(dealing, int, []byte, []byte) []byte { return nil },
}

func TestCulprits(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		p, err := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x := p.Input()
		want := d.output(t, x)
		for name, corrupt := range bad {
			t.Run(fmt.Sprintf("n=%d,t=%d/%s", cfg.n, cfg.t, name), func(t *testing.T) {
				evals := d.evaluate(t, x)
				culprits := []int{}
				for i := 1; i <= cfg.t; i++ {
					evals[i] = corrupt(d, i, x, evals[i])
					culprits = append(culprits, i)
				}
				w, err := CombineEvaluations(d.vks, cfg.t, x, evals)
				var ce *CulpritError
				if !errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, culprits) || !bytes.Equal(w, want) {
					t.Fatalf("t bad: err=%v", err)
				}
				few := map[int][]byte{}
				for i := 1; i <= 2*cfg.t+1; i++ {
					few[i] = evals[i]
				}
				few[cfg.t+1] = corrupt(d, cfg.t+1, x, few[cfg.t+1])
				w, err = CombineEvaluations(d.vks, cfg.t, x, few)
				if w != nil || !errors.Is(err, ErrNotEnoughEvaluations) || !errors.As(err, &ce) ||
					!slices.Equal(ce.Culprits, append(culprits, cfg.t+1)) {
					t.Fatalf("t+1 bad: err=%v", err)
				}
			})
		}
	}
}

func TestRejectsBadArguments(t *testing.T) {
	d := deal(t, 4, 1)
	p, _ := PrepareEncrypt("k", encryptor(1), nil, rand.Reader)
	x := p.Input()
	if _, err := Evaluate(group.Secp256k1().ScalarFromUint64(2), 1, x, rand.Reader); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("foreign share: %v", err)
	}
	if _, err := Evaluate(d.shares[1], 0, x, rand.Reader); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("index 0: %v", err)
	}
	if _, err := Evaluate(d.shares[1], 1, append(slices.Clone(x), 0), rand.Reader); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("non-canonical input: %v", err)
	}
	if _, err := PrepareEncrypt("", encryptor(1), nil, rand.Reader); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("empty key id: %v", err)
	}
	if _, err := PrepareEncrypt(string(make([]byte, 256)), encryptor(1), nil, rand.Reader); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("long key id: %v", err)
	}
	if _, err := FinishEncrypt(p, make([]byte, 31)); !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("short w: %v", err)
	}
	wiped, _ := PrepareEncrypt("k", encryptor(1), []byte("m"), rand.Reader)
	wiped.Wipe()
	if _, err := FinishEncrypt(wiped, make([]byte, OutputLen)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("wiped state: %v", err)
	}
	vks := map[int]group.Point{1: d.vks[1], 2: group.Secp256k1().Generator()}
	if _, err := CombineEvaluations(vks, 1, x, d.evaluate(t, x, 1, 2)); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("foreign verification key: %v", err)
	}
	if _, err := CombineEvaluations(d.vks, -1, x, d.evaluate(t, x, 1, 2)); !errors.Is(err, ErrInvalidThreshold) {
		t.Fatalf("negative threshold: %v", err)
	}
}

func FuzzDecodeInput(f *testing.F) {
	f.Add(Input{KeyID: "key-1", Encryptor: encryptor(7)}.Bytes())
	f.Add([]byte{1, 0})
	f.Add(Input{Version: InputVersionLegacy, KeyID: "key-1", Encryptor: encryptor(7)}.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeInput(b)
		if err != nil {
			return
		}
		if !bytes.Equal(in.Bytes(), b) {
			t.Fatal("input round trip is not canonical")
		}
	})
}

func FuzzDecodeEvaluation(f *testing.F) {
	d := deal(f, 4, 1)
	x := Input{KeyID: "key-1", Encryptor: encryptor(7)}.Bytes()
	f.Add(d.evaluate(f, x, 1)[1])
	f.Add(make([]byte, evaluationLen))
	f.Add(d.evaluate(f, x, 1)[1][:unprovenLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvaluation(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Bytes(), b) {
			t.Fatal("evaluation round trip is not canonical")
		}
		vk, ok := d.vks[e.Index]
		if !ok || VerifyEvaluation(vk, x, e) != nil {
			return
		}
		// A verifying evaluation must carry the right Y.
		H, _ := hashInput(x)
		if !e.Y.Equal(H.Mul(d.shares[e.Index])) {
			t.Fatal("accepted an evaluation with a wrong Y")
		}
	})
}

func FuzzCiphertext(f *testing.F) {
	// prf stands in for the DPRF: the output depends on the whole input, as
	// f_k(x) does, under a key the fuzzer does not control.
	prf := func(x []byte) []byte {
		m := hmac.New(sha256.New, []byte("fuzz stand-in key"))
		m.Write(x)
		return m.Sum(nil)
	}
	p, _ := PrepareEncrypt("key-1", encryptor(1), []byte("hello"), bytes.NewReader(make([]byte, RhoLen)))
	ct, _ := FinishEncrypt(p, prf(p.Input()))
	f.Add(ct)
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParseCiphertext(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, x) {
			t.Fatal("input is not the ciphertext header")
		}
		if _, err := DecodeInput(x); err != nil {
			t.Fatal("parsed a ciphertext whose input does not decode")
		}
		m, err := FinishDecrypt(b, prf(x))
		if err == nil && !bytes.Equal(b, ct) {
			// Only the honestly encrypted ciphertext authenticates.
			t.Fatalf("forged ciphertext decrypted to %d bytes", len(m))
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	d := deal(b, 4, 1)
	x := Input{KeyID: "key-1", Encryptor: encryptor(1)}.Bytes()
	for b.Loop() {
		if _, err := Evaluate(d.shares[1], 1, x, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEvaluation(b *testing.B) {
	d := deal(b, 4, 1)
	x := Input{KeyID: "key-1", Encryptor: encryptor(1)}.Bytes()
	e, _ := Evaluate(d.shares[1], 1, x, rand.Reader)
	for b.Loop() {
		if err := VerifyEvaluation(d.vks[1], x, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombineEvaluations(b *testing.B) {
	d := deal(b, 4, 1)
	x := Input{KeyID: "key-1", Encryptor: encryptor(1)}.Bytes()
	evals := d.evaluate(b, x, 1, 2)
	for b.Loop() {
		if _, err := CombineEvaluations(d.vks, 1, x, evals); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCombineUnchecked: t+1 honest evaluations give the DPRF output; a
// wrong value gives another output, which decryption then refuses; a
// malformed one or a wrong count is an error.
func TestCombineUnchecked(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d := deal(t, cfg.n, cfg.t)
		p, err := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x := p.Input()
		want := d.output(t, x)
		ct, err := FinishEncrypt(p, want)
		if err != nil {
			t.Fatal(err)
		}
		evals := d.evaluate(t, x)
		first := map[int][]byte{}
		for i := 1; i <= cfg.t+1; i++ {
			first[i] = evals[i]
		}
		w, err := CombineUnchecked(cfg.t, x, first)
		if err != nil || !bytes.Equal(w, want) {
			t.Fatalf("n=%d: honest evaluations: %v", cfg.n, err)
		}
		for name, corrupt := range bad {
			wrong := maps.Clone(first)
			wrong[1] = corrupt(d, 1, x, wrong[1])
			w, err := CombineUnchecked(cfg.t, x, wrong)
			// A corrupted proof leaves the value, and so the output,
			// right; any other corruption gives an error or another output.
			if err == nil && !bytes.Equal(w, want) {
				if _, derr := FinishDecrypt(ct, w); !errors.Is(derr, ErrAuthentication) {
					t.Fatalf("n=%d %s: decryption with a wrong output: %v", cfg.n, name, derr)
				}
			}
		}
		if _, err := CombineUnchecked(cfg.t, x, evals); !errors.Is(err, ErrNotEnoughEvaluations) {
			t.Fatalf("n=%d: n evaluations: %v", cfg.n, err)
		}
	}
}

// TestEvaluateWithKey: with the replica's own verification key the
// evaluation verifies and equals Evaluate's value; with another key its
// proof fails against the right one; bad keys are refused.
func TestEvaluateWithKey(t *testing.T) {
	d := deal(t, 4, 1)
	p, err := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := p.Input()
	e, err := EvaluateWithKey(d.shares[2], d.vks[2], 2, x, rand.Reader)
	if err != nil || VerifyEvaluation(d.vks[2], x, e) != nil {
		t.Fatalf("own key: %v", err)
	}
	ref, _ := Evaluate(d.shares[2], 2, x, rand.Reader)
	if !e.Y.Equal(ref.Y) {
		t.Fatal("EvaluateWithKey and Evaluate differ")
	}
	e, err = EvaluateWithKey(d.shares[2], d.vks[3], 2, x, rand.Reader)
	if err != nil || !errors.Is(VerifyEvaluation(d.vks[2], x, e), ErrInvalidEvaluation) {
		t.Fatalf("another key: %v", err)
	}
	for _, vk := range []group.Point{nil, g1().Identity(), group.Secp256k1().Generator()} {
		if _, err := EvaluateWithKey(d.shares[2], vk, 2, x, rand.Reader); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("vk %v: %v", vk, err)
		}
	}
}

// TestEvaluateUnproven: an evaluation without its proof has Evaluate's
// value, encodes in 51 bytes and back, combines to the same output with
// proven ones or alone, and never verifies; bad arguments are refused.
func TestEvaluateUnproven(t *testing.T) {
	d := deal(t, 4, 1)
	p, err := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := p.Input()
	want := d.output(t, x)
	proven := d.evaluate(t, x)
	mixed := map[int][]byte{1: proven[1]}
	only := map[int][]byte{}
	for _, i := range []int{1, 2} {
		e, err := EvaluateUnproven(d.shares[i], i, x)
		if err != nil || e.Proven() {
			t.Fatalf("replica %d: %v", i, err)
		}
		ref, _ := DecodeEvaluation(proven[i])
		if !e.Y.Equal(ref.Y) || !ref.Proven() {
			t.Fatal("unproven and proven evaluations differ")
		}
		b := e.Bytes()
		back, err := DecodeEvaluation(b)
		if len(b) != unprovenLen || err != nil || back.Proven() || !bytes.Equal(back.Bytes(), b) {
			t.Fatalf("encoding %x: %v", b, err)
		}
		if !errors.Is(VerifyEvaluation(d.vks[i], x, back), ErrInvalidEvaluation) {
			t.Fatal("an unproven evaluation verifies")
		}
		only[i] = b
		if i == 2 {
			mixed[i] = b
		}
	}
	for _, evals := range []map[int][]byte{only, mixed} {
		if w, err := CombineUnchecked(1, x, evals); err != nil || !bytes.Equal(w, want) {
			t.Fatalf("combined unproven evaluations: %v", err)
		}
	}
	if _, err := CombineEvaluations(d.vks, 1, x, only); err == nil {
		t.Fatal("robust combination accepted unproven evaluations")
	}
	// A Y on the curve but outside G1 (not checked on this path) gives a
	// wrong output, which the ciphertext's commitment refuses.
	ct, err := FinishEncrypt(p, want)
	if err != nil {
		t.Fatal(err)
	}
	outside, _ := torsionPoints(t)
	bad := maps.Clone(only)
	bad[2] = append(bytes.Clone(only[2][:3]), outside.Bytes()...)
	if w, err := CombineUnchecked(1, x, bad); err == nil {
		if bytes.Equal(w, want) {
			t.Fatal("a point outside G1 gave the right output")
		}
		if _, err := FinishDecrypt(ct, w); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("decryption with a point outside G1: %v", err)
		}
	}
	if _, err := EvaluateUnproven(d.shares[1], 0, x); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("index 0: %v", err)
	}
	if _, err := EvaluateUnproven(d.shares[1], 1, []byte("not an input")); err == nil {
		t.Fatal("bad input evaluated")
	}
}

// A legacy (version 1) input names its encryptor by 4 bytes: it still
// decodes and re-encodes canonically, and Names compares only those bytes;
// PrepareEncrypt never makes one.
func TestLegacyInput(t *testing.T) {
	j := encryptor(9)
	legacy := Input{Version: InputVersionLegacy, KeyID: "key-1", Encryptor: j}
	b := legacy.Bytes()
	if len(b) != 2+len("key-1")+4+AlphaLen || b[0] != InputVersionLegacy {
		t.Fatalf("legacy encoding %x", b)
	}
	in, err := DecodeInput(b)
	if err != nil {
		t.Fatal(err)
	}
	var prefix [EncryptorLen]byte
	copy(prefix[:4], j[:4])
	if in.Encryptor != prefix || !in.Names(j) || in.Names(encryptor(8)) || !bytes.Equal(in.Bytes(), b) {
		t.Fatalf("legacy input %+v", in)
	}
	// The same identity at version 2 differs in every byte compared.
	other := j
	other[31] ^= 1
	if (Input{KeyID: "key-1", Encryptor: j}).Names(other) {
		t.Fatal("a version 2 input named an identity differing in its last byte")
	}
	p, err := PrepareEncrypt("key-1", j, []byte("m"), rand.Reader)
	if err != nil || p.Input()[0] != InputVersion {
		t.Fatalf("PrepareEncrypt made version %d (%v)", p.Input()[0], err)
	}
	for _, v := range []byte{0, 3, 255} {
		bad := append([]byte{v}, b[1:]...)
		if _, err := DecodeInput(bad); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("version %d accepted: %v", v, err)
		}
	}
}

// constReader is a failed random source: the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// TestEvaluateWithStuckRandomness: a replica whose random source is stuck
// evaluates two inputs with one share. The hedged DLEQ nonce depends on
// H1(x), so the two proofs' nonces r = z − c·k_i differ and the share
// k_i = (z1 − z2)/(c1 − c2) cannot be solved; both evaluations verify.
func TestEvaluateWithStuckRandomness(t *testing.T) {
	d := deal(t, 4, 1)
	const i = 2
	k := d.shares[i]
	var proofs []Evaluation
	for _, m := range []string{"first", "second"} {
		p, err := PrepareEncrypt("key", encryptor(1), []byte(m), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x := p.Input()
		e, err := Evaluate(k, i, x, constReader(0))
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyEvaluation(d.vks[i], x, e); err != nil {
			t.Fatalf("evaluation with stuck randomness rejected: %v", err)
		}
		proofs = append(proofs, e)
	}
	p1, p2 := proofs[0].proof, proofs[1].proof
	if p1.Z.Sub(p1.C.Mul(k)).Equal(p2.Z.Sub(p2.C.Mul(k))) {
		t.Fatal("two evaluations share a nonce")
	}
	if p1.Z.Sub(p2.Z).Mul(p1.C.Sub(p2.C).Inv()).Equal(k) {
		t.Fatal("share solved from two evaluations")
	}
}

// unprovenSetup deals a key to n replicas with threshold t and returns
// the dealing, an encryption's DPRF input, its output, and every replica's
// unproven evaluation of it (encoded), by index.
func unprovenSetup(t *testing.T, n, th int) (dealing, []byte, []byte, map[int][]byte) {
	t.Helper()
	d := deal(t, n, th)
	p, err := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := p.Input()
	unproven := map[int][]byte{}
	for i := 1; i <= n; i++ {
		e, err := EvaluateUnproven(d.shares[i], i, x)
		if err != nil {
			t.Fatal(err)
		}
		unproven[i] = e.Bytes()
	}
	return d, x, d.output(t, x), unproven
}

// TestCombineConsistent: 2t+1 unproven (or proven) evaluations give the
// right output; one wrong evaluation anywhere among them — any corruption
// but a bad proof, which leaves the value right — is an error (never a
// wrong output); a point outside G1 is refused; fewer than 2t+1 are refused.
func TestCombineConsistent(t *testing.T) {
	for _, cfg := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		d, x, want, unproven := unprovenSetup(t, cfg.n, cfg.t)
		proven := d.evaluate(t, x)
		// Every window of 2t+1 replicas (wrapping), unproven and proven.
		for start := 1; start <= cfg.n; start++ {
			for _, evals := range []map[int][]byte{unproven, proven} {
				sub := map[int][]byte{}
				for k := range 2*cfg.t + 1 {
					i := (start+k-1)%cfg.n + 1
					sub[i] = evals[i]
				}
				w, err := CombineConsistent(cfg.t, x, sub)
				if err != nil || !bytes.Equal(w, want) {
					t.Fatalf("n=%d window %d: %v", cfg.n, start, err)
				}
				for i := range sub {
					for name, corrupt := range bad {
						wrong := maps.Clone(sub)
						wrong[i] = corrupt(d, i, x, sub[i])
						w, err := CombineConsistent(cfg.t, x, wrong)
						if err == nil && !bytes.Equal(w, want) {
							t.Fatalf("n=%d replica %d %s: a wrong output", cfg.n, i, name)
						}
						if err == nil && name != "bad proof" && !bytes.Equal(wrong[i], sub[i]) {
							e1, _ := DecodeEvaluation(wrong[i])
							e0, _ := DecodeEvaluation(sub[i])
							if !e1.Y.Equal(e0.Y) {
								t.Fatalf("n=%d replica %d %s: accepted", cfg.n, i, name)
							}
						}
					}
				}
			}
		}
		all := maps.Clone(unproven)
		if w, err := CombineConsistent(cfg.t, x, all); err != nil || !bytes.Equal(w, want) {
			t.Fatalf("n=%d all evaluations: %v", cfg.n, err)
		}
		// t wrong evaluations that agree with each other are still caught.
		wrong := map[int][]byte{}
		for i := 1; i <= 2*cfg.t+1; i++ {
			wrong[i] = unproven[i]
		}
		for i := 1; i <= cfg.t; i++ {
			e, _ := EvaluateUnproven(d.shares[i].Add(g1().ScalarFromUint64(7)), i, x)
			wrong[i] = e.Bytes()
		}
		if _, err := CombineConsistent(cfg.t, x, wrong); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("n=%d: t colluding evaluations: %v", cfg.n, err)
		}
		short := map[int][]byte{}
		for i := 1; i <= 2*cfg.t; i++ {
			short[i] = unproven[i]
		}
		if _, err := CombineConsistent(cfg.t, x, short); !errors.Is(err, ErrNotEnoughEvaluations) {
			t.Fatalf("n=%d: 2t evaluations: %v", cfg.n, err)
		}
		if _, err := CombineConsistent(cfg.t, []byte("not an input"), unproven); err == nil {
			t.Fatal("bad input accepted")
		}
	}
	// Evaluations shifted by points outside G1 — an arbitrary curve point,
	// and a point of order 3 (3 divides both the cofactor and r−1, so that
	// some Lagrange coefficients kill it: L_1(3) = −1 for {1,2,3}) — in
	// every position: never a wrong output.
	d, x, evals, ys := unprovenEvaluations(t)
	want := d.output(t, x)
	outside, order3 := torsionPoints(t)
	for name, delta := range map[string]group.Point{"outside G1": outside, "order 3": order3} {
		for i := 1; i <= 3; i++ {
			bad := maps.Clone(evals)
			bad[i] = Evaluation{Index: i, Y: ys[i].Add(delta), unproven: true}.Bytes()
			w, err := CombineConsistent(1, x, bad)
			if err == nil {
				t.Fatalf("%s at %d: accepted (right output: %v)", name, i, bytes.Equal(w, want))
			}
			if !errors.Is(err, ErrInconsistent) {
				t.Fatalf("%s at %d: %v", name, i, err)
			}
			// The consistency check alone lets the order-3 point at 1
			// through; the subgroup check of the value catches it.
			if Y, err := vss.InterpolateConsistent(g1(), map[int]group.Point{1: ys[1], 2: ys[2], 3: ys[3], i: ys[i].Add(delta)}, 1); err == nil {
				if group.InG1(Y) {
					t.Fatalf("%s at %d: a consistent value in G1 from a wrong point", name, i)
				}
				t.Logf("%s at %d: consistent, value outside G1", name, i)
			}
		}
	}
}

// torsionPoints returns a curve point outside G1 and a point of order 3,
// computed with the group law on points decoded without the subgroup check
// (integer multiples by double-and-add: scalars of the group are mod r).
// unprovenEvaluations deals a (4,1) key and returns it with an encryption
// input x and replicas 1–3's unproven evaluations of x, encoded and as points.
func unprovenEvaluations(t *testing.T) (d dealing, x []byte, evals map[int][]byte, ys map[int]group.Point) {
	t.Helper()
	d = deal(t, 4, 1)
	p, _ := PrepareEncrypt("key-1", encryptor(1), []byte("m"), rand.Reader)
	x = p.Input()
	evals, ys = map[int][]byte{}, map[int]group.Point{}
	for i := 1; i <= 3; i++ {
		e, _ := EvaluateUnproven(d.shares[i], i, x)
		evals[i] = e.Bytes()
		ys[i] = e.Y
	}
	return d, x, evals, ys
}

func torsionPoints(t *testing.T) (outside, order3 group.Point) {
	t.Helper()
	r, _ := new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)
	h, _ := new(big.Int).SetString("396c8c005555e1568c00aaab0000aaab", 16)
	mul := func(p group.Point, k *big.Int) group.Point {
		acc := g1().Identity()
		for b := k.BitLen() - 1; b >= 0; b-- {
			acc = acc.Add(acc)
			if k.Bit(b) == 1 {
				acc = acc.Add(p)
			}
		}
		return acc
	}
	third := new(big.Int).Div(h, big.NewInt(3))
	for xb := 1; xb < 4000; xb++ {
		var enc [48]byte
		enc[0], enc[46], enc[47] = 0x80, byte(xb>>8), byte(xb)
		q, err := group.DecodeG1Unchecked(enc[:])
		if err != nil || group.InG1(q) {
			continue
		}
		d3 := mul(mul(q, r), third)
		if d3.Equal(g1().Identity()) || !mul(d3, big.NewInt(3)).Equal(g1().Identity()) {
			continue
		}
		return q, d3
	}
	t.Fatal("no point of order 3 found")
	return nil, nil
}
