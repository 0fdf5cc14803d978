package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/group"
)

// nonceOf fetches one commitment of replica i for client.
func (c *cluster) nonceOf(t *testing.T, i int, key ed25519.PrivateKey, client string) wire.NonceCommitment {
	t.Helper()
	resp, err := c.engines[i-1].Handle(context.Background(), request(t, key, client, wire.OpNonces, wire.NoncesBody{Count: 1}))
	if err != nil || len(resp.Commitments) != 1 {
		t.Fatalf("nonces from replica %d: %+v %v", i, resp, err)
	}
	return resp.Commitments[0]
}

func signers(cs map[int]wire.NonceCommitment) []wire.SignerCommitment {
	var out []wire.SignerCommitment
	for i := 1; i <= 7; i++ {
		if nc, ok := cs[i]; ok {
			out = append(out, wire.SignerCommitment{Replica: i, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding})
		}
	}
	return out
}

// A replica's nonce signs at most once: a second session naming it (another
// message, the same message, a race of many concurrent sessions) gets no
// share; a session naming it with other points is refused and leaves the
// nonce usable; a nonce from before a restart (a new epoch) is refused; and
// no nonce is ever written to the store.
func TestNonceSignsOnce(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	c.genKey(t, alice, "alice", "s", wire.SchemeSchnorr)

	share := func(i int, sr []byte) (*wire.Response, error) {
		resp, err := c.engines[i-1].Handle(context.Background(), sr)
		if err == nil {
			err = openAnswer(sr, resp)
		}
		return resp, err
	}
	refusedNonce := func(resp *wire.Response, err error) bool {
		return err != nil && resp != nil && strings.Contains(resp.Error, "unknown or used nonce") && len(resp.Sealed) == 0 && len(resp.Partial) == 0
	}

	t.Run("second session on a used nonce", func(t *testing.T) {
		n1, n2 := c.nonceOf(t, 1, alice, "alice"), c.nonceOf(t, 2, alice, "alice")
		list := signers(map[int]wire.NonceCommitment{1: n1, 2: n2})
		first := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte("pay 1 BTC to A"), Signers: list})
		if _, err := share(1, first); err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{"pay 1 BTC to B", "pay 1 BTC to A"} {
			again := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte(msg), Signers: list})
			if resp, err := share(1, again); !refusedNonce(resp, err) {
				t.Fatalf("%q: a used nonce signed again: %+v %v", msg, resp, err)
			}
		}
	})

	t.Run("concurrent sessions race for one nonce", func(t *testing.T) {
		n1, n3 := c.nonceOf(t, 1, alice, "alice"), c.nonceOf(t, 3, alice, "alice")
		list := signers(map[int]wire.NonceCommitment{1: n1, 3: n3})
		const racers = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for k := 0; k < racers; k++ {
			sr := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte{byte(k)}, Signers: list})
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := share(1, sr)
				if err == nil && len(resp.Partial) == 32 {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !refusedNonce(resp, err) {
					t.Errorf("racer: %+v %v", resp, err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d of %d concurrent sessions got a share from one nonce", won, racers)
		}
	})

	t.Run("commitment substituted", func(t *testing.T) {
		n1, n2, other := c.nonceOf(t, 1, alice, "alice"), c.nonceOf(t, 2, alice, "alice"), c.nonceOf(t, 1, alice, "alice")
		bad := n1
		bad.Binding = other.Binding
		sr := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte("m"), Signers: signers(map[int]wire.NonceCommitment{1: bad, 2: n2})})
		if resp, err := share(1, sr); !refusedNonce(resp, err) {
			t.Fatalf("a substituted commitment signed: %+v %v", resp, err)
		}
		good := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte("m"), Signers: signers(map[int]wire.NonceCommitment{1: n1, 2: n2})})
		if _, err := share(1, good); err != nil {
			t.Fatalf("the nonce is gone after a refused substitution: %v", err)
		}
	})

	t.Run("restart is a new epoch", func(t *testing.T) {
		n1, n2 := c.nonceOf(t, 1, alice, "alice"), c.nonceOf(t, 2, alice, "alice")
		// What the same replica would be after a restart: same app, same
		// store, same keys.
		old := c.engines[0]
		fresh, err := New(old.cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.engines[0] = fresh
		defer func() { c.engines[0] = old }()
		sr := request(t, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte("after restart"), Signers: signers(map[int]wire.NonceCommitment{1: n1, 2: n2})})
		if resp, err := share(1, sr); !refusedNonce(resp, err) {
			t.Fatalf("a nonce of the previous epoch signed: %+v %v", resp, err)
		}
		if bytes.Equal(fresh.nonces.epoch[:], old.nonces.epoch[:]) {
			t.Fatal("restart kept the epoch")
		}
	})

	t.Run("no nonce at rest", func(t *testing.T) {
		e := c.engines[1]
		_ = c.nonceOf(t, 2, alice, "alice")
		e.nonces.mu.Lock()
		var secrets [][]byte
		for _, en := range e.nonces.entries {
			secrets = append(secrets, en.nonce.Hiding.Bytes(), en.nonce.Binding.Bytes())
		}
		e.nonces.mu.Unlock()
		st := c.stores[1]
		st.mu.Lock()
		defer st.mu.Unlock()
		for name, v := range st.m {
			for _, s := range secrets {
				if bytes.Contains(v, s) {
					t.Fatalf("store record %s holds a nonce", name)
				}
			}
		}
	})
}

// A nonces request replayed (by a replica that saw it, or the network)
// hands out nothing more: each replay would otherwise issue a new batch
// owned by the client and, repeated, exhaust its allowance of outstanding
// nonces at that replica.
func TestNoncesReplayIssuesNothing(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: pub}))
	sr := request(t, priv, "alice", wire.OpNonces, wire.NoncesBody{Count: wire.MaxNonces})
	e := c.engines[0]
	if resp, err := e.Handle(context.Background(), sr); err != nil || len(resp.Commitments) != wire.MaxNonces {
		t.Fatalf("first nonces request: %+v %v", resp, err)
	}
	for range 3 {
		resp, err := e.Handle(context.Background(), sr)
		if err == nil || len(resp.Commitments) != 0 || !strings.Contains(resp.Error, "request id already used") {
			t.Fatalf("replayed nonces request answered: %d commitments, %v", len(resp.Commitments), err)
		}
	}
	if got := e.nonces.outstanding("alice"); got != wire.MaxNonces {
		t.Fatalf("alice holds %d nonces after replays, want %d", got, wire.MaxNonces)
	}
}

// The store hands back the points of a pair it holds for the client with
// exactly the encodings named (so a sign request need not decode its own
// commitment), and nothing for another client, another reference, other
// encodings, another epoch, or once the pair is taken.
func TestNonceStoreCommitment(t *testing.T) {
	ec := group.Secp256k1()
	secret, err := ec.RandomScalar(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newNonceStore(2, secret, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	coms, err := s.issue("alice", 2)
	if err != nil {
		t.Fatal(err)
	}
	nc, other := coms[0], coms[1]
	com, ok := s.commitment("alice", nc.Nonce, nc.Hiding, nc.Binding)
	if !ok || com.ID != 2 || !bytes.Equal(com.Hiding.Bytes(), nc.Hiding) || !bytes.Equal(com.Binding.Bytes(), nc.Binding) {
		t.Fatalf("own commitment: %v %+v", ok, com)
	}
	stale := bytes.Clone(nc.Nonce)
	stale[0] ^= 1
	for name, c := range map[string][4][]byte{
		"other client":    {[]byte("bob"), nc.Nonce, nc.Hiding, nc.Binding},
		"other reference": {[]byte("alice"), other.Nonce, nc.Hiding, nc.Binding},
		"swapped points":  {[]byte("alice"), nc.Nonce, nc.Binding, nc.Hiding},
		"earlier epoch":   {[]byte("alice"), stale, nc.Hiding, nc.Binding},
		"short reference": {[]byte("alice"), nc.Nonce[:8], nc.Hiding, nc.Binding},
	} {
		if _, ok := s.commitment(string(c[0]), c[1], c[2], c[3]); ok {
			t.Errorf("%s: commitment returned", name)
		}
	}
	if _, err := s.take("alice", nc.Nonce, nc.Hiding, nc.Binding); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.commitment("alice", nc.Nonce, nc.Hiding, nc.Binding); ok {
		t.Fatal("commitment of a taken pair returned")
	}
}
