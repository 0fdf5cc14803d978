package frost

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// dealt is a key shared with a random polynomial of degree t among n
// signers, with P of the requested Y parity.
type dealt struct {
	t, n   int
	x      group.Scalar
	P      group.Point
	shares map[int]group.Scalar
	vks    map[int]group.Point
}

func deal(tb testing.TB, t, n int, oddY bool) *dealt {
	tb.Helper()
	g := secp()
	for {
		poly, err := vss.NewPolynomial(g, t, nil, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		P := poly.Commit().Secret()
		if group.HasEvenY(P) == oddY {
			continue
		}
		d := &dealt{t: t, n: n, x: poly.Secret(), P: P,
			shares: map[int]group.Scalar{}, vks: map[int]group.Point{}}
		com := poly.Commit()
		for i := 1; i <= n; i++ {
			d.shares[i] = poly.Share(i)
			d.vks[i] = com.Eval(i)
		}
		return d
	}
}

// run signs msg with the signers in ids and returns the package, the
// session, the shares and the signature, after checking every share with
// VerifyShare and, for Taproot, the signature with btcec.
func run(tb testing.TB, s Suite, d *dealt, key *Key, ids []int, msg []byte) (*SigningPackage, *Session, map[int]group.Scalar, []byte) {
	tb.Helper()
	nonces := map[int]*Nonce{}
	pkg := &SigningPackage{Message: msg}
	for _, id := range ids {
		n, err := s.NewNonce(d.shares[id], rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		nonces[id] = n
		pkg.Commitments = append(pkg.Commitments, n.Commit(id))
	}
	// Each signer works from its own copy of the package, in its own order.
	zs := map[int]group.Scalar{}
	for _, id := range ids {
		own := &SigningPackage{Commitments: slices.Clone(pkg.Commitments), Message: msg}
		mrand.Shuffle(len(own.Commitments), func(i, j int) {
			own.Commitments[i], own.Commitments[j] = own.Commitments[j], own.Commitments[i]
		})
		z, err := s.Sign(own, key, id, d.shares[id], nonces[id])
		if err != nil {
			tb.Fatalf("sign %d: %v", id, err)
		}
		nonces[id].Wipe()
		zs[id] = z
	}
	ss, err := s.Prepare(pkg, key)
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		if err := ss.VerifyShare(id, d.vks[id], zs[id]); err != nil {
			tb.Fatalf("verify share %d: %v", id, err)
		}
	}
	sig, err := ss.Aggregate(zs)
	if err != nil {
		tb.Fatal(err)
	}
	if s == Taproot {
		// Every Taproot signature of these tests is also checked by btcec.
		btcVerify(tb, group.XOnly(key.OutputKey()), msg, sig)
	}
	return pkg, ss, zs, sig
}

var tweaks = []schnorr.Taproot{
	{Mode: schnorr.TaprootNone},
	{Mode: schnorr.TaprootBIP86},
	{Mode: schnorr.TaprootScript, MerkleRoot: [32]byte{0x5e, 0xc7, 1, 2, 3}},
}

// TestRandomRuns signs with random t-of-n sharings (t = 1..3, n = 4..10),
// every Taproot option and both parities of P, with t+1 and with all n
// signers, and checks each Taproot signature with btcec's BIP-340 verifier
// against the output key, which must be threshold/schnorr's OutputKey.
func TestRandomRuns(t *testing.T) {
	for _, tn := range [][2]int{{1, 4}, {2, 7}, {3, 10}, {3, 4}} {
		for _, odd := range []bool{false, true} {
			d := deal(t, tn[0], tn[1], odd)
			for _, tr := range tweaks {
				name := fmt.Sprintf("t=%d/n=%d/oddP=%v/mode=%d", tn[0], tn[1], odd, tr.Mode)
				t.Run(name, func(t *testing.T) {
					key, err := Taproot.NewKey(d.P, tr)
					if err != nil {
						t.Fatal(err)
					}
					wantX, wantOdd, err := schnorr.OutputKey(d.P, tr)
					if err != nil {
						t.Fatal(err)
					}
					Q := key.OutputKey()
					if group.XOnly(Q) != wantX || (tr.Mode != schnorr.TaprootNone && group.HasEvenY(Q) == wantOdd) {
						t.Fatal("output key differs from schnorr.OutputKey")
					}
					ids := mrand.Perm(d.n)[:d.t+1]
					for i := range ids {
						ids[i]++
					}
					all := make([]int, d.n)
					for i := range all {
						all[i] = i + 1
					}
					for _, set := range [][]int{ids, all} {
						msg := make([]byte, 32)
						rand.Read(msg)
						_, _, _, sig := run(t, Taproot, d, key, set, msg)
						if !Taproot.Verify(key, msg, sig) {
							t.Fatal("Verify rejects")
						}
						if !schnorr.Verify(wantX, msg, [64]byte(sig)) {
							t.Fatal("schnorr.Verify rejects")
						}
						btcVerify(t, wantX, msg, sig)
					}
					// A message of another length (BIP-340 arbitrary size).
					msg := []byte("FROST off the log")
					_, _, _, sig := run(t, Taproot, d, key, ids, msg)
					btcVerify(t, wantX, msg, sig)
				})
			}
			t.Run(fmt.Sprintf("rfc9591/t=%d/n=%d/oddP=%v", tn[0], tn[1], odd), func(t *testing.T) {
				key, err := RFC9591.NewKey(d.P, schnorr.Taproot{})
				if err != nil {
					t.Fatal(err)
				}
				if !key.OutputKey().Equal(d.P) {
					t.Fatal("output key is not P")
				}
				msg := []byte("message")
				ids := []int{d.n}
				for i := 1; len(ids) < d.t+1; i++ {
					ids = append(ids, i)
				}
				_, ss, zs, sig := run(t, RFC9591, d, key, ids, msg)
				if len(sig) != RFC9591SignatureLen || !RFC9591.Verify(key, msg, sig) {
					t.Fatal("RFC9591 signature does not verify")
				}
				// Independent check: z·G == R + c·P.
				z, err := secp().DecodeScalar(sig[33:])
				if err != nil {
					t.Fatal(err)
				}
				if !secp().BaseMul(z).Equal(ss.GroupCommitment().Add(d.P.Mul(ss.Challenge()))) {
					t.Fatal("z·G != R + c·P")
				}
				if RFC9591.Verify(key, []byte("other"), sig) || Taproot.Verify(key, msg, sig) {
					t.Fatal("Verify accepts a wrong message or suite")
				}
				_ = zs
			})
		}
	}
}

// TestVerifyShareDetectsWrongShare: a share off by one, a share checked
// against another signer's key, or one signer's share under another's id
// are all rejected, and the aggregate of a bad share does not verify.
func TestVerifyShareDetectsWrongShare(t *testing.T) {
	for _, s := range []Suite{Taproot, RFC9591} {
		trs := tweaks
		if s == RFC9591 {
			trs = tweaks[:1]
		}
		for _, tr := range trs {
			for _, odd := range []bool{false, true} {
				d := deal(t, 2, 5, odd)
				key, err := s.NewKey(d.P, tr)
				if err != nil {
					t.Fatal(err)
				}
				msg := []byte("pay 1 BTC")
				pkg, ss, zs, sig := run(t, s, d, key, []int{1, 3, 5}, msg)
				if !s.Verify(key, msg, sig) {
					t.Fatal("honest signature rejected")
				}
				one := secp().ScalarFromUint64(1)
				bad := zs[3].Add(one)
				if err := ss.VerifyShare(3, d.vks[3], bad); !errors.Is(err, ErrInvalidShare) {
					t.Errorf("%s/%d: modified share: %v", s.Name(), tr.Mode, err)
				}
				if err := s.VerifyShare(pkg, key, 3, d.vks[3], bad); !errors.Is(err, ErrInvalidShare) {
					t.Errorf("%s/%d: Suite.VerifyShare, modified share: %v", s.Name(), tr.Mode, err)
				}
				if err := ss.VerifyShare(3, d.vks[1], zs[3]); !errors.Is(err, ErrInvalidShare) {
					t.Errorf("%s/%d: wrong key: %v", s.Name(), tr.Mode, err)
				}
				if err := ss.VerifyShare(1, d.vks[1], zs[3]); !errors.Is(err, ErrInvalidShare) {
					t.Errorf("%s/%d: wrong id: %v", s.Name(), tr.Mode, err)
				}
				// A share of the tweaked key checked without the tweak fails too.
				if err := ss.VerifyShare(2, d.vks[2], zs[3]); !errors.Is(err, ErrUnknownID) {
					t.Errorf("%s/%d: id outside the package: %v", s.Name(), tr.Mode, err)
				}
				badShares := map[int]group.Scalar{1: zs[1], 3: bad, 5: zs[5]}
				badSig, err := ss.Aggregate(badShares)
				if err != nil {
					t.Fatal(err)
				}
				if s.Verify(key, msg, badSig) {
					t.Errorf("%s/%d: aggregate of a bad share verifies", s.Name(), tr.Mode)
				}
				// The culprit is found by checking each share.
				var culprits []int
				for _, id := range ss.IDs() {
					if ss.VerifyShare(id, d.vks[id], badShares[id]) != nil {
						culprits = append(culprits, id)
					}
				}
				if !slices.Equal(culprits, []int{3}) {
					t.Errorf("%s/%d: culprits %v, want [3]", s.Name(), tr.Mode, culprits)
				}
			}
		}
	}
}

// TestSignRefusesBadPackages: a signer cannot be tricked into signing with
// a commitment that is not its nonce's, and refuses malformed packages.
func TestSignRefusesBadPackages(t *testing.T) {
	d := deal(t, 1, 4, false)
	for _, s := range []Suite{Taproot, RFC9591} {
		key, err := s.NewKey(d.P, schnorr.Taproot{})
		if err != nil {
			t.Fatal(err)
		}
		n1, _ := s.NewNonce(d.shares[1], rand.Reader)
		n2, _ := s.NewNonce(d.shares[2], rand.Reader)
		other, _ := s.NewNonce(d.shares[1], rand.Reader)
		c1, c2 := n1.Commit(1), n2.Commit(2)
		msg := []byte("m")
		good := &SigningPackage{Commitments: []Commitment{c2, c1}, Message: msg}
		if _, err := s.Sign(good, key, 1, d.shares[1], n1); err != nil {
			t.Fatalf("%s: good package: %v", s.Name(), err)
		}
		swapD := c1
		swapD.Hiding = other.Commit(1).Hiding
		swapE := c1
		swapE.Binding = other.Commit(1).Binding
		flipped := c1
		flipped.Hiding, flipped.Binding = c1.Binding, c1.Hiding
		G := secp().Generator()
		for _, tc := range []struct {
			name string
			pkg  *SigningPackage
			id   int
			want error
		}{
			{"other nonce's commitment", &SigningPackage{Commitments: []Commitment{other.Commit(1), c2}, Message: msg}, 1, ErrCommitmentMismatch},
			{"hiding point replaced", &SigningPackage{Commitments: []Commitment{swapD, c2}, Message: msg}, 1, ErrCommitmentMismatch},
			{"binding point replaced", &SigningPackage{Commitments: []Commitment{swapE, c2}, Message: msg}, 1, ErrCommitmentMismatch},
			{"hiding and binding swapped", &SigningPackage{Commitments: []Commitment{flipped, c2}, Message: msg}, 1, ErrCommitmentMismatch},
			{"own commitment under another id", &SigningPackage{Commitments: []Commitment{n1.Commit(3), c2}, Message: msg}, 1, ErrUnknownID},
			{"signer not in package", &SigningPackage{Commitments: []Commitment{c2, n2.Commit(3)}, Message: msg}, 1, ErrUnknownID},
			{"duplicate id", &SigningPackage{Commitments: []Commitment{c1, c2, c1}, Message: msg}, 1, ErrDuplicateID},
			{"duplicate id, other points", &SigningPackage{Commitments: []Commitment{c1, c2, other.Commit(2)}, Message: msg}, 1, ErrDuplicateID},
			{"identity hiding", &SigningPackage{Commitments: []Commitment{c1, {ID: 2, Hiding: secp().Identity(), Binding: G}}, Message: msg}, 1, ErrIdentityCommitment},
			{"identity binding", &SigningPackage{Commitments: []Commitment{c1, {ID: 2, Hiding: G, Binding: secp().Identity()}}, Message: msg}, 1, ErrIdentityCommitment},
			{"nil point", &SigningPackage{Commitments: []Commitment{c1, {ID: 2, Hiding: G}}, Message: msg}, 1, ErrIdentityCommitment},
			{"id 0", &SigningPackage{Commitments: []Commitment{c1, {ID: 0, Hiding: G, Binding: G}}, Message: msg}, 1, ErrInvalidID},
			{"id too large", &SigningPackage{Commitments: []Commitment{c1, {ID: MaxID + 1, Hiding: G, Binding: G}}, Message: msg}, 1, ErrInvalidID},
			{"negative id", &SigningPackage{Commitments: []Commitment{c1, {ID: -1, Hiding: G, Binding: G}}, Message: msg}, 1, ErrInvalidID},
			{"empty", &SigningPackage{Message: msg}, 1, ErrNoCommitments},
			{"nil", nil, 1, ErrNoCommitments},
		} {
			if _, err := s.Sign(tc.pkg, key, tc.id, d.shares[1], n1); !errors.Is(err, tc.want) {
				t.Errorf("%s: %s: got %v, want %v", s.Name(), tc.name, err, tc.want)
			}
		}
		if _, err := s.Sign(good, key, 1, nil, n1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: nil share: %v", s.Name(), err)
		}
		if _, err := s.Sign(good, key, 1, secp().Zero(), n1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: zero share: %v", s.Name(), err)
		}
		if _, err := s.Sign(good, key, 1, d.shares[1], nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: nil nonce: %v", s.Name(), err)
		}
		wiped := *n1
		wiped.Wipe()
		if _, err := s.Sign(good, key, 1, d.shares[1], &wiped); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: wiped nonce: %v", s.Name(), err)
		}
		// A nonce whose fields were replaced is checked against its new value.
		moved := *n1
		moved.Hiding = other.Hiding
		if _, err := s.Sign(good, key, 1, d.shares[1], &moved); !errors.Is(err, ErrCommitmentMismatch) {
			t.Errorf("%s: replaced nonce field: %v", s.Name(), err)
		}
		if _, err := s.Sign(good, nil, 1, d.shares[1], n1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: nil key: %v", s.Name(), err)
		}
		var otherSuite Suite = Taproot
		if s == Taproot {
			otherSuite = RFC9591
		}
		if _, err := otherSuite.Sign(good, key, 1, d.shares[1], n1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: key of another suite: %v", s.Name(), err)
		}
		if _, err := (Suite{}).Sign(good, key, 1, d.shares[1], n1); !errors.Is(err, ErrUnknownSuite) {
			t.Errorf("zero suite: %v", err)
		}
		if _, err := s.Sign(good, key, 1, group.BLS12381G1().ScalarFromUint64(5), n1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: BLS share: %v", s.Name(), err)
		}
	}
}

// TestAggregateErrors: Aggregate needs a share from every signer of the
// package and none from outside it.
func TestAggregateErrors(t *testing.T) {
	d := deal(t, 1, 4, true)
	key, _ := Taproot.NewKey(d.P, schnorr.Taproot{})
	_, ss, zs, _ := run(t, Taproot, d, key, []int{2, 4}, []byte("m"))
	if _, err := ss.Aggregate(map[int]group.Scalar{2: zs[2]}); !errors.Is(err, ErrMissingShare) {
		t.Errorf("missing share: %v", err)
	}
	if _, err := ss.Aggregate(map[int]group.Scalar{2: zs[2], 4: nil}); !errors.Is(err, ErrMissingShare) {
		t.Errorf("nil share: %v", err)
	}
	if _, err := ss.Aggregate(map[int]group.Scalar{2: zs[2], 4: zs[4], 1: zs[4]}); !errors.Is(err, ErrUnknownID) {
		t.Errorf("extra share: %v", err)
	}
	var zero Session
	if _, err := zero.Aggregate(nil); !errors.Is(err, ErrNoCommitments) {
		t.Errorf("zero session: %v", err)
	}
	if _, err := zero.Sign(1, d.shares[1], nil); !errors.Is(err, ErrUnknownID) {
		t.Errorf("zero session sign: %v", err)
	}
	if err := ss.VerifyShare(2, nil, zs[2]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil vk: %v", err)
	}
	if err := ss.VerifyShare(2, d.vks[2], nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil z: %v", err)
	}
}

// TestNewKey checks the key options of both suites and the rejected ones.
func TestNewKey(t *testing.T) {
	d := deal(t, 1, 4, true)
	if _, err := RFC9591.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootBIP86}); !errors.Is(err, ErrInvalidTweak) {
		t.Errorf("RFC9591 with BIP86: %v", err)
	}
	if _, err := RFC9591.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootScript}); !errors.Is(err, ErrInvalidTweak) {
		t.Errorf("RFC9591 with script: %v", err)
	}
	for _, s := range []Suite{Taproot, RFC9591} {
		if _, err := s.NewKey(d.P, schnorr.Taproot{Mode: 7}); !errors.Is(err, ErrInvalidTweak) {
			t.Errorf("%s: unknown mode: %v", s.Name(), err)
		}
		for name, P := range map[string]group.Point{
			"nil": nil, "identity": secp().Identity(), "bls": group.BLS12381G1().Generator(),
		} {
			if _, err := s.NewKey(P, schnorr.Taproot{}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("%s: %s key: %v", s.Name(), name, err)
			}
		}
	}
	if _, err := (Suite{}).NewKey(d.P, schnorr.Taproot{}); !errors.Is(err, ErrUnknownSuite) {
		t.Errorf("zero suite: %v", err)
	}
	if Taproot.Name() != "FROST-secp256k1-SHA256-TR-v1" || RFC9591.Name() != "FROST-secp256k1-SHA256-v1" || (Suite{}).Name() != "" {
		t.Error("context strings")
	}
	k, _ := Taproot.NewKey(d.P, schnorr.Taproot{})
	if !k.GroupKey().Equal(d.P) || !k.OutputKey().Equal(d.P) || k.Suite() != Taproot {
		t.Error("TaprootNone keeps P")
	}
}

// TestNewNonce: NewNonce is NonceFromRandomness on the next 64 bytes of
// rand, hedged with the secret, and fails on a short reader.
func TestNewNonce(t *testing.T) {
	d := deal(t, 1, 4, false)
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, s := range []Suite{Taproot, RFC9591} {
		n, err := s.NewNonce(d.shares[1], bytes.NewReader(buf))
		if err != nil {
			t.Fatal(err)
		}
		m := s.NonceFromRandomness(d.shares[1], [32]byte(buf[:32]), [32]byte(buf[32:]))
		if !n.Hiding.Equal(m.Hiding) || !n.Binding.Equal(m.Binding) {
			t.Errorf("%s: NewNonce differs from NonceFromRandomness", s.Name())
		}
		// A stuck random source still gives different nonces for different
		// secrets (RFC 9591 §4.1 hedging) and different suites.
		o := s.NonceFromRandomness(d.shares[2], [32]byte(buf[:32]), [32]byte(buf[32:]))
		if o.Hiding.Equal(m.Hiding) || o.Binding.Equal(m.Binding) {
			t.Errorf("%s: nonce not hedged with the secret", s.Name())
		}
		if m.Hiding.Equal(m.Binding) {
			t.Errorf("%s: hiding and binding nonces equal", s.Name())
		}
		if _, err := s.NewNonce(d.shares[1], bytes.NewReader(buf[:63])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: short reader: %v", s.Name(), err)
		}
		if _, err := s.NewNonce(nil, rand.Reader); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: nil secret: %v", s.Name(), err)
		}
		if s.NonceFromRandomness(secp().Zero(), [32]byte{}, [32]byte{}) != nil {
			t.Errorf("%s: zero secret accepted", s.Name())
		}
		c := m.Commit(9)
		if c.ID != 9 || !c.Hiding.Equal(secp().BaseMul(m.Hiding)) || !c.Binding.Equal(secp().BaseMul(m.Binding)) {
			t.Errorf("%s: Commit", s.Name())
		}
		m.Wipe()
		if !m.Hiding.IsZero() || !m.Binding.IsZero() || m.Commit(9).Hiding != nil {
			t.Errorf("%s: Wipe", s.Name())
		}
	}
	a := Taproot.NonceFromRandomness(d.shares[1], [32]byte(buf[:32]), [32]byte(buf[32:]))
	b := RFC9591.NonceFromRandomness(d.shares[1], [32]byte(buf[:32]), [32]byte(buf[32:]))
	if a.Hiding.Equal(b.Hiding) {
		t.Error("suites share nonces")
	}
	if _, err := (Suite{}).NewNonce(d.shares[1], rand.Reader); !errors.Is(err, ErrUnknownSuite) {
		t.Errorf("zero suite: %v", err)
	}
}

// TestLagrangeMatchesVSS: the batched coefficients of a Session equal
// vss.LagrangeCoefficient and the package-level Lagrange, and sum to 1.
func TestLagrangeMatchesVSS(t *testing.T) {
	d := deal(t, 3, 10, false)
	key, _ := RFC9591.NewKey(d.P, schnorr.Taproot{})
	pkg := &SigningPackage{Message: []byte("m")}
	ids := []int{9, 2, 7, 3, 10, 1}
	for _, id := range ids {
		n, _ := RFC9591.NewNonce(d.shares[id], rand.Reader)
		pkg.Commitments = append(pkg.Commitments, n.Commit(id))
	}
	ss, err := RFC9591.Prepare(pkg, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := secp().Zero()
	for _, id := range ids {
		want, err := vss.LagrangeCoefficient(secp(), ids, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ss.Lagrange(id)
		if err != nil || !got.Equal(want) {
			t.Errorf("Session.Lagrange(%d) wrong: %v", id, err)
		}
		got, err = Lagrange(pkg, id)
		if err != nil || !got.Equal(want) {
			t.Errorf("Lagrange(%d) wrong: %v", id, err)
		}
		sum = sum.Add(want)
	}
	if !sum.Equal(secp().ScalarFromUint64(1)) {
		t.Error("coefficients do not sum to 1")
	}
	if _, err := ss.Lagrange(4); !errors.Is(err, ErrUnknownID) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := Lagrange(pkg, 4); !errors.Is(err, ErrUnknownID) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := ss.BindingFactor(4); !errors.Is(err, ErrUnknownID) {
		t.Errorf("unknown id: %v", err)
	}
	if got := ss.IDs(); !slices.Equal(got, []int{1, 2, 3, 7, 9, 10}) {
		t.Errorf("IDs %v", got)
	}
}

// TestPackageOrder: the session does not depend on the order of the
// commitments, and does not reorder the caller's slice.
func TestPackageOrder(t *testing.T) {
	d := deal(t, 2, 5, true)
	key, _ := Taproot.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	var cs []Commitment
	for _, id := range []int{5, 1, 3} {
		n, _ := Taproot.NewNonce(d.shares[id], rand.Reader)
		cs = append(cs, n.Commit(id))
	}
	a, err := Taproot.Prepare(&SigningPackage{Commitments: cs, Message: []byte("m")}, key)
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].ID != 5 {
		t.Error("Prepare reordered the caller's commitments")
	}
	rev := slices.Clone(cs)
	slices.Reverse(rev)
	b, err := Taproot.Prepare(&SigningPackage{Commitments: rev, Message: []byte("m")}, key)
	if err != nil {
		t.Fatal(err)
	}
	if !a.GroupCommitment().Equal(b.GroupCommitment()) || !a.Challenge().Equal(b.Challenge()) {
		t.Error("session depends on commitment order")
	}
	c, _ := Taproot.Prepare(&SigningPackage{Commitments: cs, Message: []byte("n")}, key)
	if c.GroupCommitment().Equal(a.GroupCommitment()) {
		t.Error("R does not depend on the message")
	}
}

// TestVerifyRejects: malformed and foreign signatures.
func TestVerifyRejects(t *testing.T) {
	d := deal(t, 1, 4, false)
	for _, s := range []Suite{Taproot, RFC9591} {
		key, _ := s.NewKey(d.P, schnorr.Taproot{})
		msg := []byte("m")
		_, _, _, sig := run(t, s, d, key, []int{1, 2}, msg)
		if !s.Verify(key, msg, sig) {
			t.Fatal("honest signature rejected")
		}
		for name, bad := range map[string][]byte{
			"short":  sig[:len(sig)-1],
			"long":   append(slices.Clone(sig), 0),
			"zero R": append(make([]byte, len(sig)-32), sig[len(sig)-32:]...),
			"z ≥ n":  append(slices.Clone(sig[:len(sig)-32]), bytes.Repeat([]byte{0xff}, 32)...),
			"empty":  nil,
			"R flip": func() []byte { b := slices.Clone(sig); b[len(b)-33] ^= 1; return b }(),
		} {
			if s.Verify(key, msg, bad) {
				t.Errorf("%s: %s accepted", s.Name(), name)
			}
		}
		if s.Verify(nil, msg, sig) || (Suite{}).Verify(key, msg, sig) {
			t.Errorf("%s: nil key or zero suite accepted", s.Name())
		}
	}
}

// TestCommitmentEncoding: round trip and rejection of non-canonical bytes.
func TestCommitmentEncoding(t *testing.T) {
	d := deal(t, 1, 4, false)
	n, _ := Taproot.NewNonce(d.shares[1], rand.Reader)
	for _, id := range []int{1, 2, 255, 256, MaxID} {
		c := n.Commit(id)
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != CommitmentLen || b[0] != byte(id>>8) || b[1] != byte(id) {
			t.Fatalf("encoding of id %d: %x", id, b[:2])
		}
		var got Commitment
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !got.equal(c) {
			t.Errorf("round trip of id %d", id)
		}
		app, err := c.AppendBinary([]byte{7})
		if err != nil || !bytes.Equal(app[1:], b) || app[0] != 7 {
			t.Error("AppendBinary")
		}
	}
	good, _ := n.Commit(3).MarshalBinary()
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short":        good[:CommitmentLen-1],
		"long":         append(slices.Clone(good), 0),
		"id 0":         mutate(func(b []byte) []byte { b[0], b[1] = 0, 0; return b }),
		"identity D":   mutate(func(b []byte) []byte { clear(b[2:35]); return b }),
		"identity E":   mutate(func(b []byte) []byte { clear(b[35:]); return b }),
		"bad prefix D": mutate(func(b []byte) []byte { b[2] = 0x04; return b }),
		"bad prefix E": mutate(func(b []byte) []byte { b[35] = 0x05; return b }),
		"x ≥ p":        mutate(func(b []byte) []byte { copy(b[3:35], bytes.Repeat([]byte{0xff}, 32)); return b }),
	} {
		var c Commitment
		if err := c.UnmarshalBinary(b); !errors.Is(err, ErrInvalidEncoding) {
			t.Errorf("%s: %v", name, err)
		}
		if c.Hiding != nil {
			t.Errorf("%s: commitment modified on error", name)
		}
	}
	for name, c := range map[string]Commitment{
		"id 0":     {ID: 0, Hiding: secp().Generator(), Binding: secp().Generator()},
		"id 65536": {ID: MaxID + 1, Hiding: secp().Generator(), Binding: secp().Generator()},
		"nil":      {ID: 1},
		"identity": {ID: 1, Hiding: secp().Identity(), Binding: secp().Generator()},
	} {
		if _, err := c.MarshalBinary(); err == nil {
			t.Errorf("%s encoded", name)
		}
	}
}

// FuzzCommitment: every input that decodes re-encodes to itself (the
// encoding is canonical), and decoding never panics.
func FuzzCommitment(f *testing.F) {
	g := secp()
	G := g.Generator()
	seed, _ := Commitment{ID: 1, Hiding: G, Binding: G.Add(G)}.MarshalBinary()
	f.Add(seed)
	f.Add(make([]byte, CommitmentLen))
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Commitment
		if err := c.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrInvalidEncoding) {
				t.Fatalf("error not wrapping ErrInvalidEncoding: %v", err)
			}
			return
		}
		out, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded commitment does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip %x != %x", out, b)
		}
	})
}

// FuzzSignPackage decodes a package of commitments from fuzz bytes and
// runs Prepare, Sign and VerifyShare on it: nothing panics, and whenever
// signer 1's own commitment is in the package its share verifies.
func FuzzSignPackage(f *testing.F) {
	d := deal(f, 1, 4, false)
	key, _ := Taproot.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootBIP86})
	nonce := Taproot.NonceFromRandomness(d.shares[1], [32]byte{1}, [32]byte{2})
	own, _ := nonce.Commit(1).MarshalBinary()
	other, _ := Taproot.NonceFromRandomness(d.shares[2], [32]byte{3}, [32]byte{4}).Commit(2).MarshalBinary()
	f.Add(append(slices.Clone(own), other...), []byte("m"))
	f.Add(append(slices.Clone(other), own...), []byte{})
	f.Add(append(slices.Clone(own), own...), []byte("dup"))
	f.Fuzz(func(t *testing.T, b, msg []byte) {
		pkg := &SigningPackage{Message: msg}
		for len(b) >= CommitmentLen {
			var c Commitment
			if err := c.UnmarshalBinary(b[:CommitmentLen]); err != nil {
				return
			}
			pkg.Commitments = append(pkg.Commitments, c)
			b = b[CommitmentLen:]
		}
		ss, err := Taproot.Prepare(pkg, key)
		if err != nil {
			return
		}
		n := *nonce
		z, err := ss.Sign(1, d.shares[1], &n)
		if err != nil {
			return
		}
		if err := ss.VerifyShare(1, d.vks[1], z); err != nil {
			t.Fatalf("own share does not verify: %v", err)
		}
	})
}

// TestLyingCoordinator: a coordinator that shows signer 2 a different
// commitment for signer 1 than signer 1's own gets shares that combine into
// no valid signature, under either view of the package, and signer 2's
// share fails VerifyShare under the true package.
func TestLyingCoordinator(t *testing.T) {
	d := deal(t, 1, 4, true)
	for _, s := range []Suite{Taproot, RFC9591} {
		key, _ := s.NewKey(d.P, schnorr.Taproot{})
		msg := []byte("m")
		n1, _ := s.NewNonce(d.shares[1], rand.Reader)
		n2, _ := s.NewNonce(d.shares[2], rand.Reader)
		fake, _ := s.NewNonce(d.shares[1], rand.Reader)
		truth := &SigningPackage{Commitments: []Commitment{n1.Commit(1), n2.Commit(2)}, Message: msg}
		lie := &SigningPackage{Commitments: []Commitment{fake.Commit(1), n2.Commit(2)}, Message: msg}
		z1, err := s.Sign(truth, key, 1, d.shares[1], n1)
		if err != nil {
			t.Fatal(err)
		}
		z2, err := s.Sign(lie, key, 2, d.shares[2], n2)
		if err != nil {
			t.Fatal(err)
		}
		shares := map[int]group.Scalar{1: z1, 2: z2}
		for name, pkg := range map[string]*SigningPackage{"truth": truth, "lie": lie} {
			sig, err := s.Aggregate(pkg, key, shares)
			if err != nil {
				t.Fatal(err)
			}
			if s.Verify(key, msg, sig) {
				t.Errorf("%s: signature from inconsistent packages verifies (%s)", s.Name(), name)
			}
		}
		if err := s.VerifyShare(truth, key, 2, d.vks[2], z2); !errors.Is(err, ErrInvalidShare) {
			t.Errorf("%s: share for the lie verifies under the truth: %v", s.Name(), err)
		}
		if err := s.VerifyShare(truth, key, 1, d.vks[1], z1); err != nil {
			t.Errorf("%s: honest share: %v", s.Name(), err)
		}
	}
}

// TestLagrangeCacheBySet: the cached coefficients are those of the signer
// set asked for — a second Prepare over one set (from the cache) and
// Prepares over overlapping sets each match vss.LagrangeCoefficient.
func TestLagrangeCacheBySet(t *testing.T) {
	d := deal(t, 2, 6, false)
	key, _ := Taproot.NewKey(d.P, schnorr.Taproot{})
	for _, ids := range [][]int{{1, 2, 3}, {1, 2, 4}, {1, 2, 3}, {2, 3, 1}, {1, 5, 6}, {5, 6, 1}, {1, 2, 4}} {
		pkg := &SigningPackage{Message: []byte("m")}
		for _, id := range ids {
			n, _ := Taproot.NewNonce(d.shares[id], rand.Reader)
			pkg.Commitments = append(pkg.Commitments, n.Commit(id))
		}
		ss, err := Taproot.Prepare(pkg, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			want, err := vss.LagrangeCoefficient(secp(), ids, id)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ss.Lagrange(id); err != nil || !got.Equal(want) {
				t.Fatalf("set %v: λ_%d wrong", ids, id)
			}
		}
	}
}
