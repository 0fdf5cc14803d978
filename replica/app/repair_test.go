package app

import (
	"crypto/rand"
	"slices"
	"testing"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// replay rebuilds a committed session, with its repair transcript, from
// the app's read view, as the engine does.
func replay(t *testing.T, a *App, name string) *dkg.Session {
	t.Helper()
	s, err := a.Session(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.SessionParams(s)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := dkg.NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	main, err := a.Transcript(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.RepairTranscript(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(main, rep...) {
		m, err := dkg.DecodeMessage(p.Group, e.Message)
		if err != nil {
			t.Fatal(err)
		}
		_ = sess.Apply(m)
	}
	return sess
}

// TestRepairTransactions drives a late replica's repair through CheckTx,
// FinalizeBlock and Commit: dealer 2 deals replica 3 a bad share, replica 3
// misses the responding phase, the session completes; replica 3's late
// complaint exposes dealer 2, reveals from replicas 2 and 4 repair it, and a
// wrong reveal and duplicates are refused. A repair message for an open
// session, or in a transaction of kind "dkg", is refused; the repair state
// survives a restart.
func TestRepairTransactions(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	dir := t.TempDir()
	a, err := New(dir, tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := startChain(t, a)
	c.block()
	const name = "schnorr-0"
	sk := func(j int) group.Scalar {
		x, err := group.Secp256k1().DecodeScalar(tn.DKGKeys[j-1])
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	tx := func(sign func(int, DKGPayload) ([]byte, error), m dkg.Message) []byte {
		b, err := sign(m.SenderIndex(), DKGPayload{Session: name, Message: m.Marshal()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dkgTx := func(m dkg.Message) []byte {
		return tx(func(i int, p DKGPayload) ([]byte, error) { return SignReplicaTx(testCluster, i, tn.SignKeys[i-1], p) }, m)
	}
	repairTx := func(m dkg.Message) []byte {
		return tx(func(i int, p DKGPayload) ([]byte, error) { return SignRepairTx(testCluster, i, tn.SignKeys[i-1], p) }, m)
	}
	s, err := a.Session(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.SessionParams(s)
	if err != nil {
		t.Fatal(err)
	}
	var txs [][]byte
	for i := 1; i <= 4; i++ {
		d, err := dkg.NewDealing(p, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			d.Ciphertexts[2][0] ^= 1 // replica 3's first share
		}
		txs = append(txs, dkgTx(d))
	}
	c.block(txs...)
	sess := replay(t, a, name)
	lc, err := dkg.NewLateComplaint(p, 3, sk(3), sess.Dealings()[1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Precheck(repairTx(lc)); codeOf(err) != codeOf(ErrUnknownSess) {
		t.Fatalf("repair message for an open session: %v", err)
	}
	txs = nil
	for _, j := range []int{1, 2, 4} {
		r, err := sess.Respond(j, sk(j), rand.Reader)
		if err != nil || len(r.Complaints) != 0 {
			t.Fatalf("respond %d: %v", j, err)
		}
		txs = append(txs, dkgTx(r))
	}
	for _, j := range []int{1, 4} {
		txs = append(txs, dkgTx(&dkg.TimeoutVote{Sender: j, Phase: dkg.PhaseResponding}))
	}
	c.block(txs...)
	if s, _ := a.Session(name); s.Status != StatusDone {
		t.Fatalf("session %s", s.Status)
	}
	sess = replay(t, a, name)
	if _, err := sess.Shares(3, sk(3)); err == nil {
		t.Fatal("victim derived its shares without repair")
	}

	// The late complaint: refused as a "dkg" transaction, accepted as a
	// repair transaction.
	lcs, err := sess.LateComplaints(3, sk(3), rand.Reader)
	if err != nil || len(lcs) != 1 {
		t.Fatalf("late complaints: %v, %v", lcs, err)
	}
	if err := a.Precheck(dkgTx(lcs[0])); codeOf(err) != codeOf(ErrUnknownSess) {
		t.Fatalf("late complaint as a dkg transaction: %v", err)
	}
	late := repairTx(lcs[0])
	if err := a.Precheck(late); err != nil {
		t.Fatalf("late complaint CheckTx: %v", err)
	}
	if r := c.block(late); r[0].Code != codeOf(ErrDKG) { // applied, naming dealer 2
		t.Fatalf("late complaint: code %d %s", r[0].Code, r[0].Log)
	}
	if names, _ := a.Repairing(); !slices.Equal(names, []string{name}) {
		t.Fatalf("repairing %v", names)
	}
	if err := a.Precheck(late); codeOf(err) != codeOf(ErrDKG) {
		t.Fatalf("duplicate late complaint CheckTx: %v", err)
	}
	c.block(late)
	if rep, _ := a.RepairTranscript(name, 0); len(rep) != 1 {
		t.Fatalf("repair transcript holds %d messages after a duplicate", len(rep))
	}

	// A wrong reveal is recorded and names its sender; its repeat is refused.
	sess = replay(t, a, name)
	r1, err := sess.Reveal(1, sk(1), 2)
	if err != nil {
		t.Fatal(err)
	}
	wrong := &dkg.Reveal{Sender: 1, Dealer: 2, Shares: slices.Clone(r1.Shares)}
	wrong.Shares[0] = wrong.Shares[0].Add(p.Group.ScalarFromUint64(1))
	if r := c.block(repairTx(wrong)); r[0].Code != codeOf(ErrDKG) {
		t.Fatalf("wrong reveal: code %d", r[0].Code)
	}
	if err := a.Precheck(repairTx(r1)); codeOf(err) != codeOf(ErrDKG) {
		t.Fatalf("second reveal of replica 1 CheckTx: %v", err)
	}
	if r := c.block(repairTx(r1)); r[0].Code != codeOf(ErrDKG) {
		t.Fatalf("second reveal of replica 1: code %d", r[0].Code)
	}
	if got := replay(t, a, name).Culprits(); !slices.Contains(got, dkg.Culprit{Replica: 1, Reason: dkg.ReasonBadReveal, Other: 2}) {
		t.Fatalf("wrong reveal not named: %v", got)
	}

	// Restart: the repair continues from the committed state.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a, err = New(dir, tn.G, nil); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c.a = a
	r2, err := sess.Reveal(2, sk(2), 2)
	if err != nil {
		t.Fatal(err)
	}
	r4, err := sess.Reveal(4, sk(4), 2)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.block(repairTx(r2), repairTx(r4)); r[0].Code != 0 || r[1].Code != 0 {
		t.Fatalf("reveals: %s; %s", r[0].Log, r[1].Log)
	}
	if names, _ := a.Repairing(); len(names) != 0 {
		t.Fatalf("still repairing %v", names)
	}
	if err := a.Precheck(repairTx(&dkg.Reveal{Sender: 3, Dealer: 2, Shares: r2.Shares})); codeOf(err) != codeOf(ErrDKG) {
		t.Fatalf("reveal after repair CheckTx: %v", err)
	}
	sess = replay(t, a, name)
	xs, err := sess.Shares(3, sk(3))
	if err != nil {
		t.Fatalf("victim's shares after repair: %v", err)
	}
	res, _ := sess.Result()
	for b, x := range xs {
		if !p.Group.BaseMul(x).Equal(res.VerificationKey(b, 3)) {
			t.Fatalf("slot %d: repaired share does not match", b)
		}
	}
}
