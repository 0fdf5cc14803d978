package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/wire"
)

func auditTx(t *testing.T, tn *testNet, me int, key ed25519.PrivateKey, seq uint64, head byte) []byte {
	t.Helper()
	tx, err := SignAuditTx(testCluster, me, key, AuditPayload{Seq: seq, Head: bytes.Repeat([]byte{head}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func checkTx(t *testing.T, a *App, tx []byte) uint32 {
	t.Helper()
	r, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
	if err != nil {
		t.Fatal(err)
	}
	return r.Code
}

// TestAuditHeads drives audit-head transactions through CheckTx and
// FinalizeBlock: a head is kept per replica with its seq and height, a
// seq that does not increase is refused, and so is a head not signed by the
// replica it names or signed for another cluster.
func TestAuditHeads(t *testing.T) {
	tn, a, c := newStartedChain(t)

	first := auditTx(t, tn, 2, tn.SignKeys[1], 5, 0xa1)
	if code := checkTx(t, a, first); code != 0 {
		t.Fatalf("CheckTx of a valid head: code %d", code)
	}
	res := c.block(first, auditTx(t, tn, 3, tn.SignKeys[2], 1, 0xb1))
	for i, r := range res {
		if r.Code != 0 {
			t.Fatalf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	h, err := a.AuditLatest(2)
	if err != nil || h.Seq != 5 || h.Head[0] != 0xa1 || h.Height != c.height {
		t.Fatalf("latest of replica 2: %+v %v", h, err)
	}

	// The seq must increase: equal or lower is refused at CheckTx and in a
	// block.
	for _, seq := range []uint64{5, 4} {
		tx := auditTx(t, tn, 2, tn.SignKeys[1], seq, 0xa2)
		if code := checkTx(t, a, tx); code != codeOf(ErrBadReplica) {
			t.Fatalf("CheckTx of seq %d after 5: code %d", seq, code)
		}
		if r := c.block(tx); r[0].Code != codeOf(ErrBadReplica) {
			t.Fatalf("block with seq %d after 5: code %d", seq, r[0].Code)
		}
	}
	// Two heads of one replica in one block: the second is refused even
	// with a higher seq (one head per replica per block).
	r := c.block(auditTx(t, tn, 2, tn.SignKeys[1], 9, 0xa3), auditTx(t, tn, 2, tn.SignKeys[1], 10, 0xa4))
	if r[0].Code != 0 || r[1].Code != codeOf(ErrBadReplica) {
		t.Fatalf("two heads in a block: codes %d, %d", r[0].Code, r[1].Code)
	}

	// Wrong signatures: another replica's key, another cluster, a payload
	// changed after signing, a seq of zero.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	forged := auditTx(t, tn, 2, tn.SignKeys[0], 20, 0xff)
	otherCluster, _ := SignAuditTx("other", 2, tn.SignKeys[1], AuditPayload{Seq: 20, Head: make([]byte, 32)})
	var env wire.Tx
	_ = json.Unmarshal(auditTx(t, tn, 2, tn.SignKeys[1], 20, 0xee), &env)
	env.Replica.Payload = []byte(`{"seq":21,"head":"` + "7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u4=" + `"}`)
	changed, _ := json.Marshal(env)
	zero, _ := SignAuditTx(testCluster, 2, tn.SignKeys[1], AuditPayload{Seq: 0, Head: make([]byte, 32)})
	short, _ := SignAuditTx(testCluster, 2, tn.SignKeys[1], AuditPayload{Seq: 30, Head: make([]byte, 31)})
	for name, tc := range map[string]struct {
		tx   []byte
		code uint32
	}{
		"other replica's key": {forged, codeOf(ErrBadSignature)},
		"unknown key":         {auditTx(t, tn, 2, stranger, 20, 0xff), codeOf(ErrBadSignature)},
		"other cluster":       {otherCluster, codeOf(ErrBadSignature)},
		"changed payload":     {changed, codeOf(ErrBadSignature)},
		"seq zero":            {zero, codeOf(ErrBadReplica)},
		"short head":          {short, codeOf(ErrBadReplica)},
		"replica 0":           {auditTx(t, tn, 0, tn.SignKeys[0], 40, 1), codeOf(ErrBadReplica)},
	} {
		if code := checkTx(t, a, tc.tx); code != tc.code {
			t.Errorf("%s: CheckTx code %d, want %d", name, code, tc.code)
		}
		if r := c.block(tc.tx); r[0].Code != tc.code {
			t.Errorf("%s: block code %d, want %d", name, r[0].Code, tc.code)
		}
	}

	heads, height, err := a.AuditHeads(2, 0, 10)
	if err != nil || height != c.height || len(heads) != 2 || heads[0].Seq != 5 || heads[1].Seq != 9 {
		t.Fatalf("heads of replica 2: %+v at %d, %v", heads, height, err)
	}
	if heads, _, _ := a.AuditHeads(2, 5, 10); len(heads) != 1 || heads[0].Seq != 9 {
		t.Fatalf("heads of replica 2 after 5: %+v", heads)
	}
	if heads, _, _ := a.AuditHeads(2, 0, 1); len(heads) != 1 {
		t.Fatalf("limit 1: %d heads", len(heads))
	}
	if heads, _, _ := a.AuditHeads(3, 0, 10); len(heads) != 1 || heads[0].Replica != 3 {
		t.Fatalf("heads of replica 3: %+v", heads)
	}
	if heads, _, _ := a.AuditHeads(1, 0, 10); len(heads) != 0 {
		t.Fatalf("heads of replica 1: %+v", heads)
	}
}
