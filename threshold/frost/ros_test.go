package frost

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// TestROSFailsAgainstFROST runs the ROS attack (Benhamouda, Lepoint, Loss,
// Orrù, Raykova, "On the (in)security of ROS", EUROCRYPT 2021, §3 for
// ℓ > log2 n, ℓ = 256) that threshold/schnorr's
// TestROSForgeryWithPredictableNonces shows forging against pre-dealt single
// nonces, here against FROST sessions of a 2-of-4 key. The attacker opens
// every session first, holding the commitments (D_i, E_i) of signers 1 and 2
// for all 256 before it picks any message, so it can compute offline the
// nonce R_j(m) and challenge c_j(m) each candidate message would get (the
// binding factors are public). For session j it takes two messages m_j^0,
// m_j^1, α_j = 2^j / (c_j^1 − c_j^0), R* = Σ α_j·R_j(m_j^0) and
// c* = H(R*, P, target); with the bits b_j of c* − Σ α_j·c_j^0 it has
// Σ α_j·c_j(m_j^{b_j}) = c*, and asks session j to sign m_j^{b_j}. Every
// signature is honest and valid, so s* = Σ α_j·s_j satisfies
// s*·G = Σ α_j·R_j(m_j^{b_j}) + c*·P; it would be a forgery on the target
// if that sum were R*, which is what single nonces give. In FROST every
// binding factor hashes the message (RFC 9591 §4.4), so
// R_j(m_j^1) ≠ R_j(m_j^0), the sum is not R*, and neither candidate forgery
// verifies (Komlo, Goldberg, SAC 2020; Bellare et al., CRYPTO 2022).
func TestROSFailsAgainstFROST(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	const ell = 256
	g := secp()
	d := deal(t, 1, 4, false)
	key, err := Taproot.NewKey(d.P, schnorr.Taproot{Mode: schnorr.TaprootNone})
	if err != nil {
		t.Fatal(err)
	}
	pEven := group.XOnly(key.OutputKey())
	signers := []int{1, 2}

	// Every session opened first: a fresh nonce of each signer per session.
	nonces := make([]map[int]*Nonce, ell)
	coms := make([][]Commitment, ell)
	for j := range ell {
		nonces[j] = map[int]*Nonce{}
		for _, i := range signers {
			n, err := Taproot.NewNonce(d.shares[i], rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			nonces[j][i] = n
			coms[j] = append(coms[j], n.Commit(i))
		}
	}
	// The nonce and challenge session j gives message m: public.
	prepare := func(j int, m []byte) *Session {
		ss, err := Taproot.Prepare(&SigningPackage{Commitments: coms[j], Message: m}, key)
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	evenR := func(R group.Point) group.Point {
		x := group.XOnly(R)
		E, err := group.LiftX(x[:])
		if err != nil {
			t.Fatal(err)
		}
		return E
	}
	// challenge is BIP-340's, written out as the attacker computes it.
	challenge := func(rx [32]byte, m []byte) group.Scalar {
		tag := sha256.Sum256([]byte("BIP0340/challenge"))
		h := sha256.New()
		h.Write(tag[:])
		h.Write(tag[:])
		h.Write(rx[:])
		h.Write(pEven[:])
		h.Write(m)
		return reduce([32]byte(h.Sum(nil)))
	}
	msgOf := func(j, b, try int) []byte {
		m := make([]byte, 32)
		copy(m, "harmless request")
		binary.BigEndian.PutUint32(m[20:], uint32(j))
		m[24], m[25] = byte(b), byte(try)
		return m
	}

	// Offline; retry message choices until R* has even Y.
	var alpha, c0 []group.Scalar
	var msgs [2][][]byte
	rStar := g.Identity()
	for try := 0; try < 16; try++ {
		alpha, c0, msgs, rStar = nil, nil, [2][][]byte{}, g.Identity()
		for j := range ell {
			m0, m1 := msgOf(j, 0, try), msgOf(j, 1, try)
			s0, s1 := prepare(j, m0), prepare(j, m1)
			e0, e1 := s0.Challenge(), s1.Challenge()
			if !e0.Equal(challenge(group.XOnly(s0.GroupCommitment()), m0)) {
				t.Fatal("the session's challenge is not BIP-340's")
			}
			var pow [32]byte
			new(big.Int).Lsh(big.NewInt(1), uint(j)).FillBytes(pow[:]) // 2^j < n for j < 256
			a := reduce(pow).Mul(e1.Sub(e0).Inv())
			alpha, c0 = append(alpha, a), append(c0, e0)
			msgs[0], msgs[1] = append(msgs[0], m0), append(msgs[1], m1)
			rStar = rStar.Add(evenR(s0.GroupCommitment()).Mul(a))
		}
		if group.HasEvenY(rStar) {
			break
		}
	}
	if !group.HasEvenY(rStar) {
		t.Fatal("no even R* found")
	}
	target := sha256.Sum256([]byte("forged: send everything to the attacker"))
	cStar := challenge(group.XOnly(rStar), target[:])
	z := cStar
	for j := range ell {
		z = z.Sub(alpha[j].Mul(c0[j]))
	}
	zb := new(big.Int).SetBytes(z.Bytes())

	// Online: session j signs the message bit j selects, each nonce once.
	sStar, rUsed := g.Zero(), g.Identity()
	for j := range ell {
		m := msgs[zb.Bit(j)][j]
		pkg := &SigningPackage{Commitments: coms[j], Message: m}
		shares := map[int]group.Scalar{}
		for _, i := range signers {
			z, err := Taproot.Sign(pkg, key, i, d.shares[i], nonces[j][i])
			if err != nil {
				t.Fatalf("session %d, signer %d: %v", j, i, err)
			}
			nonces[j][i].Wipe()
			shares[i] = z
		}
		ss := prepare(j, m)
		sig, err := ss.Aggregate(shares)
		if err != nil || !Taproot.Verify(key, m, sig) {
			t.Fatalf("session %d: an honest signature does not verify: %v", j, err)
		}
		sj, err := g.DecodeScalar(sig[32:])
		if err != nil {
			t.Fatal(err)
		}
		sStar = sStar.Add(alpha[j].Mul(sj))
		rUsed = rUsed.Add(evenR(ss.GroupCommitment()).Mul(alpha[j]))
	}
	// The signatures are honest: s*·G = Σ α_j·R_j(used) + c*·P. The algebra
	// on the challenges always succeeds; only the nonces break the attack.
	P, err := group.LiftX(pEven[:])
	if err != nil {
		t.Fatal(err)
	}
	if !g.BaseMul(sStar).Equal(rUsed.Add(P.Mul(cStar))) {
		t.Fatal("attack bookkeeping is wrong: s*·G ≠ Σ α_j·R_j + c*·P")
	}
	if rUsed.Equal(rStar) {
		t.Fatal("the nonces used do not depend on the messages")
	}
	bpk, err := btcschnorr.ParsePubKey(pEven[:])
	if err != nil {
		t.Fatal(err)
	}
	// Both candidates fail: R* with s* (the nonces moved), and the nonce the
	// signatures actually add up to with s* (its challenge is not c*).
	for _, R := range []group.Point{rStar, rUsed} {
		var forged [schnorr.SignatureLen]byte
		rx := group.XOnly(R)
		copy(forged[:32], rx[:])
		copy(forged[32:], sStar.Bytes())
		if schnorr.Verify(pEven, target[:], forged) {
			t.Fatal("ROS forgery verifies against FROST")
		}
		if bs, err := btcschnorr.ParseSignature(forged[:]); err == nil && bs.Verify(target[:], bpk) {
			t.Fatal("btcec accepts the ROS forgery against FROST")
		}
	}
	if challenge(group.XOnly(rUsed), target[:]).Equal(cStar) {
		t.Fatal("the challenge of the nonces used equals c*")
	}
}
