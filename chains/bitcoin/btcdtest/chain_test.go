package btcdtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// startProcess is StartProcess with Start's skip-or-fail rule for a missing
// binary.
func startProcess(t *testing.T, dir, addr string) *Node {
	t.Helper()
	if _, err := Find(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("btcd is required when CI is set: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	n, err := StartProcess(dir, addr)
	if err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// TestChainSurvivesRestart: btcd deletes its regtest database at start;
// the chain comes back from blocks.dat, saved by Stop and by SaveChain.
func TestChainSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd three times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := startProcess(t, dir, addr.EncodeAddress())
	hs, err := n.Generate(ctx, 120)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SaveChain(); err != nil { // a periodic save, then more blocks
		t.Fatal(err)
	}
	more, err := n.Generate(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	tip := *more[len(more)-1]
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, ChainFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", ChainFile, err, st)
	}

	n = startProcess(t, dir, addr.EncodeAddress())
	count, err := n.Client.GetBlockCount()
	if err != nil || count != 125 {
		t.Fatalf("height after restart %d (%v), want 125", count, err)
	}
	if best, err := n.Client.GetBestBlockHash(); err != nil || *best != tip {
		t.Fatalf("best block after restart %v (%v), want %s", best, err, tip)
	}
	if h, err := n.Client.GetBlockHash(1); err != nil || *h != *hs[0] {
		t.Fatalf("block 1 after restart %v (%v)", h, err)
	}
	// The chain grows on top of the replayed one and survives again.
	if _, err := n.Generate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n = startProcess(t, dir, addr.EncodeAddress())
	if count, err := n.Client.GetBlockCount(); err != nil || count != 127 {
		t.Fatalf("height after a second restart %d (%v), want 127", count, err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	// A corrupt file stops the start with ErrChainFile and is left as it was.
	path := filepath.Join(dir, ChainFile)
	b, _ := os.ReadFile(path)
	bad := append(bytes.Clone(b[:len(b)-3]), 0xff)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := StartProcess(dir, addr.EncodeAddress()); !errors.Is(err, ErrChainFile) {
		if n != nil {
			n.Stop()
		}
		t.Fatalf("corrupt chain file: %v", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, bad) {
		t.Fatal("a refused chain file was overwritten")
	}
}

func TestDecodeChain(t *testing.T) {
	if bs, ends, err := decodeChain(nil); err != nil || len(bs) != 0 || len(ends) != 0 {
		t.Fatalf("empty: %v %v", bs, err)
	}
	b1 := wire.NewMsgBlock(wire.NewBlockHeader(1, chaincfg.RegressionNetParams.GenesisHash, chaincfg.RegressionNetParams.GenesisHash, 0, 0))
	h1 := b1.BlockHash()
	b2 := wire.NewMsgBlock(wire.NewBlockHeader(1, &h1, &h1, 0, 0))
	var buf bytes.Buffer
	b1.Serialize(&buf)
	b2.Serialize(&buf)
	bs, ends, err := decodeChain(buf.Bytes())
	if err != nil || len(bs) != 2 || ends[1] != buf.Len() || bs[1].BlockHash() != b2.BlockHash() {
		t.Fatalf("two blocks: %v %v %v", len(bs), ends, err)
	}
	var swapped bytes.Buffer
	b2.Serialize(&swapped)
	b1.Serialize(&swapped)
	if _, _, err := decodeChain(swapped.Bytes()); err == nil {
		t.Fatal("blocks out of order accepted")
	}
	if _, _, err := decodeChain(buf.Bytes()[:buf.Len()-1]); err == nil {
		t.Fatal("truncated file accepted")
	}
}

// FuzzDecodeChain: decodeChain never panics, and what it accepts
// serializes back to the same bytes.
func FuzzDecodeChain(f *testing.F) {
	b1 := wire.NewMsgBlock(wire.NewBlockHeader(1, chaincfg.RegressionNetParams.GenesisHash, chaincfg.RegressionNetParams.GenesisHash, 0, 0))
	var buf bytes.Buffer
	b1.Serialize(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, ends, err := decodeChain(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		for i, b := range bs {
			if err := b.Serialize(&out); err != nil {
				t.Fatal(err)
			}
			if out.Len() != ends[i] {
				t.Fatalf("block %d ends at %d, recorded %d", i+1, out.Len(), ends[i])
			}
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("round trip differs")
		}
	})
}
