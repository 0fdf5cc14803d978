package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
)

// testNet holds the secrets of a generated genesis.
type testNet struct {
	G        Genesis
	SignKeys []ed25519.PrivateKey
	DKGKeys  [][]byte
	AdminKey ed25519.PrivateKey
}

func newTestNet(t testing.TB, n int, pools PoolConfig) *testNet {
	t.Helper()
	tn := &testNet{G: Genesis{Cluster: testCluster, N: n, T: (n - 1) / 3, Pools: pools}}
	ec := group.Secp256k1()
	for i := 1; i <= n; i++ {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := ec.RandomScalar(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tn.SignKeys = append(tn.SignKeys, priv)
		tn.DKGKeys = append(tn.DKGKeys, sk.Bytes())
		tn.G.Replicas = append(tn.G.Replicas, ReplicaInfo{Index: i, SignKey: pub, DKGKey: ec.BaseMul(sk).Bytes(), API: "https://127.0.0.1:1"})
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tn.AdminKey = priv
	tn.G.Admin = ClientInfo{ID: "admin", PublicKey: pub, Admin: true}
	return tn
}

// testCluster is the cluster id (chain id) of the test genesis.
const testCluster = "test"

// signed builds a client request signed with key.
func signed(t testing.TB, key ed25519.PrivateKey, client, op string, expires int64, body any) *wire.SignedRequest {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Request{ID: hex.EncodeToString(id), Client: client, Op: op, Expires: expires, Cluster: testCluster, Body: b}
	if wire.NeedsReply(op) {
		r.Reply = make([]byte, wire.ReplyKeyLen)
		rand.Read(r.Reply)
	}
	req, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.SignedRequest{Request: req, Signature: ed25519.Sign(key, append([]byte(wire.RequestContext), req...))}
}

func txOf(t testing.TB, sr *wire.SignedRequest) []byte {
	t.Helper()
	b, err := json.Marshal(wire.Tx{Client: sr})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testStart is the first block time of every test chain (close to local
// time, which CheckTx uses).
var testStart = time.Now().Truncate(time.Second)

// chain drives one App block by block.
type chain struct {
	t      testing.TB
	a      *App
	height int64
	now    time.Time
}

func startChain(t testing.TB, a *App) *chain {
	t.Helper()
	c := &chain{t: t, a: a, now: testStart}
	if _, err := a.InitChain(context.Background(), &abcitypes.InitChainRequest{ChainId: testCluster, InitialHeight: 1, Time: c.now}); err != nil {
		t.Fatal(err)
	}
	return c
}

// block finalizes and commits one block of txs and returns the results.
func (c *chain) block(txs ...[]byte) []*abcitypes.ExecTxResult {
	c.t.Helper()
	c.height++
	c.now = c.now.Add(time.Second)
	r, err := c.a.FinalizeBlock(context.Background(), &abcitypes.FinalizeBlockRequest{Txs: txs, Height: c.height, Time: c.now})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.a.Commit(context.Background(), &abcitypes.CommitRequest{}); err != nil {
		c.t.Fatal(err)
	}
	return r.TxResults
}

// newStartedChain returns a 4-replica test net with small pools, a fresh
// App for it (closed when the test ends) and the chain driving it, one
// block in.
func newStartedChain(t testing.TB) (*testNet, *App, *chain) {
	t.Helper()
	tn := newTestNet(t, 4, smallPools())
	a, err := New(t.TempDir(), tn.G, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	c := startChain(t, a)
	c.block()
	return tn, a, c
}
