package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/replica/testnet"
)

// syncBuf is a goroutine-safe buffer for the command's stderr.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// walletRun is vhsm wallet running in-process.
type walletRun struct {
	ready  map[string]any
	stderr *syncBuf
	cancel context.CancelFunc
	done   chan error
}

// startWallet runs vhsm wallet in-process with args and waits for its
// ready line (one JSON object).
func startWallet(t *testing.T, cfg string, args ...string) *walletRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	w := &walletRun{stderr: &syncBuf{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, append([]string{"--config", cfg, "--json", "wallet"}, args...), pw, w.stderr)
		pw.CloseWithError(io.EOF)
		w.done <- err
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			cancel()
			t.Fatalf("vhsm wallet exited: %v\n%s", <-w.done, w.stderr)
		}
		w.ready = decodeOne(t, []byte(line+"\n"))
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatalf("vhsm wallet not ready\n%s", w.stderr)
	}
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *walletRun) stop(t *testing.T) {
	t.Helper()
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("vhsm wallet: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("vhsm wallet did not stop")
	}
}

// apiGet calls GET url with a bearer token and returns status and body.
func apiGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestWalletCommand runs vhsm wallet in-process against an in-process
// cluster and a real btcd: first start creates the admin token (file 0600,
// printed once, never logged), the API, web wallet and Bitcoin backend
// answer, a second start reuses the database and shows no token.
func TestWalletCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster and btcd")
	}
	dir := t.TempDir()
	pools := &app.PoolConfig{KeyBatch: 4, KeyLow: 2, NonceBatch: 16, NonceLow: 4}
	cl := cluster.StartInProcess(t, filepath.Join(dir, "net"), 4, cluster.Options{Pools: pools})
	if err := cl.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	// A regtest btcd (no Taproot activation needed: the test only creates a
	// wallet and reads its balance).
	gx, _ := hex.DecodeString("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	mineTo, err := bitcoin.TaprootAddress(gx, bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	node := btcdtest.Start(t, mineTo.EncodeAddress())
	db := filepath.Join(dir, "w", "wallet.db")
	btc := []string{"--btc-rpc", node.RPCHost, "--btc-user", node.User, "--btc-pass", node.Pass, "--btc-network", "regtest",
		"--btc-node", "btcd"}

	// The backend must be on the network named.
	err = run(context.Background(), []string{"--config", cl.ClientPath, "wallet", "--db", db, "--listen", "127.0.0.1:0",
		"--btc-rpc", node.RPCHost, "--btc-user", node.User, "--btc-pass", node.Pass, "--btc-network", "mainnet"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not on mainnet") {
		t.Fatalf("mainnet flag against a regtest node: %v", err)
	}

	w := startWallet(t, cl.ClientPath, append([]string{"--db", db, "--listen", "127.0.0.1:0"}, btc...)...)
	url, _ := w.ready["url"].(string)
	token, _ := w.ready["admin_token"].(string)
	tokenFile, _ := w.ready["token_file"].(string)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasPrefix(token, "vhsm_") || tokenFile != db+".admin-token" {
		t.Fatalf("ready line %v", w.ready)
	}
	st, err := os.Stat(tokenFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", err, st)
	}
	if b, _ := os.ReadFile(tokenFile); strings.TrimSpace(string(b)) != token {
		t.Fatal("token file does not hold the printed token")
	}
	if code, _ := apiGet(t, url+"/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := apiGet(t, url+"/", ""); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("web wallet: %d", code)
	}
	if code, _ := apiGet(t, url+"/v1/wallets", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	req, _ := http.NewRequest("POST", url+"/v1/wallets", strings.NewReader(`{"kind":"bitcoin","network":"regtest","label":"cli"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var wl struct{ ID, Address string }
	json.NewDecoder(res.Body).Decode(&wl)
	res.Body.Close()
	if res.StatusCode != 201 || !strings.HasPrefix(wl.Address, "bcrt1p") {
		t.Fatalf("create wallet: %d %+v", res.StatusCode, wl)
	}
	if code, body := apiGet(t, url+"/v1/wallets/"+wl.ID+"/balance", token); code != 200 || !strings.Contains(body, `"total":0`) {
		t.Fatalf("balance: %d %s", code, body)
	}
	if code, body := apiGet(t, url+"/readyz", token); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	w.stop(t)
	if strings.Contains(w.stderr.String(), token) {
		t.Fatal("the admin token appears in the logs")
	}

	// Second start: same database, no new token shown, the old one works.
	w2 := startWallet(t, cl.ClientPath, append([]string{"--db", db, "--listen", "127.0.0.1:0"}, btc...)...)
	if _, ok := w2.ready["admin_token"]; ok {
		t.Fatalf("second start showed a token: %v", w2.ready)
	}
	url2 := w2.ready["url"].(string)
	if code, body := apiGet(t, url2+"/v1/wallets/"+wl.ID, token); code != 200 || !strings.Contains(body, `"label":"cli"`) {
		t.Fatalf("after restart: %d %s", code, body)
	}
}

func TestCoreOptions(t *testing.T) {
	for _, tc := range []struct {
		node, rescan string
		kind         bitcoin.NodeKind
		ok           bool
	}{
		{"", "", bitcoin.NodeAuto, true},
		{"auto", "", bitcoin.NodeAuto, true},
		{"btcd", "", bitcoin.NodeBtcd, true},
		{"bitcoind", "2024-05-01", bitcoin.NodeCore, true},
		{"core", "2024-05-01T12:00:00Z", bitcoin.NodeCore, true},
		{"electrum", "", 0, false},
		{"bitcoind", "yesterday", 0, false},
		{"bitcoind", "2999-01-01", 0, false},
	} {
		kind, rescan, err := coreOptions(walletOptions{btcNode: tc.node, btcRescan: tc.rescan})
		if (err == nil) != tc.ok || (tc.ok && kind != tc.kind) {
			t.Errorf("--btc-node %q --btc-rescan-from %q: %v, %v", tc.node, tc.rescan, kind, err)
		}
		if tc.ok && (tc.rescan == "") != rescan.IsZero() {
			t.Errorf("--btc-rescan-from %q gave %v", tc.rescan, rescan)
		}
	}
}

// TestWalletWaitsForQuorum starts vhsm wallet before any replica runs: it
// keeps running (retrying with backoff), /healthz is up and /readyz and the
// API answer 503; once the replicas start it opens, prints its ready line
// and /readyz answers 200.
func TestWalletWaitsForQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	dir := t.TempDir()
	netDir := filepath.Join(dir, "net")
	pools := &app.PoolConfig{KeyBatch: 4, KeyLow: 2, NonceBatch: 16, NonceLow: 4}
	tn, err := testnet.Generate(netDir, 4, testnet.Options{Pools: pools})
	if err != nil {
		t.Fatal(err)
	}
	ports, err := testnet.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", ports[0])
	url := "http://" + listen
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuf{}, &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", tn.ClientPath, "--json", "wallet", "--db", filepath.Join(dir, "w.db"), "--listen", listen}, stdout, stderr)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vhsm wallet: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("vhsm wallet did not stop")
		}
	}()
	// waitFor polls cond (bounded) and fails if the command exits first.
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			select {
			case err := <-done:
				done <- err
				t.Fatalf("vhsm wallet exited while %s: %v\n%s", what, err, stderr)
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %v\n%s", what, limit, stderr)
			}
		}
	}
	get := func(path string) (int, string) {
		res, err := http.Get(url + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	waitFor("waiting for the listener", time.Minute, func() bool { code, _ := get("/healthz"); return code == 200 })
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"ready":false`) || !strings.Contains(body, `"ready_replicas":0`) {
		t.Fatalf("readyz with no replica running: %d %s", code, body)
	}
	if code, body := get("/v1/wallets"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("API with no replica running: %d %s", code, body)
	}
	waitFor("retrying", time.Minute, func() bool { return strings.Contains(stderr.String(), "hsm_quorum_unavailable") })
	if stdout.String() != "" {
		t.Fatalf("ready line before the HSM answered: %s", stdout)
	}

	cluster.StartInProcess(t, netDir, 4, cluster.Options{Pools: pools})
	waitFor("waiting for the ready line", 4*time.Minute, func() bool { return strings.Contains(stdout.String(), "\n") })
	ready := decodeOne(t, []byte(stdout.String()))
	token, _ := ready["admin_token"].(string)
	if ready["url"] != url || !strings.HasPrefix(token, "vhsm_") {
		t.Fatalf("ready line %v", ready)
	}
	if code, body := apiGet(t, url+"/readyz", token); code != 200 {
		t.Fatalf("readyz once open: %d %s", code, body)
	}
}
