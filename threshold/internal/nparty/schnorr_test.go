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

// Batch slots of a Schnorr run: the key, then one pre-dealt nonce pair
// (D, E) per signature, as the replicas' nonce pools hold them. A pair signs
// exactly one (key, Taproot option, message).
const (
	slotKey = iota
	slotPairBIP86
	slotPairScript = slotPairBIP86 + 2
	slotPairPlain  = slotPairScript + 2
	schnorrBatch   = slotPairPlain + 2
)

func schnorrKey(c *Cluster) *schnorr.PublicKey {
	return &schnorr.PublicKey{GroupKey: c.Result.GroupKeys[slotKey], VerificationKeys: verificationKeys(c, slotKey), Threshold: c.Params.T}
}

// schnorrPair returns the public material of the nonce pair whose D is
// dealt in slot and E in slot+1, from the DKG result only.
func schnorrPair(c *Cluster, slot int) *schnorr.NoncePair {
	return &schnorr.NoncePair{
		D: c.Result.GroupKeys[slot], E: c.Result.GroupKeys[slot+1],
		DCommitments: verificationKeys(c, slot), ECommitments: verificationKeys(c, slot+1),
	}
}

// schnorrPartials has the replicas in only sign msg the way a replica does
// once the log assigned the pair of pairSlot to (key, tr, msg): bind the
// pair (knowing only D and E) and its nonce shares, then sign with the key
// share. BadPartial replicas use a wrong key share.
func schnorrPartials(t *testing.T, c *Cluster, tr schnorr.Taproot, msg []byte, pairSlot int, only []int) map[int][]byte {
	t.Helper()
	g := c.Params.Group
	key := schnorrKey(c)
	full := schnorrPair(c, pairSlot)
	pair := &schnorr.NoncePair{D: full.D, E: full.E}
	bound, err := pair.Bind(key, tr, msg)
	if err != nil {
		t.Fatal(err)
	}
	partials := map[int][]byte{}
	for _, j := range only {
		xs, ok := c.Shares[j]
		if !ok {
			continue
		}
		k, err := schnorr.NonceShares{D: xs[pairSlot], E: xs[pairSlot+1]}.Bind(key, pair, tr, msg)
		if err != nil {
			t.Fatal(err)
		}
		x := xs[slotKey]
		if c.Behaviours[j] == BadPartial {
			x = x.Add(g.ScalarFromUint64(1))
		}
		p, err := schnorr.PartialSign(key, bound, tr, msg, x, k)
		if err != nil {
			t.Fatal(err)
		}
		partials[j] = p
	}
	return partials
}

// schnorrCombine is the combiner's side: it binds the pair with the
// commitments from the DKG and combines robustly.
func schnorrCombine(t *testing.T, c *Cluster, tr schnorr.Taproot, msg []byte, pairSlot int, partials map[int][]byte) ([schnorr.SignatureLen]byte, error) {
	t.Helper()
	key := schnorrKey(c)
	bound, err := schnorrPair(c, pairSlot).Bind(key, tr, msg)
	if err != nil {
		t.Fatal(err)
	}
	return schnorr.Combine(key, bound, tr, msg, partials)
}

// TestSchnorrEndToEnd runs DKG (the key and three nonce pairs in one batch)
// → nonce-pair binding → partial BIP-340 signing → robust combination →
// verification by this project and, for 32-byte messages, by btcd's
// independent BIP-340 implementation. It covers a BIP-86 Taproot output key,
// an explicit script-tree merkle root and the plain group key, with messages
// of 32, 0 and 100 bytes, and up to t misbehaving replicas.
func TestSchnorrEndToEnd(t *testing.T) {
	g := group.Secp256k1()
	digest := sha256.Sum256([]byte("vhsm threshold BIP-340 end-to-end"))
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
					msg   []byte
					label string
				}{
					{schnorr.Taproot{Mode: schnorr.TaprootBIP86}, slotPairBIP86, digest[:], "bip86"},
					{schnorr.Taproot{Mode: schnorr.TaprootScript, MerkleRoot: sha256.Sum256([]byte("tapleaf"))}, slotPairScript, nil, "script root, empty message"},
					{schnorr.Taproot{}, slotPairPlain, make([]byte, 100), "plain, 100-byte message"},
				} {
					partials := schnorrPartials(t, c, tc.tr, tc.msg, tc.slot, allIndices(n))
					sig, err := schnorrCombine(t, c, tc.tr, tc.msg, tc.slot, partials)
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
					if !schnorr.Verify(xonly, tc.msg, sig) {
						t.Fatalf("%s: signature does not verify", tc.label)
					}
					if schnorr.Verify(xonly, append([]byte("x"), tc.msg...), sig) {
						t.Fatalf("%s: signature verifies for another message", tc.label)
					}
					if len(tc.msg) != 32 {
						continue // btcd verifies 32-byte messages only
					}
					// Independent check: btcd's BIP-340 verifier.
					pk, err := btcschnorr.ParsePubKey(xonly[:])
					if err != nil {
						t.Fatal(err)
					}
					parsed, err := btcschnorr.ParseSignature(sig[:])
					if err != nil || !parsed.Verify(tc.msg, pk) {
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
		partials := schnorrPartials(t, c, tr, msg, slotPairBIP86, allIndices(2*tt+1))
		sig, err := schnorrCombine(t, c, tr, msg, slotPairBIP86, partials)
		var ce *schnorr.CulpritError
		if sig != ([schnorr.SignatureLen]byte{}) || !errors.As(err, &ce) || !errors.Is(err, schnorr.ErrNotEnoughPartials) ||
			!slices.Equal(ce.Culprits, partialLiars(bad)) {
			t.Fatalf("n=%d: sig=%x err=%v", n, sig, err)
		}
	}
}
