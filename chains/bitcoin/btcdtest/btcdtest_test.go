package btcdtest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
)

func TestNodeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	n := Start(t, addr.EncodeAddress())
	if active, err := n.TaprootActive(); err != nil || active {
		t.Fatalf("taproot active at genesis: %v %v", active, err)
	}
	hs, err := n.Generate(ctx, 150)
	if err != nil || len(hs) != 150 {
		t.Fatalf("generate: %d %v", len(hs), err)
	}
	if err := n.WaitTaproot(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	height, err := n.Client.GetBlockCount()
	if err != nil || height < 288 {
		t.Fatalf("height %d: taproot cannot be active before two BIP-9 windows (%v)", height, err)
	}
	// Coinbase of block 1 pays the mining address.
	h1, err := n.Client.GetBlockHash(1)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := n.Client.GetBlock(h1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := btcutil.DecodeAddress(addr.EncodeAddress(), &chaincfg.RegressionNetParams)
	if got := blk.Transactions[0].TxOut[0].PkScript; len(got) != 22 || string(got[2:]) != string(want.ScriptAddress()) {
		t.Fatalf("coinbase does not pay the mining address")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", n.RPCHost, time.Second); err == nil {
		c.Close()
		t.Fatal("rpc port still open after stop")
	}
}

// TestMissingBtcd runs this test binary again with no btcd reachable (empty PATH and GOPATH) and checks
// both outcomes of [Start]: with CI set the test fails (so CI cannot pass by skipping the Bitcoin
// end-to-end tests), without CI it skips with the install hint.
func TestMissingBtcd(t *testing.T) {
	if os.Getenv("BTCDTEST_CHILD") == "1" {
		Start(t, "bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")
		t.Fatal("Start returned without a btcd binary")
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"true", true, "btcd is required when CI is set"},
		{"", false, "--- SKIP: TestMissingBtcd"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMissingBtcd$", "-test.v", "-test.count=1")
		cmd.Env = []string{"BTCDTEST_CHILD=1", "PATH=" + empty, "GOPATH=" + empty, "HOME=" + empty}
		if tc.ci != "" {
			cmd.Env = append(cmd.Env, "CI="+tc.ci)
		}
		out, err := cmd.CombinedOutput()
		cancel()
		if failed := err != nil; failed != tc.wantFail || !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: exit error %v, output:\n%s", tc.ci, err, out)
		}
	}
}
