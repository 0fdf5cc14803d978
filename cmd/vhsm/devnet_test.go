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
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/replica/client"
)

// buildVHSM compiles this command into a temporary directory.
func buildVHSM(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vhsm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// devnetProc is a running vhsm devnet subprocess.
type devnetProc struct {
	cmd  *exec.Cmd
	logs string
	done chan error
}

// startDevnet starts bin devnet on dir (with the wallet service on a free
// port, plus extra flags) and waits for its ready line.
func startDevnet(t *testing.T, bin, dir string, extra ...string) *devnetProc {
	t.Helper()
	logs := filepath.Join(t.TempDir(), "devnet.log")
	lf, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	cmd := exec.Command(bin, append([]string{"devnet", "--dir", dir, "--replicas", "4", "--wallet-listen", "127.0.0.1:0"}, extra...)...)
	cmd.Stderr = lf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devnetProc{cmd: cmd, logs: logs, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ready") {
				ready <- sc.Text()
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
			}
		}
	})
	select {
	case line := <-ready:
		if !strings.Contains(line, filepath.Join(dir, "client.json")) ||
			!slices.Contains(extra, "--no-wallet") && !strings.Contains(line, "web wallet http://127.0.0.1:") {
			t.Fatalf("ready line %q does not name the client config and the web wallet", line)
		}
	case err := <-p.done:
		t.Fatalf("devnet exited before ready: %v\n%s", err, tail(logs))
	case <-time.After(240 * time.Second): // generous: CI machines are shared
		t.Fatalf("devnet not ready after 240s\n%s", tail(logs))
	}
	return p
}

// stop sends sig (SIGINT or SIGTERM) and expects a clean exit.
func (p *devnetProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("devnet exit: %v\n%s", err, tail(p.logs))
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("devnet did not stop\n%s", tail(p.logs))
	}
}

// tail returns the end of a log file for failure messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// mustJSON runs a CLI command in-process and fails the test on error.
func mustJSON(t *testing.T, cfg string, args ...string) map[string]any {
	t.Helper()
	obj, err := runJSON(t, cfg, args...)
	if err != nil {
		t.Fatalf("vhsm %s: %v", strings.Join(args, " "), err)
	}
	return obj
}

// TestDevnet starts vhsm devnet as a subprocess, runs the client commands
// in-process against it checking their JSON shapes, stops it with SIGINT,
// starts it again on the same directory, and checks the keys still work.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	bin := buildVHSM(t)
	dir := filepath.Join(t.TempDir(), "net")
	cfg := filepath.Join(dir, "client.json")
	// With btcd installed the devnet also runs it (--btc-regtest); the
	// wallet flow is checked below.
	var extra []string
	_, btcdErr := btcdtest.Find()
	if btcdErr == nil {
		extra = []string{"--btc-regtest", "--btc-block-interval", "500ms"}
	} else if os.Getenv("CI") != "" {
		t.Fatalf("btcd is required when CI is set: %v", btcdErr)
	}
	started := time.Now()
	dn := startDevnet(t, bin, dir, extra...)
	t.Logf("devnet ready in %v (flags %v)", time.Since(started).Round(time.Millisecond), extra)

	st, err := os.Stat(cfg)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("client.json: %v %v", err, st)
	}
	apiURL, apiToken := devnetAPI(t, cfg)
	if code, body := apiGet(t, apiURL+"/v1/keys", apiToken); code != 200 {
		t.Fatalf("wallet API with the devnet token: %d %s", code, body)
	}
	checkDevnetEthSigner(t, cfg)
	var btcWallets devnetBTCWallets
	if btcdErr == nil {
		started := time.Now()
		btcWallets = checkDevnetBitcoin(t, apiURL, apiToken)
		checkDevnetBTCRPC(t, cfg)
		t.Logf("wallet flow (create, send from the faucet, confirmed) in %v", time.Since(started).Round(time.Millisecond))
	} else {
		t.Logf("btcd not installed (%v): --btc-regtest not tested", btcdErr)
		// No --btc-regtest: Bitcoin wallets are refused with a clear problem.
		if code, body := apiPost(t, apiURL+"/v1/wallets", apiToken, `{"kind":"bitcoin","network":"regtest"}`); code != 400 || !strings.Contains(body, "not configured") {
			t.Fatalf("bitcoin wallet without a backend: %d %s", code, body)
		}
	}

	// keys gen / pub / list.
	sk := mustJSON(t, cfg, "keys", "gen", "btc-1", "schnorr")
	wantFields(t, sk, "key_id", "scheme", "public_key")
	schnorrPub := wantHex(t, sk, "public_key", 32)
	if sk["key_id"] != "btc-1" || sk["scheme"] != "schnorr" {
		t.Fatalf("keys gen: %v", sk)
	}
	bk := mustJSON(t, cfg, "keys", "gen", "eth-1", "bls")
	wantFields(t, bk, "key_id", "scheme", "public_key")
	wantHex(t, bk, "public_key", 48)
	yk := mustJSON(t, cfg, "keys", "gen", "sym-1", "symmetric")
	wantFields(t, yk, "key_id", "scheme", "public_key")
	if _, err := runJSON(t, cfg, "keys", "gen", "btc-1", "schnorr"); err == nil {
		t.Fatal("a second key with the same id was accepted")
	}
	pub := mustJSON(t, cfg, "keys", "pub", "btc-1")
	wantFields(t, pub, "key_id", "scheme", "public_key")
	if pub["public_key"] != schnorrPub {
		t.Fatal("keys pub differs from keys gen")
	}
	list := mustJSON(t, cfg, "keys", "list")
	wantFields(t, list, "keys")
	found := 0
	for _, k := range list["keys"].([]any) {
		obj := k.(map[string]any)
		wantFields(t, obj, "key_id", "scheme", "public_key")
		switch obj["key_id"] {
		case "btc-1", "eth-1", "sym-1":
			found++
		}
	}
	if found != 3 {
		t.Fatalf("keys list: %v", list)
	}

	// sign / verify, plain and Taproot, Schnorr and BLS.
	sig := mustJSON(t, cfg, "sign", "btc-1", "hello vhsm")
	wantFields(t, sig, "key_id", "scheme", "message", "signature", "public_key")
	s1 := wantHex(t, sig, "signature", 64)
	if sig["public_key"] != schnorrPub || sig["message"] != "hello vhsm" {
		t.Fatalf("sign: %v", sig)
	}
	if v := mustJSON(t, cfg, "verify", "btc-1", "hello vhsm", s1); v["valid"] != true {
		t.Fatalf("verify: %v", v)
	}
	if v := mustJSON(t, cfg, "verify", "btc-1", "hello vhsm!", s1); v["valid"] != false {
		t.Fatalf("verify of another message: %v", v)
	}
	msgHex := hex.EncodeToString([]byte("taproot spend"))
	tap := mustJSON(t, cfg, "sign", "btc-1", msgHex, "--hex", "--taproot")
	wantFields(t, tap, "key_id", "scheme", "message", "signature", "public_key")
	if tap["public_key"] == schnorrPub {
		t.Fatal("taproot signature reports the internal key")
	}
	s2 := wantHex(t, tap, "signature", 64)
	if v := mustJSON(t, cfg, "verify", "btc-1", msgHex, s2, "--hex", "--taproot"); v["valid"] != true {
		t.Fatalf("verify --taproot: %v", v)
	}
	if v := mustJSON(t, cfg, "verify", "btc-1", msgHex, s2, "--hex"); v["valid"] != false {
		t.Fatalf("taproot signature verified under the internal key: %v", v)
	}
	bsig := mustJSON(t, cfg, "sign", "eth-1", "deposit")
	wantFields(t, bsig, "key_id", "scheme", "message", "signature", "public_key")
	s3 := wantHex(t, bsig, "signature", 96)
	if v := mustJSON(t, cfg, "verify", "eth-1", "deposit", s3); v["valid"] != true {
		t.Fatalf("verify bls: %v", v)
	}

	// encrypt / decrypt.
	enc := mustJSON(t, cfg, "encrypt", "sym-1", "attack at dawn")
	wantFields(t, enc, "key_id", "ciphertext")
	ct := wantHex(t, enc, "ciphertext", 0)
	dec := mustJSON(t, cfg, "decrypt", "sym-1", ct)
	wantFields(t, dec, "key_id", "plaintext")
	if dec["plaintext"] != "attack at dawn" {
		t.Fatalf("decrypt: %v", dec)
	}

	if os.Getenv("VHSM_TEST_LATENCY") != "" {
		logLatencies(t, cfg)
	}

	// Restart on the same directory (stopped by SIGINT, as Ctrl-C does):
	// every key still works.
	dn.stop(t, os.Interrupt)
	dn = startDevnet(t, bin, dir, extra...)
	list = mustJSON(t, cfg, "keys", "list")
	found, probes := 0, 0
	for _, k := range list["keys"].([]any) {
		id, _ := k.(map[string]any)["key_id"].(string)
		switch {
		case id == "btc-1", id == "eth-1", id == "sym-1":
			found++
		case strings.HasPrefix(id, "devnet-probe"):
			probes++ // the readiness probe: one key for the life of the devnet
		}
	}
	if found != 3 || probes != 1 {
		t.Fatalf("keys list after restart (want btc-1, eth-1, sym-1 and one probe key): %v", list)
	}
	// BLS signatures are deterministic: the same key signs the same bytes.
	if b := mustJSON(t, cfg, "sign", "eth-1", "deposit"); b["signature"] != s3 {
		t.Fatalf("bls signature changed across restart: %v", b)
	}
	tap = mustJSON(t, cfg, "sign", "btc-1", msgHex, "--hex", "--taproot")
	if v := mustJSON(t, cfg, "verify", "btc-1", msgHex, tap["signature"].(string), "--hex", "--taproot"); v["valid"] != true {
		t.Fatalf("verify --taproot after restart: %v", v)
	}
	enc = mustJSON(t, cfg, "encrypt", "sym-1", "after restart")
	if dec := mustJSON(t, cfg, "decrypt", "sym-1", enc["ciphertext"].(string)); dec["plaintext"] != "after restart" {
		t.Fatalf("encrypt/decrypt after restart: %v", dec)
	}
	sig = mustJSON(t, cfg, "sign", "btc-1", "after restart")
	if v := mustJSON(t, cfg, "verify", "btc-1", "after restart", sig["signature"].(string)); v["valid"] != true {
		t.Fatalf("verify after restart: %v", v)
	}
	if sig["public_key"] != schnorrPub {
		t.Fatal("key changed across restart")
	}
	if dec := mustJSON(t, cfg, "decrypt", "sym-1", ct); dec["plaintext"] != "attack at dawn" {
		t.Fatalf("decrypt after restart: %v", dec)
	}
	// The wallet service is back with the same token.
	url2, tok2 := devnetAPI(t, cfg)
	if tok2 != apiToken {
		t.Fatal("the devnet API token changed across a restart")
	}
	if code, body := apiGet(t, url2+"/v1/wallets", tok2); code != 200 || (btcdErr == nil && !strings.Contains(body, `"label":"mine"`)) {
		t.Fatalf("wallet API after restart: %d %s", code, body)
	}
	if btcdErr == nil {
		// The chain survived the restart (btcd forgets a regtest chain at
		// every start; the devnet replays DIR/btcd/blocks.dat): same
		// balances, btcd's new endpoint in client.json, and a send works.
		if _, err := os.Stat(filepath.Join(dir, "btcd", "blocks.dat")); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]int64{btcWallets.faucet: btcWallets.faucetBalance, btcWallets.mine: 123456} {
			var bal struct{ Confirmed int64 }
			_, body := apiGet(t, url2+"/v1/wallets/"+id+"/balance", tok2)
			if json.Unmarshal([]byte(body), &bal); bal.Confirmed != want {
				t.Fatalf("wallet %s balance after restart %s, want %d", id, body, want)
			}
		}
		checkDevnetBTCRPC(t, cfg)
		sendAndConfirm(t, url2, tok2, btcWallets.mine, btcWallets.faucetAddress, 50_000)
	}
	// SIGTERM (what a service manager sends) stops it cleanly too.
	dn.stop(t, syscall.SIGTERM)
}

// devnetAPI reads api_url and api_token from a devnet's client.json (which
// the client must still parse strictly).
func devnetAPI(t *testing.T, cfgPath string) (string, string) {
	t.Helper()
	cfg, err := client.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.APIURL, "http://127.0.0.1:") || !strings.HasPrefix(cfg.APIToken, "vhsm_") {
		t.Fatalf("client.json api_url %q, api_token set %v", cfg.APIURL, cfg.APIToken != "")
	}
	return cfg.APIURL, cfg.APIToken
}

// apiPost posts a JSON body with a bearer token and an Idempotency-Key.
func apiPost(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("test-%d", time.Now().UnixNano()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// devnetBTCWallets are the wallets checkDevnetBitcoin leaves behind.
type devnetBTCWallets struct {
	faucet, faucetAddress, mine string
	faucetBalance               int64 // confirmed, after the payment to mine
}

// checkDevnetBitcoin walks the wallet flow of a devnet started with
// --btc-regtest through the REST API: the faucet wallet is funded and
// mature, a new wallet receives a payment from it, and the devnet's block
// loop confirms it.
func checkDevnetBitcoin(t *testing.T, url, tok string) devnetBTCWallets {
	t.Helper()

	var ws []struct{ ID, Label, Address string }
	code, body := apiGet(t, url+"/v1/wallets", tok)
	if err := json.Unmarshal([]byte(body), &ws); code != 200 || err != nil || len(ws) != 1 || ws[0].Label != "devnet faucet" {
		t.Fatalf("wallets: %d %s", code, body)
	}
	faucet := ws[0].ID
	var bal struct{ Confirmed int64 }
	_, body = apiGet(t, url+"/v1/wallets/"+faucet+"/balance", tok)
	if json.Unmarshal([]byte(body), &bal); bal.Confirmed < 100_000_000 {
		t.Fatalf("faucet balance %s", body)
	}
	code, body = apiPost(t, url+"/v1/wallets", tok, `{"kind":"bitcoin","network":"regtest","label":"mine"}`)
	var w struct{ ID, Address string }
	if json.Unmarshal([]byte(body), &w); code != 201 {
		t.Fatalf("create wallet: %d %s", code, body)
	}
	sendAndConfirm(t, url, tok, faucet, w.Address, 123456)
	_, body = apiGet(t, url+"/v1/wallets/"+w.ID+"/balance", tok)
	if !strings.Contains(body, `"confirmed":123456`) {
		t.Fatalf("receiver balance %s", body)
	}
	_, body = apiGet(t, url+"/v1/wallets/"+faucet+"/balance", tok)
	if err := json.Unmarshal([]byte(body), &bal); err != nil {
		t.Fatalf("faucet balance %s", body)
	}
	return devnetBTCWallets{faucet: faucet, faucetAddress: ws[0].Address, mine: w.ID, faucetBalance: bal.Confirmed}
}

// sendAndConfirm sends amount from wallet from to address through the
// REST API and waits (bounded) for the devnet's block loop to confirm it.
func sendAndConfirm(t *testing.T, url, tok, from, address string, amount int64) {
	t.Helper()
	code, body := apiPost(t, url+"/v1/wallets/"+from+"/transactions", tok, fmt.Sprintf(`{"outputs":[{"address":%q,"amount":%d}]}`, address, amount))
	var tx struct{ ID, Status string }
	if json.Unmarshal([]byte(body), &tx); code != 201 || tx.Status != "broadcast" {
		t.Fatalf("send: %d %s", code, body)
	}
	deadline := time.Now().Add(60 * time.Second) // generous: the machine is shared
	for {
		_, body = apiGet(t, url+"/v1/wallets/"+from+"/transactions/"+tx.ID, tok)
		if strings.Contains(body, `"status":"confirmed"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not confirmed after 60 s: %s", body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkDevnetBTCRPC checks that client.json names btcd's JSON-RPC endpoint
// with working credentials: getblockcount answers, and wrong credentials
// are refused.
func checkDevnetBTCRPC(t *testing.T, cfgPath string) {
	t.Helper()
	cfg, err := client.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.BTCRPCURL, "http://127.0.0.1:") || cfg.BTCRPCUser == "" || cfg.BTCRPCPass == "" {
		t.Fatalf("client.json btc_rpc_url %q, user and pass set %v %v", cfg.BTCRPCURL, cfg.BTCRPCUser != "", cfg.BTCRPCPass != "")
	}
	call := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("POST", cfg.BTCRPCURL, strings.NewReader(`{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}`))
		req.SetBasicAuth(user, pass)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("btcd rpc: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := call(cfg.BTCRPCUser, cfg.BTCRPCPass)
	var r struct {
		Result int64
		Error  any
	}
	if json.Unmarshal([]byte(body), &r); code != 200 || r.Error != nil || r.Result < 533 {
		t.Fatalf("getblockcount with client.json's credentials: %d %s", code, body)
	}
	if code, _ := call(cfg.BTCRPCUser, "wrong"); code != 401 {
		t.Fatalf("btcd accepted a wrong password: %d", code)
	}
}

// logLatencies logs the median latency of a few operations through one
// client against the running devnet (informational, with
// VHSM_TEST_LATENCY=1; the benchmark is vhsm bench).
func logLatencies(t *testing.T, cfgPath string) {
	t.Helper()
	cfg, err := client.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const rounds = 9
	measure := func(name string, op func() error) {
		var d []time.Duration
		for range rounds {
			start := time.Now()
			if err := op(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		t.Logf("%s: p50 %v (n=%d)", name, d[len(d)/2], rounds)
	}
	measure("keys.gen schnorr", func() error {
		_, err := c.GenerateKey(ctx, "lat-"+time.Now().Format("150405.000000"), "schnorr")
		return err
	})
	measure("sign schnorr", func() error { _, err := c.SignSchnorr(ctx, "btc-1", []byte("latency"), nil); return err })
	measure("sign bls", func() error { _, err := c.SignBLS(ctx, "eth-1", []byte("latency")); return err })
	measure("encrypt", func() error { _, err := c.Encrypt(ctx, "sym-1", []byte("latency")); return err })
}

// TestDevnetSeven runs vhsm devnet --replicas 7 through the real binary:
// ready, a key of each signing scheme generated and used, a clean SIGTERM
// stop, and a restart on the same directory that still signs with the
// same BLS key. About a minute to ready on a 2-core machine, so it runs
// with VHSM_SEVEN=1, like the other (7,2) cluster tests.
func TestDevnetSeven(t *testing.T) {
	if os.Getenv("VHSM_SEVEN") == "" {
		t.Skip("a long (7,2) devnet run: set VHSM_SEVEN=1")
	}
	bin := buildVHSM(t)
	dir := filepath.Join(t.TempDir(), "net7")
	cfg := filepath.Join(dir, "client.json")
	dn := startDevnet(t, bin, dir, "--replicas", "7")
	c, err := client.Load(cfg)
	if err != nil || c.N != 7 || c.T != 2 || len(c.Replicas) != 7 {
		t.Fatalf("client.json of a 7-replica devnet: %v %+v", err, c)
	}
	wantHex(t, mustJSON(t, cfg, "keys", "gen", "b7", "bls"), "public_key", 48)
	wantHex(t, mustJSON(t, cfg, "keys", "gen", "s7", "schnorr"), "public_key", 32)
	sig := mustJSON(t, cfg, "sign", "b7", "seven")
	tap := mustJSON(t, cfg, "sign", "s7", "seven", "--taproot")
	if v := mustJSON(t, cfg, "verify", "s7", "seven", tap["signature"].(string), "--taproot"); v["valid"] != true {
		t.Fatalf("verify --taproot: %v", v)
	}
	dn.stop(t, syscall.SIGTERM)
	dn = startDevnet(t, bin, dir, "--replicas", "7")
	if again := mustJSON(t, cfg, "sign", "b7", "seven"); again["signature"] != sig["signature"] {
		t.Fatalf("bls signature changed across a restart: %v", again)
	}
	dn.stop(t, os.Interrupt)
}

// replicaPID returns the pid of the latest process of replica name (1-based
// index) that the devnet logged (replica_started, replica_restarted), or 0.
func replicaPID(t *testing.T, logs string, name string) (pid int, restarts int) {
	t.Helper()
	b, err := os.ReadFile(logs)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`msg=(replica_started|replica_restarted) replica=` + regexp.QuoteMeta(name) + ` pid=(\d+)`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		pid, _ = strconv.Atoi(m[2])
		if m[1] == "replica_restarted" {
			restarts++
		}
	}
	return pid, restarts
}

// TestDevnetReplicaRestart kills a replica of a running devnet with
// SIGKILL under load: every request through the devnet's client.json still
// succeeds (the cluster tolerates f=1), the devnet restarts the replica and
// logs it, and the replica's /v1/status is ready again.
func TestDevnetReplicaRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	bin := buildVHSM(t)
	dir := filepath.Join(t.TempDir(), "net")
	dn := startDevnet(t, bin, dir, "--no-wallet")
	cfg, err := client.Load(filepath.Join(dir, "client.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c.GenerateKey(ctx, "k", "schnorr"); err != nil {
		t.Fatal(err)
	}
	sign := func(i int) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, time.Minute)
		defer rcancel()
		if _, err := c.SignSchnorr(rctx, "k", []byte(fmt.Sprintf("under load %d", i)), nil); err != nil {
			t.Fatalf("request %d with a replica down or restarting: %v\n%s", i, err, tail(dn.logs))
		}
	}
	sign(0)

	const victim = "replica-2"
	pid, _ := replicaPID(t, dn.logs, victim)
	if pid == 0 {
		t.Fatalf("no pid logged for %s\n%s", victim, tail(dn.logs))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	back := -1 // requests done when the replica was seen ready again
	const maxRequests = 400
	for i := 1; i <= maxRequests; i++ {
		sign(i)
		select {
		case err := <-dn.done:
			t.Fatalf("devnet exited after a replica was killed: %v\n%s", err, tail(dn.logs))
		default:
		}
		if back < 0 {
			if newPID, restarts := replicaPID(t, dn.logs, victim); restarts > 0 && newPID != pid {
				if st := c.Status(ctx); slices.ContainsFunc(st, func(r client.ReplicaStatus) bool { return r.Replica == 2 && r.Ready }) {
					back = i
					t.Logf("%s restarted (pid %d → %d) and ready after %v, %d requests", victim, pid, newPID, time.Since(started).Round(time.Millisecond), i)
				}
			}
		} else if i >= back+5 {
			break // a few more requests with the replica back
		}
		if time.Since(started) > 3*time.Minute {
			break
		}
	}
	if back < 0 {
		t.Fatalf("%s not restarted and ready after %v\n%s", victim, time.Since(started), tail(dn.logs))
	}
	for _, st := range c.Status(ctx) {
		if !st.Ready {
			t.Fatalf("replica %d not ready: %s", st.Replica, st.Error)
		}
	}
	dn.stop(t, syscall.SIGTERM)
}

// checkDevnetEthSigner: with typed Ethereum signing in the HSM client, the
// devnet serves the remote signer on loopback and names it in client.json
// (eth_signer_url); without it, client.json has no such URL.
func checkDevnetEthSigner(t *testing.T, cfgPath string) {
	t.Helper()
	cfg, err := client.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.EthSignerURL, "http://127.0.0.1:") {
		t.Fatalf("client.json eth_signer_url %q", cfg.EthSignerURL)
	}
	if code, body := apiGet(t, cfg.EthSignerURL+"/upcheck", ""); code != 200 || body != "OK" {
		t.Fatalf("eth signer upcheck: %d %q", code, body)
	}
	if code, body := apiGet(t, cfg.EthSignerURL+"/api/v1/eth2/publicKeys", ""); code != 200 || !strings.HasPrefix(body, "[") {
		t.Fatalf("eth signer publicKeys: %d %q", code, body)
	}
}
