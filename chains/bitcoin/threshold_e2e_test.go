package bitcoin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	thschnorr "github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// thresholdSigner is a test-only n-party in-memory threshold BIP-340 signer built on
// threshold/frost, as the replicas sign: the key is Shamir-shared in the test (standing in for
// the DKG), and every party makes a fresh nonce pair for each session. Party liar (0 = none)
// sends a corrupted share; the combiner must name it and sign again without it.
type thresholdSigner struct {
	n, t     int
	groupKey group.Point         // P = x·G
	vks      map[int]group.Point // X_i = x_i·G, checking each signer's share
	shares   map[int]group.Scalar
	liar     int
	culprits []int
}

// newThresholdSigner deals a key whose group key P has odd Y if oddY (so that the BIP-340 negation of
// the shares is exercised) and even Y otherwise.
func newThresholdSigner(tb testing.TB, n, t, liar int, oddY bool) *thresholdSigner {
	tb.Helper()
	g := group.Secp256k1()
	var p *vss.Polynomial
	for range 128 { // each try has parity ½; 128 failures in a row do not happen
		q, err := vss.NewPolynomial(g, t, nil, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		if group.HasEvenY(q.Commit().Secret()) != oddY {
			p = q
			break
		}
		q.Wipe()
	}
	if p == nil {
		tb.Fatal("no key of the wanted parity")
	}
	c := p.Commit()
	s := &thresholdSigner{n: n, t: t, liar: liar, shares: map[int]group.Scalar{},
		groupKey: c.Secret(), vks: map[int]group.Point{}}
	for i := 1; i <= n; i++ {
		s.shares[i] = p.Share(i)
		s.vks[i] = c.Eval(i)
	}
	p.Wipe()
	return s
}

func (s *thresholdSigner) xonly() []byte {
	x := group.XOnly(s.groupKey)
	return x[:]
}

func (s *thresholdSigner) SignTaproot(_ context.Context, _ string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	tr := thschnorr.Taproot{Mode: thschnorr.TaprootBIP86}
	if merkleRoot != nil {
		if len(merkleRoot) != 32 {
			return [64]byte{}, fmt.Errorf("merkle root of %d bytes", len(merkleRoot))
		}
		tr = thschnorr.Taproot{Mode: thschnorr.TaprootScript, MerkleRoot: [32]byte(merkleRoot)}
	}
	key, err := frost.Taproot.NewKey(s.groupKey, tr)
	if err != nil {
		return [64]byte{}, err
	}
	signers := make([]int, 0, s.n)
	for i := 1; i <= s.n; i++ {
		signers = append(signers, i)
	}
	// A session of every party; if the signature does not verify, each share is checked,
	// the liars named, and a new session runs without them.
	for range 2 {
		nonces := map[int]*frost.Nonce{}
		pkg := &frost.SigningPackage{Message: sighash[:]}
		for _, i := range signers {
			n, err := frost.Taproot.NewNonce(s.shares[i], rand.Reader)
			if err != nil {
				return [64]byte{}, err
			}
			nonces[i] = n
			pkg.Commitments = append(pkg.Commitments, n.Commit(i))
		}
		shares := map[int]group.Scalar{}
		for _, i := range signers {
			z, err := frost.Taproot.Sign(pkg, key, i, s.shares[i], nonces[i])
			if err != nil {
				return [64]byte{}, err
			}
			if i == s.liar {
				z = z.Add(group.Secp256k1().ScalarFromUint64(1))
			}
			shares[i] = z
		}
		sig, err := frost.Taproot.Aggregate(pkg, key, shares)
		if err == nil && frost.Taproot.Verify(key, sighash[:], sig) {
			return [64]byte(sig), nil
		}
		var honest []int
		for _, i := range signers {
			if frost.Taproot.VerifyShare(pkg, key, i, s.vks[i], shares[i]) != nil {
				s.culprits = append(s.culprits, i)
			} else {
				honest = append(honest, i)
			}
		}
		if len(honest) == len(signers) || len(honest) < s.t+1 {
			return [64]byte{}, errors.New("threshold signer: no valid signature")
		}
		signers = honest
	}
	return [64]byte{}, errors.New("threshold signer: no valid signature")
}

var _ Signer = (*thresholdSigner)(nil)

func TestRegtestThresholdSigner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// 4 parties, t = 1 (f = 1): any 2 shares sign; party 1 lies on every request and is
	// named each time.
	sa, sb := newThresholdSigner(t, 4, 1, 1, true), newThresholdSigner(t, 4, 1, 0, false)
	a, err := NewWallet("threshold-a", sa.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewWallet("threshold-b", sb.xonly(), Regtest)
	if err != nil {
		t.Fatal(err)
	}
	env := startRegtest(t, ctx, a)
	p2wpkh, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), Regtest.Params)
	if err != nil {
		t.Fatal(err)
	}
	runSpendFlow(t, ctx, env, a, sa, b, sb, p2wpkh)
	if len(sa.culprits) == 0 || slices.ContainsFunc(sa.culprits, func(i int) bool { return i != 1 }) {
		t.Fatalf("culprits %v, want only party 1", sa.culprits)
	}
	if len(sb.culprits) != 0 {
		t.Fatalf("honest cluster reported culprits %v", sb.culprits)
	}
}
