package faulttest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// TestRawRequestRejections sends hand-made requests to every replica's
// HTTPS API (certificate pinned from the client configuration): a replayed
// keys.gen and sign, an expired request, one expiring too far ahead, one
// re-signed by another client, one claiming another client, and oversized
// ones. Each is rejected by every replica, or (a replay) answered with the
// original result, and the key set is unchanged. Issue 4, scenario 6.
func TestRawRequestRejections(t *testing.T) {
	c := startCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl := c.Client()
	raw := newRawClient(t, c)
	admin := adminKey(t, raw.cfg)
	adminID := raw.cfg.ClientID

	// Another registered client, whose key re-signs admin requests.
	_, bobKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.RegisterClient(ctx, "bob", bobKey.Public().(ed25519.PublicKey), false); err != nil {
		t.Fatal(err)
	}

	// A genuine raw keys.gen, accepted.
	gen := sign(t, admin, request(t, raw.cfg.Cluster, adminID, wire.OpKeyGen, time.Now().Add(time.Minute), wire.KeyGenBody{KeyID: "raw-key", Scheme: wire.SchemeSchnorr}))
	first := raw.post(gen)
	okCount := 0
	var pub []byte
	for _, a := range first {
		if a.err == nil && a.status == http.StatusOK && a.resp.Key != nil {
			okCount++
			pub = a.resp.Key.PublicKey
		}
	}
	if okCount < 3 {
		t.Fatalf("raw keys.gen accepted by %d replicas: %+v", okCount, first)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := keyIDs(ctx, t, cl)

	// A genuine raw FROST session with replicas 1 and 2; its replay gets no
	// second share: each signer's nonce signs once. Replicas that are not
	// signers of the session refuse it.
	sg := raw.frostSign(t, admin, adminID, "raw-key", msgHash("raw sign"), 1, 2)
	s1 := raw.post(sg)
	for i, a := range s1 {
		signer := i == 1 || i == 2
		if signer && (a.err != nil || len(a.resp.Partial) != 32) {
			t.Fatalf("signer %d: http %d %q (%v)", i, a.status, a.resp.Error, a.err)
		}
		if !signer && (a.status == http.StatusOK || !strings.Contains(a.resp.Error, "not a signer")) {
			t.Fatalf("replica %d outside the session answered http %d %q", i, a.status, a.resp.Error)
		}
	}
	for i, a := range raw.post(sg, 1, 2) {
		if a.status == http.StatusOK || len(a.resp.Partial) > 0 || len(a.resp.Sealed) > 0 || !strings.Contains(a.resp.Error, "unknown or used nonce") {
			t.Fatalf("replica %d answered a replayed session: http %d %q", i, a.status, a.resp.Error)
		}
	}

	rejectedByAll := func(name string, body []byte, wantStatus int, want string) {
		t.Helper()
		for i, a := range raw.post(body) {
			if a.err != nil {
				t.Fatalf("%s: replica %d: %v", name, i, a.err)
			}
			if a.status == http.StatusOK || a.resp.Error == "" || len(a.resp.Partial) > 0 || len(a.resp.Sealed) > 0 || a.resp.Key != nil {
				t.Fatalf("%s: replica %d accepted it (http %d)", name, i, a.status)
			}
			if wantStatus != 0 && a.status != wantStatus {
				t.Fatalf("%s: replica %d: http %d, want %d", name, i, a.status, wantStatus)
			}
			if !strings.Contains(a.resp.Error, want) {
				t.Fatalf("%s: replica %d: error %q, want %q", name, i, a.resp.Error, want)
			}
		}
	}
	// Replay: the exact bytes of an executed keys.gen.
	for i, a := range raw.post(gen) {
		if a.err == nil && a.resp.Key != nil && !bytes.Equal(a.resp.Key.PublicKey, pub) {
			t.Fatalf("replica %d answered a replayed keys.gen with another key", i)
		}
		t.Logf("replica %d on replayed keys.gen: http %d %q", i, a.status, a.resp.Error)
	}
	newKey := func(id string, expires time.Time, client string) []byte {
		return request(t, raw.cfg.Cluster, client, wire.OpKeyGen, expires, wire.KeyGenBody{KeyID: id, Scheme: wire.SchemeBLS})
	}
	rejectedByAll("expired", sign(t, admin, newKey("evil-expired", time.Now().Add(-30*time.Second), adminID)), 0, "expired")
	rejectedByAll("too far ahead", sign(t, admin, newKey("evil-far", time.Now().Add(2*time.Hour), adminID)), 0, "too far")
	rejectedByAll("re-signed by bob", sign(t, bobKey, newKey("evil-resigned", time.Now().Add(time.Minute), adminID)), 0, "bad signature")
	rejectedByAll("claims bob", sign(t, admin, newKey("evil-claim", time.Now().Add(time.Minute), "bob")), 0, "bad signature")
	// Signature valid over other bytes than the request sent.
	var sr wire.SignedRequest
	if err := json.Unmarshal(sign(t, admin, newKey("evil-original", time.Now().Add(time.Minute), adminID)), &sr); err != nil {
		t.Fatal(err)
	}
	sr.Request = bytes.Replace(sr.Request, []byte("evil-original"), []byte("evil-tampered"), 1)
	tampered, err := json.Marshal(sr)
	if err != nil {
		t.Fatal(err)
	}
	rejectedByAll("tampered", tampered, 0, "bad signature")
	big := bytes.Repeat([]byte{'a'}, wire.MaxRequestBytes+1)
	rejectedByAll("oversized body", big, http.StatusRequestEntityTooLarge, "")
	longMsg := sign(t, admin, request(t, raw.cfg.Cluster, adminID, wire.OpSign, time.Now().Add(time.Minute), wire.SignBody{KeyID: "raw-key", Message: make([]byte, wire.MaxMessageBytes+1)}))
	if len(longMsg) > wire.MaxRequestBytes {
		t.Fatalf("test request of %d bytes exceeds the request limit", len(longMsg))
	}
	rejectedByAll("oversized message", longMsg, 0, "")

	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := keyIDs(ctx, t, cl)
	if !slices.Equal(before, after) {
		t.Fatalf("key set changed: %v → %v", before, after)
	}
	for _, id := range []string{"evil-expired", "evil-far", "evil-resigned", "evil-claim", "evil-original", "evil-tampered"} {
		if slices.Contains(after, id) {
			t.Fatalf("rejected key %s exists", id)
		}
	}
	// The key still signs, verified independently.
	msg := msgHash("after rejections")
	sig, err := cl.SignSchnorr(ctx, "raw-key", msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := newSigLog().add("raw-key", pub, msg, sig); err != nil {
		t.Fatal(err)
	}
}
