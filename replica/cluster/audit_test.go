package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestAuditChains runs a real in-process cluster: the requests served are
// found in every replica's audit chain, every chain verifies against the
// heads committed through the log, and a record altered (replica 2) or
// deleted (replica 3) in a stopped replica's chain file is reported, after
// the restart, with that replica's index and the record's seq.
func TestAuditChains(t *testing.T) {
	c := startFour(t, 60*time.Second)
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	if _, err := cl.GenerateKey(ctx, "audit-bls", wire.SchemeBLS); err != nil {
		t.Fatalf("keys.gen: %v", err)
	}
	if _, err := cl.GenerateKey(ctx, "cluster-sym", wire.SchemeSymmetric); err != nil {
		t.Fatalf("keys.gen symmetric: %v", err)
	}
	if err := c.WaitSynced(10 * time.Second); err != nil { // see TestInProcessCluster
		t.Fatal(err)
	}
	msg := []byte("audited message")
	if _, err := cl.SignBLS(ctx, "audit-bls", msg); err != nil {
		t.Fatalf("sign: %v", err)
	}
	encryptDecrypt(ctx, t, cl, nil, "audit")

	// Every chain verifies, and heads come to cover every record served so
	// far.
	rep := waitCommitted(ctx, t, cl)
	for _, r := range rep.Replicas {
		if r.Error != "" || r.Failed() || r.Committed == 0 {
			t.Fatalf("replica %d: %+v", r.Replica, r)
		}
	}
	ops := map[string]int{}
	for _, r := range rep.Requests {
		switch r.Op {
		case wire.OpKeyGen, wire.OpSign, wire.OpEncrypt, wire.OpDecrypt:
			// Answered by t+1 replicas at least (others read one replica).
			if len(r.Replicas) < 2 {
				t.Errorf("request %x (%s) recorded by %v only", r.Request, r.Op, r.Replicas)
			}
		}
		ops[r.Op]++
	}
	for _, op := range []string{wire.OpKeyGen, wire.OpSign, wire.OpEncrypt, wire.OpDecrypt} {
		if ops[op] == 0 {
			t.Errorf("no %s request in the audit: %v", op, ops)
		}
	}
	// The key filter lists the key's requests only, the sign with its
	// message hash.
	byKey, err := cl.Audit(ctx, client.AuditOptions{KeyID: "audit-bls"})
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := sha256.Sum256(msg)
	signed := false
	for _, r := range byKey.Requests {
		if r.KeyID != "audit-bls" {
			t.Fatalf("key filter listed %+v", r)
		}
		signed = signed || r.Op == wire.OpSign && bytes.Equal(r.Message, wantMsg[:])
	}
	if !signed {
		t.Fatalf("the sign request is not listed: %+v", byKey.Requests)
	}

	// Replica 2: a record covered by a committed head is altered while it
	// is stopped. Replica 3: one is deleted.
	altered := tamper(t, c, 2, rep.Replicas[1].Committed, func(recs []audit.Record, i int) []audit.Record {
		recs[i].KeyID = "tampered"
		return recs
	})
	deleted := tamper(t, c, 3, rep.Replicas[2].Committed, func(recs []audit.Record, i int) []audit.Record {
		return append(recs[:i:i], recs[i+1:]...)
	})
	if err := c.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	rep, err = cl.Audit(ctx, client.AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("audit passed with a tampered chain")
	}
	for _, r := range rep.Replicas {
		want := map[int]uint64{2: altered, 3: deleted}[r.Replica]
		switch {
		case r.Error != "":
			t.Fatalf("replica %d not audited: %s", r.Replica, r.Error)
		case want == 0 && r.Failed():
			t.Fatalf("replica %d fails: %v", r.Replica, r.Failures)
		case want != 0 && (!r.Failed() || r.Failures[0].Seq != want):
			t.Fatalf("replica %d: failures %v, want one at seq %d", r.Replica, r.Failures, want)
		case want != 0:
			t.Logf("replica %d: %v", r.Replica, r.Failures)
		}
	}
}

// waitCommitted audits until every replica's committed head covers the
// records its chain had at the first audit.
func waitCommitted(ctx context.Context, t *testing.T, cl *client.Client) *client.AuditReport {
	t.Helper()
	first, err := cl.Audit(ctx, client.AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep, err := cl.Audit(ctx, client.AuditOptions{})
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for i, r := range rep.Replicas {
			if r.Error != "" || r.Committed < first.Replicas[i].Last {
				done = false
			}
		}
		if done {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("heads not committed within 30s: %+v", rep.Replicas)
		}
		time.Sleep(250 * time.Millisecond) // poll interval: heads come every second
	}
}

// tamper stops replica i, applies change to the records of its chain file
// at the sign request recorded at or before seq committed (else the
// middle committed record), restarts it and returns the changed seq.
func tamper(t *testing.T, c *Cluster, i int, committed uint64, change func([]audit.Record, int) []audit.Record) uint64 {
	t.Helper()
	c.Kill(i)
	path := filepath.Join(c.Home(i), home.AuditDir, audit.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for len(b) > 0 {
		n := int(binary.BigEndian.Uint32(b))
		r, err := audit.Decode(b[4 : 4+n])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, *r)
		b = b[n+8:]
	}
	at := int(committed / 2)
	for j, r := range recs {
		if r.Op == wire.OpSign && r.Seq <= committed && r.Seq > 1 {
			at = j
		}
	}
	seq := recs[at].Seq
	var out []byte
	for _, r := range change(recs, at) {
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(enc, crc32.MakeTable(crc32.Castagnoli)))
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.startRetrying(i); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReadyOf(60*time.Second, i); err != nil {
		t.Fatal(err)
	}
	return seq
}
