package hd

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	thrschnorr "github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// TestThresholdSignsForChildren: random t-of-n sharings of a group key; the root's chain code is
// ChainCode of the key and its Feldman commitment; for receive and change children, a random t+1
// signer set runs FROST (Taproot suite) with frost.NewDerivedKey(P, child.Tweak(), BIP-86) and the
// signers' unchanged shares, and btcec verifies the signature under the witness program of the
// address that hdkeychain derives from our xpub string (via txscript.ComputeTaprootKeyNoScript).
func TestThresholdSignsForChildren(t *testing.T) {
	g := group.Secp256k1()
	for _, tn := range [][2]int{{1, 4}, {2, 7}, {3, 10}} {
		th, n := tn[0], tn[1]
		t.Run(fmt.Sprintf("t=%d/n=%d", th, n), func(t *testing.T) {
			poly, err := vss.NewPolynomial(g, th, nil, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			com := poly.Commit()
			P := com.Secret()
			var comBytes []byte
			for _, c := range com {
				comBytes = append(comBytes, c.Bytes()...)
			}
			root, err := NewRoot(P.Bytes(), ChainCode(P.Bytes(), comBytes))
			if err != nil {
				t.Fatal(err)
			}
			for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params} {
				xpub, err := root.String(net)
				if err != nil {
					t.Fatal(err)
				}
				theirRoot, err := hdkeychain.NewKeyFromString(xpub)
				if err != nil {
					t.Fatal(err)
				}
				for _, branch := range []uint32{ReceiveBranch, ChangeBranch} {
					theirBranch, err := theirRoot.Derive(branch)
					if err != nil {
						t.Fatal(err)
					}
					for i := range uint32(3) {
						child, err := root.Derive(branch, i)
						if err != nil {
							t.Fatal(err)
						}
						// The address a watch-only wallet derives from the xpub.
						tc, err := theirBranch.Derive(i)
						if err != nil {
							t.Fatal(err)
						}
						tpk, err := tc.ECPubKey()
						if err != nil {
							t.Fatal(err)
						}
						addr, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(tpk)), net)
						if err != nil {
							t.Fatal(err)
						}
						ours, err := child.Address(net)
						if err != nil || ours.EncodeAddress() != addr.EncodeAddress() {
							t.Fatalf("address %v, %v; hdkeychain %s", ours, err, addr.EncodeAddress())
						}
						key, err := frost.Taproot.NewDerivedKey(P, child.Tweak(), thrschnorr.Taproot{Mode: thrschnorr.TaprootBIP86})
						if err != nil {
							t.Fatal(err)
						}
						msg := make([]byte, 32)
						rand.Read(msg)
						ids := mrand.Perm(n)[:th+1]
						for k := range ids {
							ids[k]++
						}
						sig := frostSign(t, key, poly, com, ids, msg)
						pub, err := schnorr.ParsePubKey(addr.ScriptAddress())
						if err != nil {
							t.Fatal(err)
						}
						s, err := schnorr.ParseSignature(sig)
						if err != nil {
							t.Fatal(err)
						}
						if !s.Verify(msg, pub) {
							t.Fatalf("btcec rejects the signature for %s (%d/%d)", addr.EncodeAddress(), branch, i)
						}
					}
				}
			}
		})
	}
}

// frostSign runs both FROST rounds for key with the shares poly gives the signers ids, checks every
// share against X_i of the group key, and aggregates.
func frostSign(t *testing.T, key *frost.Key, poly *vss.Polynomial, com vss.Commitment, ids []int, msg []byte) []byte {
	t.Helper()
	slices.Sort(ids)
	pkg := &frost.SigningPackage{Message: msg}
	nonces := map[int]*frost.Nonce{}
	for _, id := range ids {
		nonce, err := frost.Taproot.NewNonce(poly.Share(id), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[id] = nonce
		pkg.Commitments = append(pkg.Commitments, nonce.Commit(id))
	}
	ss, err := frost.Taproot.Prepare(pkg, key)
	if err != nil {
		t.Fatal(err)
	}
	zs := map[int]group.Scalar{}
	for _, id := range ids {
		z, err := ss.Sign(id, poly.Share(id), nonces[id])
		nonces[id].Wipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := ss.VerifyShare(id, com.Eval(id), z); err != nil {
			t.Fatal(err)
		}
		zs[id] = z
	}
	sig, err := ss.Aggregate(zs)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
