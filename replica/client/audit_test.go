package client

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/wire"
)

func head(replica int, seq uint64, b byte) wire.AuditHead {
	h := make([]byte, 32)
	h[0] = b
	return wire.AuditHead{Replica: replica, Seq: seq, Head: h}
}

// TestAgreedPrefix: the committed heads used are the longest prefix t+1
// replicas report identically; a lagging replica's shorter list does not
// shorten it, and a lying replica's list is outvoted.
func TestAgreedPrefix(t *testing.T) {
	a, b, c := head(1, 3, 1), head(1, 7, 2), head(1, 9, 3)
	lie := head(1, 7, 9)
	lists := map[int][]wire.AuditHead{
		1: {a, b, c},
		2: {a, b},
		3: {a, lie, c},
		4: {a, b, c},
	}
	got := agreedPrefix(lists, 2)
	if len(got) != 3 || got[1].Head[0] != 2 {
		t.Fatalf("agreed %+v", got)
	}
	if got := agreedPrefix(lists, 4); len(got) != 1 {
		t.Fatalf("with 4 needed: %+v", got)
	}
	if got := agreedPrefix(map[int][]wire.AuditHead{1: {a}, 2: {lie}}, 2); len(got) != 0 {
		t.Fatalf("no agreement: %+v", got)
	}
	if _, ok := wellFormedHeads(&wire.Response{Audit: &wire.AuditAnswer{Heads: []wire.AuditHead{b, a}}}, 1, 0); ok {
		t.Fatal("decreasing seqs accepted")
	}
	if _, ok := wellFormedHeads(&wire.Response{Audit: &wire.AuditAnswer{Heads: []wire.AuditHead{head(2, 1, 1)}}}, 1, 0); ok {
		t.Fatal("another replica's head accepted")
	}
}

// TestMergeRecords: records of one request are merged across replicas, and
// a replica whose record of it differs from the others' fails at its seq.
func TestMergeRecords(t *testing.T) {
	req := sha256.Sum256([]byte("request"))
	msg := sha256.Sum256([]byte("message"))
	rec := func(seq uint64, key string) audit.Record {
		return audit.Record{Seq: seq, Time: 1000 + int64(seq), Client: "alice", KeyID: key, Op: wire.OpSign, Message: msg[:], Request: req}
	}
	chains := [][]audit.Record{{rec(4, "k1")}, {rec(2, "k1")}, {rec(7, "other")}, nil}
	rep := &AuditReport{Replicas: make([]ReplicaAudit, 4)}
	got := mergeRecords(rep, chains, AuditOptions{})
	if len(got) != 1 || got[0].KeyID != "k1" || len(got[0].Replicas) != 3 || !got[0].Time.Equal(time.UnixMilli(1002)) {
		t.Fatalf("merged %+v", got)
	}
	if f := rep.Replicas[2].Failures; len(f) != 1 || f[0].Seq != 7 {
		t.Fatalf("replica 3 failures %+v", f)
	}
	if rep.Replicas[0].Failed() || rep.Replicas[1].Failed() || rep.OK() {
		t.Fatalf("report %+v", rep)
	}
	// Served by two replicas only: a tie names both, unless one record
	// already failed its chain's check (it then takes no part).
	two := [][]audit.Record{{rec(4, "k1")}, {rec(2, "tampered")}, nil, nil}
	rep = &AuditReport{Replicas: make([]ReplicaAudit, 4)}
	mergeRecords(rep, two, AuditOptions{})
	if !rep.Replicas[0].Failed() || !rep.Replicas[1].Failed() {
		t.Fatalf("tie: %+v", rep.Replicas)
	}
	rep = &AuditReport{Replicas: make([]ReplicaAudit, 4)}
	rep.Replicas[1].Failures = []audit.Failure{{Seq: 2, Reason: "chain differs from the committed head"}}
	got = mergeRecords(rep, two, AuditOptions{})
	if rep.Replicas[0].Failed() || len(rep.Replicas[1].Failures) != 1 || got[0].KeyID != "k1" {
		t.Fatalf("tie with a failed record: %+v, listed %+v", rep.Replicas, got)
	}
	if got := mergeRecords(&AuditReport{Replicas: make([]ReplicaAudit, 4)}, chains, AuditOptions{KeyID: "zz"}); len(got) != 0 {
		t.Fatalf("key filter: %+v", got)
	}
	if got := mergeRecords(&AuditReport{Replicas: make([]ReplicaAudit, 4)}, chains, AuditOptions{Since: time.UnixMilli(5000)}); len(got) != 0 {
		t.Fatalf("since filter: %+v", got)
	}
}
