package faulttest

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/wire"
)

// n is the replica count of every cluster here: n = 3f+1 with f = 1.
const n = 4

// smallPools keeps the genesis DKG small so that a cluster starts fast.
var smallPools = &app.PoolConfig{KeyBatch: 4, KeyLow: 1, NonceBatch: 8, NonceLow: 2}

// vhsmBinary is the vhsm binary shared by every test, built once.
var (
	buildOnce sync.Once
	vhsmBin   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds ./cmd/vhsm once per test binary run. It does what
// cluster.BuildBinary does, into a directory that outlives a single test.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		buildDir, err = os.MkdirTemp("", "vhsm-faulttest-")
		if err != nil {
			buildErr = err
			return
		}
		vhsmBin = filepath.Join(buildDir, "vhsm")
		cmd := exec.Command("go", "build", "-o", vhsmBin, "./cmd/vhsm")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build vhsm: %w\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return vhsmBin
}

// startCluster starts a ready 4-process cluster; on failure the test logs
// the tail of every replica's log.
func startCluster(t *testing.T, pools *app.PoolConfig) *cluster.Cluster {
	t.Helper()
	return startClusterN(t, n, pools)
}

// startClusterN is startCluster with nrep replicas.
func startClusterN(t *testing.T, nrep int, pools *app.PoolConfig) *cluster.Cluster {
	t.Helper()
	if pools == nil {
		pools = smallPools
	}
	if testing.Short() {
		t.Skipf("starts a %d-process cluster", nrep)
	}
	bin := binary(t)
	start := time.Now()
	c := cluster.StartProcesses(t, t.TempDir(), nrep, bin, cluster.Options{Pools: pools, PhaseTimeout: 3 * time.Second})
	t.Cleanup(func() { dumpLogs(t, c) })
	if err := c.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d replicas ready in %v", nrep, time.Since(start).Round(100*time.Millisecond))
	return c
}

func dumpLogs(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	if !t.Failed() {
		return
	}
	for i := 1; i <= c.Testnet.N; i++ {
		b, _ := os.ReadFile(filepath.Join(c.Home(i), cluster.LogFile))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("replica %d log tail:\n%s", i, b)
	}
}

// clientWith returns a client for the cluster's admin configuration with
// the request timeout replaced (when not empty) and the given options.
func clientWith(t *testing.T, c *cluster.Cluster, timeout string, opts ...client.Option) *client.Client {
	t.Helper()
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	if timeout != "" {
		cfg.Timeout = timeout
	}
	cl, err := client.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// newClient registers a fresh non-admin client through admin and returns a
// client that acts as it.
func newClient(ctx context.Context, t *testing.T, c *cluster.Cluster, admin *client.Client, id string) *client.Client {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RegisterClient(ctx, id, pub, false); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientID, cfg.PrivateKey = id, priv.Seed()
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// sigLog records every Schnorr signature a test obtains, after checking it
// with btcec's BIP-340 verifier, to detect nonce reuse: two distinct
// messages signed with the same R.
type sigLog struct {
	mu  sync.Mutex
	byR map[[32]byte]string // R (x-only) → hex(key id ‖ message)
	n   int
}

func newSigLog() *sigLog { return &sigLog{byR: make(map[[32]byte]string)} }

// add verifies sig on msg under the x-only key pub and records its R. It
// returns an error (never a panic) so that it may run in any goroutine.
func (l *sigLog) add(keyID string, pub, msg []byte, sig [64]byte) error {
	pk, err := schnorr.ParsePubKey(pub)
	if err != nil {
		return fmt.Errorf("key %s: parse public key: %w", keyID, err)
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return fmt.Errorf("key %s: parse signature: %w", keyID, err)
	}
	if !s.Verify(msg, pk) {
		return fmt.Errorf("key %s: schnorr signature does not verify (btcec)", keyID)
	}
	var r [32]byte
	copy(r[:], sig[:32])
	what := hex.EncodeToString(append([]byte(keyID+"\x00"), msg...))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if prev, ok := l.byR[r]; ok && prev != what {
		return fmt.Errorf("nonce reuse: R %x signs two distinct messages", r)
	}
	l.byR[r] = what
	return nil
}

// ethDST is the Ethereum BLS ciphersuite (proof of possession scheme).
var ethDST = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// verifyBLS checks sig on msg under the compressed G1 key pub with
// supranational/blst, independently of the herumi code the client uses.
func verifyBLS(pub, msg, sig []byte) bool {
	pk := new(blst.P1Affine).Uncompress(pub)
	s := new(blst.P2Affine).Uncompress(sig)
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, msg, ethDST)
}

// msgHash returns SHA-256 of label, a 32-byte message to sign.
func msgHash(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

// rawClient sends hand-made requests to the replica HTTPS API, pinning each
// replica's certificate from the client configuration.
type rawClient struct {
	cfg   *client.Config
	https map[int]*http.Client
}

func newRawClient(t *testing.T, c *cluster.Cluster) *rawClient {
	t.Helper()
	cfg, err := client.Load(c.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{cfg: cfg, https: make(map[int]*http.Client)}
	for _, r := range cfg.Replicas {
		pin := bytes.Clone(r.TLSCert)
		tr := &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by the exact-certificate pin below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pin) {
					return fmt.Errorf("certificate does not match the pin")
				}
				return nil
			},
		}}
		rc.https[r.Index] = &http.Client{Transport: tr, Timeout: 15 * time.Second}
		t.Cleanup(tr.CloseIdleConnections)
	}
	return rc
}

// request builds the canonical request bytes of op with body for clientID
// in cluster, with a fresh reply key (kept in replyKeys) when its answers
// are sealed.
func request(t *testing.T, cluster, clientID, op string, expires time.Time, body any) []byte {
	t.Helper()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Request{ID: hex.EncodeToString(id[:]), Client: clientID, Op: op, Expires: expires.Unix(), Cluster: cluster, Body: b}
	var k *ecdh.PrivateKey
	if wire.NeedsReply(op) {
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

// replyKeys holds the reply key of every request built by request, by
// request hash, so that rawClient.post opens sealed answers as the client
// does.
var replyKeys sync.Map

// openSealed opens a's sealed partial to the signed request body into
// a.resp.Partial when the reply key is known; an answer that does not open
// is reported in a.err.
func openSealed(body []byte, a *rawAnswer) {
	if a.err != nil || len(a.resp.Sealed) == 0 {
		return
	}
	var sr wire.SignedRequest
	if json.Unmarshal(body, &sr) != nil {
		return
	}
	h := wire.RequestHash(sr.Request)
	k, ok := replyKeys.Load(h)
	if !ok {
		return
	}
	pt, err := wire.OpenReply(k.(*ecdh.PrivateKey), h, a.resp.Replica, a.resp.Sealed)
	if err != nil {
		a.err = fmt.Errorf("sealed answer does not open: %w", err)
		return
	}
	a.resp.Partial = pt
}

// sign wraps req in a SignedRequest signed with key.
func sign(t *testing.T, key ed25519.PrivateKey, req []byte) []byte {
	t.Helper()
	msg := append([]byte(wire.RequestContext), req...)
	signed, err := json.Marshal(wire.SignedRequest{Request: req, Signature: ed25519.Sign(key, msg)})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// rawAnswer is one replica's HTTP answer.
type rawAnswer struct {
	status int
	resp   wire.Response
	err    error
}

// frostSign builds the signed request of a FROST session of clientID with
// the replicas in signers: one fresh nonce commitment of each, fetched raw.
func (rc *rawClient) frostSign(t *testing.T, key ed25519.PrivateKey, clientID, keyID string, msg []byte, signers ...int) []byte {
	t.Helper()
	var scs []wire.SignerCommitment
	for _, i := range signers {
		req := request(t, rc.cfg.Cluster, clientID, wire.OpNonces, time.Now().Add(time.Minute), wire.NoncesBody{Count: 1})
		a := rc.post(sign(t, key, req), i)[i]
		if a.err != nil || len(a.resp.Commitments) != 1 {
			t.Fatalf("nonces from replica %d: http %d %q (%v)", i, a.status, a.resp.Error, a.err)
		}
		nc := a.resp.Commitments[0]
		scs = append(scs, wire.SignerCommitment{Replica: i, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding})
	}
	req := request(t, rc.cfg.Cluster, clientID, wire.OpSign, time.Now().Add(time.Minute), wire.SignBody{KeyID: keyID, Message: msg, Signers: scs})
	return sign(t, key, req)
}

// post sends body to the listed replicas (every replica when none is
// listed) concurrently and returns the answers by replica index.
func (rc *rawClient) post(body []byte, only ...int) map[int]rawAnswer {
	var mu sync.Mutex
	out := make(map[int]rawAnswer)
	var wg sync.WaitGroup
	for i, h := range rc.https {
		if len(only) > 0 && !slices.Contains(only, i) {
			continue
		}
		var url string
		for _, r := range rc.cfg.Replicas {
			if r.Index == i {
				url = strings.TrimRight(r.URL, "/") + "/v1/request"
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := rawAnswer{}
			resp, err := h.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				a.err = err
			} else {
				b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				a.status, a.err = resp.StatusCode, rerr
				if rerr == nil {
					a.err = json.Unmarshal(b, &a.resp)
				}
				openSealed(body, &a)
			}
			mu.Lock()
			out[i] = a
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// keyIDs lists the key ids visible to cl, sorted as the replicas list them.
func keyIDs(ctx context.Context, t *testing.T, cl *client.Client) []string {
	t.Helper()
	keys, err := cl.ListKeys(ctx)
	if err != nil {
		t.Fatalf("keys.list: %v", err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.KeyID
	}
	return ids
}

// signSchnorrRetry signs msg, retrying (at most 30 times, 500 ms apart)
// while the replicas answer that the nonce pool is empty: the documented
// "retry later" while a refill DKG runs.
func signSchnorrRetry(ctx context.Context, cl *client.Client, keyID string, msg []byte) ([64]byte, error) {
	for range 30 {
		sig, err := cl.SignSchnorr(ctx, keyID, msg, nil)
		var rej *client.RejectedError
		if err == nil || !errors.As(err, &rej) || !strings.Contains(rej.Reason, "pool empty") {
			return sig, err
		}
		select {
		case <-ctx.Done():
			return sig, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return [64]byte{}, errors.New("nonce pool still empty after 30 tries")
}

// assertNoSecretsLogged fails if any replica log contains one of secrets,
// raw, hex or base64 (standard or URL alphabet), or any replica's sealing
// key file.
func assertNoSecretsLogged(t *testing.T, c *cluster.Cluster, secrets ...[]byte) {
	t.Helper()
	for i := 1; i <= c.Testnet.N; i++ {
		k, err := os.ReadFile(filepath.Join(c.Home(i), layout.SealKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, bytes.TrimSpace(k))
	}
	for i := 1; i <= c.Testnet.N; i++ {
		log, err := os.ReadFile(filepath.Join(c.Home(i), cluster.LogFile))
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range secrets {
			for _, form := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s)} {
				if len(form) >= 8 && bytes.Contains(log, []byte(form)) {
					t.Fatalf("replica %d log contains secret #%d", i, j)
				}
			}
		}
	}
}
