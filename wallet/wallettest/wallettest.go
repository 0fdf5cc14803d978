// Package wallettest brings up a complete wallet environment for tests:
// a real 4-replica vhsm cluster (CometBFT over loopback), a real btcd
// regtest node with Taproot active, and a [wallet.Service] on a SQLite
// database in the test's temporary directory, wired together. It also
// has a faucet: a local test key that btcd mines to, used by [Env.Fund] to
// pay any regtest address (so wallets can be funded without waiting for
// coinbase maturity of their own outputs).
//
// Starting an Env takes about 7–12 s on a 2-core machine (cluster DKG
// pools, ~530 regtest blocks for Taproot activation and coinbase
// maturity); share one Env across subtests where possible.
//
// Typical use:
//
//	env := wallettest.Start(t, wallettest.Options{Track: true})
//	w := env.FundedWallet("alice", 100_000, 50_000) // two confirmed UTXOs
//	tx, err := env.Service.Send(ctx, w.ID, wallet.SendRequest{...})
//	env.Mine(1) // Track marks tx confirmed shortly after
package wallettest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/txscript"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/cluster"
	"github.com/vhsm/vhsm/wallet"
)

// Options tune Start. The zero value is the default.
type Options struct {
	// Database overrides the database DSN (default: SQLite in t.TempDir()).
	Database string
	// NoBitcoin skips btcd (validator-only tests): Env.Node and
	// Env.Backend are nil and no Bitcoin network is configured.
	NoBitcoin bool
	// Track runs Service.Track in the background with a 300 ms poll, so
	// that broadcast transactions become confirmed after Mine without an
	// explicit Refresh.
	Track bool
	// Logger for the service (default: discard).
	Logger *slog.Logger
}

// Env is a running wallet environment. Everything is stopped at the end
// of the test that started it.
type Env struct {
	Service *wallet.Service
	Cluster *cluster.Cluster
	HSM     *client.Client
	Node    *btcdtest.Node // nil with NoBitcoin
	Backend *bitcoin.RPC   // nil with NoBitcoin
	Config  wallet.Config  // what the Service was opened with
	DBPath  string         // the SQLite file (empty when Options.Database is set)

	t      testing.TB
	faucet *bitcoin.Wallet
	signer keySigner
	fmu    sync.Mutex
}

// Start starts the cluster, btcd (Taproot active, faucet funded and
// mature) and the service. A missing btcd binary skips the test (fails it
// when $CI is set), as btcdtest does.
func Start(t testing.TB, opts ...Options) *Env {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := &Env{t: t}
	if !o.NoBitcoin {
		// Fail (or skip) fast before starting the cluster.
		if _, err := btcdtest.Find(); err != nil && os.Getenv("CI") == "" {
			t.Skipf("btcd not installed: %v", err)
		}
	}
	dir := t.TempDir()
	e.Cluster = cluster.StartInProcess(t, filepath.Join(dir, "cluster"), 4,
		cluster.Options{Pools: &app.PoolConfig{KeyBatch: 8, KeyLow: 4, NonceBatch: 32, NonceLow: 8}})
	if err := e.Cluster.WaitReady(2 * time.Minute); err != nil {
		t.Fatalf("wallettest: cluster: %v", err)
	}
	e.HSM = e.Cluster.Client()
	cfg := wallet.Config{
		Database:     o.Database,
		HSM:          e.HSM,
		Ethereum:     map[string]ethereum.Network{},
		Logger:       o.Logger,
		PollInterval: 300 * time.Millisecond,
	}
	for _, name := range ethereum.NetworkNames() {
		n, err := ethereum.NetworkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Ethereum[name] = n
	}
	if cfg.Database == "" {
		e.DBPath = filepath.Join(dir, "wallet.db")
		cfg.Database = "sqlite:" + e.DBPath
	}
	if !o.NoBitcoin {
		e.startBitcoin(ctx)
		cfg.Bitcoin = map[string]bitcoin.Backend{"regtest": e.Backend}
	}
	svc, err := wallet.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("wallettest: open service: %v", err)
	}
	e.Service, e.Config = svc, cfg
	t.Cleanup(func() { svc.Close() })
	if o.Track {
		tctx, tcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.Track(tctx) }()
		t.Cleanup(func() { tcancel(); <-done })
	}
	return e
}

// startBitcoin starts btcd mining to the faucet, activates Taproot and
// matures the faucet's first coinbase outputs.
func (e *Env) startBitcoin(ctx context.Context) {
	t := e.t
	// A fixed, test-only faucet key: nothing of value is ever sent to it.
	seed := sha256.Sum256([]byte("vhsm wallettest faucet"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	e.signer = keySigner{priv: priv}
	fw, err := bitcoin.NewWallet("faucet", schnorr.SerializePubKey(priv.PubKey()), bitcoin.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	e.faucet = fw
	e.Node = btcdtest.Start(t, fw.Address().EncodeAddress())
	if err := e.Node.WaitTaproot(ctx, 1200); err != nil {
		t.Fatalf("wallettest: taproot activation: %v", err)
	}
	if _, err := e.Node.Generate(ctx, bitcoin.CoinbaseMaturity+1); err != nil {
		t.Fatalf("wallettest: mine: %v", err)
	}
	be, err := bitcoin.NewRPC(bitcoin.RPCConfig{URL: e.Node.RPCURL, User: e.Node.User, Pass: e.Node.Pass,
		Timeout: 20 * time.Second, Retry: bitcoin.DefaultRetry, Fallback: bitcoin.SatPerVByte(2)})
	if err != nil {
		t.Fatal(err)
	}
	e.Backend = be
}

// keySigner signs with a local private key (the faucet only).
type keySigner struct{ priv *btcec.PrivateKey }

func (k keySigner) SignTaproot(_ context.Context, _ string, sighash [32]byte, merkleRoot []byte) ([64]byte, error) {
	// BIP-341 taproot_tweak_seckey, then BIP-340 Sign.
	tweaked := txscript.TweakTaprootPrivKey(*k.priv, merkleRoot)
	sig, err := schnorr.Sign(tweaked, sighash[:])
	if err != nil {
		return [64]byte{}, err
	}
	var out [64]byte
	copy(out[:], sig.Serialize())
	return out, nil
}

// Mine mines n blocks (to the faucet).
func (e *Env) Mine(n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.Node.Generate(ctx, uint32(n)); err != nil {
		e.t.Fatalf("wallettest: mine %d: %v", n, err)
	}
}

// Fund pays each amount (satoshi) to address in one transaction from the
// faucet, broadcasts it and returns its txid. It does not mine: call Mine
// to confirm it.
func (e *Env) Fund(address string, amounts ...int64) string {
	e.t.Helper()
	txid, err := e.fund(address, amounts...)
	if err != nil {
		e.t.Fatalf("wallettest: fund %s: %v", address, err)
	}
	return txid
}

func (e *Env) fund(address string, amounts ...int64) (string, error) {
	if e.Node == nil {
		return "", fmt.Errorf("no bitcoin node (NoBitcoin)")
	}
	e.fmu.Lock()
	defer e.fmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, err := bitcoin.ParseAddress(address, bitcoin.Regtest)
	if err != nil {
		return "", err
	}
	us, err := e.Backend.UTXOs(ctx, e.faucet.Address())
	if err != nil {
		return "", err
	}
	var outs []bitcoin.Output
	for _, a := range amounts {
		outs = append(outs, bitcoin.Output{Address: addr, Value: a})
	}
	sp, err := e.faucet.BuildSpend(bitcoin.SpendRequest{UTXOs: us, Outputs: outs, FeeRate: bitcoin.SatPerVByte(2), MinConf: 1})
	if err != nil {
		return "", err
	}
	tx, err := e.faucet.Sign(ctx, e.signer, sp.Packet)
	if err != nil {
		return "", err
	}
	h, err := e.Backend.Broadcast(ctx, tx)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// FundedWallet creates a regtest wallet labelled label, funds it with one
// output per amount (satoshi), mines a block and returns the wallet.
func (e *Env) FundedWallet(label string, amounts ...int64) *wallet.Wallet {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := e.Service.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: "regtest", Label: label})
	if err != nil {
		e.t.Fatalf("wallettest: create wallet: %v", err)
	}
	if len(amounts) > 0 {
		e.Fund(w.Address, amounts...)
		e.Mine(1)
	}
	return w
}

// OpenService opens another Service on the same cluster and btcd, with the
// Env's configuration changed by mutate (e.g. another Database, a wrapped
// Backend). It is closed at the end of the test.
func (e *Env) OpenService(mutate func(*wallet.Config)) *wallet.Service {
	e.t.Helper()
	cfg := e.Config
	cfg.Bitcoin = map[string]bitcoin.Backend{}
	for k, v := range e.Config.Bitcoin {
		cfg.Bitcoin[k] = v
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc, err := wallet.Open(ctx, cfg)
	if err != nil {
		e.t.Fatalf("wallettest: open service: %v", err)
	}
	e.t.Cleanup(func() { svc.Close() })
	return svc
}
