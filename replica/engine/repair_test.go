package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// lyingBus is the broadcaster of a dealer that deals garbage shares to
// victim in every session: it rewrites the dealer's dealings before they
// reach the mempool.
type lyingBus struct {
	*bus
	me, victim int
	key        ed25519.PrivateKey
	app        *app.App
}

func (l *lyingBus) BroadcastTx(ctx context.Context, tx []byte) error {
	w, err := app.DecodeTx(tx)
	if err != nil || w.Replica == nil || w.Replica.Kind != "dkg" {
		return l.bus.BroadcastTx(ctx, tx)
	}
	p, err := app.DecodePayload(w.Replica.Payload)
	if err != nil {
		return err
	}
	s, err := l.app.Session(p.Session)
	if err != nil {
		return err
	}
	m, err := dkg.DecodeMessage(app.GroupOf(s.Kind), p.Message)
	if err != nil {
		return err
	}
	if d, ok := m.(*dkg.Dealing); ok {
		for k := range d.Ciphertexts[l.victim-1] {
			d.Ciphertexts[l.victim-1][k] ^= 0xff
		}
		if tx, err = app.SignReplicaTx(testCluster, l.me, l.key, app.DKGPayload{Session: p.Session, Message: d.Marshal()}); err != nil {
			return err
		}
	}
	return l.bus.BroadcastTx(ctx, tx)
}

// TestRepairLateReplica: in an in-memory 4-replica cluster, replica 4 deals
// garbage shares to replica 1 in every genesis session while replica 1's
// engine is stopped through the whole DKG (its app follows the blocks, as
// a CometBFT node catching up would). The sessions complete with replica 4
// qualified. A fresh engine for replica 1 (a restart) files late
// complaints, the others reveal, and replica 1 becomes ready holding a
// share of every slot of every session that matches its verification key;
// its BLS partial signature verifies.
func TestRepairLateReplica(t *testing.T) {
	const n, victim, liar = 4, 1, 4
	ec := group.Secp256k1()
	c := &cluster{t: t, errs: make(chan error, 1), results: map[string][]*abcitypes.ExecTxResult{}}
	c.g = app.Genesis{Cluster: testCluster, N: n, T: (n - 1) / 3, Pools: app.PoolConfig{KeyBatch: 2, KeyLow: 1, NonceBatch: 2, NonceLow: 1}}
	var signKeys []ed25519.PrivateKey
	var dkgKeys [][]byte
	for i := 1; i <= n; i++ {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		sk, _ := ec.RandomScalar(rand.Reader)
		signKeys = append(signKeys, priv)
		dkgKeys = append(dkgKeys, sk.Bytes())
		c.g.Replicas = append(c.g.Replicas, app.ReplicaInfo{Index: i, SignKey: pub, DKGKey: ec.BaseMul(sk).Bytes()})
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c.admin = priv
	c.g.Admin = app.ClientInfo{ID: "admin", PublicKey: pub, Admin: true}
	c.bus = &bus{seen: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, a := range c.apps {
			a.Close()
		}
	})
	run := func(e *Engine) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Run(ctx)
		}()
	}
	genesisTime := time.Now()
	for i := 1; i <= n; i++ {
		a, err := app.New(t.TempDir(), c.g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.InitChain(ctx, &abcitypes.InitChainRequest{ChainId: testCluster, InitialHeight: 1, Time: genesisTime}); err != nil {
			t.Fatal(err)
		}
		var b Broadcaster = c.bus
		if i == liar {
			b = &lyingBus{bus: c.bus, me: i, victim: victim, key: signKeys[i-1], app: a}
		}
		st := &memStore{m: map[string][]byte{}}
		e, err := New(Config{App: a, Me: i, SignKey: signKeys[i-1], DKGKey: dkgKeys[i-1], Shares: st, Broadcast: b, Rand: rand.Reader, PhaseTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.apps, c.engines, c.stores = append(c.apps, a), append(c.engines, e), append(c.stores, st)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.build(ctx, c.bus)
	}()
	for i, e := range c.engines {
		if i+1 != victim {
			run(e)
		}
	}

	// The genesis sessions complete without replica 1.
	deadline := time.Now().Add(40 * time.Second)
	for {
		ss, err := c.apps[1].Sessions()
		if err != nil {
			t.Fatal(err)
		}
		done := len(ss) >= len(app.Kinds)
		for _, s := range ss {
			done = done && s.Status == app.StatusDone
		}
		if done {
			break
		}
		select {
		case err := <-c.errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("genesis sessions not done: %+v", ss)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if names, _ := c.apps[1].Repairing(); len(names) != 0 {
		t.Fatalf("repairing before the late replica returned: %v", names)
	}

	// Replica 1's engine starts (a restart) and is repaired.
	e1, err := New(c.engines[victim-1].cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.engines[victim-1] = e1
	run(e1)
	c.waitReady(40 * time.Second)

	sessions, err := c.apps[0].Sessions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Status != app.StatusDone {
			continue
		}
		p, err := c.apps[0].SessionParams(&s)
		if err != nil {
			t.Fatal(err)
		}
		sess, _ := dkg.NewSession(p)
		main, _ := c.apps[0].Transcript(s.Name, 0)
		rep, _ := c.apps[0].RepairTranscript(s.Name, 0)
		for _, en := range append(main, rep...) {
			m, err := dkg.DecodeMessage(p.Group, en.Message)
			if err != nil {
				t.Fatal(err)
			}
			_ = sess.Apply(m)
		}
		res, err := sess.Result()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(res.Qualified, liar) || sess.Repair(liar) != dkg.RepairComplete {
			t.Errorf("session %s: Q %v, dealer %d repair %v", s.Name, res.Qualified, liar, sess.Repair(liar))
		}
		if !slices.Contains(sess.Culprits(), dkg.Culprit{Replica: liar, Reason: dkg.ReasonBadShares, Other: victim}) {
			t.Errorf("session %s: culprits %v", s.Name, sess.Culprits())
		}
		for b := range p.Batch {
			v, err := c.engines[victim-1].loadShare(&app.PoolItem{Kind: s.Kind, Session: s.Name, Slot: b})
			if err != nil {
				t.Fatalf("session %s slot %d: %v", s.Name, b, err)
			}
			x, err := p.Group.DecodeScalar(v)
			if err != nil || !p.Group.BaseMul(x).Equal(res.VerificationKey(b, victim)) {
				t.Fatalf("session %s slot %d: share does not match the verification key", s.Name, b)
			}
		}
	}
	if names, _ := c.apps[0].Repairing(); len(names) != 0 {
		t.Fatalf("still repairing %v", names)
	}

	// Replica 1 serves: its BLS partial signature verifies.
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	key := c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "b1", Scheme: wire.SchemeBLS}))[0].Key
	com, err := vss.DecodeCommitment(group.BLS12381G1(), key.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("repaired")
	for _, r := range c.mustAll(t, request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg})) {
		if err := bls.VerifyPartial(com.Eval(r.Replica), msg, r.Partial); err != nil {
			t.Fatalf("partial of replica %d: %v", r.Replica, err)
		}
	}
}
