package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"gopkg.in/yaml.v3"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/replica"
	"github.com/vhsm/vhsm/replica/client"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/replica/wire"
)

// composeFile is the part of docker-compose.yml the tests check.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]string `yaml:"build"`
	Hostname    string            `yaml:"hostname"`
	Command     []string          `yaml:"command"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
	NetworkMode string            `yaml:"network_mode"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Environment map[string]string `yaml:"environment"`
}

// repoFile reads a file at the repository root.
func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(repoFile(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// composeEnv expands ${VAR:-default} the way docker compose does when VAR
// is unset.
func composeEnv(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// mounts maps a service's mount points to volume names (named volumes only).
func mounts(t *testing.T, s composeService) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[1], "/") {
			t.Fatalf("volume %q is not NAME:/path[:ro]", v)
		}
		m[parts[1]] = parts[0]
	}
	return m
}

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// checkVhsmCommand resolves args through the real cobra tree: the
// subcommand must exist, every flag must be one of its flags and parse,
// positional arguments must be accepted, and `vhsm <cmd> --help` must run.
func checkVhsmCommand(t *testing.T, service string, args []string) {
	t.Helper()
	c := &cli{stdout: io.Discard, stderr: io.Discard}
	root := c.rootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %v is not a vhsm subcommand (%v)", service, args, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: vhsm %s: %v", service, cmd.Name(), err)
		return
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Errorf("%s: vhsm %s: %v", service, cmd.Name(), err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{cmd.Name(), "--help"}, &out, &out); err != nil || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("%s: vhsm %s --help: %v %q", service, cmd.Name(), err, out.String())
	}
}

// TestComposeFile checks docker-compose.yml against the binary and the
// Dockerfile: 4 replicas named replica1..4, each its own volume mounted as
// its home and, in the init service, as DIR/replica-i of the vhsm testnet
// that generates the cluster for exactly those host names; every vhsm
// command a real subcommand with real flags; the wallet reading the
// generated client configuration and published on loopback at its listen
// port; the btc-regtest profile sharing btcd's namespace; every image's
// build target a stage of the Dockerfile.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	dockerfile := string(repoFile(t, "Dockerfile"))
	for name, s := range c.Services {
		if target := s.Build["target"]; target == "" || !regexp.MustCompile(`(?m)^FROM \S+ AS `+regexp.QuoteMeta(target)+`$`).MatchString(dockerfile) {
			t.Errorf("%s: build target %q is not a Dockerfile stage", name, target)
		}
		for _, v := range s.Volumes {
			if vol := strings.Split(v, ":")[0]; c.Volumes == nil || !hasKey(c.Volumes, vol) {
				t.Errorf("%s: volume %q not declared", name, vol)
			}
		}
		if s.Image == "vhsm:local" {
			args := make([]string, len(s.Command))
			for i, a := range s.Command {
				args[i] = composeEnv(a)
			}
			checkVhsmCommand(t, name, args)
		}
	}

	init, ok := c.Services["init"]
	if !ok {
		t.Fatal("no init service")
	}
	hosts := strings.Split(flagValue(init.Command, "hosts"), ",")
	if !slices.Equal(hosts, []string{"replica1", "replica2", "replica3", "replica4"}) {
		t.Fatalf("init --hosts %v", hosts)
	}
	dir := flagValue(init.Command, "dir")
	initMounts := mounts(t, init)
	seen := map[string]bool{}
	for i, h := range hosts {
		s, ok := c.Services[h]
		if !ok {
			t.Fatalf("no service %s", h)
		}
		if s.Hostname != h {
			t.Errorf("%s: hostname %q", h, s.Hostname)
		}
		if s.Command[0] != "replica" {
			t.Errorf("%s: command %v", h, s.Command)
		}
		home := flagValue(s.Command, "home")
		vol := mounts(t, s)[home]
		if vol == "" || seen[vol] {
			t.Errorf("%s: home %s is not on a volume of its own (%v)", h, home, s.Volumes)
		}
		seen[vol] = true
		if got := initMounts[filepath.Join(dir, "replica-"+strconv.Itoa(i+1))]; got != vol {
			t.Errorf("init mounts %q as replica-%d, but %s's home is volume %q", got, i+1, h, vol)
		}
		if s.DependsOn["init"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for init", h)
		}
	}
	clientVol := initMounts[dir]
	for _, name := range []string{"wallet", "wallet-regtest"} {
		w := c.Services[name]
		if w.Command == nil {
			t.Fatalf("no %s service", name)
		}
		cfg := flagValue(w.Command, "config")
		if filepath.Dir(cfg) == "" || mounts(t, w)[filepath.Dir(cfg)] != clientVol || filepath.Base(cfg) != testnet.ClientFile {
			t.Errorf("%s: --config %s is not the init's %s on volume %s", name, cfg, testnet.ClientFile, clientVol)
		}
		for _, h := range hosts {
			if _, ok := w.DependsOn[h]; !ok {
				t.Errorf("%s does not depend on %s", name, h)
			}
		}
	}
	w := c.Services["wallet"]
	port := strings.Split(flagValue(w.Command, "listen"), ":")[1]
	if !slices.Contains(w.Ports, "127.0.0.1:8080:"+port) {
		t.Errorf("wallet listens on %s but publishes %v (want 127.0.0.1:8080)", port, w.Ports)
	}
	wr, btcd := c.Services["wallet-regtest"], c.Services["btcd"]
	if wr.NetworkMode != "service:btcd" || !slices.Contains(wr.Profiles, "btc-regtest") || !slices.Contains(btcd.Profiles, "btc-regtest") {
		t.Errorf("btc-regtest profile: wallet-regtest %+v, btcd %+v", wr, btcd)
	}
	rpc := flagValue(wr.Command, "btc-rpc")
	var rpcListen string
	for _, a := range btcd.Command {
		if v, ok := strings.CutPrefix(a, "--rpclisten="); ok {
			rpcListen = v
		}
	}
	if rpc == "" || rpc != rpcListen || !strings.HasPrefix(rpc, "127.0.0.1:") {
		t.Errorf("wallet-regtest --btc-rpc %q, btcd --rpclisten %q", rpc, rpcListen)
	}
	if !slices.Contains(btcd.Ports, "127.0.0.1:8081:"+strings.Split(flagValue(wr.Command, "listen"), ":")[1]) {
		t.Errorf("btcd does not publish wallet-regtest's port: %v", btcd.Ports)
	}

	// The init command, run for real into a temporary directory, lays out
	// what the replicas and the wallet expect.
	args := slices.Clone(init.Command)
	for i := range args {
		if args[i] == dir {
			args[i] = t.TempDir()
		}
	}
	out := mustRun(t, append([]string{"--json"}, args...)...)
	tn := decodeOne(t, out)
	cfg, err := client.Load(tn["config"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range cfg.Replicas {
		if want := fmt.Sprintf("https://replica%d:8443", i+1); r.URL != want {
			t.Errorf("client replica %d: %s, want %s", i+1, r.URL, want)
		}
	}
	rc, err := layout.LoadReplicaConfig(tn["homes"].([]any)[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	if rc.P2PListen != "tcp://replica1:26656" || rc.APIListen != ":8443" || len(rc.Peers) != 3 || !strings.HasSuffix(rc.Peers[2], "@replica4:26656") {
		t.Errorf("replica-1/replica.json: %+v", rc)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// mustRun runs the CLI in-process and returns its stdout.
func mustRun(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("vhsm %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestTestnetFlags: bad flags are refused and change nothing; a directory
// generated for other hosts is refused without being modified.
func TestTestnetFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	four := "a,b,c,d"
	for _, args := range [][]string{
		{"--hosts", "a,b,c"},
		{"--hosts", "a,b,c,a"},
		{"--hosts", "a,b,c,d_e"},
		{"--hosts", "a,b,c,-d"},
		{"--hosts", "a,b,c,d:80"},
		{"--hosts", four, "--p2p-port", "0"},
		{"--hosts", four, "--api-port", "70000"},
		{"--hosts", four, "--api-port", "26656"},
		{"--hosts", four, "--listen", "any"},
		{"--hosts", four, "extra"},
		{"--hosts", four, "--key-batch", "0"},
		{"--hosts", four, "--key-low", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"testnet", "--dir", dir}, args...), &stdout, &stderr)
		if err == nil || stdout.Len() != 0 {
			t.Errorf("testnet %v: err %v, stdout %q", args, err, stdout.String())
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("refused flags created %s: %v", dir, err)
	}

	mustRun(t, "testnet", "--dir", dir, "--hosts", "h1.example,h2.example,10.0.0.3,fd00::4")
	rc, err := layout.LoadReplicaConfig(filepath.Join(dir, "replica-4"))
	if err != nil {
		t.Fatal(err)
	}
	if rc.APIURL != "https://[fd00::4]:8443" || rc.P2PListen != "tcp://[fd00::4]:26656" || rc.N != 4 || rc.T != 1 {
		t.Errorf("IPv6 host: %+v", rc)
	}
	before := snapshot(t, dir)
	// Run again: nothing changes (identities reused).
	mustRun(t, "testnet", "--dir", dir, "--hosts", "h1.example,h2.example,10.0.0.3,fd00::4")
	// Other hosts, ports or size on the same directory: refused, unchanged.
	for _, args := range [][]string{
		{"--hosts", "h1.example,h2.example,10.0.0.3,other"},
		{"--hosts", "h1.example,h2.example,10.0.0.3,fd00::4", "--api-port", "9443"},
		{"--hosts", "h1.example,h2.example,10.0.0.3,fd00::4", "--listen", "host"},
		{"--hosts", "h1.example,h2.example,10.0.0.3"},
		{"--hosts", "h1.example,h2.example,10.0.0.3,fd00::4,e,f,g"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append([]string{"testnet", "--dir", dir}, args...), &stdout, &stderr); err == nil {
			t.Errorf("testnet %v on an existing directory accepted", args)
		}
	}
	if after := snapshot(t, dir); !slicesEqualMap(before, after) {
		t.Error("a refused or repeated testnet changed files")
	}
}

// snapshot returns the content of every replica.json and client.json under
// dir, and the genesis of replica 1.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == layout.ReplicaFile || d.Name() == testnet.ClientFile || d.Name() == "genesis.json" || d.Name() == "node_key.json" {
			b, err := os.ReadFile(p)
			m[p] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func slicesEqualMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTestnetMultiHost is the multi-machine layout on one machine: four
// hosts 127.0.0.1..127.0.0.4 (every 127/8 address is loopback on Linux),
// every replica on the same two ports of its own address, generated by
// vhsm testnet --listen host; the replicas run from the generated homes,
// and a key is generated and used through the generated client.json.
func TestTestnetMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2-4 are loopback addresses on Linux only")
	}
	ports, err := testnet.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "testnet", "--dir", dir, "--hosts", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4",
		"--p2p-port", strconv.Itoa(ports[0]), "--api-port", strconv.Itoa(ports[1]), "--listen", "host",
		"--key-batch", "8", "--key-low", "2")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make([]error, 4)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
	logDir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= 4; i++ {
				b, _ := os.ReadFile(filepath.Join(logDir, fmt.Sprintf("replica-%d.log", i)))
				t.Logf("replica %d log (last 3000 bytes):\n%s", i, b[max(0, len(b)-3000):])
			}
		}
	})
	for i := range 4 {
		home := filepath.Join(dir, "replica-"+strconv.Itoa(i+1))
		lf, err := os.Create(filepath.Join(logDir, fmt.Sprintf("replica-%d.log", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lf.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = replica.Run(ctx, replica.Config{Home: home, Log: slog.New(slog.NewTextHandler(lf, nil))})
		}()
	}
	cfgPath := filepath.Join(dir, testnet.ClientFile)
	cfg, err := client.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := waitDevnetReady(wctx, cl, nil); err != nil {
		t.Fatal(err)
	}
	k, err := cl.GenerateKey(wctx, "multi-host", wire.SchemeSchnorr)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cl.SignSchnorr(wctx, k.KeyID, []byte("one replica per host"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := client.VerifySchnorr(k.PublicKey, []byte("one replica per host"), sig[:], nil); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	for i, st := range cl.Status(wctx) {
		if !st.Ready {
			t.Errorf("replica %d not ready: %s", i+1, st.Error)
		}
	}
}

// dockerBuildCommand returns the go build command of the Dockerfile's
// build stage (its RUN line, continuation lines joined) as arguments.
func dockerBuildCommand(t *testing.T) (env, args []string) {
	t.Helper()
	var joined strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(repoFile(t, "Dockerfile")))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "RUN mkdir -p /out && CGO_ENABLED=1 go build") {
			in = true
		}
		if in {
			joined.WriteString(strings.TrimSuffix(line, "\\") + " ")
			if !strings.HasSuffix(line, "\\") {
				break
			}
		}
	}
	cmd := joined.String()
	cmd = cmd[strings.Index(cmd, "CGO_ENABLED=1"):]
	cmd = cmd[:strings.Index(cmd, "&&")]
	// Split on spaces, keeping the single-quoted -ldflags value whole.
	re := regexp.MustCompile(`'[^']*'|\S+`)
	for _, f := range re.FindAllString(cmd, -1) {
		f = strings.Trim(f, "'")
		if strings.Contains(f, "=") && !strings.HasPrefix(f, "-") && len(args) == 0 {
			env = append(env, f)
			continue
		}
		args = append(args, f)
	}
	return env, args
}

// TestDockerStaticBuild builds vhsm with the Dockerfile's exact command and
// checks the result is a static executable (no ELF interpreter) that runs:
// --help, and vhsm testnet generating the compose cluster. The comment at
// the top of the Dockerfile must give the same command.
//
// The build recompiles every package (other tags, -trimpath): minutes on
// two cores, so it runs only with VHSM_TEST_STATIC_BUILD=1 (the release
// check before building images).
func TestDockerStaticBuild(t *testing.T) {
	if os.Getenv("VHSM_TEST_STATIC_BUILD") != "1" {
		t.Skip("set VHSM_TEST_STATIC_BUILD=1 to build the Dockerfile's static binary (recompiles everything)")
	}
	env, args := dockerBuildCommand(t)
	if !slices.Equal(env, []string{"CGO_ENABLED=1"}) || args[0] != "go" || args[1] != "build" || args[len(args)-1] != "./cmd/vhsm" {
		t.Fatalf("Dockerfile build command: %v %v", env, args)
	}
	doc := string(repoFile(t, "Dockerfile"))
	for _, a := range args[2 : len(args)-3] {
		if !strings.Contains(doc[:strings.Index(doc, "FROM ")], a) {
			t.Errorf("the Dockerfile's header does not give %q", a)
		}
	}
	bin := filepath.Join(t.TempDir(), "vhsm")
	for i := range args {
		if args[i] == "-o" {
			args[i+1] = bin
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, args[0], args[1:]...)
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: not static")
		}
	}
	f.Close()
	if out, err := exec.CommandContext(ctx, bin, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "testnet") {
		t.Fatalf("vhsm --help: %v\n%s", err, out)
	}
	dir := t.TempDir()
	out, err := exec.CommandContext(ctx, bin, "--json", "testnet", "--dir", dir, "--hosts", "replica1,replica2,replica3,replica4").CombinedOutput()
	if err != nil {
		t.Fatalf("static vhsm testnet: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "replica-4", layout.SealKeyFile)); err != nil {
		t.Errorf("static vhsm testnet wrote no replica-4: %v\n%s", err, out)
	}
	// The image's binary leaves out the PKCS#11 peer, with a clear error.
	out, err = exec.CommandContext(ctx, bin, "bench", "--peer", "softhsm", "--replicas", "4").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nosofthsm") {
		t.Errorf("static vhsm bench --peer softhsm: %v\n%s", err, out)
	}
}

// TestComposeBtcd starts btcd with the btc-regtest profile's exact
// arguments (only the data directory, the RPC port and the p2p port moved
// to free places) and checks what wallet-regtest relies on: the RPC answers
// on the --btc-rpc address with the compose credentials, the chain is
// regtest, and `generate` mines to the default --miningaddr.
func TestComposeBtcd(t *testing.T) {
	bin, err := btcdtest.Find()
	if err != nil {
		t.Skipf("btcd not installed: %v", err)
	}
	c := loadCompose(t)
	btcd, wr := c.Services["btcd"], c.Services["wallet-regtest"]
	ports, err := testnet.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var args []string
	for _, a := range btcd.Command {
		a = composeEnv(a)
		switch {
		case strings.HasPrefix(a, "--datadir="):
			a = "--datadir=" + filepath.Join(dir, "data")
		case strings.HasPrefix(a, "--logdir="):
			a = "--logdir=" + filepath.Join(dir, "logs")
		case strings.HasPrefix(a, "--rpclisten="):
			a = "--rpclisten=127.0.0.1:" + strconv.Itoa(ports[0])
		}
		args = append(args, a)
	}
	args = append(args, "--listen=127.0.0.1:"+strconv.Itoa(ports[1]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("btcd output:\n%s", logs.String())
		}
	}()
	rpc, err := bitcoin.NewRPC(bitcoin.RPCConfig{
		URL:  "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		User: flagValue(wr.Command, "btc-user"), Pass: composeEnv(wr.Environment["VHSM_BTC_RPC_PASS"]),
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var genesis chainhash.Hash
	for i := 0; ; i++ {
		if genesis, err = rpc.GenesisHash(ctx); err == nil || i == 100 || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("btcd RPC: %v", err)
	}
	if genesis != *chaincfg.RegressionNetParams.GenesisHash || flagValue(wr.Command, "btc-network") != "regtest" {
		t.Errorf("btcd genesis %v, wallet network %s", genesis, flagValue(wr.Command, "btc-network"))
	}
	var hashes []string
	if err := rpc.Call(ctx, "generate", []any{1}, &hashes); err != nil || len(hashes) != 1 {
		t.Errorf("generate to the default mining address: %v %v", hashes, err)
	}
}
