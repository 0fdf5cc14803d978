package engine

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	blst "github.com/supranational/blst/bindings/go"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// memStore is an in-memory ShareStore.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
	// failPut, when set, refuses the writes of names it returns an error
	// for (a full or failing disk).
	failPut func(name string) error
}

func (s *memStore) Put(name string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPut != nil {
		if err := s.failPut(name); err != nil {
			return err
		}
	}
	s.m[name] = bytes.Clone(v)
	return nil
}

func (s *memStore) Get(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name]
	if !ok {
		return nil, sealed.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (s *memStore) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

// bus is the test's mempool: it collects every broadcast tx once.
type bus struct {
	mu      sync.Mutex
	pending [][]byte
	seen    map[string]bool
}

func (b *bus) BroadcastTx(_ context.Context, tx []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.seen[string(tx)] {
		b.seen[string(tx)] = true
		b.pending = append(b.pending, bytes.Clone(tx))
	}
	return nil
}

func (b *bus) take() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending
	b.pending = nil
	return p
}

type cluster struct {
	t       testing.TB
	apps    []*app.App
	engines []*Engine
	stores  []*memStore
	admin   ed25519.PrivateKey
	g       app.Genesis
	errs    chan error
	bus     *bus        // the mempool every engine broadcasts to
	paused  atomic.Bool // while set, no block is built

	resMu   sync.Mutex
	results map[string][]*abcitypes.ExecTxResult // by tx bytes, one per app
}

// newCluster starts n Apps and Engines fed the same blocks by a builder
// goroutine until the test ends.
func newCluster(t testing.TB, n int) *cluster {
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
	b := &bus{seen: map[string]bool{}}
	c.bus = b
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, a := range c.apps {
			a.Close()
		}
	})
	genesisTime := time.Now() // one genesis time, as CometBFT gives every replica
	for i := 0; i < n; i++ {
		a, err := app.New(t.TempDir(), c.g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.InitChain(ctx, &abcitypes.InitChainRequest{ChainId: testCluster, InitialHeight: 1, Time: genesisTime}); err != nil {
			t.Fatal(err)
		}
		st := &memStore{m: map[string][]byte{}}
		e, err := New(Config{App: a, Me: i + 1, SignKey: signKeys[i], DKGKey: dkgKeys[i], Shares: st, Broadcast: b, Rand: rand.Reader, PhaseTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.apps, c.engines, c.stores = append(c.apps, a), append(c.engines, e), append(c.stores, st)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.build(ctx, b)
	}()
	for _, e := range c.engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Run(ctx)
		}()
	}
	return c
}

// build orders pending txs into blocks and feeds every App, checking that
// all reach the same app hash.
func (c *cluster) build(ctx context.Context, b *bus) {
	height := int64(0)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c.paused.Load() {
			continue
		}
		txs := b.take()
		if len(txs) == 0 && !first {
			continue
		}
		height++
		now := time.Now()
		var hash []byte
		for i, a := range c.apps {
			r, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Txs: txs, Height: height, Time: now})
			if err == nil && i > 0 && !bytes.Equal(r.AppHash, hash) {
				err = errors.New("app hashes diverged")
			}
			if err == nil {
				hash = r.AppHash
				c.resMu.Lock()
				for j, tx := range txs {
					c.results[string(tx)] = append(c.results[string(tx)], r.TxResults[j])
				}
				c.resMu.Unlock()
				_, err = a.Commit(ctx, &abcitypes.CommitRequest{})
			}
			if err != nil {
				select {
				case c.errs <- err:
				default:
				}
				return
			}
		}
	}
}

func (c *cluster) waitReady(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var err error
		for _, e := range c.engines {
			if err = e.Ready(); err != nil {
				break
			}
		}
		if err == nil {
			return
		}
		select {
		case err := <-c.errs:
			c.t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func request(t testing.TB, key ed25519.PrivateKey, client, op string, body any) []byte {
	t.Helper()
	return signedAt(t, key, client, op, body, time.Now().Unix()+60)
}

// testCluster is the cluster id (chain id) of the test clusters.
const testCluster = "engine-test"

// replyKeys holds the reply key of every request the tests built, by
// request hash, so that c.all can open the sealed answers as the client
// would.
var replyKeys sync.Map

// encodeRequest encodes r for this test cluster, with a fresh reply key
// (remembered in replyKeys) when its answers are sealed.
func encodeRequest(t testing.TB, r wire.Request) []byte {
	t.Helper()
	if r.Cluster == "" {
		r.Cluster = testCluster
	}
	var k *ecdh.PrivateKey
	if wire.NeedsReply(r.Op) && r.Reply == nil {
		var err error
		if k, err = wire.NewReplyKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
		r.Reply = k.PublicKey().Bytes()
	}
	req, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if k != nil {
		replyKeys.Store(wire.RequestHash(req), k)
	}
	return req
}

// openAnswer opens the sealed partial of resp to the request sr (JSON of a
// wire.SignedRequest), as the client does: it sets Partial and clears
// Sealed.
func openAnswer(sr []byte, resp *wire.Response) error {
	if resp == nil || len(resp.Sealed) == 0 {
		return nil
	}
	var s wire.SignedRequest
	if err := json.Unmarshal(sr, &s); err != nil {
		return err
	}
	h := wire.RequestHash(s.Request)
	k, ok := replyKeys.Load(h)
	if !ok {
		return errors.New("answer sealed to a reply key the test did not make")
	}
	pt, err := wire.OpenReply(k.(*ecdh.PrivateKey), h, resp.Replica, resp.Sealed)
	if err != nil {
		return err
	}
	resp.Partial, resp.Sealed = pt, nil
	return nil
}

// all sends one request to every engine concurrently.
func (c *cluster) all(sr []byte) ([]*wire.Response, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps := make([]*wire.Response, len(c.engines))
	errs := make([]error, len(c.engines))
	var wg sync.WaitGroup
	for i, e := range c.engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resps[i], errs[i] = e.Handle(ctx, sr)
			if err := openAnswer(sr, resps[i]); err != nil && errs[i] == nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return resps, errs
}

func (c *cluster) mustAll(t testing.TB, sr []byte) []*wire.Response {
	t.Helper()
	resps, errs := c.all(sr)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i+1, err)
		}
		if resps[i].Replica != i+1 {
			t.Fatalf("replica %d answered as %d", i+1, resps[i].Replica)
		}
	}
	return resps
}

func TestClusterKeyGenAndBLSSign(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)

	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))

	resps := c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "b1", Scheme: wire.SchemeBLS}))
	key := resps[0].Key
	for _, r := range resps {
		if r.Key == nil || !bytes.Equal(r.Key.PublicKey, key.PublicKey) || !bytes.Equal(r.Key.Commitment, key.Commitment) || r.Key.Owner != "alice" {
			t.Fatalf("replicas disagree on the key: %+v", r.Key)
		}
	}
	g1 := group.BLS12381G1()
	com, err := vss.DecodeCommitment(g1, key.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	gk, err := g1.DecodePoint(key.PublicKey)
	if err != nil || !com.Secret().Equal(gk) {
		t.Fatalf("public key is not the commitment's secret: %v", err)
	}

	msg := []byte("deposit data signing root")
	signResps := c.mustAll(t, request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg}))
	partials := map[int][]byte{}
	vks := map[int]group.Point{}
	for _, r := range signResps {
		partials[r.Replica] = r.Partial
		vks[r.Replica] = com.Eval(r.Replica)
		if err := bls.VerifyPartial(vks[r.Replica], msg, r.Partial); err != nil {
			t.Fatalf("partial of replica %d: %v", r.Replica, err)
		}
	}
	sig, err := bls.Combine(gk, vks, c.g.T, msg, partials)
	if err != nil {
		t.Fatal(err)
	}
	if !bls.Verify(key.PublicKey, msg, sig) {
		t.Fatal("combined signature does not verify")
	}
	// Independent check with supranational/blst (Ethereum POP ciphersuite).
	pk := new(blst.P1Affine).Uncompress(key.PublicKey)
	bsig := new(blst.P2Affine).Uncompress(sig)
	if pk == nil || bsig == nil || !bsig.Verify(true, pk, true, msg, []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
		t.Fatal("blst rejects the combined signature")
	}

	t.Run("restarted engine resumes from its store", func(t *testing.T) {
		st := c.stores[0]
		st.mu.Lock()
		before := len(st.m)
		st.mu.Unlock()
		e2, err := New(c.engines[0].cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := e2.Ready(); !errors.Is(err, ErrNotReady) {
			t.Fatalf("fresh engine ready before scanning: %v", err)
		}
		if err := e2.step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := e2.Ready(); err != nil {
			t.Fatalf("restarted engine not ready: %v", err)
		}
		st.mu.Lock()
		after := len(st.m)
		st.mu.Unlock()
		if after < before {
			t.Fatalf("store shrank from %d to %d", before, after)
		}
	})
	t.Run("missing share is refused", func(t *testing.T) {
		k, err := c.apps[1].Key("b1")
		if err != nil {
			t.Fatal(err)
		}
		name := sessionRecordName(k.Origin.Session)
		v, _ := c.stores[1].Get(name)
		c.stores[1].Delete(name)
		c.engines[1].forgetOpened() // as after a restart
		defer c.stores[1].Put(name, v)
		resps, errs := c.all(request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg}))
		if !errors.Is(errs[1], ErrRejected) || !strings.Contains(resps[1].Error, "share unavailable") {
			t.Fatalf("replica 2 without its share answered: %v", errs[1])
		}
	})
	t.Run("store of the previous version is read", func(t *testing.T) {
		k, err := c.apps[2].Key("b1")
		if err != nil {
			t.Fatal(err)
		}
		// Rewrite replica 3's session record as the per-slot records and
		// completion marker of the previous version.
		st, name := c.stores[2], sessionRecordName(k.Origin.Session)
		rec, err := st.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; ; b++ {
			x, err := recordSlot(rec, b)
			if err != nil {
				break
			}
			st.Put(shareName(k.Origin.Session, b), x)
		}
		st.Put(completeName(k.Origin.Session), []byte{1})
		st.Delete(name)
		c.engines[2].forgetOpened()
		defer func() {
			st.Put(name, rec)
			c.engines[2].forgetOpened()
		}()
		e3, err := New(c.engines[2].cfg) // a restart: nothing cached or checked
		if err != nil {
			t.Fatal(err)
		}
		if err := e3.step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(name); err == nil {
			t.Fatal("shares derived again over an old store")
		}
		x, vk, err := e3.shareAndKey(&k.Origin)
		if err != nil || !g1.BaseMul(x).Equal(vk) || !vk.Equal(com.Eval(3)) {
			t.Fatalf("old per-slot share: %v", err)
		}
	})
	t.Run("retry gets the same answer", func(t *testing.T) {
		sr := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: []byte("again")})
		first := c.mustAll(t, sr)
		second := c.mustAll(t, sr)
		for i := range first {
			if !bytes.Equal(first[i].Partial, second[i].Partial) || first[i].Height != second[i].Height {
				t.Fatalf("replica %d answered a retry differently", i+1)
			}
		}
	})
	t.Run("corrupt share is refused", func(t *testing.T) {
		st := c.stores[3]
		st.mu.Lock()
		saved := maps.Clone(st.m)
		st.m = map[string][]byte{}
		for name, v := range saved {
			// Every share changes (a session record keeps its header).
			bad := bytes.Clone(v)
			for i := min(len(bad)-1, sessionRecordHeader); i < len(bad); i++ {
				bad[i] ^= 1
			}
			st.m[name] = bad
		}
		st.mu.Unlock()
		c.engines[3].forgetOpened() // the corrupt records are loaded again
		defer func() {
			st.mu.Lock()
			st.m = saved
			st.mu.Unlock()
			c.engines[3].forgetOpened()
		}()
		resps, errs := c.all(request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg}))
		if !errors.Is(errs[3], ErrRejected) || resps[3].Error == "" || resps[3].Partial != nil {
			t.Fatalf("replica 4 with a corrupt share answered: %v %+v", errs[3], resps[3])
		}
		three := map[int][]byte{}
		for i := 0; i < 3; i++ {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			three[i+1] = resps[i].Partial
		}
		sig, err := bls.Combine(gk, vks, c.g.T, msg, three)
		if err != nil || !bls.Verify(key.PublicKey, msg, sig) {
			t.Fatalf("honest partials do not combine: %v", err)
		}
	})
	t.Run("schnorr", func(t *testing.T) {
		resps := c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "s1", Scheme: wire.SchemeSchnorr}))
		info := resps[0].Key
		if len(info.PublicKey) != 32 {
			t.Fatalf("schnorr public key length %d", len(info.PublicKey))
		}
		ec := group.Secp256k1()
		kc, err := vss.DecodeCommitment(ec, info.Commitment)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kc.Secret().Bytes()[1:], info.PublicKey) {
			t.Fatal("x-only key is not the commitment's secret")
		}
		// Plain BIP-340, BIP-86 and script-path tweaks, each a FROST
		// session of t+1 signers with nonces they handed out.
		for k, opt := range []*wire.TaprootOption{nil, {}, {MerkleRoot: bytes.Repeat([]byte{7}, 32)}} {
			msg := make([]byte, 32)
			rand.Read(msg)
			signers := []int{1 + k%4, 1 + (k+1)%4}
			sig, sr := c.signFROST(t, alice, "alice", "s1", msg, opt, signers)
			// Independent check with btcec (BIP-340) against the output key
			// computed by btcd's txscript (BIP-341).
			internal, err := btcschnorr.ParsePubKey(info.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			outKey := internal
			if opt != nil {
				outKey = txscript.ComputeTaprootOutputKey(internal, opt.MerkleRoot)
			}
			bs, err := btcschnorr.ParseSignature(sig[:])
			if err != nil || !bs.Verify(msg, outKey) {
				t.Fatalf("btcec rejects the signature (taproot %v): %v", opt, err)
			}
			// A retry of the same bytes signs nothing: each nonce signs once.
			for _, i := range signers {
				resp, err := c.engines[i-1].Handle(context.Background(), sr)
				if err == nil || len(resp.Sealed) != 0 || !strings.Contains(resp.Error, "unknown or used nonce") {
					t.Fatalf("replica %d answered a retried session: %+v %v", i, resp, err)
				}
			}
		}
	})
	t.Run("dise round trip", func(t *testing.T) {
		resps := c.mustAll(t, request(t, alice, "alice", wire.OpKeyGen, wire.KeyGenBody{KeyID: "sym1", Scheme: wire.SchemeSymmetric}))
		com, err := vss.DecodeCommitment(g1, resps[0].Key.Commitment)
		if err != nil {
			t.Fatal(err)
		}
		vks := map[int]group.Point{}
		for j := 1; j <= len(c.engines); j++ {
			vks[j] = com.Eval(j)
		}
		eval := func(op string, client string, key ed25519.PrivateKey, x []byte) []byte {
			t.Helper()
			evals := map[int][]byte{}
			for _, r := range c.mustAll(t, request(t, key, client, op, wire.EvalBody{KeyID: "sym1", Input: x})) {
				evals[r.Replica] = r.Partial
			}
			w, err := dise.CombineEvaluations(vks, c.g.T, x, evals)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		plain := []byte("withdrawal address book")
		p, err := dise.PrepareEncrypt("sym1", wire.EncryptorID("alice"), plain, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := dise.FinishEncrypt(p, eval(wire.OpEncrypt, "alice", alice, p.Input()))
		if err != nil {
			t.Fatal(err)
		}
		x, err := dise.ParseCiphertext(ct)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dise.FinishDecrypt(ct, eval(wire.OpDecrypt, "alice", alice, x))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypt: %v", err)
		}
		// Without proofs (decryption only): the evaluations combine to the
		// same output, and none of them verifies.
		unproven := map[int][]byte{}
		for _, r := range c.mustAll(t, request(t, alice, "alice", wire.OpDecrypt, wire.EvalBody{KeyID: "sym1", Input: x, NoProof: true})) {
			e, err := dise.DecodeEvaluation(r.Partial)
			if err != nil || e.Proven() || dise.VerifyEvaluation(vks[r.Replica], x, e) == nil {
				t.Fatalf("replica %d: unproven evaluation %x: %v", r.Replica, r.Partial, err)
			}
			if len(unproven) < c.g.T+1 {
				unproven[r.Replica] = r.Partial
			}
		}
		w, err := dise.CombineUnchecked(c.g.T, x, unproven)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := dise.FinishDecrypt(ct, w); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypt from unproven evaluations: %v", err)
		}
		// An encryption's evaluations without proofs: every replica's is
		// the proven one's value, and 2t+1 of them combine (by their
		// consistency) to the proven evaluations' output.
		unprovenEnc := map[int][]byte{}
		for _, r := range c.mustAll(t, request(t, alice, "alice", wire.OpEncrypt, wire.EvalBody{KeyID: "sym1", Input: p.Input(), NoProof: true})) {
			e, err := dise.DecodeEvaluation(r.Partial)
			if err != nil || e.Proven() {
				t.Fatalf("replica %d: unproven encryption evaluation: %v", r.Replica, err)
			}
			if len(unprovenEnc) < 2*c.g.T+1 {
				unprovenEnc[r.Replica] = r.Partial
			}
		}
		wEnc, err := dise.CombineConsistent(c.g.T, p.Input(), unprovenEnc)
		if err != nil {
			t.Fatal(err)
		}
		if wProven := eval(wire.OpEncrypt, "alice", alice, p.Input()); !bytes.Equal(wEnc, wProven) {
			t.Fatal("unproven encryption evaluations combine to another output")
		}
		// Encrypting under another client's identity is refused, with
		// proofs or without.
		q, _ := dise.PrepareEncrypt("sym1", wire.EncryptorID("bob"), plain, rand.Reader)
		_, errs := c.all(request(t, alice, "alice", wire.OpEncrypt, wire.EvalBody{KeyID: "sym1", Input: q.Input(), NoProof: true}))
		for i, err := range errs {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("replica %d evaluated a foreign encryptor's input without proof: %v", i+1, err)
			}
		}
		_, errs = c.all(request(t, alice, "alice", wire.OpEncrypt, wire.EvalBody{KeyID: "sym1", Input: q.Input()}))
		for i, err := range errs {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("replica %d evaluated a foreign encryptor's input: %v", i+1, err)
			}
		}
	})
	t.Run("reads and rejections", func(t *testing.T) {
		resps := c.mustAll(t, request(t, alice, "alice", wire.OpKeyList, struct{}{}))
		if len(resps[0].Keys) != 3 {
			t.Fatalf("keys.list = %+v", resps[0].Keys)
		}
		bobPub, bob, _ := ed25519.GenerateKey(rand.Reader)
		c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "bob", PublicKey: bobPub}))
		for _, sr := range [][]byte{
			request(t, bob, "bob", wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg}),
			request(t, bob, "bob", wire.OpKeyPub, wire.KeyRefBody{KeyID: "b1"}),
			request(t, alice, "bob", wire.OpKeyList, struct{}{}),
			[]byte("not json"),
		} {
			resps, errs := c.all(sr)
			for i := range errs {
				if !errors.Is(errs[i], ErrRejected) || resps[i].Error == "" {
					t.Fatalf("replica %d accepted a bad request: %v", i+1, errs[i])
				}
			}
		}
		c.mustAll(t, request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b1", ClientID: "bob"}))
		r := c.mustAll(t, request(t, bob, "bob", wire.OpKeyPub, wire.KeyRefBody{KeyID: "b1"}))
		if r[0].Key == nil || r[0].Key.KeyID != "b1" {
			t.Fatal("grantee cannot read the key")
		}
		// b1 signed just now: its share is opened and cached at every replica,
		// and disabling the key must still stop every replica from signing.
		c.mustAll(t, request(t, bob, "bob", wire.OpSign, wire.SignBody{KeyID: "b1", Message: []byte("before disable")}))
		b1 := c.keyInfo(t, "b1")
		for i, e := range c.engines {
			if _, _, ok := e.shares.get(shareName(b1.Origin.Session, b1.Origin.Slot), commitmentDigest(b1.Origin.Commitment)); !ok {
				t.Fatalf("replica %d: b1's share not kept opened", i+1)
			}
		}
		c.mustAll(t, request(t, alice, "alice", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "b1"}))
		for _, who := range []struct {
			key    ed25519.PrivateKey
			client string
		}{{bob, "bob"}, {alice, "alice"}} {
			_, errs := c.all(request(t, who.key, who.client, wire.OpSign, wire.SignBody{KeyID: "b1", Message: msg}))
			for i, err := range errs {
				if !errors.Is(err, ErrRejected) {
					t.Fatalf("replica %d: disabled key signed for %s: %v", i+1, who.client, err)
				}
			}
		}
	})
}

// TestKeyPubWaitsForGrant: a replica asked for a key's public data by a
// client whose grant is not applied there yet waits for the next blocks
// (up to staleGrace) instead of refusing "unauthorized": a client that was
// just granted a key may reach a replica a block behind.
func TestKeyPubWaitsForGrant(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	bobPub, bob, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "bob", PublicKey: bobPub}))
	c.mustAll(t, request(t, c.admin, "admin", wire.OpKeyGen, wire.KeyGenBody{KeyID: "k", Scheme: wire.SchemeBLS}))

	// Without the grant, the refusal comes after the grace period.
	start := time.Now()
	resp, _ := c.engines[0].Handle(context.Background(), request(t, bob, "bob", wire.OpKeyPub, wire.KeyRefBody{KeyID: "k"}))
	if resp == nil || !strings.Contains(resp.Error, "unauthorized") || resp.Key != nil {
		t.Fatalf("keys.pub before the grant: %+v", resp)
	}
	if d := time.Since(start); d < staleGrace {
		t.Fatalf("refused after %v, before the grace period", d)
	}

	// Asked before the grant commits, answered once it does.
	done := make(chan *wire.Response, 1)
	go func() {
		resp, err := c.engines[0].Handle(context.Background(), request(t, bob, "bob", wire.OpKeyPub, wire.KeyRefBody{KeyID: "k"}))
		if err != nil {
			resp = &wire.Response{Error: err.Error()}
		}
		done <- resp
	}()
	time.Sleep(50 * time.Millisecond)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "k", ClientID: "bob"}))
	if r := <-done; r.Error != "" || r.Key == nil || r.Key.KeyID != "k" {
		t.Fatalf("keys.pub asked before the grant committed: %+v", r)
	}
}

// signFROST runs one FROST session of client through the engines in
// signers: it fetches one nonce commitment of each, sends them the sign
// request, opens their sealed shares and aggregates. It returns the
// signature and the signed request.
func (c *cluster) signFROST(t testing.TB, key ed25519.PrivateKey, client, keyID string, msg []byte, opt *wire.TaprootOption, signers []int) ([64]byte, []byte) {
	t.Helper()
	var sig [64]byte
	ec := group.Secp256k1()
	scs, coms := c.derivedSession(t, key, client, signers)
	sr := request(t, key, client, wire.OpSign, wire.SignBody{KeyID: keyID, Message: msg, Taproot: opt, Signers: scs})
	shares := map[int]group.Scalar{}
	reported := map[int][]byte{}
	for _, i := range signers {
		resp, err := c.engines[i-1].Handle(context.Background(), sr)
		if err == nil {
			err = openAnswer(sr, resp)
		}
		if err != nil {
			t.Fatalf("sign at replica %d: %v", i, err)
		}
		z, err := ec.DecodeScalar(resp.Partial)
		if err != nil {
			t.Fatal(err)
		}
		shares[i] = z
		reported[i] = resp.GroupCommitment
	}
	info := c.keyInfo(t, keyID)
	P, err := ec.DecodePoint(info.Origin.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := taprootOf(opt)
	if err != nil {
		t.Fatal(err)
	}
	fk, err := frost.Taproot.NewKey(P, tr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := frost.Taproot.Aggregate(&frost.SigningPackage{Commitments: coms, Message: msg}, fk, shares)
	if err != nil || !frost.Taproot.Verify(fk, msg, out) {
		t.Fatalf("frost signature: %v", err)
	}
	// Each signer reports the session's x-only R (the client's hint).
	for i, rx := range reported {
		if !bytes.Equal(rx, out[:32]) {
			t.Fatalf("replica %d reports R %x, the signature's is %x", i, rx, out[:32])
		}
	}
	copy(sig[:], out)
	return sig, sr
}

// keyInfo returns the committed record of a key at replica 1.
func (c *cluster) keyInfo(t testing.TB, keyID string) *app.KeyRecord {
	t.Helper()
	k, err := c.apps[0].Key(keyID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
