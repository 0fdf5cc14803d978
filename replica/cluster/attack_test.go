package cluster

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
)

// This file performs, against a real cluster (CometBFT, replica HTTPS
// servers, engines), the attacks of the security review (issue 13) and
// checks that each gains nothing:
//
//   - H1: a Byzantine replica replays a client's signed encrypt and decrypt
//     requests to the honest replicas and tries to combine their
//     evaluations;
//   - H2: request ids reused with other bytes, on every request type, and a
//     disabled key asked to sign again;
//   - cluster binding: a request signed for another cluster.

// spy is a Byzantine replica's front: it stands where replica `index` is in
// a client's configuration (its own TLS certificate pinned there), forwards
// every request to the real replica and keeps a copy of each signed
// request, as a replica that receives them would.
type spy struct {
	index int
	srv   *httptest.Server
	mu    sync.Mutex
	seen  [][]byte
}

func newSpy(t *testing.T, index int, target client.ReplicaEndpoint) *spy {
	t.Helper()
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = pinnedTransport(target.TLSCert)
	s := &spy{index: index}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/request" {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 2*wire.MaxRequestBytes))
			s.mu.Lock()
			s.seen = append(s.seen, b)
			s.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
		}
		proxy.ServeHTTP(w, r)
	}))
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

// captured returns the signed requests of op the spy saw.
func (s *spy) captured(t *testing.T, op string) [][]byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for _, b := range s.seen {
		if _, r := decodeSigned(t, b); r.Op == op {
			out = append(out, b)
		}
	}
	return out
}

func pinnedTransport(cert []byte) *http.Transport {
	pin := bytes.Clone(cert)
	return &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the exact-certificate pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pin) {
				return fmt.Errorf("certificate does not match the pin")
			}
			return nil
		},
	}}
}

func decodeSigned(t *testing.T, signed []byte) (wire.SignedRequest, wire.Request) {
	t.Helper()
	var sr wire.SignedRequest
	var r wire.Request
	if err := json.Unmarshal(signed, &sr); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sr.Request, &r); err != nil {
		t.Fatal(err)
	}
	return sr, r
}

// raw posts signed bytes to replicas over HTTPS, certificates pinned.
type raw struct {
	cfg  *client.Config
	http map[int]*http.Client
}

func newRaw(t *testing.T, cfg *client.Config) *raw {
	r := &raw{cfg: cfg, http: map[int]*http.Client{}}
	for _, e := range cfg.Replicas {
		tr := pinnedTransport(e.TLSCert)
		t.Cleanup(tr.CloseIdleConnections)
		r.http[e.Index] = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return r
}

type rawAnswer struct {
	status int
	resp   wire.Response
	body   []byte
	err    error
}

// post sends body to each listed replica concurrently.
func (r *raw) post(body []byte, replicas ...int) map[int]rawAnswer {
	var mu sync.Mutex
	out := map[int]rawAnswer{}
	var wg sync.WaitGroup
	for _, i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a rawAnswer
			resp, err := r.http[i].Post(strings.TrimRight(r.cfg.Replicas[i-1].URL, "/")+"/v1/request", "application/json", bytes.NewReader(body))
			if err != nil {
				a.err = err
			} else {
				a.body, a.err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				a.status = resp.StatusCode
				if a.err == nil {
					a.err = json.Unmarshal(a.body, &a.resp)
				}
			}
			mu.Lock()
			out[i] = a
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// signedRequest builds and signs a request like the client does; reply is
// the reply key to name (nil: none).
func signedRequest(t *testing.T, key ed25519.PrivateKey, cluster, clientID, id, op string, reply *ecdh.PrivateKey, body any) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Request{ID: id, Client: clientID, Op: op, Expires: time.Now().Add(time.Minute).Unix(), Cluster: cluster, Body: b}
	if reply != nil {
		r.Reply = reply.PublicKey().Bytes()
	}
	req, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := json.Marshal(wire.SignedRequest{Request: req, Signature: ed25519.Sign(key, append([]byte(wire.RequestContext), req...))})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func newID(t *testing.T) string {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(id[:])
}

func TestReviewAttacks(t *testing.T) {
	c := startFour(t, 90*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	admin := c.Client()
	adminCfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(adminCfg.Cluster, "vhsm-") || len(adminCfg.Cluster) != len("vhsm-")+16 {
		t.Fatalf("cluster id %q is not a random one", adminCfg.Cluster)
	}

	// Alice, whose replica 4 is a Byzantine replica's spy.
	alicePub, aliceKey, _ := ed25519.GenerateKey(rand.Reader)
	if err := admin.RegisterClient(ctx, "alice", alicePub, false); err != nil {
		t.Fatal(err)
	}
	aliceCfg := *adminCfg
	aliceCfg.ClientID, aliceCfg.PrivateKey = "alice", aliceKey.Seed()
	// Every replica alice reaches is behind a spy: whichever replica she
	// sends a request to plays the Byzantine one that replays it (she asks
	// t+1 replicas at random).
	aliceCfg.Replicas = append([]client.ReplicaEndpoint(nil), adminCfg.Replicas...)
	spies := map[int]*spy{}
	for i := 1; i <= 4; i++ {
		spies[i] = newSpy(t, i, adminCfg.Replicas[i-1])
		aliceCfg.Replicas[i-1] = client.ReplicaEndpoint{Index: i, URL: spies[i].srv.URL, TLSCert: spies[i].srv.Certificate().Raw}
	}
	// alice sends each request on its own (H1 replays single requests);
	// aliceB, the same client, batches them (H1b replays batches).
	alice, err := client.New(&aliceCfg, client.WithPoolWait(time.Minute), client.WithoutBatching())
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	aliceB, err := client.New(&aliceCfg, client.WithPoolWait(time.Minute), client.WithBatchingAlways())
	if err != nil {
		t.Fatal(err)
	}
	defer aliceB.Close()
	for _, k := range []struct{ id, scheme string }{{"vault", wire.SchemeSymmetric}, {"eth", wire.SchemeBLS}} {
		if _, err := alice.GenerateKey(ctx, k.id, k.scheme); err != nil {
			t.Fatalf("keys.gen %s: %v", k.id, err)
		}
	}
	if err := c.WaitSynced(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	rw := newRaw(t, adminCfg)

	t.Run("H1 replayed evaluations are useless to the replayer", func(t *testing.T) {
		secret := []byte("label: cold wallet 3, seed backup in safe B")
		ct, err := alice.Encrypt(ctx, "vault", secret)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := alice.Decrypt(ctx, "vault", ct)
		if err != nil || !bytes.Equal(pt, secret) {
			t.Fatalf("the honest client cannot decrypt: %q, %v", pt, err)
		}
		x, err := dise.ParseCiphertext(ct)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{wire.OpEncrypt, wire.OpDecrypt} {
			var caught [][]byte
			var byz int
			for i := 1; i <= 4 && len(caught) == 0; i++ {
				caught, byz = spies[i].captured(t, op), i
			}
			if len(caught) == 0 {
				t.Fatalf("no spy saw a %s request", op)
			}
			var honest []int
			for i := 1; i <= 4; i++ {
				if i != byz {
					honest = append(honest, i)
				}
			}
			for _, signed := range caught {
				// The replayer sends the captured bytes to the honest
				// replicas, as often as it likes.
				for round := 0; round < 2; round++ {
					for i, a := range rw.post(signed, honest...) {
						if a.err != nil || a.status != http.StatusOK {
							t.Fatalf("%s replay to replica %d: http %d %q (%v)", op, i, a.status, a.resp.Error, a.err)
						}
						if len(a.resp.Partial) != 0 || len(a.resp.Sealed) == 0 {
							t.Fatalf("%s replay: replica %d answered an evaluation in the clear", op, i)
						}
						// Nothing an evaluation is made of is in the answer.
						if _, err := dise.DecodeEvaluation(a.resp.Sealed); err == nil {
							t.Fatalf("%s replay: replica %d's answer decodes as an evaluation", op, i)
						}
						// It opens only with the client's ephemeral key, which
						// the replayer does not have: any key of its own fails.
						_, r := decodeSigned(t, signed)
						sr, _ := decodeSigned(t, signed)
						mine, _ := wire.NewReplyKey(rand.Reader)
						if _, err := wire.OpenReply(mine, wire.RequestHash(sr.Request), i, a.resp.Sealed); err == nil {
							t.Fatalf("%s replay: opened with a key that is not the request's", op)
						}
						if len(r.Reply) != wire.ReplyKeyLen {
							t.Fatalf("%s request without a reply key", op)
						}
					}
				}
				// The replayer cannot swap in a reply key of its own: the
				// request bytes are signed by the client.
				sr, r := decodeSigned(t, signed)
				mine, _ := wire.NewReplyKey(rand.Reader)
				r.Reply = mine.PublicKey().Bytes()
				sr.Request, _ = json.Marshal(r)
				swapped, _ := json.Marshal(sr)
				for i, a := range rw.post(swapped, honest...) {
					if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "bad signature") || len(a.resp.Sealed) != 0 {
						t.Fatalf("%s with a swapped reply key: replica %d answered http %d %q", op, i, a.status, a.resp.Error)
					}
				}
			}
		}
		// The ciphertext's DPRF input is public, but evaluating it needs a
		// request signed by a client that may use the key: the replayer's
		// own (admin) identity asking to decrypt alice's ciphertext is
		// refused unless granted.
		if _, err := admin.Decrypt(ctx, "vault", ct); err == nil {
			t.Fatal("a client without a grant decrypted")
		}
		_ = x
	})

	t.Run("H1b replayed batches are refused whole", func(t *testing.T) {
		secret := []byte("batched: hot wallet 7 withdrawal limit")
		ct, err := aliceB.Encrypt(ctx, "vault", secret)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := aliceB.Decrypt(ctx, "vault", ct); err != nil || !bytes.Equal(pt, secret) {
			t.Fatalf("the honest client cannot decrypt: %q, %v", pt, err)
		}
		replayed := 0
		for byz := 1; byz <= 4; byz++ {
			for _, signed := range spies[byz].captured(t, wire.OpBatch) {
				sr, r := decodeSigned(t, signed)
				var b wire.BatchBody
				if err := json.Unmarshal(r.Body, &b); err != nil || b.Replica != byz {
					t.Fatalf("batch sent to replica %d is for replica %d (%v)", byz, b.Replica, err)
				}
				// To every replica, its own addressee included (which has
				// answered it once already), as often as the replayer likes.
				for round := 0; round < 2; round++ {
					for i, a := range rw.post(signed, 1, 2, 3, 4) {
						if a.err != nil || a.status == http.StatusOK || a.resp.Error == "" || len(a.resp.Sealed) != 0 || len(a.resp.Items) != 0 {
							t.Fatalf("batch replay to replica %d: http %d %q, %d items, %d sealed bytes (%v)", i, a.status, a.resp.Error, len(a.resp.Items), len(a.resp.Sealed), a.err)
						}
					}
				}
				// Readdressed, it no longer carries the client's signature.
				b.Replica = byz%4 + 1
				r.Body, _ = json.Marshal(b)
				sr.Request, _ = json.Marshal(r)
				moved, _ := json.Marshal(sr)
				for i, a := range rw.post(moved, b.Replica) {
					if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "bad signature") {
						t.Fatalf("readdressed batch: replica %d answered http %d %q", i, a.status, a.resp.Error)
					}
				}
				replayed++
			}
		}
		if replayed == 0 {
			t.Fatal("no spy saw a batch")
		}
	})

	t.Run("H2 a reused request id gets nothing", func(t *testing.T) {
		// Alice's keys.gen with id X is committed.
		idX := newID(t)
		gen := signedRequest(t, aliceKey, adminCfg.Cluster, "alice", idX, wire.OpKeyGen, nil, wire.KeyGenBody{KeyID: "h2-bls", Scheme: wire.SchemeBLS})
		for i, a := range rw.post(gen, 1, 2, 3, 4) {
			if a.status != http.StatusOK || a.resp.Key == nil {
				t.Fatalf("keys.gen at replica %d: http %d %q", i, a.status, a.resp.Error)
			}
		}
		if err := c.WaitSynced(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		// Alice's keys.grant with id G and keys.disable-free grant target.
		idG := newID(t)
		grant := signedRequest(t, aliceKey, adminCfg.Cluster, "alice", idG, wire.OpKeyGrant, nil, wire.KeyGrantBody{KeyID: "h2-bls", ClientID: "admin"})
		for i, a := range rw.post(grant, 1, 2, 3, 4) {
			if a.status != http.StatusOK {
				t.Fatalf("keys.grant at replica %d: http %d %q", i, a.status, a.resp.Error)
			}
		}
		if err := c.WaitSynced(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		// Every request type, with the id of a committed request and other
		// bytes: refused by every replica, with no partial and no block.
		reply, _ := wire.NewReplyKey(rand.Reader)
		type reuse struct {
			name string
			id   string
			op   string
			body any
		}
		cases := []reuse{
			{"bls sign on a keys.gen id", idX, wire.OpSign, wire.SignBody{KeyID: "h2-bls", Message: []byte("attacker's message")}},
			{"bls sign on a keys.grant id", idG, wire.OpSign, wire.SignBody{KeyID: "h2-bls", Message: []byte("attacker's message")}},
			{"keys.gen on a keys.gen id", idX, wire.OpKeyGen, wire.KeyGenBody{KeyID: "h2-other", Scheme: wire.SchemeBLS}},
			{"keys.disable on a keys.gen id", idX, wire.OpKeyDisable, wire.KeyRefBody{KeyID: "h2-bls"}},
			{"keys.grant on a keys.gen id", idX, wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "h2-bls", ClientID: "admin"}},
			{"encrypt on a keys.gen id", idX, wire.OpEncrypt, nil},
			{"decrypt on a keys.grant id", idG, wire.OpDecrypt, nil},
		}
		before, _ := c.heights(ctx)
		for _, tc := range cases {
			var r *ecdh.PrivateKey
			if wire.NeedsReply(tc.op) {
				r = reply
			}
			body := tc.body
			if tc.op == wire.OpEncrypt || tc.op == wire.OpDecrypt {
				p, err := dise.PrepareEncrypt("vault", wire.EncryptorID("alice"), []byte("x"), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				body = wire.EvalBody{KeyID: "vault", Input: p.Input()}
			}
			signed := signedRequest(t, aliceKey, adminCfg.Cluster, "alice", tc.id, tc.op, r, body)
			for i, a := range rw.post(signed, 1, 2, 3, 4) {
				if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "request id already used") || len(a.resp.Sealed) != 0 || len(a.resp.Partial) != 0 || a.resp.Key != nil {
					t.Errorf("%s: replica %d answered http %d %q", tc.name, i, a.status, a.resp.Error)
				}
			}
		}
		// The admin's register on a used id of its own.
		idA := newID(t)
		adminKey := ed25519.NewKeyFromSeed(adminCfg.PrivateKey)
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		reg := signedRequest(t, adminKey, adminCfg.Cluster, adminCfg.ClientID, idA, wire.OpRegisterClient, nil, wire.RegisterClientBody{ClientID: "carol", PublicKey: pub})
		for i, a := range rw.post(reg, 1, 2, 3, 4) {
			if a.status != http.StatusOK {
				t.Fatalf("register at replica %d: http %d %q", i, a.status, a.resp.Error)
			}
		}
		pub2, _, _ := ed25519.GenerateKey(rand.Reader)
		reg2 := signedRequest(t, adminKey, adminCfg.Cluster, adminCfg.ClientID, idA, wire.OpRegisterClient, nil, wire.RegisterClientBody{ClientID: "carol", PublicKey: pub2, Admin: true})
		for i, a := range rw.post(reg2, 1, 2, 3, 4) {
			if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "request id already used") {
				t.Errorf("register on a used id: replica %d answered http %d %q", i, a.status, a.resp.Error)
			}
		}
		// The same bytes again are a retry: answered from the log.
		for i, a := range rw.post(gen, 1, 2, 3, 4) {
			if a.status != http.StatusOK || a.resp.Key == nil || a.resp.Key.KeyID != "h2-bls" {
				t.Fatalf("retried keys.gen at replica %d: http %d %q", i, a.status, a.resp.Error)
			}
		}
		after, _ := c.heights(ctx)
		t.Logf("heights before %v after %v (only the register was ordered)", before, after)
	})

	t.Run("H2 a disabled key signs nothing from the disable on", func(t *testing.T) {
		msg := []byte("deposit root")
		if _, err := alice.SignBLS(ctx, "eth", msg); err != nil {
			t.Fatal(err)
		}
		reply, _ := wire.NewReplyKey(rand.Reader)
		sign := signedRequest(t, aliceKey, adminCfg.Cluster, "alice", newID(t), wire.OpSign, reply, wire.SignBody{KeyID: "eth", Message: []byte("voluntary exit")})
		for i, a := range rw.post(sign, 1, 2, 3, 4) {
			if a.status != http.StatusOK || len(a.resp.Sealed) == 0 {
				t.Fatalf("sign at replica %d: http %d %q", i, a.status, a.resp.Error)
			}
		}
		if err := alice.DisableKey(ctx, "eth"); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitSynced(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		// The committed sign, retried byte for byte after the disable.
		for i, a := range rw.post(sign, 1, 2, 3, 4) {
			if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "key disabled") || len(a.resp.Sealed) != 0 {
				t.Errorf("retried sign of a disabled key: replica %d answered http %d %q", i, a.status, a.resp.Error)
			}
		}
		if _, err := alice.SignBLS(ctx, "eth", msg); err == nil || !strings.Contains(err.Error(), "key disabled") {
			t.Fatalf("new sign with a disabled key: %v", err)
		}
	})

	t.Run("cluster binding", func(t *testing.T) {
		adminKey := ed25519.NewKeyFromSeed(adminCfg.PrivateKey)
		for _, cluster := range []string{"vhsm-testnet", "", adminCfg.Cluster + "x"} {
			req := signedRequest(t, adminKey, cluster, adminCfg.ClientID, newID(t), wire.OpKeyList, nil, struct{}{})
			for i, a := range rw.post(req, 1, 2, 3, 4) {
				if a.status == http.StatusOK || !strings.Contains(a.resp.Error, "another cluster") {
					t.Errorf("request for cluster %q: replica %d answered http %d %q", cluster, i, a.status, a.resp.Error)
				}
			}
		}
		other := *adminCfg
		other.Cluster = "vhsm-0000000000000000"
		cl, err := client.New(&other)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.ListKeys(ctx); err == nil || !strings.Contains(err.Error(), "another cluster") {
			t.Fatalf("client of another cluster: %v", err)
		}
	})
}

// heights returns every replica's committed height.
func (c *Cluster) heights(ctx context.Context) ([]int64, error) {
	var hs []int64
	for _, s := range c.Client().Status(ctx) {
		hs = append(hs, s.Height)
	}
	return hs, nil
}
