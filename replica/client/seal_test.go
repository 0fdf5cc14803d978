package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
)

// A replica's partial must come sealed to the request's reply key, for this
// request and from this replica: an answer in the clear, one copied from
// another replica, one sealed for another request, or a truncated one is
// malformed, and its sender is named while the honest answers still make
// the signature.
func TestSealedAnswersChecked(t *testing.T) {
	t.Run("alone", func(t *testing.T) { testSealedAnswersChecked(t, WithoutBatching()) })
	t.Run("batched", func(t *testing.T) { testSealedAnswersChecked(t) })
}

// testSealedAnswersChecked: in a batch, a partial sealed on its own (cases
// 2-4) or in the clear (case 1) is malformed just the same.
func testSealedAnswersChecked(t *testing.T, opts ...Option) {
	info, poly := testKey(t, "eth1", wire.SchemeBLS, 2)
	var unavailable atomic.Bool
	fc := newFakeCluster(t, 7, 2, func(replica int, req wire.Request, signed []byte) fakeReply {
		if req.Op == wire.OpKeyPub {
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		}
		var b wire.SignBody
		json.Unmarshal(req.Body, &b)
		p, _ := bls.PartialSign(poly.Share(replica), b.Message)
		var sr wire.SignedRequest
		json.Unmarshal(signed, &sr)
		h := wire.RequestHash(sr.Request)
		switch replica {
		case 1: // in the clear
			return fakeReply{plain: true, resp: &wire.Response{Replica: replica, Partial: p}}
		case 2: // sealed as if it came from replica 3
			s, _ := wire.SealReply(req.Reply, h, 3, p)
			return fakeReply{resp: &wire.Response{Replica: replica, Sealed: s}}
		case 3: // truncated
			s, _ := wire.SealReply(req.Reply, h, replica, p)
			return fakeReply{resp: &wire.Response{Replica: replica, Sealed: s[:len(s)-1]}}
		case 4: // sealed under another request's hash
			s, _ := wire.SealReply(req.Reply, [32]byte{1}, replica, p)
			return fakeReply{resp: &wire.Response{Replica: replica, Sealed: s}}
		}
		if replica == 7 && unavailable.Load() {
			return fakeReply{status: http.StatusServiceUnavailable, raw: []byte("down")}
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Partial: p}}
	})
	c := fc.client(opts...)
	msg := []byte("voluntary exit")
	// With replica 7 down, only t=2 honest answers remain: the client must
	// look at every answer, and its error names each bad one.
	unavailable.Store(true)
	_, err := c.SignBLS(context.Background(), "eth1", msg)
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("want a QuorumError, got %v", err)
	}
	culprits := qe.Culprits
	// With replica 7 up, t+1 honest answers make the signature.
	unavailable.Store(false)
	sig, err := c.SignBLS(context.Background(), "eth1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyBLS(info.PublicKey, msg, sig); !ok {
		t.Fatal("signature does not verify")
	}
	named := map[int]bool{}
	for _, c := range culprits {
		if c.Reason != ReasonMalformed {
			t.Fatalf("culprit %v", c)
		}
		named[c.Replica] = true
	}
	if len(culprits) != 4 {
		t.Fatalf("culprits %v, want replicas 1-4", culprits)
	}
	for r := 1; r <= 4; r++ {
		if !named[r] {
			t.Fatalf("replica %d not named (culprits %v)", r, culprits)
		}
	}
	// Each request carries its own reply key: two requests never share one.
	fc.mu.Lock()
	defer fc.mu.Unlock()
	keys := map[string]bool{}
	for _, signed := range fc.seen[5] {
		var sr wire.SignedRequest
		json.Unmarshal(signed, &sr)
		var req wire.Request
		json.Unmarshal(sr.Request, &req)
		if req.Op != wire.OpSign && req.Op != wire.OpBatch {
			continue
		}
		if len(req.Reply) != wire.ReplyKeyLen || keys[string(req.Reply)] || req.Cluster != fakeClusterID {
			t.Fatalf("sign request reply key %x, cluster %q", req.Reply, req.Cluster)
		}
		keys[string(req.Reply)] = true
	}
	if len(keys) == 0 {
		t.Fatal("no sign request seen")
	}
}

// An honest replica a block behind still reports a key as enabled after
// its disable: it agrees on the key's immutable material and is not named.
// The key reads as disabled only when t+1 agreeing replicas say so.
func TestLaggingDisableIsNotACulprit(t *testing.T) {
	info, _ := testKey(t, "k1", wire.SchemeBLS, 1)
	for _, tc := range []struct {
		disabledAt map[int]bool
		want       bool
	}{
		{map[int]bool{1: true}, false},
		{map[int]bool{1: true, 2: true, 3: true, 4: true}, true},
	} {
		fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
			k := info
			k.Disabled = tc.disabledAt[replica]
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &k}}
		})
		var culprits []Culprit
		c := fc.client(WithCulpritHandler(func(_ string, cs []Culprit) { culprits = append(culprits, cs...) }))
		got, err := c.PublicKey(context.Background(), "k1")
		if err != nil {
			t.Fatal(err)
		}
		if len(culprits) != 0 {
			t.Fatalf("culprits %v", culprits)
		}
		if !bytes.Equal(got.PublicKey, info.PublicKey) {
			t.Fatal("public key")
		}
		if tc.want && !got.Disabled {
			t.Fatalf("disabled at every replica, reported enabled")
		}
		if !tc.want && got.Disabled {
			// Only possible if t+1 of the first agreeing replicas said so.
			t.Fatalf("disabled at one replica only, reported disabled")
		}
	}
}
