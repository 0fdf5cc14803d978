package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bip32"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	thrschnorr "github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// derivedSession fetches one nonce commitment from each signer and returns the session's signer list
// and FROST commitments.
func (c *cluster) derivedSession(t testing.TB, key ed25519.PrivateKey, client string, signers []int) ([]wire.SignerCommitment, []frost.Commitment) {
	t.Helper()
	ec := group.Secp256k1()
	var scs []wire.SignerCommitment
	var coms []frost.Commitment
	for _, i := range signers {
		resp, err := c.engines[i-1].Handle(context.Background(), request(t, key, client, wire.OpNonces, wire.NoncesBody{Count: 1}))
		if err != nil || len(resp.Commitments) != 1 {
			t.Fatalf("nonces from replica %d: %+v %v", i, resp, err)
		}
		nc := resp.Commitments[0]
		D, _ := ec.DecodePoint(nc.Hiding)
		E, _ := ec.DecodePoint(nc.Binding)
		scs = append(scs, wire.SignerCommitment{Replica: i, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding})
		coms = append(coms, frost.Commitment{ID: i, Hiding: D, Binding: E})
	}
	return scs, coms
}

// TestSignDerivedChild: replicas sign for BIP-32 children 0/0, 0/5 and 1/3 of a schnorr key (BIP-86
// tweaked on top) with the shares they already hold. The signature verifies with btcec under the
// output key of the child that btcutil's hdkeychain derives from the root xpub, built from the key's
// public information alone. Attacks: a path substituted at one signer yields a share that does not
// verify (and no valid signature); hardened, over-long and bls paths are refused before the nonce is
// used; a replayed session signs nothing.
func TestSignDerivedChild(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	info := c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "hd", Scheme: wire.SchemeSchnorr}))[0].Key
	c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "b", Scheme: wire.SchemeBLS}))
	ec := group.Secp256k1()
	rec := c.keyInfo(t, "hd")
	P, err := ec.DecodePoint(rec.Origin.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// The root xpub from public key information: P with its parity, chain code of the commitment.
	cc := bip32.ChainCode(P.Bytes(), info.Commitment)
	xpub := hdkeychain.NewExtendedKey(chaincfg.RegressionNetParams.HDPublicKeyID[:], P.Bytes(), cc[:], make([]byte, 4), 0, 0, false)
	theirRoot, err := hdkeychain.NewKeyFromString(xpub.String())
	if err != nil {
		t.Fatal(err)
	}

	sign := func(t *testing.T, path []uint32, signers []int, altPath map[int][]uint32) ([]byte, map[int]group.Scalar, []frost.Commitment, []byte, error) {
		msg := make([]byte, 32)
		rand.Read(msg)
		scs, coms := c.derivedSession(t, alice, "alice", signers)
		shares := map[int]group.Scalar{}
		var sr []byte
		for _, i := range signers {
			p := path
			if a, ok := altPath[i]; ok {
				p = a
			}
			r := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "hd", Message: msg, Taproot: &wire.TaprootOption{}, Path: p, Signers: scs})
			if p == nil || len(altPath) == 0 {
				sr = r
			}
			resp, err := c.engines[i-1].Handle(context.Background(), r)
			if err == nil {
				err = openAnswer(r, resp)
			}
			if err != nil {
				return msg, nil, coms, nil, fmt.Errorf("replica %d: %w", i, err)
			}
			z, err := ec.DecodeScalar(resp.Partial)
			if err != nil {
				t.Fatal(err)
			}
			shares[i] = z
		}
		return msg, shares, coms, sr, nil
	}

	for k, path := range [][]uint32{{0, 0}, {0, 5}, {1, 3}} {
		t.Run(fmt.Sprint(path), func(t *testing.T) {
			signers := []int{1 + k%4, 1 + (k+2)%4}
			msg, shares, coms, sr, err := sign(t, path, signers, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, tw, err := bip32.Derive(P, cc, path, wire.MaxPathDepth)
			if err != nil {
				t.Fatal(err)
			}
			fk, err := frost.Taproot.NewDerivedKey(P, tw, frostBIP86)
			if err != nil {
				t.Fatal(err)
			}
			out, err := frost.Taproot.Aggregate(&frost.SigningPackage{Commitments: coms, Message: msg}, fk, shares)
			if err != nil {
				t.Fatal(err)
			}
			// Independent: hdkeychain derives the child, txscript its BIP-86 output key, btcec verifies.
			child := theirRoot
			for _, i := range path {
				if child, err = child.Derive(i); err != nil {
					t.Fatal(err)
				}
			}
			cpub, err := child.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			outKey := txscript.ComputeTaprootKeyNoScript(cpub)
			bs, err := btcschnorr.ParseSignature(out)
			if err != nil || !bs.Verify(msg, outKey) {
				t.Fatalf("btcec rejects the signature for child %v: %v", path, err)
			}
			// Not a signature under the root's output key.
			rootOut := txscript.ComputeTaprootKeyNoScript(mustPub(t, P.Bytes()))
			if bs.Verify(msg, rootOut) {
				t.Fatal("child signature verifies under the root key")
			}
			// Replay: the same bytes sign nothing.
			for _, i := range signers {
				resp, err := c.engines[i-1].Handle(context.Background(), sr)
				if err == nil || len(resp.Sealed) != 0 || !strings.Contains(resp.Error, "unknown or used nonce") {
					t.Fatalf("replica %d answered a replayed session: %+v %v", i, resp, err)
				}
			}
		})
	}

	t.Run("substituted path", func(t *testing.T) {
		path := []uint32{0, 1}
		msg, shares, coms, _, err := sign(t, path, []int{2, 3}, map[int][]uint32{3: {0, 2}})
		if err != nil {
			t.Fatal(err)
		}
		_, tw, _ := bip32.Derive(P, cc, path, wire.MaxPathDepth)
		fk, _ := frost.Taproot.NewDerivedKey(P, tw, frostBIP86)
		pkg := &frost.SigningPackage{Commitments: coms, Message: msg}
		if out, err := frost.Taproot.Aggregate(pkg, fk, shares); err == nil && frost.Taproot.Verify(fk, msg, out) {
			t.Fatal("shares for different paths combined into a valid signature")
		}
		if err := frost.Taproot.VerifyShare(pkg, fk, 3, verificationKey(t, info.Commitment, 3), shares[3]); err == nil {
			t.Fatal("the share for the substituted path verifies")
		}
		if err := frost.Taproot.VerifyShare(pkg, fk, 2, verificationKey(t, info.Commitment, 2), shares[2]); err != nil {
			t.Fatalf("the honest share does not verify: %v", err)
		}
	})

	t.Run("refused paths keep the nonce", func(t *testing.T) {
		scs, _ := c.derivedSession(t, alice, "alice", []int{1, 2})
		for _, bad := range []struct {
			name, key string
			path      []uint32
		}{
			{"hardened", "hd", []uint32{0, bip32.HardenedOffset}},
			{"too deep", "hd", make([]uint32, wire.MaxPathDepth+1)},
			{"bls key", "b", []uint32{0, 1}},
		} {
			r := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: bad.key, Message: []byte("m"), Taproot: &wire.TaprootOption{}, Path: bad.path, Signers: scs})
			if bad.key == "b" {
				r = request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: bad.key, Message: []byte("m"), Path: bad.path})
			}
			resp, err := c.engines[0].Handle(context.Background(), r)
			if err == nil || len(resp.Sealed) != 0 || !strings.Contains(resp.Error, "invalid request body") {
				t.Fatalf("%s: answered %+v %v", bad.name, resp, err)
			}
		}
		// The nonce was not used by the refusals: a good request with it signs.
		r := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "hd", Message: []byte("m"), Taproot: &wire.TaprootOption{}, Path: []uint32{0, 9}, Signers: scs})
		resp, err := c.engines[0].Handle(context.Background(), r)
		if err == nil {
			err = openAnswer(r, resp)
		}
		if err != nil {
			t.Fatalf("nonce unusable after refusals: %v", err)
		}
	})
}

var frostBIP86 = thrschnorr.Taproot{Mode: thrschnorr.TaprootBIP86}

func mustPub(t *testing.T, b []byte) *btcec.PublicKey {
	t.Helper()
	k, err := btcec.ParsePubKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verificationKey is replica i's verification key f(i)·G from the key's committed commitment.
func verificationKey(t *testing.T, commitment []byte, i int) group.Point {
	t.Helper()
	com, err := vss.DecodeCommitment(group.Secp256k1(), commitment)
	if err != nil {
		t.Fatal(err)
	}
	return com.Eval(i)
}
