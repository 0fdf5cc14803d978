package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
)

// TestAdminCommands runs the admin and sharing commands in-process against
// an in-process 4-replica cluster: register a client, grant it a key, use
// it as that client, disable the key; then one replica down (signing goes
// on) and two down (a clear quorum error naming how many answered).
func TestAdminCommands(t *testing.T) {
	cl := startTestCluster(t, &app.PoolConfig{KeyBatch: 8, KeyLow: 2, NonceBatch: 16, NonceLow: 4})
	admin := cl.ClientPath

	mustJSON(t, admin, "keys", "gen", "shared", "schnorr")
	mustJSON(t, admin, "keys", "gen", "private", "bls")

	// A second client, registered by the admin.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg := mustJSON(t, admin, "clients", "register", "bob", hex.EncodeToString(pub))
	wantFields(t, reg, "client_id", "public_key", "admin")
	if reg["client_id"] != "bob" || reg["admin"] != false {
		t.Fatalf("clients register: %v", reg)
	}
	acfg, err := client.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	bcfg := *acfg
	bcfg.ClientID, bcfg.PrivateKey = "bob", priv.Seed()
	bob := filepath.Join(t.TempDir(), "bob.json")
	if err := bcfg.Save(bob); err != nil {
		t.Fatal(err)
	}

	// Bob may use nothing until the owner grants it.
	if _, err := runJSON(t, bob, "sign", "shared", "m"); err == nil {
		t.Fatal("bob signed with a key not granted to him")
	}
	g := mustJSON(t, admin, "keys", "grant", "shared", "bob")
	wantFields(t, g, "key_id", "client_id", "granted")
	s := mustJSON(t, bob, "sign", "shared", "from bob")
	if v := mustJSON(t, bob, "verify", "shared", "from bob", s["signature"].(string)); v["valid"] != true {
		t.Fatalf("verify: %v", v)
	}
	if _, err := runJSON(t, bob, "sign", "private", "m"); err == nil {
		t.Fatal("bob signed with another key")
	}
	if _, err := runJSON(t, bob, "clients", "register", "eve", hex.EncodeToString(pub)); err == nil {
		t.Fatal("a non-admin registered a client")
	}

	d := mustJSON(t, admin, "keys", "disable", "shared")
	wantFields(t, d, "key_id", "disabled")
	if _, err := runJSON(t, bob, "sign", "shared", "after disable"); err == nil {
		t.Fatal("signed with a disabled key")
	}

	// One replica down (f=1): signing goes on.
	cl.Kill(4)
	mustJSON(t, admin, "keys", "gen", "after-crash", "schnorr")
	s = mustJSON(t, admin, "sign", "after-crash", "one down")
	if v := mustJSON(t, admin, "verify", "after-crash", "one down", s["signature"].(string)); v["valid"] != true {
		t.Fatalf("verify with one replica down: %v", v)
	}

	// Two down: signing is not ordered and needs t+1 = 2 signers, so it
	// goes on (issue 14); an ordered request has no quorum, and the error
	// says how many answered.
	cl.Kill(3)
	acfg.Timeout = "2s"
	short := filepath.Join(t.TempDir(), "short.json")
	if err := acfg.Save(short); err != nil {
		t.Fatal(err)
	}
	s2 := mustJSON(t, short, "sign", "after-crash", "two down")
	if v := mustJSON(t, short, "verify", "after-crash", "two down", s2["signature"].(string)); v["valid"] != true {
		t.Fatalf("verify with two replicas down: %v", v)
	}
	_, err = runJSON(t, short, "keys", "gen", "two-down", "schnorr")
	if !errors.Is(err, client.ErrNoQuorum) || !strings.Contains(err.Error(), "of 4 replicas answered") {
		t.Fatalf("keys gen with two replicas down: %v", err)
	}

	// verify is local: with every replica down it still checks signatures
	// of the keys this configuration has seen (its key cache, 0600).
	cl.Kill(2)
	cl.Kill(1)
	if v := mustJSON(t, admin, "verify", "after-crash", "one down", s["signature"].(string)); v["valid"] != true {
		t.Fatalf("verify with every replica down: %v", v)
	}
	if v := mustJSON(t, admin, "verify", "after-crash", "one down!", s["signature"].(string)); v["valid"] != false {
		t.Fatalf("verify of another message with every replica down: %v", v)
	}
	if v := mustJSON(t, admin, "verify", "private", "m", strings.Repeat("00", 96)); v["valid"] != false {
		t.Fatalf("verify of a bls key from keys gen, replicas down: %v", v)
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(admin), "client.keys.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key cache: %v %v", err, st)
	}
	if _, err := runJSON(t, short, "verify", "never-seen", "m", s["signature"].(string)); !errors.Is(err, client.ErrNoQuorum) {
		t.Fatalf("verify of a key never seen, replicas down: %v", err)
	}
}
