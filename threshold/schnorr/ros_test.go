package schnorr

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/group"
)

// TestROSForgeryWithPredictableNonces documents the requirement stated in
// the package documentation ("Pre-dealing has a second, subtler
// requirement"): a requester who knows ℓ = 256 pre-dealt nonces R_j and may
// choose, for each, which message it is used for, obtains 256 honest
// threshold signatures on messages of its choice and combines them into a
// valid signature on a message that was never signed (ROS attack,
// Benhamouda et al., EUROCRYPT 2021). Every nonce is used exactly once.
// The replica must not let a requester pick messages after learning their
// nonces; if the protocol moves to FROST-style nonce binding, this test is
// the one to turn around.
func TestROSForgeryWithPredictableNonces(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	const ell = 256
	g := secp()
	key := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	pEven := group.XOnly(key.pub)

	msgOf := func(j, b, try int) []byte {
		m := make([]byte, 32)
		copy(m, "harmless request")
		binary.BigEndian.PutUint32(m[20:], uint32(j))
		m[24], m[25] = byte(b), byte(try)
		return m
	}

	// The pool: ℓ nonces whose public material the attacker sees.
	nonces := make([]dealing, ell)
	for j := range nonces {
		nonces[j] = deal(t, 4, 1, nil, rand.Reader)
	}

	// Offline: for each nonce two candidate messages and their challenges;
	// α_j = 2^j / (c_j^1 − c_j^0); the forged nonce R* = Σ α_j·R_j' where
	// R_j' = lift_x(x(R_j)). Retry message choices until R* has even Y.
	var (
		alpha []group.Scalar
		c0    []group.Scalar
		msgs0 [][]byte
		msgs1 [][]byte
		Rstar group.Point
	)
	for try := 0; try < 16; try++ {
		alpha, c0, msgs0, msgs1 = nil, nil, nil, nil
		Rstar = g.Identity()
		for j := range ell {
			Rx := group.XOnly(nonces[j].pub)
			Rj, err := group.LiftX(Rx[:])
			if err != nil {
				t.Fatal(err)
			}
			m0, m1 := msgOf(j, 0, try), msgOf(j, 1, try)
			e0, e1 := challenge(Rx, pEven, m0), challenge(Rx, pEven, m1)
			pow := new(big.Int).Lsh(big.NewInt(1), uint(j))
			a := scalarOf(t, pow.Mod(pow, secpN).FillBytes(make([]byte, 32))).Mul(e1.Sub(e0).Inv())
			alpha, c0 = append(alpha, a), append(c0, e0)
			msgs0, msgs1 = append(msgs0, m0), append(msgs1, m1)
			Rstar = Rstar.Add(Rj.Mul(a))
		}
		if group.HasEvenY(Rstar) {
			break
		}
	}
	if !group.HasEvenY(Rstar) {
		t.Fatal("no even R* found")
	}
	// A 32-byte message (a sighash, say) so that btcec can check it too.
	targetHash := sha256.Sum256([]byte("forged: send everything to the attacker"))
	target := targetHash[:]
	cStar := challenge(group.XOnly(Rstar), pEven, target)
	// z = c* − Σ α_j·c_j^0; choose b = the bits of z, so that
	// Σ α_j·c_j^{b_j} = Σ α_j·c_j^0 + Σ 2^j·b_j = c*.
	z := cStar
	for j := range ell {
		z = z.Sub(alpha[j].Mul(c0[j]))
	}
	zb := new(big.Int).SetBytes(z.Bytes())

	// Online: ask the threshold signers for one signature per nonce on the
	// chosen harmless message, each nonce used once, and combine.
	sStar := g.Zero()
	for j := range ell {
		m := msgs0[j]
		if zb.Bit(j) == 1 {
			m = msgs1[j]
		}
		pn := &PublicNonce{R: nonces[j].pub, Commitments: nonces[j].vks}
		parts := map[int][]byte{}
		for _, i := range []int{1, 2} {
			p, err := PartialSign(pk, pn, Taproot{}, m, key.shares[i], nonces[j].shares[i])
			if err != nil {
				t.Fatal(err)
			}
			parts[i] = p
		}
		sig, err := Combine(pk, pn, Taproot{}, m, parts)
		if err != nil {
			t.Fatal(err)
		}
		sStar = sStar.Add(alpha[j].Mul(scalarOf(t, sig[32:])))
	}

	var forged [SignatureLen]byte
	rx := group.XOnly(Rstar)
	copy(forged[:32], rx[:])
	copy(forged[32:], sStar.Bytes())
	if !Verify(pEven, target, forged) {
		t.Fatal("forgery failed: the ROS attack no longer applies (update the package documentation)")
	}
	bpk, err := btcschnorr.ParsePubKey(pEven[:])
	if err != nil {
		t.Fatal(err)
	}
	bsig, err := btcschnorr.ParseSignature(forged[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bsig.Verify(target, bpk) {
		t.Fatal("btcec rejects the forgery that our Verify accepts")
	}
}
