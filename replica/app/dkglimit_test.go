package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/dleq"
	"github.com/vhsm/vhsm/threshold/group"
)

// dkgTx signs m as replica j's message to session.
func (tn *testNet) dkgTx(t testing.TB, j int, session string, m dkg.Message) []byte {
	t.Helper()
	tx, err := SignReplicaTx(testCluster, j, tn.SignKeys[j-1], DKGPayload{Session: session, Message: m.Marshal()})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// refused checks that CheckTx and then FinalizeBlock refuse tx with the
// code of want and a log containing logHas, and that the block stores
// nothing: the transcript keeps its length and the state hash is unchanged.
func (c *chain) refused(name string, tx []byte, want error, logHas string) {
	c.t.Helper()
	before, err := c.a.Transcript(name, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	ct, _ := c.a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
	if ct.Code != codeOf(want) || !strings.Contains(ct.Log, logHas) {
		c.t.Fatalf("CheckTx: code %d (%s), want %d (%v) with %q", ct.Code, ct.Log, codeOf(want), want, logHas)
	}
	_, hash := c.a.Committed()
	r := c.block(tx)
	if r[0].Code != codeOf(want) || !strings.Contains(r[0].Log, logHas) {
		c.t.Fatalf("FinalizeBlock: code %d (%s), want %d (%v) with %q", r[0].Code, r[0].Log, codeOf(want), want, logHas)
	}
	after, _ := c.a.Transcript(name, 0)
	if len(after) != len(before) {
		c.t.Fatalf("transcript grew from %d to %d entries", len(before), len(after))
	}
	if _, h := c.a.Committed(); !bytes.Equal(h, hash) {
		c.t.Fatal("a refused message changed the state")
	}
}

// taken checks that one block takes every tx.
func (c *chain) taken(txs ...[]byte) {
	c.t.Helper()
	for i, r := range c.block(txs...) {
		if r.Code != 0 {
			c.t.Fatalf("tx %d: code %d (%s)", i, r.Code, r.Log)
		}
	}
}

// TestSessionTakesEachMessageOnce runs one session through CheckTx and
// FinalizeBlock and checks that a replica adds at most one dealing, one
// response and one timeout vote per phase: a second dealing (also in the
// same block), a second response or vote, a message for the other phase,
// an oversized dealing or response, and any message once the session is
// done are refused without being stored.
func TestSessionTakesEachMessageOnce(t *testing.T) {
	tn, a, c := newStartedChain(t)
	const name = "bls-0"
	s, err := a.Session(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.SessionParams(s)
	if err != nil {
		t.Fatal(err)
	}
	deal := func(j int) *dkg.Dealing {
		d, err := dkg.NewDealing(p, j, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	dealings := []*dkg.Dealing{deal(1), deal(2), deal(3), deal(4)}

	c.taken(tn.dkgTx(t, 1, name, dealings[0]))
	t.Run("second dealing", func(t *testing.T) {
		c.t = t
		c.refused(name, tn.dkgTx(t, 1, name, deal(1)), ErrDKG, "duplicate")
		c.refused(name, tn.dkgTx(t, 1, name, dealings[0]), ErrDKG, "duplicate")
	})
	t.Run("oversized dealing", func(t *testing.T) {
		c.t = t
		more := p
		more.Batch++ // one polynomial more than the session's batch
		d, err := dkg.NewDealing(more, 2, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c.refused(name, tn.dkgTx(t, 2, name, d), ErrTooLarge, "dealing")
	})
	t.Run("response in the dealing phase", func(t *testing.T) {
		c.t = t
		c.refused(name, tn.dkgTx(t, 3, name, &dkg.Response{Sender: 3}), ErrDKG, "another phase")
		c.refused(name, tn.dkgTx(t, 3, name, &dkg.TimeoutVote{Sender: 3, Phase: dkg.PhaseResponding}), ErrDKG, "another phase")
	})
	t.Run("oversized response", func(t *testing.T) {
		c.t = t
		ec := group.Secp256k1()
		r := &dkg.Response{Sender: 3}
		for i := 1; i <= tn.G.N+1; i++ { // a complaint against more dealers than there are
			r.Complaints = append(r.Complaints, dkg.Complaint{Dealer: i, Key: ec.Generator(), Proof: dleq.Proof{C: ec.ScalarFromUint64(1), Z: ec.ScalarFromUint64(1)}})
		}
		c.refused(name, tn.dkgTx(t, 3, name, r), ErrTooLarge, "response")
	})
	c.t = t
	// The refused oversized dealing took no slot: replica 2 still deals. In
	// one block a second dealing of replica 3 is refused after its first.
	r := c.block(tn.dkgTx(t, 2, name, dealings[1]), tn.dkgTx(t, 3, name, dealings[2]), tn.dkgTx(t, 3, name, deal(3)), tn.dkgTx(t, 4, name, dealings[3]))
	for i, want := range []error{nil, nil, ErrDKG, nil} {
		if r[i].Code != codeOf(want) {
			t.Fatalf("tx %d: code %d (%s), want %v", i, r[i].Code, r[i].Log, want)
		}
	}
	if tr, _ := a.Transcript(name, 0); len(tr) != 4 {
		t.Fatalf("transcript has %d entries, want the 4 dealings", len(tr))
	}

	// Every replica dealt: the session is in its responding phase.
	local, err := dkg.NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dealings {
		if err := local.Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	respond := func(j int) *dkg.Response {
		sk, err := group.Secp256k1().DecodeScalar(tn.DKGKeys[j-1])
		if err != nil {
			t.Fatal(err)
		}
		r, err := local.Respond(j, sk, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("dealing-phase vote in the responding phase", func(t *testing.T) {
		c.t = t
		c.refused(name, tn.dkgTx(t, 2, name, &dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseDealing}), ErrDKG, "another phase")
	})
	c.t = t
	c.taken(tn.dkgTx(t, 1, name, respond(1)), tn.dkgTx(t, 1, name, &dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseResponding}))
	t.Run("second response and vote", func(t *testing.T) {
		c.t = t
		c.refused(name, tn.dkgTx(t, 1, name, respond(1)), ErrDKG, "duplicate")
		c.refused(name, tn.dkgTx(t, 1, name, &dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseResponding}), ErrDKG, "duplicate")
	})
	c.t = t
	c.taken(tn.dkgTx(t, 2, name, respond(2)), tn.dkgTx(t, 3, name, respond(3)), tn.dkgTx(t, 4, name, respond(4)))
	if s, err := a.Session(name); err != nil || s.Status != StatusDone || s.Count != 9 {
		t.Fatalf("session %+v, %v; want done after 9 messages", s, err)
	}
	t.Run("message for a done session", func(t *testing.T) {
		c.t = t
		c.refused(name, tn.dkgTx(t, 2, name, &dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseResponding}), ErrUnknownSess, "done")
		c.refused(name, tn.dkgTx(t, 1, name, deal(1)), ErrUnknownSess, "done")
	})
}

// TestSessionAccepts checks the rules of sessionAccepts on records: a
// session recorded before them (messages but no phase) is left to the
// per-replica cap, and a failed session takes nothing.
func TestSessionAccepts(t *testing.T) {
	vote := &dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseResponding}
	if err := sessionAccepts(&SessionInfo{Name: "x", Status: StatusOpen, Count: 3}, vote); err != nil {
		t.Fatalf("record before the rules: %v", err)
	}
	if err := sessionAccepts(&SessionInfo{Name: "x", Status: StatusOpen}, vote); err == nil {
		t.Fatal("responding vote taken by a new session")
	}
	if err := sessionAccepts(&SessionInfo{Name: "x", Status: StatusFailed, Phase: dkg.StatusFailed}, vote); err == nil {
		t.Fatal("failed session took a message")
	}
	s := &SessionInfo{Name: "x", Status: StatusOpen, Phase: dkg.StatusResponding}
	noteTaken(s, 4, vote, dkg.StatusResponding)
	if err := sessionAccepts(s, vote); err == nil {
		t.Fatal("second vote taken")
	}
	if err := sessionAccepts(s, &dkg.TimeoutVote{Sender: 3, Phase: dkg.PhaseResponding}); err != nil {
		t.Fatalf("another replica's vote: %v", err)
	}
}
