package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/client"
)

func TestAuditOutput(t *testing.T) {
	req := make([]byte, 32)
	req[0] = 0xab
	rep := &client.AuditReport{
		Requests: []client.AuditedRequest{{Request: req, Time: time.UnixMilli(1_700_000_000_123), Client: "admin", KeyID: "k1", Op: "sign", Message: req, Replicas: []int{1, 2, 4}}},
		Replicas: []client.ReplicaAudit{
			{Replica: 1, Verdict: audit.Verdict{Records: 5, Last: 5, Committed: 4, Uncommitted: 1}},
			{Replica: 2, Verdict: audit.Verdict{Records: 5, Last: 5, Committed: 5, Failures: []audit.Failure{{Seq: 3, Reason: "record missing"}}}},
			{Replica: 3, Error: "replica 3: connection refused"},
		},
	}
	out := toAuditJSON(rep)
	if out.OK || out.Replicas[0].Status != "ok" || out.Replicas[1].Status != "failed" || out.Replicas[2].Status != "unavailable" {
		t.Fatalf("%+v", out)
	}
	if r := out.Requests[0]; r.Time != "2023-11-14T22:13:20.123Z" || r.Request[:4] != "ab00" || len(r.Replicas) != 3 {
		t.Fatalf("request %+v", r)
	}
	h := out.human()
	for _, want := range []string{"sign", "1,2,4", "replica 1: ok: 5 records, committed through seq 4, 1 uncommitted", "replica 2: FAILED", "  seq 3: record missing", "replica 3: unavailable"} {
		if !strings.Contains(h, want) {
			t.Fatalf("human output lacks %q:\n%s", want, h)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, err := parseSince("2h", now); err != nil || !got.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("2h: %v %v", got, err)
	}
	if got, err := parseSince("2026-01-01T00:00:00Z", now); err != nil || got.Day() != 1 {
		t.Fatalf("rfc3339: %v %v", got, err)
	}
	for _, bad := range []string{"yesterday", "-1h"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
