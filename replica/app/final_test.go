package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestResultAtFinalizeBlock checks that a request's result is answered from
// FinalizeBlock, before Commit, while the other reads still see the
// committed state until the Commit, and that AwaitCommit bridges the two.
func TestResultAtFinalizeBlock(t *testing.T) {
	tn, a, c := newStartedChain(t)
	alicePub, _, _ := ed25519.GenerateKey(rand.Reader)
	reg := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, c.now.Unix()+60, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub})
	id := mustReq(t, reg).ID

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waited := make(chan *Result, 1)
	go func() {
		r, err := a.WaitResult(ctx, "admin", id)
		if err != nil {
			t.Error(err)
		}
		waited <- r
	}()
	if err := a.AwaitCommit(ctx); err != nil {
		t.Fatalf("AwaitCommit with nothing pending: %v", err)
	}

	c.height++
	c.now = c.now.Add(time.Second)
	if _, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Txs: [][]byte{txOf(t, reg)}, Height: c.height, Time: c.now}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-waited:
		if r == nil || r.Code != 0 || r.Height != c.height || r.Client == nil || r.Client.ClientID != "alice" {
			t.Fatalf("WaitResult before Commit = %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitResult did not return at FinalizeBlock")
	}
	if r, err := a.Result("admin", id); err != nil || r == nil || r.Code != 0 {
		t.Fatalf("Result before Commit = %+v, %v", r, err)
	}
	if cl, _ := a.Client("alice"); cl != nil {
		t.Fatal("uncommitted state visible before Commit")
	}
	// AwaitCommit blocks until the Commit.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	err := a.AwaitCommit(short)
	cancelShort()
	if err == nil {
		t.Fatal("AwaitCommit returned before the Commit")
	}
	committed := make(chan error, 1)
	go func() { committed <- a.AwaitCommit(ctx) }()
	if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := <-committed; err != nil {
		t.Fatalf("AwaitCommit after Commit: %v", err)
	}
	if cl, _ := a.Client("alice"); cl == nil {
		t.Fatal("alice not visible after Commit")
	}
	if r, err := a.Result("admin", id); err != nil || r == nil || r.Code != 0 || r.Height != c.height {
		t.Fatalf("Result after Commit = %+v, %v", r, err)
	}
}
