package cluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestInProcessDerivedChildren: a real 4-replica cluster signs for the BIP-32 children 0/0, 0/5 and
// 1/3 of one DKG key with the shares it already holds. Each signature verifies (btcec) under the
// BIP-86 address that btcutil's hdkeychain derives from the key's xpub string, built by the client
// from the key's public information (client.KeyRoot).
func TestInProcessDerivedChildren(t *testing.T) {
	c := startFour(t, 60*time.Second)
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	info, err := cl.GenerateKey(ctx, "hd-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if err := c.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	P, cc, err := client.KeyRoot(info)
	if err != nil {
		t.Fatal(err)
	}
	net := &chaincfg.RegressionNetParams
	xpub := hdkeychain.NewExtendedKey(net.HDPublicKeyID[:], P, cc[:], make([]byte, 4), 0, 0, false).String()
	root, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]uint32{{0, 0}, {0, 5}, {1, 3}} {
		k := root
		for _, i := range path {
			if k, err = k.Derive(i); err != nil {
				t.Fatal(err)
			}
		}
		pub, err := k.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		addr, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), net)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(fmt.Sprint("spend from ", path)))
		sig, err := cl.SignTaprootPath(ctx, "hd-schnorr", path, h, nil)
		if err != nil {
			t.Fatalf("sign for %v: %v", path, err)
		}
		// The output key as the address commits to it: its witness program.
		q, err := schnorr.ParsePubKey(addr.WitnessProgram())
		if err != nil {
			t.Fatal(err)
		}
		s, err := schnorr.ParseSignature(sig[:])
		if err != nil || !s.Verify(h[:], q) {
			t.Fatalf("child %v (%s): signature does not verify: %v", path, addr, err)
		}
	}
}
