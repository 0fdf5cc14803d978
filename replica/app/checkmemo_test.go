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

// TestCheckVerdictFollowsCommits: a transaction that passed CheckTx is
// remembered only for the committed state and the second it passed in. The
// second check of the same bytes against the same state is answered from
// the memo; after a commit, at another second, or when the check ran while
// a block was being committed, the transaction is checked afresh.
func TestCheckVerdictFollowsCommits(t *testing.T) {
	tn, a, c := newStartedChain(t)
	a.now = func() time.Time { return c.now }
	exp := c.now.Unix() + 30
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	reg := txOf(t, signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, exp, wire.RegisterClientBody{ClientID: "bob", PublicKey: pub}))
	checkTx := func(tx []byte) *abcitypes.CheckTxResponse {
		t.Helper()
		r, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	if r := checkTx(reg); r.Code != 0 {
		t.Fatalf("first check: %s", r.Log)
	}
	if a.passed.len() != 1 {
		t.Fatalf("%d verdicts remembered after a pass, want 1", a.passed.len())
	}
	if r := checkTx(reg); r.Code != 0 || a.passed.len() != 1 {
		t.Fatalf("second check: code %d, %d verdicts", r.Code, a.passed.len())
	}

	// Another second: the request has expired by the replica's clock.
	a.now = func() time.Time { return c.now.Add(31 * time.Second) }
	if r := checkTx(reg); r.Code != codeOf(ErrExpired) {
		t.Fatalf("after expiry: code %d (%s), want expired", r.Code, r.Log)
	}
	a.now = func() time.Time { return c.now }

	// Committed: the same bytes are now a replay, whatever was remembered.
	if r := c.block(reg); r[0].Code != 0 {
		t.Fatalf("register: %s", r[0].Log)
	}
	a.now = func() time.Time { return c.now }
	if r := checkTx(reg); r.Code != codeOf(ErrReplay) {
		t.Fatalf("after commit: code %d (%s), want replay", r.Code, r.Log)
	}

	// A pass seen while the committed state was changing is not remembered.
	other := txOf(t, signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, c.now.Unix()+30, wire.RegisterClientBody{ClientID: "carol", PublicKey: pub}))
	before := a.passed.len()
	a.version.Add(1) // as Commit does before writing
	if r := checkTx(other); r.Code != 0 {
		t.Fatalf("check during commit: %s", r.Log)
	}
	a.version.Add(1)
	if a.passed.len() != before {
		t.Fatal("a verdict reached while a commit was under way was remembered")
	}
}
