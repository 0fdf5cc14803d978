package faulttest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestNoGrantNoAccess: a client without a grant can neither sign with,
// encrypt under, decrypt under, look up nor list another client's keys;
// once granted a key it can use that key (and only that one). Issue 4,
// scenario 7.
func TestNoGrantNoAccess(t *testing.T) {
	c := startCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	admin := c.Client()
	alice := newClient(ctx, t, c, admin, "alice")
	bob := newClient(ctx, t, c, admin, "bob")
	sk, err := alice.GenerateKey(ctx, "alice-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatalf("alice keys.gen: %v", err)
	}
	bk, err := alice.GenerateKey(ctx, "alice-bls", wire.SchemeBLS)
	if err != nil {
		t.Fatalf("alice keys.gen: %v", err)
	}
	if _, err := alice.GenerateKey(ctx, "alice-sym", wire.SchemeSymmetric); err != nil {
		t.Fatalf("alice keys.gen: %v", err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	ct, err := alice.Encrypt(ctx, "alice-sym", []byte("alice's secret"))
	if err != nil {
		t.Fatalf("alice encrypt: %v", err)
	}
	msg := msgHash("bob tries")

	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, client.ErrRejected) && !errors.Is(err, client.ErrDecrypt) {
			t.Fatalf("bob %s: want a rejection, got %v", what, err)
		}
	}
	sig, err := bob.SignSchnorr(ctx, "alice-schnorr", msg, nil)
	if sig != [64]byte{} {
		t.Fatal("bob got a schnorr signature without a grant")
	}
	denied("schnorr sign", err)
	bsig, err := bob.SignBLS(ctx, "alice-bls", msg)
	if bsig != nil {
		t.Fatal("bob got a bls signature without a grant")
	}
	denied("bls sign", err)
	pt, err := bob.Decrypt(ctx, "alice-sym", ct)
	if pt != nil {
		t.Fatal("bob decrypted alice's ciphertext")
	}
	denied("decrypt", err)
	if _, err := bob.Encrypt(ctx, "alice-sym", []byte("x")); err == nil {
		t.Fatal("bob encrypted under alice's key")
	}
	if _, err := bob.PublicKey(ctx, "alice-schnorr"); err == nil {
		t.Fatal("bob looked up alice's key")
	}
	if got := keyIDs(ctx, t, bob); len(got) != 0 {
		t.Fatalf("bob lists %v", got)
	}
	if err := bob.GrantKey(ctx, "alice-schnorr", "bob"); !errors.Is(err, client.ErrRejected) {
		t.Fatalf("bob granted himself alice's key: %v", err)
	}

	// Control: with a grant for the Schnorr key, bob signs with it (and the
	// test above was not failing for an unrelated reason), and still has no
	// access to the other keys.
	if err := alice.GrantKey(ctx, "alice-schnorr", "bob"); err != nil {
		t.Fatalf("grant: %v", err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	sig, err = signSchnorrRetry(ctx, bob, "alice-schnorr", msg)
	if err != nil {
		t.Fatalf("bob signs with a granted key: %v", err)
	}
	if err := newSigLog().add("alice-schnorr", sk.PublicKey, msg, sig); err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(ctx, t, bob); !slices.Equal(got, []string{"alice-schnorr"}) {
		t.Fatalf("bob lists %v after one grant", got)
	}
	_, err = bob.SignBLS(ctx, "alice-bls", msg)
	denied("bls sign after an unrelated grant", err)
	_, err = bob.Decrypt(ctx, "alice-sym", ct)
	denied("decrypt after an unrelated grant", err)
	// Alice herself is unaffected.
	bsig, err = alice.SignBLS(ctx, "alice-bls", msg)
	if err != nil || !verifyBLS(bk.PublicKey, msg, bsig) {
		t.Fatalf("alice bls: %v", err)
	}
	if pt, err := alice.Decrypt(ctx, "alice-sym", ct); err != nil || string(pt) != "alice's secret" {
		t.Fatalf("alice decrypt: %v", err)
	}
}
