// Package btcdtest runs a throw-away btcd node on regtest, on 127.0.0.1, for tests: start, mine blocks,
// wait for Taproot to be active, stop and clean up.
//
// The btcd binary is looked up on PATH, then in $(go env GOPATH)/bin (install it with
// `go install github.com/btcsuite/btcd@v0.24.2`). When it is absent, [Start] skips the test with a
// message, unless the CI environment variable is set, in which case the test fails.
//
// btcd's `generate` pays every coinbase to one of the --miningaddr addresses given at start, so a node
// mines to the addresses passed to [Start]. RPC runs without TLS (--notls), which btcd allows only on
// loopback; the node has --txindex --addrindex so that searchrawtransactions works.
package btcdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"

	"github.com/vhsm/vhsm/replica/testnet"
)

// ErrNotFound reports that no btcd binary was found.
var ErrNotFound = errors.New("btcdtest: btcd binary not found")

// Node is a running btcd regtest node.
type Node struct {
	RPCURL  string            // http://127.0.0.1:port
	RPCHost string            // 127.0.0.1:port
	User    string            // RPC user (random)
	Pass    string            // RPC password (random)
	Client  *rpcclient.Client // HTTP POST mode client
	Dir     string            // data and log directory
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan error
	stopped bool
	ports   []int // reserved by testnet.FreePorts until Stop

	chainPath string     // ChainFile of a StartProcess node, "" for Start
	chainMu   sync.Mutex // SaveChain and restoreChain
	chain     chainState // what the last save or the restore wrote
}

// Find returns the path of the btcd binary.
func Find() (string, error) {
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "btcd")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Start starts a regtest btcd mining to miningAddrs (at least one, regtest encoding), registers its
// shutdown with t.Cleanup and returns once its RPC server answers. A missing binary skips the test,
// or fails it when CI is set.
func Start(t testing.TB, miningAddrs ...string) *Node {
	t.Helper()
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("btcd is required when CI is set: %v (go install github.com/btcsuite/btcd@v0.24.2)", err)
		}
		t.Skipf("skipping: %v (go install github.com/btcsuite/btcd@v0.24.2, or set CI to make this fatal)", err)
	}
	n, err := start(bin, t.TempDir(), miningAddrs)
	if err != nil {
		t.Fatalf("start btcd: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Errorf("stop btcd: %v", err)
		}
	})
	return n
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// start starts btcd (startOnce), again on fresh ports, at most three times, when it exited because a
// port was taken: the ports are reserved against every process picking them with testnet.FreePorts, but
// a process that does not can still bind one before btcd does.
func start(bin, dir string, miningAddrs []string) (*Node, error) {
	if len(miningAddrs) == 0 {
		return nil, errors.New("btcdtest: need at least one mining address")
	}
	for attempt := 1; ; attempt++ {
		n, err := startOnce(bin, dir, miningAddrs)
		if err == nil || attempt == 3 || !errors.Is(err, errAddrInUse) {
			return n, err
		}
	}
}

// errAddrInUse: btcd exited because one of its ports was in use.
var errAddrInUse = errors.New("btcdtest: address in use")

func startOnce(bin, dir string, miningAddrs []string) (n *Node, err error) {
	// The project's one free-port helper: ports drawn below the kernel's ephemeral range, so that no
	// outgoing connection can take one between this call and btcd binding it.
	ports, err := testnet.FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: %w", err)
	}
	defer func() {
		if err != nil {
			testnet.ReleasePorts(ports...)
		}
	}()
	rpcPort, p2pPort := ports[0], ports[1]
	user, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	pass, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("127.0.0.1:%d", rpcPort)
	args := []string{
		"--regtest", "--txindex", "--addrindex", "--notls",
		"--rpcuser=" + user, "--rpcpass=" + pass,
		"--rpclisten=" + host, fmt.Sprintf("--listen=127.0.0.1:%d", p2pPort),
		"--datadir=" + filepath.Join(dir, "data"), "--logdir=" + filepath.Join(dir, "logs"),
		"--configfile=" + filepath.Join(dir, "none.conf"),
		"--nodnsseed", "--norelaypriority", "--debuglevel=info",
	}
	for _, a := range miningAddrs {
		args = append(args, "--miningaddr="+a)
	}
	if err := os.WriteFile(filepath.Join(dir, "none.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec btcd: %w", err)
	}
	n = &Node{RPCURL: "http://" + host, RPCHost: host, User: user, Pass: pass, Dir: dir, cmd: cmd, logs: logs, done: make(chan error, 1), ports: ports}
	go func() { n.done <- cmd.Wait() }()
	client, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: host, User: user, Pass: pass, HTTPPostMode: true, DisableTLS: true,
	}, nil)
	if err != nil {
		_ = n.Stop()
		return nil, fmt.Errorf("rpc client: %w", err)
	}
	n.Client = client
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := client.GetBlockCount(); err == nil {
			return n, nil
		}
		select {
		case err := <-n.done:
			n.stopped = true
			if strings.Contains(logs.String(), "address already in use") {
				return nil, fmt.Errorf("%w: %s", errAddrInUse, tail(logs.String()))
			}
			return nil, fmt.Errorf("btcd exited (%v): %s", err, tail(logs.String()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = n.Stop()
			return nil, fmt.Errorf("btcd rpc not ready after 30s: %s", tail(logs.String()))
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // bound memory: keep the last ~1 MiB
		rest := bytes.Clone(b.buf.Bytes()[b.buf.Len()-1<<19:])
		b.buf.Reset()
		b.buf.Write(rest)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// Generate mines n blocks (to the mining addresses) and returns their hashes.
func (n *Node) Generate(ctx context.Context, count uint32) ([]*chainhash.Hash, error) {
	var all []*chainhash.Hash
	for count > 0 {
		if err := ctx.Err(); err != nil {
			return all, err
		}
		step := min(count, 100)
		hs, err := n.Client.Generate(step)
		if err != nil {
			return all, fmt.Errorf("generate: %w", err)
		}
		all = append(all, hs...)
		count -= step
	}
	return all, nil
}

// TaprootActive reports whether getblockchaininfo shows the taproot BIP-9 deployment as "active".
func (n *Node) TaprootActive() (bool, error) {
	info, err := n.Client.GetBlockChainInfo()
	if err != nil {
		return false, fmt.Errorf("getblockchaininfo: %w", err)
	}
	if d, ok := info.Bip9SoftForks["taproot"]; ok && d != nil {
		return d.Status == "active", nil
	}
	if d, ok := info.SoftForks.Bip9SoftForks["taproot"]; ok && d != nil {
		return d.Status == "active", nil
	}
	return false, errors.New("btcdtest: getblockchaininfo reports no taproot deployment")
}

// WaitTaproot mines blocks until the taproot deployment is active (on regtest: 144-block BIP-9
// windows, 108 signalling blocks to lock in, so about 432 blocks), at most maxBlocks.
func (n *Node) WaitTaproot(ctx context.Context, maxBlocks uint32) error {
	var mined uint32
	for {
		ok, err := n.TaprootActive()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if mined >= maxBlocks {
			return fmt.Errorf("btcdtest: taproot not active after %d blocks", mined)
		}
		step := min(uint32(48), maxBlocks-mined)
		if _, err := n.Generate(ctx, step); err != nil {
			return err
		}
		mined += step
	}
}

// Logs returns the node's output so far (for failure messages).
func (n *Node) Logs() string { return n.logs.String() }

// Stop saves the chain of a [StartProcess] node ([Node.SaveChain]), interrupts the node and waits for it
// to exit (killing it after 15 s). It is idempotent.
func (n *Node) Stop() error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	var saveErr error
	if n.Client != nil {
		saveErr = n.SaveChain()
	}
	if n.Client != nil {
		n.Client.Shutdown()
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	defer testnet.ReleasePorts(n.ports...)
	select {
	case <-n.done:
		return saveErr
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		return errors.Join(saveErr, errors.New("btcdtest: btcd did not stop within 15s; killed"))
	}
}
