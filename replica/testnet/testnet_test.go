package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/types"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/node"
	"github.com/vhsm/vhsm/replica/sealed"
)

func TestGenerateIdempotent(t *testing.T) {
	dir := t.TempDir()
	tn, err := Generate(dir, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tn.N != 4 || tn.T != 1 || len(tn.Homes) != 4 {
		t.Fatalf("testnet %+v", tn)
	}
	gen, err := types.GenesisDocFromFile(filepath.Join(tn.Homes[0], node.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Validators) != 4 {
		t.Fatalf("%d validators", len(gen.Validators))
	}
	var g app.Genesis
	if err := json.Unmarshal(gen.AppState, &g); err != nil {
		t.Fatal(err)
	}
	g.Cluster = gen.ChainID
	if err := g.Validate(); err != nil {
		t.Fatalf("app genesis: %v", err)
	}
	cc, err := client.Load(tn.ClientPath)
	if err != nil {
		t.Fatal(err)
	}
	// A random cluster id, the same in the genesis and the client config.
	if !strings.HasPrefix(gen.ChainID, "vhsm-") || len(gen.ChainID) != 21 || cc.Cluster != gen.ChainID {
		t.Fatalf("chain id %q, client cluster %q", gen.ChainID, cc.Cluster)
	}
	if cc.N != 4 || cc.T != 1 || len(cc.Replicas) != 4 || cc.ClientID != g.Admin.ID {
		t.Fatalf("client config %+v", cc)
	}
	apis := map[string]bool{}
	for i, home := range tn.Homes {
		rc, err := layout.LoadReplicaConfig(home)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Index != i+1 || len(rc.Peers) != 3 || rc.APIURL != g.Replicas[i].API || apis[rc.APIListen] {
			t.Fatalf("replica %d config %+v", i+1, rc)
		}
		apis[rc.APIListen] = true
		if !bytes.Equal(cc.Replicas[i].TLSCert, g.Replicas[i].TLSCert) {
			t.Fatalf("replica %d: client pins another certificate", i+1)
		}
		other, err := os.ReadFile(filepath.Join(home, node.GenesisFile))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := os.ReadFile(filepath.Join(tn.Homes[0], node.GenesisFile))
		if !bytes.Equal(first, other) {
			t.Fatalf("replica %d has a different genesis", i+1)
		}
		for _, f := range []string{layout.SealKeyFile, layout.ReplicaFile, node.NodeKeyFile, node.PrivValKey} {
			fi, err := os.Stat(filepath.Join(home, f))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("replica %d %s mode %v", i+1, f, fi.Mode().Perm())
			}
		}
		st, err := OpenStore(home, false, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{layout.SecretSignKey, layout.SecretDKGKey, layout.SecretTLSKey} {
			if _, err := st.Get(name); err != nil {
				t.Fatalf("replica %d secret %s: %v", i+1, name, err)
			}
		}
	}
	ci, _ := os.Stat(tn.ClientPath)
	if ci.Mode().Perm() != 0o600 {
		t.Errorf("client.json mode %v", ci.Mode().Perm())
	}

	// Second run reuses everything.
	before, _ := os.ReadFile(filepath.Join(tn.Homes[2], node.GenesisFile))
	rcBefore, _ := os.ReadFile(filepath.Join(tn.Homes[2], layout.ReplicaFile))
	tn2, err := Generate(dir, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(tn2.Homes[2], node.GenesisFile))
	rcAfter, _ := os.ReadFile(filepath.Join(tn2.Homes[2], layout.ReplicaFile))
	if !bytes.Equal(before, after) || !bytes.Equal(rcBefore, rcAfter) {
		t.Fatal("regeneration changed the genesis or replica config")
	}
	cc2, _ := client.Load(tn2.ClientPath)
	if !bytes.Equal(cc2.PrivateKey, cc.PrivateKey) {
		t.Fatal("regeneration changed the admin key")
	}
	if _, err := Generate(dir, 7, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("regenerate with another n: %v", err)
	}
}

func TestGeneratePassphrase(t *testing.T) {
	dir := t.TempDir()
	cost := &sealed.Argon2idCost{Time: 1, MemoryKiB: sealed.MinArgon2idMemoryKiB, Threads: 1}
	tn, err := Generate(dir, 4, Options{Passphrase: []byte("pw"), KDFCost: cost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tn.Homes[0], layout.SealKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key file written for a passphrase testnet: %v", err)
	}
	if _, err := OpenStore(tn.Homes[0], true, []byte("pw"), nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(tn.Homes[0], true, []byte("wrong"), nil, nil); !errors.Is(err, sealed.ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

// TestFreePorts: the ports are distinct, bindable, and (on Linux) below
// the kernel's ephemeral range, which outgoing connections draw from.
func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(16)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, below := belowEphemeral()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d twice", p)
		}
		seen[p] = true
		if below && (p < lo || p >= hi) {
			t.Errorf("port %d outside [%d, %d)", p, lo, hi)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d not bindable: %v", p, err)
		}
		l.Close()
	}
	if runtime.GOOS == "linux" && !below {
		t.Log("no room below the ephemeral range here: ports from the kernel")
	}
}

// TestSecretFilePermissions: every file of a generated testnet that lets
// its reader act as a replica or as the admin client is readable by its
// owner only: CometBFT's validator and node keys, the sealing key, every
// sealed record, the replica configuration and client.json; homes are 0700.
func TestSecretFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	dir := t.TempDir()
	tn, err := Generate(dir, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want0600 := func(path string) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
		}
	}
	want0600(tn.ClientPath)
	for _, home := range tn.Homes {
		st, err := os.Stat(home)
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a 0700 directory", home, st)
		}
		for _, f := range []string{node.PrivValKey, node.NodeKeyFile, layout.ReplicaFile, "seal.key"} {
			want0600(filepath.Join(home, f))
		}
		recs, err := filepath.Glob(filepath.Join(home, "secrets", "*"))
		if err != nil || len(recs) == 0 {
			t.Fatalf("%s: no sealed records (%v)", home, err)
		}
		for _, r := range recs {
			want0600(r)
		}
	}
}
