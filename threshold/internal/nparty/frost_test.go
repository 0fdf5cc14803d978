package nparty

import (
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// TestFROSTWithDKG signs with FROST under a key from a real DKG run: the
// replicas' shares of slot 0, the group key and the verification keys from
// the DKG result, nonces drawn by each replica itself (no DKG, no log).
// A BadPartial replica's share is caught by VerifyShare, and the client
// retries without it. Every signature is checked with btcec.
func TestFROSTWithDKG(t *testing.T) {
	const n = 4
	c, err := RunDKG(group.Secp256k1(), n, 1, map[int]Behaviour{3: BadPartial}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vks := verificationKeys(c, 0)
	msg := make([]byte, 32)
	rand.Read(msg)
	for _, tr := range []schnorr.Taproot{{}, {Mode: schnorr.TaprootBIP86}} {
		key, err := frost.Taproot.NewKey(c.Result.GroupKeys[0], tr)
		if err != nil {
			t.Fatal(err)
		}
		sign := func(signers []int) (*frost.Session, map[int]group.Scalar, []byte) {
			pkg := &frost.SigningPackage{Message: msg}
			nonces := map[int]*frost.Nonce{}
			for _, j := range signers {
				nonce, err := frost.Taproot.NewNonce(c.Shares[j][0], rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				nonces[j] = nonce
				// The commitment travels encoded, as on the wire.
				b, err := nonce.Commit(j).MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				var com frost.Commitment
				if err := com.UnmarshalBinary(b); err != nil {
					t.Fatal(err)
				}
				pkg.Commitments = append(pkg.Commitments, com)
			}
			zs := map[int]group.Scalar{}
			for _, j := range signers {
				share := c.Shares[j][0]
				if c.Behaviours[j] == BadPartial {
					share = share.Add(group.Secp256k1().ScalarFromUint64(1))
				}
				z, err := frost.Taproot.Sign(pkg, key, j, share, nonces[j])
				if err != nil {
					t.Fatal(err)
				}
				nonces[j].Wipe()
				zs[j] = z
			}
			ss, err := frost.Taproot.Prepare(pkg, key)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := ss.Aggregate(zs)
			if err != nil {
				t.Fatal(err)
			}
			return ss, zs, sig
		}
		// t+1 = 2 signers including the liar: the signature is invalid and
		// VerifyShare names replica 3.
		ss, zs, sig := sign([]int{1, 3})
		if frost.Taproot.Verify(key, msg, sig) {
			t.Fatal("signature with a bad share verifies")
		}
		var culprits []int
		for _, j := range ss.IDs() {
			if err := ss.VerifyShare(j, vks[j], zs[j]); err != nil {
				if !errors.Is(err, frost.ErrInvalidShare) {
					t.Fatal(err)
				}
				culprits = append(culprits, j)
			}
		}
		if !slices.Equal(culprits, []int{3}) {
			t.Fatalf("culprits %v, want [3]", culprits)
		}
		// Retry with other signers and fresh nonces.
		_, _, sig = sign([]int{2, 4})
		if !frost.Taproot.Verify(key, msg, sig) {
			t.Fatal("honest signature rejected")
		}
		x := group.XOnly(key.OutputKey())
		pk, err := btcschnorr.ParsePubKey(x[:])
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := btcschnorr.ParseSignature(sig)
		if err != nil || !parsed.Verify(msg, pk) {
			t.Fatalf("btcec rejects the signature (%v)", err)
		}
		want, _, _ := schnorr.OutputKey(c.Result.GroupKeys[0], tr)
		if x != want {
			t.Fatal("output key differs from schnorr.OutputKey")
		}
	}
}
