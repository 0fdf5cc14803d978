package schnorr

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// pairDealing is a nonce pair shared in the test (standing in for the DKG):
// two dealings and the public material built from their commitments.
type pairDealing struct {
	d, e dealing
	pub  *NoncePair
}

func dealPair(tb testing.TB, n, t int, r io.Reader) pairDealing {
	tb.Helper()
	p := pairDealing{d: deal(tb, n, t, nil, r), e: deal(tb, n, t, nil, r)}
	p.pub = &NoncePair{D: p.d.pub, E: p.e.pub, DCommitments: p.d.vks, ECommitments: p.e.vks}
	return p
}

func (p pairDealing) shares(i int) NonceShares {
	return NonceShares{D: p.d.shares[i], E: p.e.shares[i]}
}

// signerSide is what a replica does with a nonce pair assigned to (key, tr,
// msg): it knows D and E (not necessarily the commitments), binds the pair
// and its shares, and signs.
func signerSide(tb testing.TB, pk *PublicKey, pair pairDealing, tr Taproot, msg []byte, i int, share group.Scalar) []byte {
	tb.Helper()
	public := &NoncePair{D: pair.pub.D, E: pair.pub.E}
	bound, err := public.Bind(pk, tr, msg)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := pair.shares(i).Bind(pk, public, tr, msg)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := PartialSign(pk, bound, tr, msg, share, k)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestNoncePairSign runs (4,1) and (7,2) through the pair API with every
// Taproot option, until every combination of the Y parities of P and the
// bound R occurred (TestThresholdSign covers those of Q); signatures are
// checked with our Verify and btcec's.
func TestNoncePairSign(t *testing.T) {
	g := secp()
	root := [32]byte{4, 5, 6}
	for _, p := range []struct{ n, t int }{{4, 1}, {7, 2}} {
		for _, tr := range []Taproot{{}, {Mode: TaprootBIP86}, {Mode: TaprootScript, MerkleRoot: root}} {
			t.Run(fmt.Sprintf("n=%d,t=%d,mode=%d", p.n, p.t, tr.Mode), func(t *testing.T) {
				seen := map[[2]bool]bool{}
				const want = 4
				for iter := 0; iter < 200 && len(seen) < want; iter++ {
					key := deal(t, p.n, p.t, nil, rand.Reader)
					pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: p.t}
					pair := dealPair(t, p.n, p.t, rand.Reader)
					msg := make([]byte, 32)
					rand.Read(msg)
					Q, _, err := OutputKey(key.pub, tr)
					if err != nil {
						t.Fatal(err)
					}

					// The combiner's view: the bound nonce with every R_i.
					bound, err := pair.pub.Bind(pk, tr, msg)
					if err != nil {
						t.Fatal(err)
					}
					seen[[2]bool{group.HasEvenY(key.pub), group.HasEvenY(bound.R)}] = true
					rho, err := pair.pub.bindingFactor(pk, tr, msg)
					if err != nil {
						t.Fatal(err)
					}
					if !bound.R.Equal(pair.d.pub.Add(pair.e.pub.Mul(rho))) || len(bound.Commitments) != p.n {
						t.Fatal("R ≠ D + ρ·E")
					}
					for i := 1; i <= p.n; i++ {
						k, err := pair.shares(i).Bind(pk, pair.pub, tr, msg)
						if err != nil {
							t.Fatal(err)
						}
						if !g.BaseMul(k).Equal(bound.Commitments[i]) {
							t.Fatalf("k_%d·G ≠ R_%d", i, i)
						}
					}

					// t+1 random signers, plus one liar when there is room.
					signers := allIndices(p.n)
					mrand.Shuffle(len(signers), func(a, b int) { signers[a], signers[b] = signers[b], signers[a] })
					parts := map[int][]byte{}
					for _, i := range signers[:p.t+2] {
						parts[i] = signerSide(t, pk, pair, tr, msg, i, key.shares[i])
						if err := VerifyPartial(pk, bound, tr, msg, i, parts[i]); err != nil {
							t.Fatalf("honest partial %d rejected: %v", i, err)
						}
					}
					liar := signers[p.t+1]
					parts[liar] = signerSide(t, pk, pair, tr, append([]byte("other "), msg...), liar, key.shares[liar])
					if err := VerifyPartial(pk, bound, tr, msg, liar, parts[liar]); !errors.Is(err, ErrVerify) {
						t.Fatalf("partial for another message accepted: %v", err)
					}
					sig, err := Combine(pk, bound, tr, msg, parts)
					var ce *CulpritError
					if err != nil && !(errors.As(err, &ce) && ce.Err == nil && slices.Equal(ce.Culprits, []int{liar})) {
						t.Fatal(err)
					}
					if !Verify(Q, msg, sig) || !btcecVerify(t, Q, msg, sig) {
						t.Fatal("combined signature rejected")
					}
					// The bound nonce of another message is another nonce.
					other, err := pair.pub.Bind(pk, tr, append([]byte("other "), msg...))
					if err != nil {
						t.Fatal(err)
					}
					if other.R.Equal(bound.R) {
						t.Fatal("two messages bind the pair to the same nonce")
					}
				}
				if len(seen) < want {
					t.Fatalf("parity combinations covered: %d of %d", len(seen), want)
				}
			})
		}
	}
}

// TestBindingFactorInputs: ρ, and so R, changes with each of msg, D, E, Q
// and the Taproot option, and with nothing else.
func TestBindingFactorInputs(t *testing.T) {
	key := deal(t, 4, 1, nil, rand.Reader)
	otherKey := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	pk2 := &PublicKey{GroupKey: otherKey.pub, Threshold: 1}
	pair := dealPair(t, 4, 1, rand.Reader)
	other := dealPair(t, 4, 1, rand.Reader)
	msg := []byte("send 1 BTC to bc1p...")
	script := Taproot{Mode: TaprootScript, MerkleRoot: [32]byte{1}}

	rhoOf := func(p *NoncePair, k *PublicKey, tr Taproot, m []byte) group.Scalar {
		t.Helper()
		rho, err := p.bindingFactor(k, tr, m)
		if err != nil {
			t.Fatal(err)
		}
		bound, err := p.Bind(k, tr, m)
		if err != nil {
			t.Fatal(err)
		}
		if !bound.R.Equal(p.D.Add(p.E.Mul(rho))) {
			t.Fatal("Bind does not use the binding factor")
		}
		return rho
	}
	base := rhoOf(pair.pub, pk, script, msg)
	qx, _, err := OutputKey(key.pub, script)
	if err != nil {
		t.Fatal(err)
	}
	D, E := pair.pub.D, pair.pub.E
	changed := map[string]group.Scalar{
		"msg":            rhoOf(pair.pub, pk, script, []byte("send 2 BTC to bc1p...")),
		"msg prefix":     rhoOf(pair.pub, pk, script, msg[:len(msg)-1]),
		"empty msg":      rhoOf(pair.pub, pk, script, nil),
		"D":              rhoOf(&NoncePair{D: other.pub.D, E: E}, pk, script, msg),
		"E":              rhoOf(&NoncePair{D: D, E: other.pub.E}, pk, script, msg),
		"D and E swaped": rhoOf(&NoncePair{D: E, E: D}, pk, script, msg),
		"Q (key)":        rhoOf(pair.pub, pk2, script, msg),
		"Q (root)":       rhoOf(pair.pub, pk, Taproot{Mode: TaprootScript, MerkleRoot: [32]byte{2}}, msg),
		"Q (bip86)":      rhoOf(pair.pub, pk, Taproot{Mode: TaprootBIP86}, msg),
		"Q (none)":       rhoOf(pair.pub, pk, Taproot{}, msg),
		// The same bytes(Q) with another Taproot option: the option itself
		// is bound, not only through Q.
		"option none":  bindingFactor(qx, D, E, Taproot{}, msg),
		"option bip86": bindingFactor(qx, D, E, Taproot{Mode: TaprootBIP86}, msg),
		"option root":  bindingFactor(qx, D, E, Taproot{Mode: TaprootScript, MerkleRoot: [32]byte{1, 0, 1}}, msg),
	}
	if !bindingFactor(qx, D, E, script, msg).Equal(base) {
		t.Fatal("bindingFactor and NoncePair.bindingFactor disagree")
	}
	seen := map[string]string{"base": string(base.Bytes())}
	for name, rho := range changed {
		for prev, b := range seen {
			if string(rho.Bytes()) == b {
				t.Errorf("%s: same ρ as %s", name, prev)
			}
		}
		seen[name] = string(rho.Bytes())
	}

	// Unchanged: the commitments (ρ is computed from D and E), the
	// verification keys, and a merkle root that signing ignores.
	noComm := &NoncePair{D: D, E: E}
	pkBare := &PublicKey{GroupKey: key.pub}
	for name, rho := range map[string]group.Scalar{
		"no commitments":    rhoOf(noComm, pk, script, msg),
		"no verif. keys":    rhoOf(pair.pub, pkBare, script, msg),
		"nil vs empty msg":  rhoOf(pair.pub, pk, script, append([]byte(nil), msg...)),
		"ignored root none": rhoOf(pair.pub, pk, Taproot{Mode: TaprootNone, MerkleRoot: [32]byte{7}}, nil),
	} {
		want := base
		if name == "ignored root none" {
			want = rhoOf(pair.pub, pk, Taproot{}, []byte{})
		}
		if !rho.Equal(want) {
			t.Errorf("%s: ρ changed", name)
		}
	}
	if !rhoOf(pair.pub, pk, Taproot{Mode: TaprootBIP86, MerkleRoot: [32]byte{3}}, msg).Equal(changed["Q (bip86)"]) {
		t.Error("a merkle root that BIP-86 ignores changes ρ")
	}
}

// TestBindingFactorEncoding spells out the preimage of ρ byte by byte.
func TestBindingFactorEncoding(t *testing.T) {
	key := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, Threshold: 1}
	pair := dealPair(t, 4, 1, rand.Reader)
	tr := Taproot{Mode: TaprootScript, MerkleRoot: sha256.Sum256([]byte("tree"))}
	msg := bytes.Repeat([]byte{0xab}, 300)
	qx, _, err := OutputKey(key.pub, tr)
	if err != nil {
		t.Fatal(err)
	}
	tag := sha256.Sum256([]byte("VHSM/schnorr/binding"))
	var pre []byte
	pre = append(pre, tag[:]...)
	pre = append(pre, tag[:]...)
	pre = append(pre, 0, 0, 0, 0, 0, 0, 0, 32)
	pre = append(pre, qx[:]...)
	pre = append(pre, 0, 0, 0, 0, 0, 0, 0, 33)
	pre = append(pre, pair.pub.D.Bytes()...)
	pre = append(pre, 0, 0, 0, 0, 0, 0, 0, 33)
	pre = append(pre, pair.pub.E.Bytes()...)
	pre = append(pre, 0, 0, 0, 0, 0, 0, 0, 33, byte(TaprootScript))
	pre = append(pre, tr.MerkleRoot[:]...)
	pre = binary.BigEndian.AppendUint64(pre, 300)
	pre = append(pre, msg...)
	h := sha256.Sum256(pre)
	want := new(big.Int).Mod(new(big.Int).SetBytes(h[:]), secpN)
	rho, err := pair.pub.bindingFactor(pk, tr, msg)
	if err != nil {
		t.Fatal(err)
	}
	if new(big.Int).SetBytes(rho.Bytes()).Cmp(want) != 0 {
		t.Fatal("ρ does not match the documented encoding")
	}
}

type bindingVector struct {
	Name        string `json:"name"`
	KeySecret   string `json:"key_secret"`
	D           string `json:"d"`
	E           string `json:"e"`
	TaprootMode int    `json:"taproot_mode"`
	MerkleRoot  string `json:"merkle_root"`
	Msg         string `json:"msg"`
	OutputKey   string `json:"output_key"`
	DPoint      string `json:"D"`
	EPoint      string `json:"E"`
	Rho         string `json:"rho"`
	R           string `json:"R"`
	K           string `json:"k"`
}

// TestBindingVectors checks ρ, R and k against vectors from an independent
// Python implementation (testdata/gen_binding_vectors.py). They pin the
// encoding: replicas running different versions must derive the same nonce.
func TestBindingVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/binding-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []bindingVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 6 {
		t.Fatalf("%d vectors", len(file.Vectors))
	}
	g := secp()
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			x := scalarOf(t, unhex(t, v.KeySecret))
			d, e := scalarOf(t, unhex(t, v.D)), scalarOf(t, unhex(t, v.E))
			tr := Taproot{Mode: TaprootMode(v.TaprootMode)}
			copy(tr.MerkleRoot[:], unhex(t, v.MerkleRoot))
			msg := unhex(t, v.Msg)
			pk := &PublicKey{GroupKey: g.BaseMul(x)}
			pair := &NoncePair{D: g.BaseMul(d), E: g.BaseMul(e)}

			if qx, _, err := OutputKey(pk.GroupKey, tr); err != nil || hex.EncodeToString(qx[:]) != v.OutputKey {
				t.Fatalf("output key %x, %v", qx, err)
			}
			if hex.EncodeToString(pair.D.Bytes()) != v.DPoint || hex.EncodeToString(pair.E.Bytes()) != v.EPoint {
				t.Fatal("D or E")
			}
			rho, err := pair.bindingFactor(pk, tr, msg)
			if err != nil || hex.EncodeToString(rho.Bytes()) != v.Rho {
				t.Fatalf("ρ: %v", err)
			}
			bound, err := pair.Bind(pk, tr, msg)
			if err != nil || hex.EncodeToString(bound.R.Bytes()) != v.R {
				t.Fatalf("R: %v", err)
			}
			k, err := NonceShares{D: d, E: e}.Bind(pk, pair, tr, msg)
			if err != nil || !k.Equal(scalarOf(t, unhex(t, v.K))) {
				t.Fatalf("k: %v", err)
			}
		})
	}
}

// TestBindRejects: unusable material is an error wrapping the documented
// sentinel, never a panic, from both Bind methods alike.
func TestBindRejects(t *testing.T) {
	g := secp()
	key := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	pair := dealPair(t, 4, 1, rand.Reader)
	sh := pair.shares(1)
	msg := []byte("m")
	with := func(edit func(p *NoncePair)) *NoncePair {
		p := &NoncePair{D: pair.pub.D, E: pair.pub.E, DCommitments: map[int]group.Point{}, ECommitments: map[int]group.Point{}}
		for i := 1; i <= 4; i++ {
			p.DCommitments[i], p.ECommitments[i] = pair.pub.DCommitments[i], pair.pub.ECommitments[i]
		}
		edit(p)
		return p
	}
	cases := []struct {
		name string
		pair *NoncePair
		key  *PublicKey
		tr   Taproot
		want error
	}{
		{"nil pair", nil, pk, Taproot{}, ErrInvalidKey},
		{"nil key", pair.pub, nil, Taproot{}, ErrInvalidKey},
		{"nil group key", pair.pub, &PublicKey{}, Taproot{}, ErrInvalidKey},
		{"identity group key", pair.pub, &PublicKey{GroupKey: g.Identity()}, Taproot{}, ErrInvalidKey},
		{"bad taproot mode", pair.pub, pk, Taproot{Mode: 3}, ErrInvalidTaproot},
		{"nil D", with(func(p *NoncePair) { p.D = nil }), pk, Taproot{}, ErrInvalidKey},
		{"identity D", with(func(p *NoncePair) { p.D = g.Identity() }), pk, Taproot{}, ErrInvalidKey},
		{"nil E", with(func(p *NoncePair) { p.E = nil }), pk, Taproot{}, ErrInvalidKey},
		{"identity E", with(func(p *NoncePair) { p.E = g.Identity() }), pk, Taproot{}, ErrInvalidKey},
		{"missing E_i", with(func(p *NoncePair) { delete(p.ECommitments, 3) }), pk, Taproot{}, ErrInvalidKey},
		{"missing D_i", with(func(p *NoncePair) { delete(p.DCommitments, 3) }), pk, Taproot{}, ErrInvalidKey},
		{"mismatched index", with(func(p *NoncePair) { p.ECommitments[5] = p.ECommitments[4]; delete(p.ECommitments, 4) }), pk, Taproot{}, ErrInvalidKey},
		{"nil D_i", with(func(p *NoncePair) { p.DCommitments[2] = nil }), pk, Taproot{}, ErrInvalidKey},
		{"identity E_i", with(func(p *NoncePair) { p.ECommitments[2] = g.Identity() }), pk, Taproot{}, ErrInvalidKey},
		{"index 0", with(func(p *NoncePair) { p.DCommitments[0], p.ECommitments[0] = p.D, p.E }), pk, Taproot{}, ErrInvalidKey},
		{"index too large", with(func(p *NoncePair) {
			p.DCommitments[vss.MaxIndex+1], p.ECommitments[vss.MaxIndex+1] = p.D, p.E
		}), pk, Taproot{}, ErrInvalidKey},
	}
	for _, c := range cases {
		if _, err := c.pair.Bind(c.key, c.tr, msg); !errors.Is(err, c.want) {
			t.Errorf("%s: NoncePair.Bind: %v", c.name, err)
		}
		if _, err := sh.Bind(c.key, c.pair, c.tr, msg); !errors.Is(err, c.want) {
			t.Errorf("%s: NonceShares.Bind: %v", c.name, err)
		}
	}
	if _, err := with(func(*NoncePair) {}).Bind(pk, Taproot{}, msg); err != nil {
		t.Fatalf("the unedited copy is rejected: %v", err)
	}
	for name, s := range map[string]NonceShares{
		"nil d":  {E: sh.E},
		"nil e":  {D: sh.D},
		"zero d": {D: g.Zero(), E: sh.E},
		"zero e": {D: sh.D, E: g.Zero()},
	} {
		if _, err := s.Bind(pk, pair.pub, Taproot{}, msg); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// R = identity or R_i = identity: only for ρ = −d/e (or −d_i/e_i),
	// which a hash output hits with negligible probability, so the check is
	// exercised through bindWith.
	secret := func(sh map[int]group.Scalar) group.Scalar {
		v := g.Zero()
		for _, i := range []int{1, 2} {
			l, err := vss.LagrangeCoefficient(g, []int{1, 2}, i)
			if err != nil {
				t.Fatal(err)
			}
			v = v.Add(l.Mul(sh[i]))
		}
		return v
	}
	d, e := secret(pair.d.shares), secret(pair.e.shares)
	if !g.BaseMul(d).Equal(pair.pub.D) || !g.BaseMul(e).Equal(pair.pub.E) {
		t.Fatal("interpolated nonce secrets do not match D, E")
	}
	if _, err := pair.pub.bindWith(d.Mul(e.Inv()).Neg()); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("R = identity: %v", err)
	}
	if _, err := pair.pub.bindWith(pair.d.shares[2].Mul(pair.e.shares[2].Inv()).Neg()); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("R_2 = identity: %v", err)
	}
	if _, err := pair.pub.bindWith(g.ScalarFromUint64(5)); err != nil {
		t.Errorf("ρ = 5: %v", err)
	}
	// k_i = 0: ρ does not depend on the shares, so shares with
	// d_i = −ρ·e_i yield it.
	rho, err := pair.pub.bindingFactor(pk, Taproot{}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (NonceShares{D: rho.Mul(sh.E).Neg(), E: sh.E}).Bind(pk, pair.pub, Taproot{}, msg); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("k_i = 0: %v", err)
	}
	k, err := sh.Bind(pk, pair.pub, Taproot{}, msg)
	if err != nil || !k.Equal(sh.D.Add(sh.E.Mul(rho))) {
		t.Fatalf("k_1 ≠ d_1 + ρ·e_1: %v", err)
	}
}
