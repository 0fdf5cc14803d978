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
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
)

// Batch slots of a Schnorr run: one key and one pre-dealt nonce per message.
const (
	slotKey = iota
	slotNonceTaproot
	slotNoncePlain
	schnorrBatch
)

func schnorrKey(c *Cluster) *schnorr.PublicKey {
	return &schnorr.PublicKey{GroupKey: c.Result.GroupKeys[slotKey], VerificationKeys: verificationKeys(c, slotKey), Threshold: c.Params.T}
}

func schnorrNonce(c *Cluster, slot int) *schnorr.PublicNonce {
	return &schnorr.PublicNonce{R: c.Result.GroupKeys[slot], Commitments: verificationKeys(c, slot)}
}

// schnorrPartials has the replicas in only sign msg with the key share and
// the nonce share of nonceSlot; BadPartial replicas use a wrong key share.
func schnorrPartials(t *testing.T, c *Cluster, tr schnorr.Taproot, msg []byte, nonceSlot int, only []int) map[int][]byte {
	t.Helper()
	g := c.Params.Group
	key, nonce := schnorrKey(c), schnorrNonce(c, nonceSlot)
	partials := map[int][]byte{}
	for _, j := range only {
		xs, ok := c.Shares[j]
		if !ok {
			continue
		}
		x := xs[slotKey]
		if c.Behaviours[j] == BadPartial {
			x = x.Add(g.ScalarFromUint64(1))
		}
		p, err := schnorr.PartialSign(key, nonce, tr, msg, x, xs[nonceSlot])
		if err != nil {
			t.Fatal(err)
		}
		partials[j] = p
	}
	return partials
}

// TestSchnorrEndToEnd runs DKG (key and nonces in one batch) → partial
// BIP-340 signing → robust combination → verification by this project and
// by btcd's independent BIP-340 implementation, for a BIP-86 Taproot output
// key and for the plain group key, with up to t misbehaving replicas.
func TestSchnorrEndToEnd(t *testing.T) {
	g := group.Secp256k1()
	for _, n := range []int{4, 7} {
		for _, sc := range scenarios(n) {
			t.Run(fmt.Sprintf("n=%d/%s", n, sc.name), func(t *testing.T) {
				c, err := RunDKG(g, n, schnorrBatch, sc.bad, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct {
					tr    schnorr.Taproot
					slot  int
					label string
				}{
					{schnorr.Taproot{Mode: schnorr.TaprootBIP86}, slotNonceTaproot, "bip86"},
					{schnorr.Taproot{}, slotNoncePlain, "plain"},
				} {
					digest := sha256.Sum256([]byte("vhsm threshold BIP-340 " + tc.label))
					msg := digest[:]
					partials := schnorrPartials(t, c, tc.tr, msg, tc.slot, allIndices(n))
					sig, err := schnorr.Combine(schnorrKey(c), schnorrNonce(c, tc.slot), tc.tr, msg, partials)
					want := partialLiars(sc.bad)
					var ce *schnorr.CulpritError
					switch {
					case len(want) == 0 && err != nil:
						t.Fatalf("%s: combine: %v", tc.label, err)
					case len(want) > 0 && (!errors.As(err, &ce) || ce.Err != nil || !slices.Equal(ce.Culprits, want)):
						t.Fatalf("%s: combine: %v, want culprits %v and a signature", tc.label, err, want)
					}
					xonly, _, err := schnorr.OutputKey(c.Result.GroupKeys[slotKey], tc.tr)
					if err != nil {
						t.Fatal(err)
					}
					if !schnorr.Verify(xonly, msg, sig) {
						t.Fatalf("%s: signature does not verify", tc.label)
					}
					// Independent check: btcd's BIP-340 verifier.
					pk, err := btcschnorr.ParsePubKey(xonly[:])
					if err != nil {
						t.Fatal(err)
					}
					parsed, err := btcschnorr.ParseSignature(sig[:])
					if err != nil || !parsed.Verify(msg, pk) {
						t.Fatalf("%s: btcd rejects the signature (%v)", tc.label, err)
					}
				}
			})
		}
	}
}

// TestSchnorrTooManyLiars gives the combiner 2t+1 partials of which t+1 are
// wrong: it must fail, name the liars and return no signature.
func TestSchnorrTooManyLiars(t *testing.T) {
	g := group.Secp256k1()
	for _, n := range []int{4, 7} {
		tt := dkg.DefaultT(n)
		bad := liars(tt+1, BadPartial)
		c, err := RunDKG(g, n, schnorrBatch, bad, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("vhsm threshold BIP-340 with t+1 liars")
		tr := schnorr.Taproot{Mode: schnorr.TaprootBIP86}
		partials := schnorrPartials(t, c, tr, msg, slotNonceTaproot, allIndices(2*tt+1))
		sig, err := schnorr.Combine(schnorrKey(c), schnorrNonce(c, slotNonceTaproot), tr, msg, partials)
		var ce *schnorr.CulpritError
		if sig != ([schnorr.SignatureLen]byte{}) || !errors.As(err, &ce) || !errors.Is(err, schnorr.ErrNotEnoughPartials) ||
			!slices.Equal(ce.Culprits, partialLiars(bad)) {
			t.Fatalf("n=%d: sig=%x err=%v", n, sig, err)
		}
	}
}
