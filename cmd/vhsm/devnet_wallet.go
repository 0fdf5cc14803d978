package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/wallet"
)

// Devnet wallet and btcd settings.
const (
	devnetFaucetKey    = "devnet-faucet" // idempotency key of the faucet wallet
	devnetTaprootMax   = 1500            // blocks mined at most to activate Taproot
	devnetMatureHeight = 432 + bitcoin.CoinbaseMaturity + 1
	devnetBTCDTimeout  = 3 * time.Minute
	devnetChainSave    = 5 * time.Second // how often the btcd chain is saved (at most this is lost in a crash)
)

// devnetWallet is the wallet service of a devnet, with its btcd when
// --btc-regtest is set.
type devnetWallet struct {
	ws       *walletService
	node     *btcdtest.Node
	stopMine context.CancelFunc
	mined    chan struct{}
}

// startDevnetWallet starts the wallet service on DIR/wallet.db, makes sure
// DIR/client.json holds its URL and a valid admin token, and with
// --btc-regtest starts btcd and the faucet.
func startDevnetWallet(ctx context.Context, dir string, tn *devnetFiles, o devnetOptions, logs *lockedWriter) (_ *devnetWallet, err error) {
	logger := slog.New(slog.NewTextHandler(&lineWriter{logs: logs, name: "wallet"}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	eth, err := walletEthereum(nil)
	if err != nil {
		return nil, err
	}
	var lazy *lazyBackend
	var btc map[string]bitcoin.Backend
	if o.btcRegtest {
		if _, err := btcdtest.Find(); err != nil {
			return nil, fmt.Errorf("--btc-regtest: %w (go install github.com/btcsuite/btcd@v0.24.2)", err)
		}
		lazy = &lazyBackend{}
		btc = map[string]bitcoin.Backend{bitcoin.Regtest.Name: lazy}
	}
	wcfg := walletServiceConfig{client: tn.client, db: "sqlite:" + filepath.Join(dir, "wallet.db"),
		listen: o.walletListen, bitcoin: btc, ethereum: eth, logger: logger,
		// A devnet is one host on loopback: webhooks may reach a local receiver.
		webhooks: wallet.WebhookConfig{AllowPrivate: true}}
	if o.ethSigner != "" {
		wcfg.ethSigner = remotesigner.Options{Addr: o.ethSigner, Logger: logger.With("component", "eth-signer")}
	}
	ws, err := startWalletService(ctx, wcfg)
	if err != nil {
		return nil, err
	}
	dw := &devnetWallet{ws: ws}
	defer func() {
		if err != nil {
			dw.close()
		}
	}()
	if err := dw.writeToken(ctx, tn); err != nil {
		return nil, err
	}
	if o.btcRegtest {
		if err := dw.startBitcoin(ctx, dir, tn, lazy, o.blockInterval, logger); err != nil {
			return nil, err
		}
	}
	return dw, nil
}

// writeToken keeps DIR/client.json's api_token if the service accepts it,
// else creates an admin token, and records it with the service's URL.
func (dw *devnetWallet) writeToken(ctx context.Context, tn *devnetFiles) error {
	cfg := *tn.client
	secret := cfg.APIToken
	if secret != "" {
		if _, err := dw.ws.svc.Authenticate(ctx, secret); err != nil {
			secret = ""
		}
	}
	if secret == "" {
		s, _, err := dw.ws.svc.CreateToken(ctx, "devnet", []string{wallet.ScopeAdmin}, 0)
		if err != nil {
			return fmt.Errorf("create the devnet API token: %w", err)
		}
		secret = s
	}
	cfg.APIURL, cfg.APIToken = dw.ws.url, secret
	cfg.EthSignerURL = dw.ws.ethSignerURL()
	if err := cfg.Save(tn.clientPath); err != nil {
		return err
	}
	*tn.client = cfg
	return nil
}

// startBitcoin creates the faucet wallet, starts btcd mining to it (its
// chain replayed from DIR/btcd/blocks.dat), activates Taproot, matures the
// faucet's coinbase outputs, saves the chain, records btcd's RPC endpoint
// in DIR/client.json, wires the backend into the service and starts the
// block loop.
func (dw *devnetWallet) startBitcoin(ctx context.Context, dir string, tn *devnetFiles, lazy *lazyBackend, interval time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, devnetBTCDTimeout)
	defer cancel()
	faucet, err := dw.ws.svc.CreateWallet(ctx, wallet.CreateWalletRequest{Kind: wallet.KindBitcoin, Network: bitcoin.Regtest.Name,
		Label: "devnet faucet", IdempotencyKey: devnetFaucetKey})
	if err != nil {
		return fmt.Errorf("faucet wallet: %w", err)
	}
	node, err := btcdtest.StartProcess(filepath.Join(dir, "btcd"), faucet.Address)
	if errors.Is(err, btcdtest.ErrChainFile) {
		return fmt.Errorf("start btcd: %w (remove it to start a new chain; the wallets' coins are then gone)", err)
	}
	if err != nil {
		return fmt.Errorf("start btcd: %w", err)
	}
	dw.node = node
	if err := node.WaitTaproot(ctx, devnetTaprootMax); err != nil {
		return err
	}
	height, err := node.Client.GetBlockCount()
	if err != nil {
		return fmt.Errorf("btcd: %w", err)
	}
	if height < devnetMatureHeight {
		if _, err := node.Generate(ctx, uint32(devnetMatureHeight-height)); err != nil {
			return err
		}
	}
	if err := node.SaveChain(); err != nil {
		return err
	}
	cfg := *tn.client
	cfg.BTCRPCURL, cfg.BTCRPCUser, cfg.BTCRPCPass = node.RPCURL, node.User, node.Pass
	if err := cfg.Save(tn.clientPath); err != nil {
		return err
	}
	*tn.client = cfg
	rpc, err := bitcoin.NewRPC(bitcoin.RPCConfig{URL: node.RPCURL, User: node.User, Pass: node.Pass,
		Timeout: walletBackendTimeout, Retry: bitcoin.DefaultRetry, Fallback: bitcoin.SatPerVByte(2)})
	if err != nil {
		return err
	}
	lazy.p.Store(rpc)
	log.Info("btcd_ready", "rpc", node.RPCHost, "faucet_wallet", faucet.ID, "faucet_address", faucet.Address)
	mctx, mcancel := context.WithCancel(context.Background())
	dw.stopMine, dw.mined = mcancel, make(chan struct{})
	go dw.mineLoop(mctx, interval, log)
	return nil
}

// mineLoop mines one block every interval (if positive) while the mempool
// is not empty, so that sends confirm on their own, and saves the chain
// after every block mined and every devnetChainSave (blocks mined through
// btcd's RPC by a user are saved too).
func (dw *devnetWallet) mineLoop(ctx context.Context, interval time.Duration, log *slog.Logger) {
	defer close(dw.mined)
	period := devnetChainSave
	if interval > 0 {
		period = min(interval, devnetChainSave)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	lastMine, lastSave := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mined := false
		if interval > 0 && time.Since(lastMine) >= interval-period/2 {
			lastMine = time.Now()
			pool, err := dw.node.Client.GetRawMempool()
			if err == nil && len(pool) > 0 {
				_, err := dw.node.Generate(ctx, 1)
				if err != nil && ctx.Err() == nil {
					log.Warn("mine_failed", "error", err.Error())
				}
				mined = err == nil
			}
		}
		if mined || time.Since(lastSave) >= devnetChainSave-period/2 {
			lastSave = time.Now()
			if err := dw.node.SaveChain(); err != nil && ctx.Err() == nil {
				log.Warn("chain_save_failed", "error", err.Error())
			}
		}
	}
}

// close stops the block loop, the wallet service and btcd.
func (dw *devnetWallet) close() error {
	if dw.stopMine != nil {
		dw.stopMine()
		<-dw.mined
	}
	err := dw.ws.close()
	if dw.node != nil {
		err = errors.Join(err, dw.node.Stop())
	}
	return err
}

// lazyBackend is the devnet's regtest backend before btcd is up: the
// faucet wallet must exist (for btcd's mining address) before btcd starts,
// and the service needs the network configured to create it.
type lazyBackend struct{ p atomic.Pointer[bitcoin.RPC] }

var errBTCDStarting = fmt.Errorf("%w: the devnet's btcd is still starting", bitcoin.ErrBackend)

func (l *lazyBackend) UTXOs(ctx context.Context, addr btcutil.Address) ([]bitcoin.UTXO, error) {
	if r := l.p.Load(); r != nil {
		return r.UTXOs(ctx, addr)
	}
	return nil, errBTCDStarting
}

func (l *lazyBackend) FeeRate(ctx context.Context, target int) (bitcoin.FeeRate, error) {
	if r := l.p.Load(); r != nil {
		return r.FeeRate(ctx, target)
	}
	return 0, errBTCDStarting
}

func (l *lazyBackend) Broadcast(ctx context.Context, tx *btcwire.MsgTx) (chainhash.Hash, error) {
	if r := l.p.Load(); r != nil {
		return r.Broadcast(ctx, tx)
	}
	return chainhash.Hash{}, errBTCDStarting
}

func (l *lazyBackend) TxStatus(ctx context.Context, txid chainhash.Hash) (bitcoin.TxStatus, error) {
	if r := l.p.Load(); r != nil {
		return r.TxStatus(ctx, txid)
	}
	return bitcoin.TxStatus{}, errBTCDStarting
}

var _ bitcoin.Backend = (*lazyBackend)(nil)

// lineWriter sends each line written (a slog record) to the devnet's log
// stream with a name prefix.
type lineWriter struct {
	logs *lockedWriter
	name string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.logs.writeLine(w.name, line)
	}
	return len(p), nil
}
