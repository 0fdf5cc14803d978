package nparty

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// frostSession runs one FROST session of the replicas in signers under key
// (slot 0 of c) on msg, each with a fresh nonce of its own, the commitments
// travelling encoded as on the wire. BadPartial replica j signs with the
// wrong share x_j + j: an error depending on j, so that the errors of
// several liars do not cancel in the aggregate (with x_j + 1, liars 1 and 2
// of signers {1, 2, 3} would, since λ_1 + λ_2 = 3 − 3 = 0). It returns the session, the shares and the aggregate, which is
// not checked.
func frostSession(t *testing.T, c *Cluster, key *frost.Key, signers []int, msg []byte) (*frost.Session, map[int]group.Scalar, []byte) {
	t.Helper()
	pkg := &frost.SigningPackage{Message: msg}
	nonces := map[int]*frost.Nonce{}
	for _, j := range signers {
		nonce, err := frost.Taproot.NewNonce(c.Shares[j][0], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[j] = nonce
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
			share = share.Add(group.Secp256k1().ScalarFromUint64(uint64(j)))
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

// frostCulprits returns the signers of ss whose shares VerifyShare rejects,
// sorted, checking them against the verification keys of the DKG result.
func frostCulprits(t *testing.T, c *Cluster, ss *frost.Session, zs map[int]group.Scalar) []int {
	t.Helper()
	vks := verificationKeys(c, 0)
	var culprits []int
	for _, j := range ss.IDs() {
		if err := ss.VerifyShare(j, vks[j], zs[j]); err != nil {
			if !errors.Is(err, frost.ErrInvalidShare) {
				t.Fatal(err)
			}
			culprits = append(culprits, j)
		}
	}
	return culprits
}

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
	msg := make([]byte, 32)
	rand.Read(msg)
	for _, tr := range []schnorr.Taproot{{}, {Mode: schnorr.TaprootBIP86}} {
		key, err := frost.Taproot.NewKey(c.Result.GroupKeys[0], tr)
		if err != nil {
			t.Fatal(err)
		}
		sign := func(signers []int) (*frost.Session, map[int]group.Scalar, []byte) {
			return frostSession(t, c, key, signers, msg)
		}
		// t+1 = 2 signers including the liar: the signature is invalid and
		// VerifyShare names replica 3.
		ss, zs, sig := sign([]int{1, 3})
		if frost.Taproot.Verify(key, msg, sig) {
			t.Fatal("signature with a bad share verifies")
		}
		culprits := frostCulprits(t, c, ss, zs)
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

// TestFROSTEndToEnd runs DKG → FROST signing with every replica's own
// nonces → verification by this project and, for 32-byte messages, by
// btcd's independent BIP-340 implementation, with up to t misbehaving
// replicas of every kind (scenarios). It covers a BIP-86 Taproot output key,
// an explicit script-tree merkle root and the plain group key, with
// messages of 32, 0 and 100 bytes. The client's first session has every
// replica that holds a share sign; if the aggregate does not verify,
// VerifyShare must name exactly the replicas that sent wrong shares, and a
// second session without them must sign (FROST is not robust within a
// session: it retries, RFC 9591 §5.4).
func TestFROSTEndToEnd(t *testing.T) {
	g := group.Secp256k1()
	digest := sha256.Sum256([]byte("vhsm threshold BIP-340 end-to-end"))
	for _, n := range []int{4, 7} {
		for _, sc := range scenarios(n) {
			t.Run(fmt.Sprintf("n=%d/%s", n, sc.name), func(t *testing.T) {
				c, err := RunDKG(g, n, 1, sc.bad, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				var holders []int // replicas that hold a share; Silent ones do not answer
				for _, j := range allIndices(n) {
					if _, ok := c.Shares[j]; ok {
						holders = append(holders, j)
					}
				}
				for _, tc := range []struct {
					tr    schnorr.Taproot
					msg   []byte
					label string
				}{
					{schnorr.Taproot{Mode: schnorr.TaprootBIP86}, digest[:], "bip86"},
					{schnorr.Taproot{Mode: schnorr.TaprootScript, MerkleRoot: sha256.Sum256([]byte("tapleaf"))}, nil, "script root, empty message"},
					{schnorr.Taproot{}, make([]byte, 100), "plain, 100-byte message"},
				} {
					key, err := frost.Taproot.NewKey(c.Result.GroupKeys[0], tc.tr)
					if err != nil {
						t.Fatal(err)
					}
					ss, zs, sig := frostSession(t, c, key, holders, tc.msg)
					culprits := frostCulprits(t, c, ss, zs)
					if want := partialLiars(sc.bad); !slices.Equal(culprits, want) {
						t.Fatalf("%s: culprits %v, want %v", tc.label, culprits, want)
					}
					if len(culprits) > 0 {
						if frost.Taproot.Verify(key, tc.msg, sig) {
							t.Fatalf("%s: signature with wrong shares verifies", tc.label)
						}
						honest := slices.DeleteFunc(slices.Clone(holders), func(j int) bool { return slices.Contains(culprits, j) })
						_, _, sig = frostSession(t, c, key, honest, tc.msg)
					}
					xonly, _, err := schnorr.OutputKey(c.Result.GroupKeys[0], tc.tr)
					if err != nil {
						t.Fatal(err)
					}
					if group.XOnly(key.OutputKey()) != xonly {
						t.Fatalf("%s: output key differs from schnorr.OutputKey", tc.label)
					}
					if !schnorr.Verify(xonly, tc.msg, [schnorr.SignatureLen]byte(sig)) {
						t.Fatalf("%s: signature does not verify", tc.label)
					}
					if schnorr.Verify(xonly, append([]byte("x"), tc.msg...), [schnorr.SignatureLen]byte(sig)) {
						t.Fatalf("%s: signature verifies for another message", tc.label)
					}
					if len(tc.msg) != 32 {
						continue // btcd verifies 32-byte messages only
					}
					pk, err := btcschnorr.ParsePubKey(xonly[:])
					if err != nil {
						t.Fatal(err)
					}
					parsed, err := btcschnorr.ParseSignature(sig)
					if err != nil || !parsed.Verify(tc.msg, pk) {
						t.Fatalf("%s: btcd rejects the signature (%v)", tc.label, err)
					}
				}
			})
		}
	}
}

// TestFROSTTooManyLiars has 2t+1 replicas sign, t+1 of them with wrong
// shares: the aggregate must not verify, VerifyShare must name exactly the
// liars, and the t honest signers left are too few for another session.
func TestFROSTTooManyLiars(t *testing.T) {
	g := group.Secp256k1()
	for _, n := range []int{4, 7} {
		tt := dkg.DefaultT(n)
		bad := liars(tt+1, BadPartial)
		c, err := RunDKG(g, n, 1, bad, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("vhsm threshold BIP-340 with t+1 liars")
		key, err := frost.Taproot.NewKey(c.Result.GroupKeys[0], schnorr.Taproot{Mode: schnorr.TaprootBIP86})
		if err != nil {
			t.Fatal(err)
		}
		signers := allIndices(2*tt + 1)
		ss, zs, sig := frostSession(t, c, key, signers, msg)
		if frost.Taproot.Verify(key, msg, sig) {
			t.Fatalf("n=%d: signature with t+1 wrong shares verifies", n)
		}
		culprits := frostCulprits(t, c, ss, zs)
		if !slices.Equal(culprits, partialLiars(bad)) {
			t.Fatalf("n=%d: culprits %v, want %v", n, culprits, partialLiars(bad))
		}
		if honest := len(signers) - len(culprits); honest >= tt+1 {
			t.Fatalf("n=%d: %d honest signers left, want fewer than t+1", n, honest)
		}
	}
}
