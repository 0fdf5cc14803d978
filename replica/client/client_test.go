package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

func TestOrderedOpSendsSameSignedBytesToAll(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		if req.Op != wire.OpRegisterClient {
			return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "wrong op"}}
		}
		var b wire.RegisterClientBody
		if err := json.Unmarshal(req.Body, &b); err != nil || b.ClientID != "bob" || !b.Admin || len(b.PublicKey) != 32 {
			return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "bad body"}}
		}
		return ok(replica)
	})
	c := fc.client()
	pub := make(ed25519.PublicKey, 32)
	if err := c.RegisterClient(context.Background(), "bob", pub, true); err != nil {
		t.Fatal(err)
	}
	// Every replica eventually receives the identical signed bytes.
	deadline := time.Now().Add(2 * time.Second)
	for {
		fc.mu.Lock()
		n := len(fc.seen)
		fc.mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.seen) != 4 {
		t.Fatalf("%d replicas received the request, want 4", len(fc.seen))
	}
	for i := 2; i <= 4; i++ {
		if string(fc.seen[i][0]) != string(fc.seen[1][0]) {
			t.Fatalf("replica %d received different bytes", i)
		}
	}
	fc.mu.Unlock()
	// A second request has a fresh id; an op the fake refuses is rejected.
	if err := c.RegisterClient(context.Background(), "bob", pub, true); err != nil {
		t.Fatal(err)
	}
	if err := c.GrantKey(context.Background(), "k1", "bob"); !errors.Is(err, ErrRejected) {
		t.Fatalf("grant: %v", err)
	}
	fc.mu.Lock()
	ids := make(map[string]bool)
	for _, reqs := range fc.seen {
		for _, signed := range reqs {
			req, err := fc.verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			ids[req.ID] = true
		}
	}
	if len(ids) != 3 {
		t.Fatalf("3 requests carried %d distinct ids", len(ids))
	}
}

func TestRejectionByQuorum(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		return fakeReply{status: http.StatusForbidden, resp: &wire.Response{Replica: replica, Error: "unauthorized\x00 client"}}
	})
	err := fc.client().DisableKey(context.Background(), "k1")
	var rej *RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v, want a RejectedError", err)
	}
	if rej.Reason != "unauthorized? client" || len(rej.Replicas) < 2 {
		t.Fatalf("rejection %+v", rej)
	}
}

func TestTimeoutWithFewerThanQuorum(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		if replica == 3 {
			return ok(replica)
		}
		return fakeReply{hang: true}
	})
	fc.cfg.Timeout = "300ms"
	start := time.Now()
	err := fc.client().GrantKey(context.Background(), "k1", "bob")
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v", el)
	}
	var qe *QuorumError
	if !errors.As(err, &qe) || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("got %v, want QuorumError", err)
	}
	if !qe.TimedOut || qe.Answered != 1 || qe.Valid != 1 || qe.Needed != 2 || qe.Total != 4 {
		t.Fatalf("quorum error %+v", qe)
	}
	if !strings.Contains(err.Error(), "1 of 4 replicas answered") || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("message %q", err)
	}
}

func TestCallerContextEndsWait(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply { return fakeReply{hang: true} })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := fc.client().GrantKey(ctx, "k1", "bob")
	if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestUnreachableReplicasFailFast(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply { return ok(replica) })
	for _, s := range fc.servers[:3] {
		s.Close()
	}
	start := time.Now()
	err := fc.client().GrantKey(context.Background(), "k1", "bob")
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("got %v", err)
	}
	if qe.TimedOut || qe.Answered != 1 || len(qe.Failures) != 3 || time.Since(start) > time.Second {
		t.Fatalf("quorum error %+v after %v", qe, time.Since(start))
	}
}

func TestPinnedCertificate(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply { return ok(replica) })
	// Replica 1's endpoint pinned with replica 2's certificate: the
	// handshake fails although the server is reachable.
	fc.cfg.Replicas[0].TLSCert = fc.cfg.Replicas[1].TLSCert
	fc.cfg.Timeout = "1s"
	for _, s := range fc.servers[1:] {
		s.Close()
	}
	err := fc.client().GrantKey(context.Background(), "k1", "bob")
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Answered != 0 || len(qe.Failures) != 4 {
		t.Fatalf("got %v", err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.seen[1]) != 0 {
		t.Fatal("request reached a server whose certificate is not pinned")
	}
}

func TestMalformedAnswersAreCulprits(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch replica {
		case 1:
			return fakeReply{raw: []byte("{not json")}
		case 2:
			return fakeReply{resp: &wire.Response{Replica: 3}} // claims another index
		}
		return fakeReply{hang: true}
	})
	fc.cfg.Timeout = "300ms"
	err := fc.client().GrantKey(context.Background(), "k1", "bob")
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("got %v", err)
	}
	want := []Culprit{{1, ReasonMalformed}, {2, ReasonMalformed}}
	if len(qe.Culprits) != 2 || qe.Culprits[0] != want[0] || qe.Culprits[1] != want[1] || qe.Valid != 0 {
		t.Fatalf("culprits %+v", qe.Culprits)
	}
	if !strings.Contains(err.Error(), "replica 1: malformed response") {
		t.Fatalf("message %q", err)
	}
}

func TestListKeysNeedsAgreement(t *testing.T) {
	honest := []wire.KeyInfo{{KeyID: "k1", Scheme: wire.SchemeBLS, Owner: "alice", PublicKey: []byte{1, 2}}}
	liar := []wire.KeyInfo{{KeyID: "k1", Scheme: wire.SchemeBLS, Owner: "alice", PublicKey: []byte{9, 9}}}
	var culprits []Culprit
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		if req.Op != wire.OpKeyList {
			return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
		}
		if replica == 2 {
			return fakeReply{resp: &wire.Response{Replica: replica, Keys: liar}}
		}
		if replica == 4 {
			time.Sleep(100 * time.Millisecond) // answers last
		}
		if replica == 1 {
			time.Sleep(50 * time.Millisecond) // after the liar
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Keys: honest}}
	})
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = cs }))
	keys, err := c.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || string(keys[0].PublicKey) != string([]byte{1, 2}) {
		t.Fatalf("keys %+v", keys)
	}
	if len(culprits) != 1 || culprits[0] != (Culprit{2, ReasonDisagreement}) {
		t.Fatalf("culprits %+v", culprits)
	}
}

func TestListKeysDisagreementIsNoQuorum(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		// Every replica reports something different: nothing is agreed.
		return fakeReply{resp: &wire.Response{Replica: replica, Keys: []wire.KeyInfo{{KeyID: "k", PublicKey: []byte{byte(replica)}}}}}
	})
	_, err := fc.client().ListKeys(context.Background())
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Answered != 4 || qe.Valid != 0 || qe.TimedOut {
		t.Fatalf("got %v", err)
	}
}

func TestStatus(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply { return ok(replica) })
	fc.servers[3].Close()
	st := fc.client().Status(context.Background())
	for i, s := range st[:3] {
		if !s.Ready || s.Replica != i+1 || s.Height != 5 {
			t.Fatalf("status %+v", s)
		}
	}
	if st[3].Ready || st[3].Error == "" {
		t.Fatalf("closed replica status %+v", st[3])
	}
}

func TestQuorumErrorShowsMinorityRejections(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch replica {
		case 1:
			return fakeReply{status: http.StatusNotFound, resp: &wire.Response{Replica: replica, Error: "unknown key"}}
		case 2:
			return fakeReply{status: http.StatusServiceUnavailable, raw: []byte(`{"replica":2}`)}
		}
		return fakeReply{hang: true}
	})
	fc.cfg.Timeout = "300ms"
	err := fc.client().DisableKey(context.Background(), "k1")
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("got %v", err)
	}
	if len(qe.Rejections) != 1 || qe.Rejections[0].Reason != "unknown key" || len(qe.Failures) != 1 || qe.Failures[0] != 2 || len(qe.Culprits) != 0 {
		t.Fatalf("quorum error %+v", qe)
	}
	if !strings.Contains(err.Error(), "rejected by [1]: unknown key") {
		t.Fatalf("message %q", err)
	}
}

// A replica's refusals count once per reason, however often it refuses:
// t+1 refusals need t+1 replicas.
func TestRoundRejectCountsReplicasOnce(t *testing.T) {
	r := &round{op: wire.OpSign, n: 4, t: 1, rejections: map[string][]int{}}
	r.reject(3, "share unavailable")
	r.reject(3, "share unavailable")
	if rej := r.rejected(); rej != nil {
		t.Fatalf("one replica refusing twice is final: %v", rej)
	}
	r.reject(2, "share unavailable")
	rej := r.rejected()
	if rej == nil || len(rej.Replicas) != 2 || rej.Replicas[0] != 2 || rej.Replicas[1] != 3 {
		t.Fatalf("got %v", rej)
	}
}
