package schnorr

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// rosService is the threshold signing service the ROS attacker talks to. It
// holds a pool of nonces whose public material the attacker knows.
type rosService struct {
	// groupKey is P, the key the service signs under (plain BIP-340).
	groupKey group.Point
	// nonce returns the nonce R that pool entry j signs message m with, as
	// the attacker can compute it before asking.
	nonce func(tb testing.TB, j int, m []byte) group.Point
	// sign has t+1 replicas sign m with pool entry j (used once) and
	// returns the combined, verified signature.
	sign func(tb testing.TB, j int, m []byte) [SignatureLen]byte
}

// rosResult is what the attack produces.
type rosResult struct {
	target []byte
	forged [SignatureLen]byte
	// rStar is the forged nonce lift_x(x(forged[:32])), cStar its challenge
	// on target, sStar the forged s.
	rStar group.Point
	cStar group.Scalar
	sStar group.Scalar
	// rUsed = Σ α_j·R_j over the nonces the service actually signed with,
	// each R_j normalised to even Y.
	rUsed group.Point
}

// rosAttack runs the ROS attack of Benhamouda, Lepoint, Loss, Orrù, Raykova
// ("On the (in)security of ROS", EUROCRYPT 2021, §3 for ℓ > log2 n) with
// ℓ = 256 pool entries, each used for exactly one harmless message of the
// attacker's choice, against the plain BIP-340 key (no Taproot).
//
// Offline, for each entry j the attacker takes two messages m_j^0, m_j^1,
// the nonces R_j^b the service would use for them and their challenges
// c_j^b; α_j = 2^j / (c_j^1 − c_j^0), R* = Σ α_j·R_j^0 and
// c* = H(R*, P, target). With the bits b_j of z = c* − Σ α_j·c_j^0 it holds
// that Σ α_j·c_j^{b_j} = c*. Online it asks for a signature (R_j, s_j) on
// each m_j^{b_j} and outputs (R*, s* = Σ α_j·s_j). Then
// s*·G = Σ α_j·R_j^{b_j} + c*·P, which equals R* + c*·P, a valid forgery,
// exactly when every R_j^{b_j} = R_j^0: when the nonce does not depend on
// the message.
func rosAttack(t *testing.T, svc rosService) rosResult {
	t.Helper()
	const ell = 256
	g := secp()
	pEven := group.XOnly(svc.groupKey)
	evenNonce := func(R group.Point) (group.Point, [32]byte) {
		x := group.XOnly(R)
		R, err := group.LiftX(x[:])
		if err != nil {
			t.Fatal(err)
		}
		return R, x
	}
	msgOf := func(j, b, try int) []byte {
		m := make([]byte, 32)
		copy(m, "harmless request")
		binary.BigEndian.PutUint32(m[20:], uint32(j))
		m[24], m[25] = byte(b), byte(try)
		return m
	}

	// Offline; retry message choices until R* has even Y.
	var (
		alpha, c0 []group.Scalar
		msgs      [2][][]byte
		res       rosResult
	)
	for try := 0; try < 16; try++ {
		alpha, c0, msgs = nil, nil, [2][][]byte{}
		res.rStar = g.Identity()
		for j := range ell {
			m0, m1 := msgOf(j, 0, try), msgOf(j, 1, try)
			R0, x0 := evenNonce(svc.nonce(t, j, m0))
			_, x1 := evenNonce(svc.nonce(t, j, m1))
			e0, e1 := challenge(x0, pEven, m0), challenge(x1, pEven, m1)
			pow := new(big.Int).Lsh(big.NewInt(1), uint(j))
			a := scalarOf(t, pow.Mod(pow, secpN).FillBytes(make([]byte, 32))).Mul(e1.Sub(e0).Inv())
			alpha, c0 = append(alpha, a), append(c0, e0)
			msgs[0], msgs[1] = append(msgs[0], m0), append(msgs[1], m1)
			res.rStar = res.rStar.Add(R0.Mul(a))
		}
		if group.HasEvenY(res.rStar) {
			break
		}
	}
	if !group.HasEvenY(res.rStar) {
		t.Fatal("no even R* found")
	}
	// A 32-byte message (a sighash, say) so that btcec can check it too.
	targetHash := sha256.Sum256([]byte("forged: send everything to the attacker"))
	res.target = targetHash[:]
	res.cStar = challenge(group.XOnly(res.rStar), pEven, res.target)
	z := res.cStar
	for j := range ell {
		z = z.Sub(alpha[j].Mul(c0[j]))
	}
	zb := new(big.Int).SetBytes(z.Bytes())

	// Online: one signature per pool entry on the chosen harmless message.
	res.sStar, res.rUsed = g.Zero(), g.Identity()
	for j := range ell {
		m := msgs[zb.Bit(j)][j]
		sig := svc.sign(t, j, m)
		Rj, _ := evenNonce(svc.nonce(t, j, m))
		res.sStar = res.sStar.Add(alpha[j].Mul(scalarOf(t, sig[32:])))
		res.rUsed = res.rUsed.Add(Rj.Mul(alpha[j]))
	}
	rx := group.XOnly(res.rStar)
	copy(res.forged[:32], rx[:])
	copy(res.forged[32:], res.sStar.Bytes())

	// Whatever the nonces, the honest signatures make s*·G = rUsed + c*·P:
	// the attack's algebra on the challenges always succeeds; only the
	// nonce can break it.
	P, err := group.LiftX(pEven[:])
	if err != nil {
		t.Fatal(err)
	}
	if !g.BaseMul(res.sStar).Equal(res.rUsed.Add(P.Mul(res.cStar))) {
		t.Fatal("attack bookkeeping is wrong: s*·G ≠ Σ α_j·R_j + c*·P")
	}
	return res
}

// btcecVerify reports whether btcec's BIP-340 verifier accepts sig on a
// 32-byte msg under the x-only key pub.
func btcecVerify(t *testing.T, pub [32]byte, msg []byte, sig [SignatureLen]byte) bool {
	t.Helper()
	bpk, err := btcschnorr.ParsePubKey(pub[:])
	if err != nil {
		t.Fatal(err)
	}
	bsig, err := btcschnorr.ParseSignature(sig[:])
	if err != nil {
		return false
	}
	return bsig.Verify(msg, bpk)
}

// dealing is a Shamir sharing made in the test (standing in for the DKG):
// the secret shares and the public material derived from the commitment.
type dealing struct {
	shares map[int]group.Scalar
	pub    group.Point
}

func deal(tb testing.TB, n, t int) dealing {
	tb.Helper()
	p, err := vss.NewPolynomial(secp(), t, nil, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	d := dealing{shares: map[int]group.Scalar{}, pub: p.Commit().Secret()}
	for i := 1; i <= n; i++ {
		d.shares[i] = p.Share(i)
	}
	return d
}

// singleNonceSign is threshold BIP-340 with one pre-dealt nonce k (Shamir
// shares k_i, R = k·G), the layer under the nonce-pair signing this package
// had before FROST: each signer i returns
// s_i = k_i' + e·x_i', and the combiner interpolates s = Σ λ_i·s_i =
// k' + e·x', the BIP-340 s (Stinson–Strobl, ACISP 2001). The negations are BIP-340's, applied to every share: x' = x if
// has_even_y(P), else n − x (Sign step 3); k' = k if has_even_y(R), else
// n − k (Sign step 6).
func singleNonceSign(tb testing.TB, key, nonce dealing, signers []int, msg []byte) [SignatureLen]byte {
	tb.Helper()
	px, rx := group.XOnly(key.pub), group.XOnly(nonce.pub)
	// BIP-340 Sign step 7: e = int(hash_BIP0340/challenge(bytes(R) ‖ bytes(P) ‖ m)) mod n.
	e := challenge(rx, px, msg)
	s := secp().Zero()
	for _, i := range signers {
		l, err := vss.LagrangeCoefficient(secp(), signers, i)
		if err != nil {
			tb.Fatal(err)
		}
		x, k := key.shares[i], nonce.shares[i]
		if !group.HasEvenY(key.pub) {
			x = x.Neg()
		}
		if !group.HasEvenY(nonce.pub) {
			k = k.Neg()
		}
		s = s.Add(l.Mul(k.Add(e.Mul(x)))) // λ_i·s_i
	}
	// BIP-340 Sign step 9: sig = bytes(R) ‖ bytes((k + e·d) mod n); step 10:
	// abort unless it verifies.
	var sig [SignatureLen]byte
	copy(sig[:32], rx[:])
	copy(sig[32:], s.Bytes())
	if !Verify(px, msg, sig) {
		tb.Fatal("single-nonce threshold signature does not verify")
	}
	return sig
}

// TestROSForgeryWithPredictableNonces documents why this project signs with
// FROST rather than with pre-dealt single nonces, as its first round did: a
// requester who knows 256 pre-dealt nonces R_j of one key and may choose,
// for each, which message it is used for, obtains 256 honest threshold
// signatures on messages of its choice and combines them into a valid
// signature on a message that was never signed. Every nonce is used exactly
// once. threshold/frost's TestROSFailsAgainstFROST runs the same attack
// against FROST sessions, where it fails.
func TestROSForgeryWithPredictableNonces(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	key := deal(t, 4, 1)
	nonces := make([]dealing, 256)
	for j := range nonces {
		nonces[j] = deal(t, 4, 1)
	}
	res := rosAttack(t, rosService{
		groupKey: key.pub,
		nonce:    func(_ testing.TB, j int, _ []byte) group.Point { return nonces[j].pub },
		sign: func(tb testing.TB, j int, m []byte) [SignatureLen]byte {
			return singleNonceSign(tb, key, nonces[j], []int{1, 2}, m)
		},
	})
	pEven := group.XOnly(key.pub)
	if !res.rUsed.Equal(res.rStar) {
		t.Fatal("single nonces depend on the message")
	}
	if !Verify(pEven, res.target, res.forged) {
		t.Fatal("forgery failed: the ROS attack no longer applies to single nonces")
	}
	if !btcecVerify(t, pEven, res.target, res.forged) {
		t.Fatal("btcec rejects the forgery that our Verify accepts")
	}
}
