package frost

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// TestDerivedKeyRandomRuns signs with random t-of-n sharings of P under
// P + δ·G for random public δ, every Taproot option and both parities of P,
// with a random t+1 subset and with all signers: every share verifies
// against X_i (of P), the signature verifies with btcec under the output
// key of P + δ·G computed independently by threshold/schnorr, and the
// key is the one NewKey prepares for P + δ·G.
func TestDerivedKeyRandomRuns(t *testing.T) {
	for _, tn := range [][2]int{{1, 4}, {2, 7}, {3, 10}} {
		for _, odd := range []bool{false, true} {
			d := deal(t, tn[0], tn[1], odd)
			for _, tr := range tweaks {
				t.Run(fmt.Sprintf("t=%d/n=%d/oddP=%v/mode=%d", tn[0], tn[1], odd, tr.Mode), func(t *testing.T) {
					for range 3 {
						delta, err := secp().RandomScalar(rand.Reader)
						if err != nil {
							t.Fatal(err)
						}
						key, err := Taproot.NewDerivedKey(d.P, delta, tr)
						if err != nil {
							t.Fatal(err)
						}
						child := d.P.Add(secp().BaseMul(delta))
						if !key.GroupKey().Equal(d.P) || !key.DerivedKey().Equal(child) {
							t.Fatal("GroupKey or DerivedKey")
						}
						wantX, _, err := schnorr.OutputKey(child, tr)
						if err != nil {
							t.Fatal(err)
						}
						if group.XOnly(key.OutputKey()) != wantX {
							t.Fatal("output key differs from schnorr.OutputKey of P + δ·G")
						}
						plain, err := Taproot.NewKey(child, tr)
						if err != nil {
							t.Fatal(err)
						}
						if !plain.OutputKey().Equal(key.OutputKey()) {
							t.Fatal("output key differs from NewKey(P + δ·G)")
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
							_, _, _, sig := run(t, Taproot, d, key, set, msg) // VerifyShare and btcec inside
							if !Taproot.Verify(key, msg, sig) || !schnorr.Verify(wantX, msg, [64]byte(sig)) {
								t.Fatal("signature under the derived key does not verify")
							}
							btcVerify(t, wantX, msg, sig)
						}
					}
				})
			}
			t.Run(fmt.Sprintf("rfc9591/t=%d/n=%d/oddP=%v", tn[0], tn[1], odd), func(t *testing.T) {
				delta, err := secp().RandomScalar(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				key, err := RFC9591.NewDerivedKey(d.P, delta, schnorr.Taproot{})
				if err != nil {
					t.Fatal(err)
				}
				if !key.OutputKey().Equal(d.P.Add(secp().BaseMul(delta))) {
					t.Fatal("output key is not P + δ·G")
				}
				msg := []byte("derived")
				_, _, _, sig := run(t, RFC9591, d, key, []int{1, 2, 3, 4}[:d.t+1], msg)
				if !RFC9591.Verify(key, msg, sig) {
					t.Fatal("RFC9591 signature under the derived key does not verify")
				}
			})
		}
	}
}

// TestDerivedKeyShares: a share made without the tweak (a signer that
// ignores δ) or under the root key fails VerifyShare; the right share
// verifies against X_i of the group key; a zero tweak is NewKey.
func TestDerivedKeyShares(t *testing.T) {
	d := deal(t, 2, 7, true)
	delta, err := secp().RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tr := schnorr.Taproot{Mode: schnorr.TaprootBIP86}
	key, err := Taproot.NewDerivedKey(d.P, delta, tr)
	if err != nil {
		t.Fatal(err)
	}
	root, err := Taproot.NewKey(d.P, tr)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{2, 5, 7}
	pkg := &SigningPackage{Message: []byte("m")}
	nonces := map[int]*Nonce{}
	for _, id := range ids {
		n, err := Taproot.NewNonce(d.shares[id], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[id] = n
		pkg.Commitments = append(pkg.Commitments, n.Commit(id))
	}
	ss, err := Taproot.Prepare(pkg, key)
	if err != nil {
		t.Fatal(err)
	}
	// Signer 5 ignores δ: same output key, binding factors and challenge,
	// share x_5 instead of x_5 + δ. (Tests only: one nonce signs twice here.)
	ignoring := *key
	ignoring.derive = nil
	z, err := Taproot.Sign(pkg, &ignoring, 5, d.shares[5], nonces[5])
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.VerifyShare(5, d.vks[5], z); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("share without δ: %v", err)
	}
	// Signer 5 signs under the root key.
	if z, err = Taproot.Sign(pkg, root, 5, d.shares[5], nonces[5]); err != nil {
		t.Fatal(err)
	}
	if err := ss.VerifyShare(5, d.vks[5], z); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("share under the root key: %v", err)
	}
	// The right share verifies against X_5 of P, not against X_5 + δ·G.
	z, err = ss.Sign(5, d.shares[5], nonces[5])
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.VerifyShare(5, d.vks[5], z); err != nil {
		t.Fatal(err)
	}
	if err := ss.VerifyShare(5, d.vks[5].Add(secp().BaseMul(delta)), z); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("share against X_i + δ·G given as vk: %v", err)
	}

	zero, err := Taproot.NewDerivedKey(d.P, secp().Zero(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if !zero.OutputKey().Equal(root.OutputKey()) || zero.derive != nil {
		t.Fatal("zero tweak differs from NewKey")
	}
}

// TestNewDerivedKeyErrors: unusable keys and tweaks, a derived key at
// infinity, options NewKey refuses.
func TestNewDerivedKeyErrors(t *testing.T) {
	d := deal(t, 1, 4, false)
	one := secp().ScalarFromUint64(1)
	for _, c := range []struct {
		name  string
		s     Suite
		p     group.Point
		delta group.Scalar
		tr    schnorr.Taproot
		want  error
	}{
		{"nil key", Taproot, nil, one, schnorr.Taproot{}, ErrInvalidKey},
		{"identity key", Taproot, secp().Identity(), one, schnorr.Taproot{}, ErrInvalidKey},
		{"nil tweak", Taproot, d.P, nil, schnorr.Taproot{}, ErrInvalidTweak},
		{"BLS tweak", Taproot, d.P, group.BLS12381G1().ScalarFromUint64(1), schnorr.Taproot{}, ErrInvalidTweak},
		{"infinity", Taproot, d.P, d.x.Neg(), schnorr.Taproot{}, ErrInvalidTweak},
		{"RFC9591 with taproot", RFC9591, d.P, one, schnorr.Taproot{Mode: schnorr.TaprootBIP86}, ErrInvalidTweak},
		{"unknown mode", Taproot, d.P, one, schnorr.Taproot{Mode: 9}, ErrInvalidTweak},
		{"unknown suite", Suite{}, d.P, one, schnorr.Taproot{}, ErrUnknownSuite},
	} {
		if _, err := c.s.NewDerivedKey(c.p, c.delta, c.tr); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
