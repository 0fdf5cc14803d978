package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
)

// singleHome writes a one-validator home.
func singleHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p2p.LoadOrGenNodeKey(filepath.Join(home, NodeKeyFile)); err != nil {
		t.Fatal(err)
	}
	pv, err := privval.LoadOrGenFilePV(filepath.Join(home, PrivValKey), filepath.Join(home, PrivValState), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pv.GetPubKey()
	if err != nil {
		t.Fatal(err)
	}
	gen := &types.GenesisDoc{
		ChainID: "node-test", GenesisTime: time.Now().UTC(), InitialHeight: 1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      []types.GenesisValidator{{Address: pub.Address(), PubKey: pub, Power: 1}},
	}
	if err := gen.ValidateAndComplete(); err != nil {
		t.Fatal(err)
	}
	if err := gen.SaveAs(filepath.Join(home, GenesisFile)); err != nil {
		t.Fatal(err)
	}
	return home
}

// recApp records committed transactions (kvstore itself is not safe for
// concurrent Query and FinalizeBlock).
type recApp struct {
	*kvstore.Application
	mu  sync.Mutex
	txs []string
}

func (a *recApp) FinalizeBlock(ctx context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.mu.Lock()
	for _, tx := range req.Txs {
		a.txs = append(a.txs, string(tx))
	}
	a.mu.Unlock()
	return a.Application.FinalizeBlock(ctx, req)
}

func (a *recApp) committed(tx string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.txs {
		if t == tx {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSingleNodeBroadcast(t *testing.T) {
	home := singleHome(t)
	ports := freePort(t)
	cfg := Config{Home: home, P2PListen: ports}
	if err := WriteTOML(cfg); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := &recApp{Application: kvstore.NewInMemoryApplication()}
	n, err := New(context.Background(), cfg, app, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.BroadcastTx(ctx, []byte("a=1")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("broadcast before start: %v", err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.BroadcastTx(ctx, []byte("a=1")); err != nil {
		t.Fatal(err)
	}
	// The same transaction again is deduplicated by the cache: success.
	if err := n.BroadcastTx(ctx, []byte("a=1")); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	// kvstore rejects a malformed transaction in CheckTx.
	if err := n.BroadcastTx(ctx, []byte("=")); !errors.Is(err, ErrRejected) {
		t.Fatalf("invalid tx: %v", err)
	}
	for !app.committed("a=1") {
		if ctx.Err() != nil {
			t.Fatal("transaction not committed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n.Height() < 1 {
		t.Fatalf("height %d", n.Height())
	}
	if n.ID() == "" {
		t.Fatal("empty node id")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatalf("cometbft info/debug logs leaked")
	}
}

func TestMissingFiles(t *testing.T) {
	if _, err := New(context.Background(), Config{Home: t.TempDir(), P2PListen: "tcp://127.0.0.1:1"}, kvstore.NewInMemoryApplication(), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty home: %v", err)
	}
	home := singleHome(t)
	if err := os.WriteFile(filepath.Join(home, PrivValKey), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), Config{Home: home, P2PListen: "tcp://127.0.0.1:1"}, kvstore.NewInMemoryApplication(), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("corrupt validator key: %v", err)
	}
}

func TestLoggerFilters(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.With("module", "mempool").Error("Tx already received from peer", "tx", "AB")
	l.Info("info line")
	l.With("module", "consensus").Error("real problem", "err", "boom", "odd")
	out := buf.String()
	if strings.Contains(out, "already received") || strings.Contains(out, "info line") {
		t.Fatalf("noise not filtered: %q", out)
	}
	if !strings.Contains(out, "real problem") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("error not routed: %q", out)
	}
	// The key/values of every With, outer first, come with the line.
	buf.Reset()
	l.With("module", "consensus", "height", 7).With("peer", "p1").Error("late vote", "round", 2)
	for _, want := range []string{"component=cometbft", "module=consensus", "height=7", "peer=p1", "round=2", "late vote"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("%q missing from %q", want, buf.String())
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}
