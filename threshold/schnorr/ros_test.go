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

// rosService is the threshold signing service the ROS attacker talks to. It
// holds a pool of pre-dealt nonces (or nonce pairs) whose public material
// the attacker knows.
type rosService struct {
	pk *PublicKey
	// nonce returns the public nonce that pool entry j signs message m
	// with, as the attacker can compute it before asking.
	nonce func(tb testing.TB, j int, m []byte) *PublicNonce
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
	pEven := group.XOnly(svc.pk.GroupKey)
	evenNonce := func(pn *PublicNonce) (group.Point, [32]byte) {
		x := group.XOnly(pn.R)
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

// TestROSForgeryWithPredictableNonces documents why the low-level API must
// not be used directly with pre-dealt nonces: a requester who knows 256
// pre-dealt single nonces R_j and may choose, for each, which message it is
// used for, obtains 256 honest threshold signatures on messages of its
// choice and combines them into a valid signature on a message that was
// never signed. Every nonce is used exactly once. [TestROSFailsAgainstNoncePairs]
// runs the same attack against nonce pairs.
func TestROSForgeryWithPredictableNonces(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	key := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	nonces := make([]dealing, 256)
	for j := range nonces {
		nonces[j] = deal(t, 4, 1, nil, rand.Reader)
	}
	public := func(j int) *PublicNonce { return &PublicNonce{R: nonces[j].pub, Commitments: nonces[j].vks} }
	res := rosAttack(t, rosService{
		pk:    pk,
		nonce: func(_ testing.TB, j int, _ []byte) *PublicNonce { return public(j) },
		sign: func(tb testing.TB, j int, m []byte) [SignatureLen]byte {
			parts := map[int][]byte{}
			for _, i := range []int{1, 2} {
				p, err := PartialSign(pk, public(j), Taproot{}, m, key.shares[i], nonces[j].shares[i])
				if err != nil {
					tb.Fatal(err)
				}
				parts[i] = p
			}
			sig, err := Combine(pk, public(j), Taproot{}, m, parts)
			if err != nil {
				tb.Fatal(err)
			}
			return sig
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

// TestROSFailsAgainstNoncePairs runs the attack of
// [TestROSForgeryWithPredictableNonces] against the same service using
// nonce pairs through [NoncePair.Bind] and [NonceShares.Bind]. The attacker
// still knows every pair in advance and can compute the nonce each message
// would get (ρ is public), and the 256 signatures it obtains are valid, but
// the nonce now depends on the message through ρ, so Σ α_j·R_j over the
// nonces actually used is not the R* it committed to, and neither candidate
// forgery verifies (MuSig2, Nick, Ruffing, Seurin, CRYPTO 2021; FROST, Komlo
// and Goldberg, SAC 2020).
func TestROSFailsAgainstNoncePairs(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	key := deal(t, 4, 1, nil, rand.Reader)
	pk := &PublicKey{GroupKey: key.pub, VerificationKeys: key.vks, Threshold: 1}
	pairs := make([]pairDealing, 256)
	for j := range pairs {
		pairs[j] = dealPair(t, 4, 1, rand.Reader)
	}
	// The attacker needs only R, so it binds (D, E) without commitments;
	// the combiner binds the full pair.
	bind := func(tb testing.TB, pair *NoncePair, m []byte) *PublicNonce {
		bound, err := pair.Bind(pk, Taproot{}, m)
		if err != nil {
			tb.Fatal(err)
		}
		return bound
	}
	res := rosAttack(t, rosService{
		pk: pk,
		nonce: func(tb testing.TB, j int, m []byte) *PublicNonce {
			return bind(tb, &NoncePair{D: pairs[j].pub.D, E: pairs[j].pub.E}, m)
		},
		sign: func(tb testing.TB, j int, m []byte) [SignatureLen]byte {
			bound := bind(tb, pairs[j].pub, m)
			parts := map[int][]byte{}
			for _, i := range []int{1, 2} {
				k, err := pairs[j].shares(i).Bind(pk, pairs[j].pub, Taproot{}, m)
				if err != nil {
					tb.Fatal(err)
				}
				p, err := PartialSign(pk, bound, Taproot{}, m, key.shares[i], k)
				if err != nil {
					tb.Fatal(err)
				}
				parts[i] = p
			}
			sig, err := Combine(pk, bound, Taproot{}, m, parts)
			if err != nil {
				tb.Fatal(err)
			}
			return sig
		},
	})
	pEven := group.XOnly(key.pub)
	if res.rUsed.Equal(res.rStar) {
		t.Fatal("the nonces used do not depend on the messages")
	}
	if Verify(pEven, res.target, res.forged) || btcecVerify(t, pEven, res.target, res.forged) {
		t.Fatal("ROS forgery verifies against nonce pairs")
	}
	// The other candidate: the nonce the signatures actually add up to.
	// Its challenge is not c*, so it fails too.
	var alt [SignatureLen]byte
	ux := group.XOnly(res.rUsed)
	copy(alt[:32], ux[:])
	copy(alt[32:], res.sStar.Bytes())
	if Verify(pEven, res.target, alt) || btcecVerify(t, pEven, res.target, alt) {
		t.Fatal("ROS forgery with the nonces used verifies against nonce pairs")
	}
	if challenge(ux, pEven, res.target).Equal(res.cStar) {
		t.Fatal("the challenge of the nonces used equals c*")
	}
}
