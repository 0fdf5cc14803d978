package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/wire"
)

// withAudit gives every engine an audit log of its own.
func (c *cluster) withAudit(t *testing.T) []*audit.Log {
	t.Helper()
	logs := make([]*audit.Log, len(c.engines))
	for i, e := range c.engines {
		l, err := audit.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs[i], e.cfg.Audit = l, l
	}
	return logs
}

// TestAuditRecordsAndHeads: each engine records the requests it served in
// its chain, commits the chain's head through the log, answers its records
// to admin clients only and the committed heads to any client; the chain
// verifies against the committed heads.
func TestAuditRecordsAndHeads(t *testing.T) {
	c := newCluster(t, 4)
	logs := c.withAudit(t)
	c.waitReady(40 * time.Second)

	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "b1", Scheme: wire.SchemeBLS}))
	msg := []byte("audited message")
	signReq := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg})
	c.mustAll(t, signReq)
	// A refused request is not recorded.
	if _, errs := c.all(request(t, alice, "alice", wire.OpKeyPub, wire.KeyRefBody{KeyID: "nope"})); !errors.Is(errs[0], ErrRejected) {
		t.Fatalf("keys.pub of an unknown key: %v", errs[0])
	}

	// Records are for admins.
	_, errs := c.all(request(t, alice, "alice", wire.OpAuditRecords, wire.AuditRecordsBody{}))
	for i, err := range errs {
		if !errors.Is(err, ErrRejected) || !errors.Is(err, app.ErrUnauthorized) {
			t.Fatalf("replica %d answered a non-admin's audit.records: %v", i+1, err)
		}
	}
	_, errs = c.all(request(t, c.admin, "admin", wire.OpAuditRecords, wire.AuditRecordsBody{Limit: wire.MaxAuditLimit + 1}))
	if !errors.Is(errs[0], app.ErrBadBody) {
		t.Fatalf("limit above the maximum: %v", errs[0])
	}
	resps := c.mustAll(t, request(t, c.admin, "admin", wire.OpAuditRecords, wire.AuditRecordsBody{KeyID: "b1"}))
	var sr wire.SignedRequest
	_ = json.Unmarshal(signReq, &sr)
	wantReq := wire.RequestHash(sr.Request)
	wantMsg := sha256.Sum256(msg)
	for _, r := range resps {
		if r.Audit == nil || len(r.Audit.Records) != 2 {
			t.Fatalf("replica %d: records of b1: %+v", r.Replica, r.Audit)
		}
		gen, sign := r.Audit.Records[0], r.Audit.Records[1]
		if gen.Op != wire.OpKeyGen || gen.Client != "alice" || len(gen.Message) != 0 {
			t.Fatalf("replica %d: keys.gen record %+v", r.Replica, gen)
		}
		if sign.Op != wire.OpSign || !bytes.Equal(sign.Request, wantReq[:]) || !bytes.Equal(sign.Message, wantMsg[:]) || sign.Seq != gen.Seq+1 {
			t.Fatalf("replica %d: sign record %+v", r.Replica, sign)
		}
	}

	// Heads are committed within a few seconds and verify the chains.
	// (RunAudit starts only now: its blocks would widen a race of ordered
	// requests sent to every replica at once, precheck reading across a
	// commit, that this test is not about.)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, e := range c.engines {
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.RunAudit(ctx) }()
	}
	deadline := time.Now().Add(20 * time.Second)
	for i, l := range logs {
		want := l.Last().Seq
		for {
			h, err := c.apps[0].AuditLatest(i + 1)
			if err != nil {
				t.Fatal(err)
			}
			if h.Seq >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d: head %d committed, chain at %d", i+1, h.Seq, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range logs {
		resps := c.mustAll(t, request(t, alice, "alice", wire.OpAuditHeads, wire.AuditHeadsBody{Replica: i + 1}))
		heads := map[uint64][32]byte{}
		for _, h := range resps[0].Audit.Heads {
			heads[h.Seq] = [32]byte(h.Head)
		}
		recs := c.mustAll(t, request(t, c.admin, "admin", wire.OpAuditRecords, wire.AuditRecordsBody{}))[i].Audit.Records
		var chain []audit.Record
		for _, w := range recs {
			r, err := audit.FromWire(&w)
			if err != nil {
				t.Fatal(err)
			}
			chain = append(chain, *r)
		}
		if v := audit.Verify(chain, heads); !v.OK() || v.Committed == 0 {
			t.Fatalf("replica %d: %+v", i+1, v)
		}
	}
}

func TestUntilNextTick(t *testing.T) {
	base := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		now  time.Time
		want time.Duration
	}{
		{base, AuditInterval},
		{base.Add(AuditInterval / 4), AuditInterval * 3 / 4},
		{base.Add(AuditInterval - time.Nanosecond), time.Nanosecond},
	} {
		if got := untilNextTick(tc.now); got != tc.want {
			t.Fatalf("untilNextTick(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
}
