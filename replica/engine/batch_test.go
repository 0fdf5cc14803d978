package engine

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// batchOf builds a signed batch of items for replica.
func batchOf(t testing.TB, key ed25519.PrivateKey, client string, replica int, items ...wire.BatchItem) []byte {
	t.Helper()
	return request(t, key, client, wire.OpBatch, wire.BatchBody{Replica: replica, Items: items})
}

// item makes a batch item of op with body.
func item(t testing.TB, op string, body any) wire.BatchItem {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return wire.BatchItem{ID: hex.EncodeToString(id), Op: op, Body: b}
}

// openBatch opens a batch answer's bundle as the client does and returns
// the items' partial results (nil for refused items).
func openBatch(t testing.TB, sr []byte, resp *wire.Response) [][]byte {
	t.Helper()
	var s wire.SignedRequest
	if err := json.Unmarshal(sr, &s); err != nil {
		t.Fatal(err)
	}
	h := wire.RequestHash(s.Request)
	k, ok := replyKeys.Load(h)
	if !ok {
		t.Fatal("no reply key for the batch")
	}
	bundle, err := wire.OpenReply(k.(*ecdh.PrivateKey), h, resp.Replica, resp.Sealed)
	if err != nil {
		t.Fatalf("batch answer of replica %d does not open: %v", resp.Replica, err)
	}
	parts, err := wire.SplitBundle(bundle, len(resp.Items))
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// TestBatch: a batch runs each item as a request of its own (a refused item
// costs the others nothing), seals their results together to the batch's
// reply key, records each served item in the audit chain, and is refused
// whole — before any item runs — when replayed, sent to another replica,
// tampered with, or carrying an operation that cannot be batched.
func TestBatch(t *testing.T) {
	c := newCluster(t, 4)
	c.withAudit(t)
	c.waitReady(40 * time.Second)
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	c.genKey(t, alice, "alice", "s1", wire.SchemeSchnorr)
	bk := c.genKey(t, alice, "alice", "b1", wire.SchemeBLS)
	ctx := context.Background()
	ec := group.Secp256k1()
	P, err := ec.DecodePoint(c.keyInfo(t, "s1").Origin.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	fk, err := frost.Taproot.NewKey(P, schnorr.Taproot{Mode: schnorr.TaprootNone})
	if err != nil {
		t.Fatal(err)
	}
	bcom, err := vss.DecodeCommitment(group.BLS12381G1(), bk.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	signItem := func(msg []byte, scs []wire.SignerCommitment) wire.BatchItem {
		return item(t, wire.OpSign, wire.SignBody{KeyID: "s1", Message: msg, Signers: scs})
	}
	// handle sends sr to replica and requires an answer.
	handle := func(t *testing.T, replica int, sr []byte) *wire.Response {
		t.Helper()
		resp, err := c.engines[replica-1].Handle(ctx, sr)
		if err != nil {
			t.Fatalf("replica %d: %v", replica, err)
		}
		if resp.Replica != replica || len(resp.Partial) != 0 {
			t.Fatalf("replica %d answered %+v", replica, resp)
		}
		return resp
	}
	// refusedWhole requires a refusal of the whole batch, with nothing in it.
	refusedWhole := func(t *testing.T, replica int, sr []byte, want string) {
		t.Helper()
		resp, err := c.engines[replica-1].Handle(ctx, sr)
		if !errors.Is(err, ErrRejected) || !strings.Contains(resp.Error, want) || len(resp.Items) != 0 || len(resp.Sealed) != 0 {
			t.Fatalf("replica %d: want a refusal containing %q, got %+v, %v", replica, want, resp, err)
		}
	}
	// combine completes a FROST session from its batched shares.
	combine := func(t *testing.T, msg []byte, coms []frost.Commitment, shares map[int][]byte) {
		t.Helper()
		zs := map[int]group.Scalar{}
		for i, b := range shares {
			z, err := ec.DecodeScalar(b)
			if err != nil {
				t.Fatalf("share of replica %d: %v", i, err)
			}
			zs[i] = z
		}
		sig, err := frost.Taproot.Aggregate(&frost.SigningPackage{Commitments: coms, Message: msg}, fk, zs)
		if err != nil || !frost.Taproot.Verify(fk, msg, sig) {
			t.Fatalf("FROST signature from batched shares: %v", err)
		}
	}

	var firstBatch []byte
	t.Run("items answered one by one, sealed together, audited", func(t *testing.T) {
		msg := []byte("batched frost")
		bmsg := []byte("batched bls")
		scs, coms := c.derivedSession(t, alice, "alice", []int{1, 2})
		sr1 := batchOf(t, alice, "alice", 1, signItem(msg, scs), item(t, wire.OpSign, wire.SignBody{KeyID: "b1", Message: bmsg}),
			item(t, wire.OpSign, wire.SignBody{KeyID: "nope", Message: msg}))
		sr2 := batchOf(t, alice, "alice", 2, signItem(msg, scs), item(t, wire.OpSign, wire.SignBody{KeyID: "b1", Message: bmsg}))
		r1, r2 := handle(t, 1, sr1), handle(t, 2, sr2)
		if len(r1.Items) != 3 || len(r2.Items) != 2 {
			t.Fatalf("items answered: %d and %d", len(r1.Items), len(r2.Items))
		}
		p1, p2 := openBatch(t, sr1, r1), openBatch(t, sr2, r2)
		if r1.Items[2].Error == "" || p1[2] != nil || !strings.Contains(r1.Items[2].Error, "nope") {
			t.Fatalf("item with an unknown key: %+v, partial %x", r1.Items[2], p1[2])
		}
		for i, r := range []*wire.Response{r1, r2} {
			for j := range 2 {
				if it := r.Items[j]; it.Error != "" || it.Replica != i+1 || len(it.Sealed) != 0 || len(it.Partial) != 0 {
					t.Fatalf("replica %d item %d: %+v", i+1, j, it)
				}
			}
		}
		combine(t, msg, coms, map[int][]byte{1: p1[0], 2: p2[0]})
		for i, p := range [][]byte{p1[1], p2[1]} {
			if err := bls.VerifyPartial(bcom.Eval(i+1), bmsg, p); err != nil {
				t.Fatalf("bls partial of replica %d: %v", i+1, err)
			}
		}
		// Replica 1's chain records items 0 and 1, by item hash, and not
		// the refused item 2.
		var s wire.SignedRequest
		_ = json.Unmarshal(sr1, &s)
		bh := wire.RequestHash(s.Request)
		var b wire.BatchBody
		var req wire.Request
		_ = json.Unmarshal(s.Request, &req)
		_ = json.Unmarshal(req.Body, &b)
		recs := c.mustAll(t, request(t, c.admin, "admin", wire.OpAuditRecords, wire.AuditRecordsBody{}))[0].Audit.Records
		found := map[[32]byte]wire.AuditRecord{}
		for _, r := range recs {
			found[[32]byte(r.Request)] = r
		}
		m := sha256.Sum256(msg)
		if r, ok := found[wire.ItemHash("alice", &b.Items[0])]; !ok || r.Op != wire.OpSign || r.KeyID != "s1" || !bytes.Equal(r.Message, m[:]) {
			t.Fatalf("item 0 not recorded as served: %+v", r)
		}
		if r, ok := found[wire.ItemHash("alice", &b.Items[1])]; !ok || r.KeyID != "b1" {
			t.Fatalf("item 1 not recorded as served: %+v", r)
		}
		if _, ok := found[wire.ItemHash("alice", &b.Items[2])]; ok {
			t.Fatal("refused item 2 recorded")
		}
		if _, ok := found[bh]; ok {
			t.Fatal("the batch itself recorded as a request")
		}
		firstBatch = sr1
	})

	t.Run("replayed batch refused", func(t *testing.T) {
		refusedWhole(t, 1, firstBatch, "already used")
	})

	t.Run("batch for another replica refused before any item runs", func(t *testing.T) {
		msg := []byte("misdirected")
		scs, coms := c.derivedSession(t, alice, "alice", []int{1, 2})
		for1 := batchOf(t, alice, "alice", 1, signItem(msg, scs))
		refusedWhole(t, 2, for1, "for replica 1")
		// Replica 2's nonce is unspent: the session completes.
		for2 := batchOf(t, alice, "alice", 2, signItem(msg, scs))
		r1, r2 := handle(t, 1, for1), handle(t, 2, for2)
		combine(t, msg, coms, map[int][]byte{1: openBatch(t, for1, r1)[0], 2: openBatch(t, for2, r2)[0]})
	})

	t.Run("operation that cannot be batched refuses the whole batch", func(t *testing.T) {
		msg := []byte("mixed batch")
		scs, coms := c.derivedSession(t, alice, "alice", []int{1, 2})
		for _, bad := range []wire.BatchItem{
			item(t, wire.OpNonces, wire.NoncesBody{Count: 1}),
			item(t, wire.OpKeyGen, wire.KeyGenBody{KeyID: "k9", Scheme: wire.SchemeBLS}),
			item(t, wire.OpBatch, wire.BatchBody{Replica: 1, Items: []wire.BatchItem{signItem(msg, scs)}}),
			item(t, wire.OpEth2Sign, wire.Eth2SignBody{KeyID: "b1"}),
			{Op: "sign ", Body: json.RawMessage(`{}`)},
		} {
			refusedWhole(t, 1, batchOf(t, alice, "alice", 1, signItem(msg, scs), bad), "cannot be batched")
		}
		// Nothing ran: the nonces named are unspent.
		sr1 := batchOf(t, alice, "alice", 1, signItem(msg, scs))
		sr2 := batchOf(t, alice, "alice", 2, signItem(msg, scs))
		r1, r2 := handle(t, 1, sr1), handle(t, 2, sr2)
		combine(t, msg, coms, map[int][]byte{1: openBatch(t, sr1, r1)[0], 2: openBatch(t, sr2, r2)[0]})
	})

	t.Run("item count bounds", func(t *testing.T) {
		refusedWhole(t, 1, batchOf(t, alice, "alice", 1), "0 items")
		many := make([]wire.BatchItem, wire.MaxBatchItems+1)
		for i := range many {
			many[i] = item(t, wire.OpSign, wire.SignBody{KeyID: "b1", Message: []byte{byte(i)}})
		}
		refusedWhole(t, 1, batchOf(t, alice, "alice", 1, many...), "65 items")
		sr := batchOf(t, alice, "alice", 1, many[:wire.MaxBatchItems]...)
		if parts := openBatch(t, sr, handle(t, 1, sr)); len(parts) != wire.MaxBatchItems || parts[wire.MaxBatchItems-1] == nil {
			t.Fatal("a batch of the maximum size not answered")
		}
	})

	t.Run("one nonce named twice in a batch signs once", func(t *testing.T) {
		scs, _ := c.derivedSession(t, alice, "alice", []int{1, 2})
		sr := batchOf(t, alice, "alice", 1, signItem([]byte("first"), scs), signItem([]byte("second"), scs))
		resp := handle(t, 1, sr)
		parts := openBatch(t, sr, resp)
		if resp.Items[0].Error != "" || parts[0] == nil {
			t.Fatalf("first use refused: %+v", resp.Items[0])
		}
		if !strings.Contains(resp.Items[1].Error, "unknown or used nonce") || parts[1] != nil {
			t.Fatalf("second use of the nonce: %+v, partial %x", resp.Items[1], parts[1])
		}
	})

	t.Run("item ids follow the rules of request ids", func(t *testing.T) {
		it := item(t, wire.OpSign, wire.SignBody{KeyID: "b1", Message: []byte("id rules")})
		bad := it
		bad.ID = "ABCDEF" + it.ID[6:]
		refusedWhole(t, 1, batchOf(t, alice, "alice", 1, bad), "id is not")
		// The same item again (a retry, or a hedge to another replica) is
		// answered; its id with other contents is not.
		for _, replica := range []int{1, 1, 2} {
			sr := batchOf(t, alice, "alice", replica, it)
			if r := handle(t, replica, sr); r.Items[0].Error != "" || openBatch(t, sr, r)[0] == nil {
				t.Fatalf("replica %d: item %+v", replica, r.Items[0])
			}
		}
		other := it
		other.Body = json.RawMessage(`{"key_id":"b1","message":"b3RoZXI="}`)
		for _, replica := range []int{1, 2} {
			r := handle(t, replica, batchOf(t, alice, "alice", replica, other))
			if !strings.Contains(r.Items[0].Error, "already used") {
				t.Fatalf("replica %d: item id reused for other contents: %+v", replica, r.Items[0])
			}
		}
		// An ordered request's id is taken for items too.
		reg := request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b1", ClientID: "admin"})
		c.mustAll(t, reg)
		taken := it
		taken.ID = mustReqID(t, reg)
		if r := handle(t, 1, batchOf(t, alice, "alice", 1, taken)); !strings.Contains(r.Items[0].Error, "already used") {
			t.Fatalf("item with an ordered request's id: %+v", r.Items[0])
		}
	})

	t.Run("tampered batch refused", func(t *testing.T) {
		scs, _ := c.derivedSession(t, alice, "alice", []int{1, 2})
		sr := batchOf(t, alice, "alice", 1, signItem([]byte("original"), scs))
		var s wire.SignedRequest
		_ = json.Unmarshal(sr, &s)
		for _, tc := range []struct {
			mutate func([]byte) []byte
			want   string
		}{
			{func(b []byte) []byte { return bytes.Replace(b, []byte(`"replica":1`), []byte(`"replica":2`), 1) }, "signature"},
			{func(b []byte) []byte { return bytes.Replace(b, []byte(`"op":"sign"`), []byte(`"op":"decrypt"`), 1) }, "signature"},
			{func(b []byte) []byte { return b[:len(b)-1] }, "malformed"},
		} {
			t2 := s
			t2.Request = tc.mutate(bytes.Clone(s.Request))
			if bytes.Equal(t2.Request, s.Request) {
				t.Fatal("mutation changed nothing")
			}
			out, _ := json.Marshal(t2)
			refusedWhole(t, 1, out, tc.want)
		}
		// The genuine one still signs: nothing was spent.
		resp := handle(t, 1, sr)
		if resp.Items[0].Error != "" {
			t.Fatalf("genuine batch after tampered copies: %+v", resp.Items[0])
		}
		// Its bundle opens only for this batch and this replica.
		h := wire.RequestHash(s.Request)
		k, _ := replyKeys.Load(h)
		if _, err := wire.OpenReply(k.(*ecdh.PrivateKey), h, 2, resp.Sealed); err == nil {
			t.Fatal("bundle opens as replica 2's")
		}
		var req wire.Request
		var b wire.BatchBody
		_ = json.Unmarshal(s.Request, &req)
		_ = json.Unmarshal(req.Body, &b)
		if _, err := wire.OpenReply(k.(*ecdh.PrivateKey), wire.ItemHash("alice", &b.Items[0]), 1, resp.Sealed); err == nil {
			t.Fatal("bundle opens under its item's hash")
		}
	})

	t.Run("a batch never enters the log", func(t *testing.T) {
		sr := batchOf(t, alice, "alice", 1, item(t, wire.OpSign, wire.SignBody{KeyID: "b1", Message: []byte("m")}))
		tx := txOfSigned(t, sr)
		if err := c.bus.BroadcastTx(ctx, tx); err != nil {
			t.Fatal(err)
		}
		for i, r := range c.execResults(t, tx) {
			if r.Code == 0 || !strings.Contains(r.Log, app.ErrBadOp.Error()) {
				t.Fatalf("app %d executed a batch: %+v", i+1, r)
			}
		}
	})
}
