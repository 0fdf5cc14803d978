package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"
	"time"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// TestROSAgainstFROSTEngines runs the ROS attack (Benhamouda, Lepoint, Loss,
// Orrù, Raykova, EUROCRYPT 2021, ℓ = 256) against the replicas' FROST
// signing, as threshold/schnorr's TestROSForgeryWithPredictableNonces does
// against single pre-dealt nonces (where it forges): the attacker opens 256
// sessions at once, holding every signer's commitments before it picks any
// message, computes offline for each session the nonce R_j(m) and
// challenge each of two messages would give (the binding factors are
// public), chooses the messages from the bits of its target's challenge,
// and gets 256 honest signatures. Every one is valid, yet the forgery on the
// target does not verify: R_j depends on the message through the binding
// factor, so Σ α_j·R_j over the nonces used is not the R* the attacker
// committed to (RFC 9591 §4.4; FROST, Komlo–Goldberg).
func TestROSAgainstFROSTEngines(t *testing.T) {
	if testing.Short() {
		t.Skip("256 threshold signatures")
	}
	const ell = 256
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "mallory", PublicKey: pub}))
	c.genKey(t, priv, "mallory", "ros", wire.SchemeSchnorr)
	ec := group.Secp256k1()
	P, err := ec.DecodePoint(c.keyInfo(t, "ros").Origin.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := frost.Taproot.NewKey(P, schnorr.Taproot{Mode: schnorr.TaprootNone})
	if err != nil {
		t.Fatal(err)
	}
	pEven := group.XOnly(key.OutputKey())

	// Every session opened first: 256 commitments of replicas 1 and 2.
	type opened struct {
		scs  []wire.SignerCommitment
		coms []frost.Commitment
	}
	sessions := make([]opened, ell)
	for _, i := range []int{1, 2} {
		for batch := 0; batch < ell/wire.MaxNonces; batch++ {
			resp, err := c.engines[i-1].Handle(context.Background(), request(t, priv, "mallory", wire.OpNonces, wire.NoncesBody{Count: wire.MaxNonces}))
			if err != nil || len(resp.Commitments) != wire.MaxNonces {
				t.Fatalf("nonces: %v", err)
			}
			for k, nc := range resp.Commitments {
				j := batch*wire.MaxNonces + k
				D, _ := ec.DecodePoint(nc.Hiding)
				E, _ := ec.DecodePoint(nc.Binding)
				sessions[j].scs = append(sessions[j].scs, wire.SignerCommitment{Replica: i, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding})
				sessions[j].coms = append(sessions[j].coms, frost.Commitment{ID: i, Hiding: D, Binding: E})
			}
		}
	}
	// The nonce and challenge session j gives message m: public.
	prepare := func(j int, m []byte) *frost.Session {
		s, err := frost.Taproot.Prepare(&frost.SigningPackage{Commitments: sessions[j].coms, Message: m}, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	evenR := func(R group.Point) group.Point {
		x := group.XOnly(R)
		E, err := group.LiftX(x[:])
		if err != nil {
			t.Fatal(err)
		}
		return E
	}
	n := new(big.Int).SetBytes(ec.ScalarFromUint64(0).Sub(ec.ScalarFromUint64(1)).Bytes())
	n.Add(n, big.NewInt(1))
	scalar := func(v *big.Int) group.Scalar {
		s, err := ec.DecodeScalar(new(big.Int).Mod(v, n).FillBytes(make([]byte, 32)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	challenge := func(rx, px [32]byte, m []byte) group.Scalar { // BIP-340
		tag := sha256.Sum256([]byte("BIP0340/challenge"))
		h := sha256.New()
		h.Write(tag[:])
		h.Write(tag[:])
		h.Write(rx[:])
		h.Write(px[:])
		h.Write(m)
		return scalar(new(big.Int).SetBytes(h.Sum(nil)))
	}
	msgOf := func(j, b, try int) []byte {
		m := make([]byte, 32)
		copy(m, "harmless request")
		binary.BigEndian.PutUint32(m[20:], uint32(j))
		m[24], m[25] = byte(b), byte(try)
		return m
	}
	var alpha, c0 []group.Scalar
	var msgs [2][][]byte
	rStar := ec.Identity()
	for try := 0; try < 16; try++ {
		alpha, c0, msgs, rStar = nil, nil, [2][][]byte{}, ec.Identity()
		for j := range ell {
			m0, m1 := msgOf(j, 0, try), msgOf(j, 1, try)
			s0, s1 := prepare(j, m0), prepare(j, m1)
			e0, e1 := s0.Challenge(), s1.Challenge()
			if !e0.Equal(challenge(group.XOnly(s0.GroupCommitment()), pEven, m0)) {
				t.Fatal("the session's challenge is not BIP-340's")
			}
			a := scalar(new(big.Int).Lsh(big.NewInt(1), uint(j))).Mul(e1.Sub(e0).Inv())
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
	cStar := challenge(group.XOnly(rStar), pEven, target[:])
	z := cStar
	for j := range ell {
		z = z.Sub(alpha[j].Mul(c0[j]))
	}
	zb := new(big.Int).SetBytes(z.Bytes())

	// Online: session j signs the message bit j selects.
	sStar, rUsed := ec.Zero(), ec.Identity()
	for j := range ell {
		m := msgs[zb.Bit(j)][j]
		sr := request(t, priv, "mallory", wire.OpSign, wire.SignBody{KeyID: "ros", Message: m, Signers: sessions[j].scs})
		shares := map[int]group.Scalar{}
		for _, i := range []int{1, 2} {
			resp, err := c.engines[i-1].Handle(context.Background(), sr)
			if err == nil {
				err = openAnswer(sr, resp)
			}
			if err != nil {
				t.Fatalf("session %d at replica %d: %v", j, i, err)
			}
			if shares[i], err = ec.DecodeScalar(resp.Partial); err != nil {
				t.Fatal(err)
			}
		}
		s := prepare(j, m)
		sig, err := s.Aggregate(shares)
		if err != nil || !frost.Taproot.Verify(key, m, sig) {
			t.Fatalf("session %d: an honest signature does not verify: %v", j, err)
		}
		sj, _ := ec.DecodeScalar(sig[32:])
		sStar = sStar.Add(alpha[j].Mul(sj))
		rUsed = rUsed.Add(evenR(s.GroupCommitment()).Mul(alpha[j]))
	}
	// The signatures are honest: s*·G = Σ α_j·R_j(used) + c*·P.
	Peven, _ := group.LiftX(pEven[:])
	if !ec.BaseMul(sStar).Equal(rUsed.Add(Peven.Mul(cStar))) {
		t.Fatal("attack bookkeeping is wrong")
	}
	if rUsed.Equal(rStar) {
		t.Fatal("the nonces used do not depend on the messages")
	}
	var forged [64]byte
	rx := group.XOnly(rStar)
	copy(forged[:32], rx[:])
	copy(forged[32:], sStar.Bytes())
	bpk, _ := btcschnorr.ParsePubKey(pEven[:])
	if bs, err := btcschnorr.ParseSignature(forged[:]); err == nil && bs.Verify(target[:], bpk) {
		t.Fatal("ROS forgery verifies against FROST")
	}
}
