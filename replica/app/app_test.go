package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

func smallPools() PoolConfig { return PoolConfig{KeyBatch: 2, KeyLow: 1, NonceBatch: 2, NonceLow: 1} }

func TestGenesisOpensOneSessionPerKind(t *testing.T) {
	_, a, _ := newStartedChain(t)
	ss, err := a.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != len(Kinds) {
		t.Fatalf("sessions = %d, want %d", len(ss), len(Kinds))
	}
	for _, s := range ss {
		if s.Status != StatusOpen || s.Count != 0 {
			t.Errorf("session %s: status %s count %d", s.Name, s.Status, s.Count)
		}
	}
}

func TestClientRequests(t *testing.T) {
	tn, a, c := newStartedChain(t)
	exp := c.now.Unix() + 60
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)

	reg := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, exp, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub})
	if r := c.block(txOf(t, reg)); r[0].Code != 0 {
		t.Fatalf("register: %s", r[0].Log)
	}
	if cl, _ := a.Client("alice"); cl == nil || cl.Admin {
		t.Fatalf("alice not registered as a plain client: %+v", cl)
	}
	res, err := a.Result("admin", mustReq(t, reg).ID)
	if err != nil || res == nil || res.Code != 0 {
		t.Fatalf("stored result: %+v %v", res, err)
	}

	badSig := signed(t, alice, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"})
	badSig.Signature[0] ^= 1
	unsigned := signed(t, alice, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"})
	unsigned.Signature = nil
	hugeBody := signed(t, alice, "alice", wire.OpSign, exp, wire.SignBody{KeyID: "k1", Message: make([]byte, wire.MaxRequestBytes)})

	cases := []struct {
		name string
		sr   *wire.SignedRequest
		want error
	}{
		{"unsigned", unsigned, ErrBadSignature},
		{"bad signature", badSig, ErrBadSignature},
		{"wrong signer", signed(t, mallory, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"}), ErrBadSignature},
		{"unknown client", signed(t, mallory, "mallory", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"}), ErrUnknownClient},
		{"expired by block time", signed(t, alice, "alice", wire.OpKeyGen, c.now.Unix(), wire.KeyGenBody{KeyID: "k1", Scheme: "bls"}), ErrExpired},
		{"too far", signed(t, alice, "alice", wire.OpKeyGen, c.now.Unix()+wire.MaxValidity+60, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"}), ErrTooFar},
		{"non-admin register", signed(t, alice, "alice", wire.OpRegisterClient, exp, wire.RegisterClientBody{ClientID: "eve", PublicKey: alicePub}), ErrUnauthorized},
		{"bad scheme", signed(t, alice, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "rsa"}), ErrBadScheme},
		{"bad key id", signed(t, alice, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k/1", Scheme: "bls"}), ErrBadBody},
		{"empty pool", signed(t, alice, "alice", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"}), ErrPoolEmpty},
		{"unknown key", signed(t, alice, "alice", wire.OpKeyDisable, exp, wire.KeyRefBody{KeyID: "nope"}), ErrUnknownKey},
		{"sign in log", signed(t, alice, "alice", wire.OpSign, exp, wire.SignBody{KeyID: "k1", Message: []byte("m")}), ErrBadOp},
		{"oversized request", hugeBody, ErrTooLarge},
		{"read op in log", signed(t, alice, "alice", wire.OpKeyList, exp, struct{}{}), ErrBadOp},
		{"unknown op", signed(t, alice, "alice", "keys.steal", exp, struct{}{}), ErrBadOp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := txOf(t, tc.sr)
			if tc.want != ErrExpired { // CheckTx uses local time, not block time
				ct, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
				if ct.Code != codeOf(tc.want) {
					t.Errorf("CheckTx code %d (%s), want %d", ct.Code, ct.Log, codeOf(tc.want))
				}
			}
			r := c.block(tx)
			if r[0].Code != codeOf(tc.want) {
				t.Errorf("FinalizeBlock code %d (%s), want %d (%v)", r[0].Code, r[0].Log, codeOf(tc.want), tc.want)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		if r := c.block(txOf(t, reg)); r[0].Code != codeOf(ErrReplay) {
			t.Fatalf("replay code %d (%s)", r[0].Code, r[0].Log)
		}
		ct, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: txOf(t, reg)})
		if ct.Code != codeOf(ErrReplay) {
			t.Fatalf("CheckTx replay code %d", ct.Code)
		}
	})
	// CheckTx judges expiry by local time: a request valid for the next
	// block's time but expired by the replica's clock is refused there, and
	// one that expired by block time is refused by FinalizeBlock above.
	t.Run("expired by local time in CheckTx", func(t *testing.T) {
		sr := signed(t, alice, "alice", wire.OpKeyGen, c.now.Unix()+30, wire.KeyGenBody{KeyID: "k1", Scheme: "bls"})
		defer func(now func() time.Time) { a.now = now }(a.now)
		a.now = func() time.Time { return c.now.Add(31 * time.Second) }
		ct, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: txOf(t, sr)})
		if ct.Code != codeOf(ErrExpired) {
			t.Fatalf("CheckTx code %d (%s), want expired", ct.Code, ct.Log)
		}
		a.now = func() time.Time { return c.now }
		if ct, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: txOf(t, sr)}); ct.Code == codeOf(ErrExpired) {
			t.Fatal("CheckTx refused an unexpired request as expired")
		}
	})
	t.Run("replay within one block", func(t *testing.T) {
		sr := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, exp, wire.RegisterClientBody{ClientID: "bob", PublicKey: alicePub})
		r := c.block(txOf(t, sr), txOf(t, sr))
		if r[0].Code != 0 || r[1].Code != codeOf(ErrReplay) {
			t.Fatalf("codes %d %d", r[0].Code, r[1].Code)
		}
	})
	t.Run("pruned after expiry", func(t *testing.T) {
		for c.now.Unix() <= exp {
			c.block()
		}
		if r, _ := a.Result("admin", mustReq(t, reg).ID); r != nil {
			t.Fatal("expired request still recorded")
		}
		// and it is still refused, as expired
		if r := c.block(txOf(t, reg)); r[0].Code != codeOf(ErrExpired) {
			t.Fatalf("code %d", r[0].Code)
		}
	})
	t.Run("malformed envelopes", func(t *testing.T) {
		for _, tx := range [][]byte{nil, []byte("{}"), []byte(`{"client":{},"replica":{}}`), []byte(`{"x":1}`), []byte("[")} {
			if r := c.block(tx); r[0].Code == 0 {
				t.Errorf("accepted %q", tx)
			}
		}
	})
}

func mustReq(t testing.TB, sr *wire.SignedRequest) *wire.Request {
	var r wire.Request
	if err := json.Unmarshal(sr.Request, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestReplicaTxSignature(t *testing.T) {
	tn, a, c := newStartedChain(t)
	vote := (&dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseDealing}).Marshal()
	good, err := SignReplicaTx(tn.G.Cluster, 2, tn.SignKeys[1], DKGPayload{Session: "bls-0", Message: vote})
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := SignReplicaTx(tn.G.Cluster, 2, tn.SignKeys[0], DKGPayload{Session: "bls-0", Message: vote})
	asOther, _ := SignReplicaTx(tn.G.Cluster, 3, tn.SignKeys[2], DKGPayload{Session: "bls-0", Message: vote})
	unknown, _ := SignReplicaTx(tn.G.Cluster, 2, tn.SignKeys[1], DKGPayload{Session: "bls-9", Message: vote})
	r := c.block(wrongKey, asOther, unknown, good)
	want := []error{ErrBadSignature, ErrBadReplica, ErrUnknownSess, nil}
	for i, w := range want {
		if r[i].Code != codeOf(w) {
			t.Errorf("tx %d: code %d (%s), want %v", i, r[i].Code, r[i].Log, w)
		}
	}
	tr, err := a.Transcript("bls-0", 0)
	if err != nil || len(tr) != 1 || tr[0].Sender != 2 {
		t.Fatalf("transcript %+v %v", tr, err)
	}
	// A replica flooding a session with the same vote adds nothing more
	// (dkglimit_test.go has the other kinds).
	var flood [][]byte
	for i := 0; i < MaxMessagesPerReplica; i++ {
		tx, _ := SignReplicaTx(tn.G.Cluster, 2, tn.SignKeys[1], DKGPayload{Session: "bls-0", Message: vote})
		flood = append(flood, tx)
	}
	r = c.block(flood...)
	for i, res := range r {
		if res.Code != codeOf(ErrDKG) {
			t.Fatalf("repeated vote %d: code %d (%s)", i, res.Code, res.Log)
		}
	}
	if tr, _ := a.Transcript("bls-0", 0); len(tr) != 1 {
		t.Fatalf("transcript has %d entries, want 1", len(tr))
	}
}

func TestRestartKeepsStateAndHash(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	dir := t.TempDir()
	a, err := New(dir, tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := startChain(t, a)
	c.block()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	reg := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, c.now.Unix()+60, wire.RegisterClientBody{ClientID: "carol", PublicKey: pub})
	c.block(txOf(t, reg))
	h1, hash1 := a.Committed()
	c.block() // no writes: hash unchanged
	h2, hash2 := a.Committed()
	if h2 != h1+1 || !bytes.Equal(hash1, hash2) {
		t.Fatalf("empty block changed the hash or height: %d %d", h1, h2)
	}
	info1, _ := a.Info(context.Background(), &abcitypes.InfoRequest{})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := New(dir, tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	info2, _ := b.Info(context.Background(), &abcitypes.InfoRequest{})
	if info2.LastBlockHeight != info1.LastBlockHeight || !bytes.Equal(info2.LastBlockAppHash, info1.LastBlockAppHash) || len(info1.LastBlockAppHash) != 32 {
		t.Fatalf("info after restart %+v, before %+v", info2, info1)
	}
	if cl, _ := b.Client("carol"); cl == nil {
		t.Fatal("client lost on restart")
	}
	// The reopened app continues the chain and rejects the replay.
	c.a = b
	if r := c.block(txOf(t, reg)); r[0].Code != codeOf(ErrReplay) {
		t.Fatalf("replay after restart: code %d", r[0].Code)
	}
}

func TestAppHashDeterministic(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	var hashes [][]byte
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	reg := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, testStart.Unix()+100, wire.RegisterClientBody{ClientID: "dave", PublicKey: pub})
	for i := 0; i < 2; i++ {
		a, err := New(t.TempDir(), tn.G, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := startChain(t, a)
		c.block()
		c.block(txOf(t, reg), []byte("junk"))
		_, h := a.Committed()
		hashes = append(hashes, h)
		a.Close()
	}
	if !bytes.Equal(hashes[0], hashes[1]) {
		t.Fatal("same blocks gave different app hashes")
	}
}

func TestInitChainRejectsOtherGenesis(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	a, err := New(t.TempDir(), tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other := tn.G
	other.Pools.KeyLow++ // a valid genesis, but another one
	js, _ := json.Marshal(other)
	if _, err := a.InitChain(context.Background(), &abcitypes.InitChainRequest{AppStateBytes: js}); err == nil || !strings.Contains(err.Error(), "genesis") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecodeTx(f *testing.F) {
	f.Add([]byte(`{"client":{"request":"e30=","signature":"AA=="}}`))
	f.Add([]byte(`{"replica":{"replica":1,"kind":"dkg","payload":"e30=","signature":""}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		tx2, err := DecodeTx(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if (tx.Client == nil) != (tx2.Client == nil) {
			t.Fatal("round trip changed the envelope")
		}
	})
}

// FuzzCheckTx feeds arbitrary transactions to CheckTx and FinalizeBlock: no
// panic, and an unauthenticated transaction changes no state.
func FuzzCheckTx(f *testing.F) {
	tn := newTestNet(f, 4, smallPools())
	a, err := New(f.TempDir(), tn.G, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	c := startChain(f, a)
	c.block()
	vote := (&dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseDealing}).Marshal()
	rtx, _ := SignReplicaTx(tn.G.Cluster, 1, tn.SignKeys[0], DKGPayload{Session: "nonce-0", Message: vote})
	f.Add(rtx)
	f.Add(legacyReplicaTx(f, tn.G.Cluster, 2, tn.SignKeys[1], "dkg", DKGPayload{Session: "nonce-0", Message: (&dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseDealing}).Marshal()}))
	f.Add(txOf(f, signed(f, tn.AdminKey, "nobody", wire.OpKeyGen, testStart.Unix()+60, wire.KeyGenBody{KeyID: "k", Scheme: "bls"})))
	f.Add([]byte(`{"client":{"request":"eyJjbGllbnQiOiJhZG1pbiJ9","signature":""}}`))
	f.Fuzz(func(t *testing.T, tx []byte) {
		if _, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx}); err != nil {
			t.Fatal(err)
		}
		c.t = t
		_, before := a.Committed()
		r := c.block(tx)
		// Only authentic transactions may change the state: an admitted
		// client request (recorded with its result, Data set) or an
		// authentic DKG message (kept in the transcript even if rejected).
		if _, after := a.Committed(); r[0].Code != 0 && r[0].Code != codeOf(ErrDKG) && len(r[0].Data) == 0 && !bytes.Equal(before, after) {
			t.Fatalf("rejected tx (code %d) changed the state", r[0].Code)
		}
	})
}

func TestRefillPipelinesSessions(t *testing.T) {
	tn := newTestNet(t, 4, PoolConfig{KeyBatch: 2, KeyLow: 5, NonceBatch: 6, NonceLow: 3})
	a, err := New(t.TempDir(), tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := startChain(t, a)
	openCount := func() map[string]int {
		open, err := a.OpenSessions()
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, s := range open {
			count[s.Kind]++
		}
		return count
	}
	// Keys: 3 sessions of 2 reach the watermark 5, all opened at genesis
	// (the shortfall calls for them at once); no nonce session opens (FROST
	// nonces are each replica's own, off the log).
	want := map[string]int{KindSchnorr: 3, KindBLS: 3, KindSymmetric: 3, KindNonce: 0}
	for range 2 {
		c.block() // InitChain's writes are committed with the first block
		count := openCount()
		for k, n := range want {
			if count[k] != n {
				t.Errorf("%s: %d open sessions, want %d", k, count[k], n)
			}
		}
	}
	// A shortfall larger than maxRefillsPerBlock batches is refilled over
	// several blocks.
	tn = newTestNet(t, 4, PoolConfig{KeyBatch: 1, KeyLow: 10, NonceBatch: 2, NonceLow: 1})
	b, err := New(t.TempDir(), tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, c = b, startChain(t, b)
	// InitChain and the first block each open maxRefillsPerBlock.
	for blocks, n := range []int{2 * maxRefillsPerBlock, 10, 10} {
		c.block()
		if got := openCount()[KindBLS]; got != n {
			t.Errorf("after %d blocks: %d open bls sessions, want %d", blocks+1, got, n)
		}
	}
	g := tn.G
	g.Pools = DefaultPoolConfig()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestAppHashCheckpoints checks that the app hash given to CometBFT changes
// only at checkpoints (the first block at least checkpointEvery of block time
// after the previous one), equals the state hash there, survives a restart
// (Info), and is the same for a replica that restarted in between.
func TestAppHashCheckpoints(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	step := 300 * time.Millisecond
	var txs [][]byte // the same blocks for both runs
	for i := range 8 {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		reg := signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, testStart.Unix()+60, wire.RegisterClientBody{ClientID: fmt.Sprintf("c%d", i), PublicKey: pub})
		txs = append(txs, txOf(t, reg))
	}
	run := func(restartAt int) (reported [][]byte, full [][]byte) {
		dir := t.TempDir()
		a, err := New(dir, tn.G, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := startChain(t, a)
		for i := range 8 {
			if i == restartAt {
				info1, _ := c.a.Info(context.Background(), &abcitypes.InfoRequest{})
				c.a.Close()
				if c.a, err = New(dir, tn.G, nil); err != nil {
					t.Fatal(err)
				}
				info2, _ := c.a.Info(context.Background(), &abcitypes.InfoRequest{})
				if !bytes.Equal(info1.LastBlockAppHash, info2.LastBlockAppHash) || !bytes.Equal(info2.LastBlockAppHash, reported[len(reported)-1]) {
					t.Fatalf("reported hash lost on restart")
				}
			}
			c.height++
			c.now = c.now.Add(step)
			r, err := c.a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Txs: [][]byte{txs[i]}, Height: c.height, Time: c.now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.a.Commit(context.Background(), &abcitypes.CommitRequest{}); err != nil {
				t.Fatal(err)
			}
			_, h := c.a.Committed()
			reported, full = append(reported, r.AppHash), append(full, h)
		}
		c.a.Close()
		return reported, full
	}
	reported, full := run(-1)
	// Block times 0.3 s apart from genesis: checkpoints at 1.2 s and 2.4 s,
	// blocks 4 and 8 (indexes 3 and 7).
	for i := range reported {
		if i > 0 && bytes.Equal(full[i], full[i-1]) {
			t.Fatalf("block %d: a registration did not change the state hash", i+1)
		}
		checkpoint := i == 3 || i == 7
		if checkpoint != bytes.Equal(reported[i], full[i]) {
			t.Errorf("block %d: reported hash equals state hash: %v, want %v", i+1, !checkpoint, checkpoint)
		}
		if i > 0 && !checkpoint && !bytes.Equal(reported[i], reported[i-1]) {
			t.Errorf("block %d: reported hash changed between checkpoints", i+1)
		}
	}
	again, _ := run(5)
	for i := range reported {
		if !bytes.Equal(again[i], reported[i]) {
			t.Fatalf("block %d: a restarted replica reported another hash", i+1)
		}
	}
}
