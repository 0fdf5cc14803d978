package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/api"
	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/web"
)

// Wallet service timings.
const (
	walletBackendTimeout = 30 * time.Second
	walletShutdownGrace  = 10 * time.Second
	walletOpenTimeout    = 2 * time.Minute // migrations and the metadata key (a DKG)
)

// walletOptions are the flags of vhsm wallet.
type walletOptions struct {
	db         string
	listen     string
	tokenFile  string
	btcRPC     string
	btcUser    string
	btcPass    string
	btcNetwork string
	btcNode    string // auto, btcd or bitcoind
	btcWallet  string // Bitcoin Core watch-only wallet name
	btcRescan  string // Bitcoin Core import rescan start (RFC 3339 or YYYY-MM-DD)
	esplora    string
	ethNets    []string
	rate       float64
	burst      int
	maxBody    int64
	ethSigner  ethSignerFlags

	highFeeShare float64 // fee sanity: flag a fee above this share of the amount
	highFeeFloor int64   // fee sanity: ... when it is above this many satoshi
	highFeeCap   int64   // fee sanity: flag a fee above this many satoshi
	// webhookPrivate lets webhook deliveries reach loopback and private
	// addresses (refused by default: SSRF).
	webhookPrivate bool
}

func (c *cli) walletCmd() *cobra.Command {
	var o walletOptions
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Run the wallet service: REST API, web wallet and transaction tracker",
		Long: `Runs the wallet service until SIGINT or SIGTERM: the REST API under /v1
(OpenAPI document at /openapi.json), the web wallet at /, and a loop that
tracks broadcast transactions to confirmation. The HSM client identity and
replicas come from --config (as for the client commands). It listens at
once; until t+1 replicas answer (they may start after it) it retries with
backoff (1 s doubling to 30 s), GET /healthz answers 200 and every other
route, /readyz included, 503 (type unavailable, Retry-After); the ready
line is printed once the service is open.

On the first start (no admin token was ever created in --db) it creates an
admin API token, writes it to --token-file (mode 0600; default: next to the
SQLite database, DB.admin-token, or ./vhsm-wallet.admin-token for
PostgreSQL) and prints it once on stdout; it is never logged. Later starts
do not show it again: keep the file, or create tokens with POST /v1/tokens.

Bitcoin: --btc-rpc (btcd JSON-RPC with --txindex --addrindex, or Bitcoin
Core, where vhsm keeps a watch-only descriptor wallet "vhsm-watch"; https or
loopback only; password from --btc-pass or $VHSM_BTC_RPC_PASS) or --esplora,
for the network --btc-network. Without either, Bitcoin routes answer a
problem saying the network is not configured. Ethereum validators: the
networks named by --eth-network (default: every built-in network).

Ethereum remote signer: --eth-signer-listen ADDR serves the remote-signing
API (GET /upcheck, GET /api/v1/eth2/publicKeys, POST /api/v1/eth2/sign/{pubkey})
for validator clients, signing with the validator wallets' keys; the replicas
compute every signing root and enforce slashing protection. Plain HTTP is
allowed on a loopback address only; elsewhere give --eth-signer-tls-cert and
--eth-signer-tls-key and authenticate clients with --eth-signer-tls-client-ca
and/or an --eth-signer-access file (see README "Ethereum remote signer").

Webhooks (POST /v1/webhooks, admin) are delivered by a worker in this
process from an outbox in --db, at least once, with retries; deliveries to
loopback, private and link-local addresses are refused unless
--webhook-allow-private is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runWallet(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "vhsm-wallet.db", `wallet database: a SQLite file path ("sqlite:PATH" also works) or a postgres:// URL`)
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP listen address (plain HTTP: keep it on loopback or put TLS in front)")
	f.StringVar(&o.tokenFile, "token-file", "", "where the first admin token is written (default: DB.admin-token)")
	f.StringVar(&o.btcRPC, "btc-rpc", "", "btcd or Bitcoin Core JSON-RPC endpoint, host:port or URL")
	f.StringVar(&o.btcUser, "btc-user", "", "JSON-RPC user")
	f.StringVar(&o.btcPass, "btc-pass", "", "JSON-RPC password (default $"+rpcPassEnv+")")
	f.StringVar(&o.btcNetwork, "btc-network", "regtest", "Bitcoin network of --btc-rpc or --esplora: mainnet|testnet3|testnet4|signet|regtest")
	f.StringVar(&o.btcNode, "btc-node", "auto", "node behind --btc-rpc: auto (detect), btcd or bitcoind")
	f.StringVar(&o.btcWallet, "btc-core-wallet", bitcoin.DefaultCoreWallet, "Bitcoin Core: the watch-only descriptor wallet vhsm loads or creates")
	f.StringVar(&o.btcRescan, "btc-rescan-from", "", "Bitcoin Core: scan the chain from this date (RFC 3339 or YYYY-MM-DD) when importing an address that may already have history (default: now)")
	f.StringVar(&o.esplora, "esplora", "", "Esplora REST base URL (instead of --btc-rpc)")
	f.StringSliceVar(&o.ethNets, "eth-network", nil, "Ethereum validator network (repeatable; default: "+strings.Join(ethereum.NetworkNames(), ", ")+")")
	f.Float64Var(&o.rate, "rate", api.DefaultRate, "API requests per second per token")
	f.IntVar(&o.burst, "burst", api.DefaultBurst, "API request burst per token")
	f.Int64Var(&o.maxBody, "max-body", api.DefaultMaxBodyBytes, "largest API request body in bytes")
	addEthSignerFlags(f, &o.ethSigner)
	f.Float64Var(&o.highFeeShare, "high-fee-share", wallet.DefaultHighFeeShare, "fee sanity: a send whose fee is above this share of the amount paid needs accept_high_fee (0 < share <= 1)")
	f.Int64Var(&o.highFeeFloor, "high-fee-floor", wallet.DefaultHighFeeFloor, "fee sanity: a fee of at most this many satoshi is never flagged by --high-fee-share")
	f.Int64Var(&o.highFeeCap, "high-fee-cap", wallet.DefaultHighFeeCap, "fee sanity: a send whose fee is above this many satoshi needs accept_high_fee")
	f.BoolVar(&o.webhookPrivate, "webhook-allow-private", false, "let webhooks deliver to loopback, private and link-local addresses (SSRF risk: only on a trusted single host)")
	return cmd
}

func (c *cli) runWallet(ctx context.Context, o walletOptions) error {
	if !(o.highFeeShare > 0 && o.highFeeShare <= 1) || o.highFeeCap <= 0 || o.highFeeFloor <= 0 {
		return fmt.Errorf("--high-fee-share must be in (0, 1], --high-fee-floor and --high-fee-cap positive")
	}
	cfg, err := c.loadClientConfig()
	if err != nil {
		return err
	}
	btc, err := walletBitcoin(ctx, o)
	if err != nil {
		return err
	}
	eth, err := walletEthereum(o.ethNets)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ws, err := startWalletService(ctx, walletServiceConfig{
		client: cfg, db: o.db, listen: o.listen, bitcoin: btc, ethereum: eth,
		rate: api.RateLimit{Rate: o.rate, Burst: o.burst}, maxBody: o.maxBody, logger: logger,
		ethSigner:    o.ethSigner.options(logger.With("component", "eth-signer")),
		highFeeShare: o.highFeeShare, highFeeFloor: o.highFeeFloor, highFeeCap: o.highFeeCap,
		webhooks: wallet.WebhookConfig{AllowPrivate: o.webhookPrivate},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while waiting for the HSM quorum
		}
		return err
	}
	defer ws.close()

	tokenFile := o.tokenFile
	if tokenFile == "" {
		tokenFile = defaultTokenFile(o.db)
	}
	octx, cancel := context.WithTimeout(ctx, walletOpenTimeout)
	secret, created, err := ws.svc.EnsureBootstrapToken(octx, "bootstrap-admin")
	cancel()
	if err != nil {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	written := false
	if created {
		// The token exists from now on; if the file cannot be written it is
		// still printed below (once), so the operator never loses it.
		if err := sealed.WriteFileAtomic(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
			logger.Error("token_file_not_written", "path", tokenFile, "error", err.Error())
		} else {
			written = true
		}
	}
	ready := struct {
		URL        string `json:"url"`
		TokenFile  string `json:"token_file,omitempty"`
		AdminToken string `json:"admin_token,omitempty"` // first start only
		EthSigner  string `json:"eth_signer_url,omitempty"`
	}{URL: ws.url, EthSigner: ws.ethSignerURL()}
	human := fmt.Sprintf("vhsm wallet listening on %s", ws.url)
	if ready.EthSigner != "" {
		human += fmt.Sprintf("\nEthereum remote signer listening on %s", ready.EthSigner)
	}
	if created {
		ready.AdminToken = secret
		if written {
			ready.TokenFile = tokenFile
			human += fmt.Sprintf("\nadmin API token (shown once; also in %s, mode 0600): %s", tokenFile, secret)
		} else {
			human += fmt.Sprintf("\nadmin API token (shown once, NOT saved: keep it now): %s", secret)
		}
	}
	if err := c.emit(ready, human); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-ws.serveErr:
		return fmt.Errorf("http server: %w", err)
	}
}

// defaultTokenFile is DB.admin-token for a SQLite database, else
// ./vhsm-wallet.admin-token.
func defaultTokenFile(db string) string {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return "vhsm-wallet.admin-token"
	}
	return strings.TrimPrefix(db, "sqlite:") + ".admin-token"
}

// coreOptions parses --btc-node and --btc-rescan-from.
func coreOptions(o walletOptions) (bitcoin.NodeKind, time.Time, error) {
	var kind bitcoin.NodeKind
	switch o.btcNode {
	case "", "auto":
		kind = bitcoin.NodeAuto
	case "btcd":
		kind = bitcoin.NodeBtcd
	case "bitcoind", "core":
		kind = bitcoin.NodeCore
	default:
		return 0, time.Time{}, fmt.Errorf("--btc-node %q: want auto, btcd or bitcoind", o.btcNode)
	}
	var rescan time.Time
	if o.btcRescan != "" {
		t, err := time.Parse(time.RFC3339, o.btcRescan)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, o.btcRescan); err != nil {
				return 0, time.Time{}, fmt.Errorf("--btc-rescan-from %q: want RFC 3339 or YYYY-MM-DD", o.btcRescan)
			}
		}
		if t.After(time.Now()) {
			return 0, time.Time{}, fmt.Errorf("--btc-rescan-from %q is in the future", o.btcRescan)
		}
		rescan = t
	}
	return kind, rescan, nil
}

// walletBitcoin builds the Bitcoin backend of --btc-rpc or --esplora and
// checks that its genesis block is --btc-network's.
func walletBitcoin(ctx context.Context, o walletOptions) (map[string]bitcoin.Backend, error) {
	if o.btcRPC == "" && o.esplora == "" {
		return nil, nil
	}
	if o.btcRPC != "" && o.esplora != "" {
		return nil, errors.New("give --btc-rpc or --esplora, not both")
	}
	net, err := bitcoin.NetworkByName(o.btcNetwork)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, walletBackendTimeout)
	defer cancel()
	var be bitcoin.Backend
	var source bitcoin.GenesisSource
	if o.btcRPC != "" {
		u := o.btcRPC
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		if err := checkRPCURL(u); err != nil {
			return nil, err
		}
		pass := o.btcPass
		if pass == "" {
			pass = os.Getenv(rpcPassEnv)
		}
		var fallback bitcoin.FeeRate
		if net.Name == "regtest" {
			fallback = bitcoin.SatPerVByte(2) // regtest nodes have no fee estimate
		}
		kind, rescan, err := coreOptions(o)
		if err != nil {
			return nil, err
		}
		rpc, err := bitcoin.NewRPC(bitcoin.RPCConfig{URL: u, User: o.btcUser, Pass: pass, Timeout: walletBackendTimeout,
			Retry: bitcoin.DefaultRetry, Fallback: fallback, Node: kind, Wallet: o.btcWallet, RescanFrom: rescan})
		if err != nil {
			return nil, err
		}
		be, source = rpc, rpc
	} else {
		e, err := bitcoin.NewEsplora(o.esplora, nil, walletBackendTimeout, bitcoin.DefaultRetry)
		if err != nil {
			return nil, err
		}
		be, source = e, e
	}
	if err := bitcoin.CheckNetwork(ctx, source, net); err != nil {
		return nil, fmt.Errorf("bitcoin backend: %w", err)
	}
	return map[string]bitcoin.Backend{net.Name: be}, nil
}

// walletEthereum resolves the validator networks (default: all built in).
func walletEthereum(names []string) (map[string]ethereum.Network, error) {
	if len(names) == 0 {
		names = ethereum.NetworkNames()
	}
	out := make(map[string]ethereum.Network, len(names))
	for _, n := range names {
		net, err := ethereum.NetworkByName(n)
		if err != nil {
			return nil, err
		}
		out[net.Name] = net
	}
	return out, nil
}

// walletServiceConfig is one wallet service (vhsm wallet, vhsm devnet).
type walletServiceConfig struct {
	client   *client.Config
	db       string
	listen   string
	bitcoin  map[string]bitcoin.Backend
	ethereum map[string]ethereum.Network
	rate     api.RateLimit
	maxBody  int64
	logger   *slog.Logger
	// ethSigner starts the Ethereum remote signer when Addr is set.
	ethSigner remotesigner.Options

	highFeeShare float64 // 0: wallet default
	highFeeFloor int64   // 0: wallet default
	highFeeCap   int64   // 0: wallet default
	webhooks     wallet.WebhookConfig
}

// walletService is a running wallet service.
type walletService struct {
	svc       *wallet.Service
	hsm       *client.Client
	srv       *http.Server
	url       string
	serveErr  chan error
	stopTrack context.CancelFunc
	tracked   chan struct{}
	ethSigner *ethSignerServer // nil unless configured
}

// startWalletService starts the HTTP server, opens the wallet database and
// the service (waiting for the HSM quorum: see openWallet) and starts the
// tracker. Until the service is open the server answers with
// api.NewStarting (healthz up, readyz and everything else 503). It returns
// once the service is open, or with ctx's error if ctx ends first. Call
// close to stop everything.
func startWalletService(ctx context.Context, cfg walletServiceConfig) (_ *walletService, err error) {
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	metrics := api.NewMetrics(nil)
	hsm, err := client.New(cfg.client, client.WithCulpritHandler(metrics.ObserveCulprits))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			hsm.Close()
		}
	}()
	if db := strings.TrimPrefix(cfg.db, "sqlite:"); !strings.Contains(db, "://") {
		if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ws := &walletService{hsm: hsm, url: "http://" + ln.Addr().String(), serveErr: make(chan error, 1), tracked: make(chan struct{})}
	if cfg.ethSigner.Addr != "" {
		// Bound and validated before the (slow) wallet open, so a bad
		// flag fails at once; it answers 500 until the service is open.
		if ws.ethSigner, err = startEthSigner(hsm, cfg.ethSigner, ws.serveErr); err != nil {
			ln.Close()
			return nil, err
		}
		defer func() {
			if err != nil {
				ws.ethSigner.close()
			}
		}()
	}
	var handler swapHandler
	handler.set(api.NewStarting(hsm))
	ws.srv = &http.Server{Handler: &handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(cfg.logger.Handler(), slog.LevelWarn)}
	go func() {
		if err := ws.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ws.serveErr <- err
		}
	}()
	defer func() {
		if err != nil {
			ws.srv.Close()
		}
	}()
	svc, err := openWallet(ctx, hsm, wallet.Config{Database: cfg.db, HSM: hsm, Bitcoin: cfg.bitcoin, Ethereum: cfg.ethereum,
		HighFeeShare: cfg.highFeeShare, HighFeeFloor: cfg.highFeeFloor, HighFeeCap: cfg.highFeeCap,
		Webhooks: cfg.webhooks, Logger: cfg.logger.With("component", "wallet")}, cfg.logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			svc.Close()
		}
	}()
	h, err := api.New(api.Config{Wallets: svc, HSM: hsm, Logger: cfg.logger.With("component", "api"),
		RateLimit: cfg.rate, MaxBodyBytes: cfg.maxBody, Metrics: metrics, Web: web.Handler()})
	if err != nil {
		return nil, err
	}
	ws.svc = svc
	handler.set(h)
	if ws.ethSigner != nil {
		if err := ws.ethSigner.open(svc); err != nil {
			return nil, err
		}
	}
	tctx, tcancel := context.WithCancel(context.Background())
	ws.stopTrack = tcancel
	go func() {
		defer close(ws.tracked)
		hooks := make(chan struct{})
		go func() { defer close(hooks); svc.RunWebhooks(tctx) }() // the webhook outbox worker
		svc.Track(tctx)
		<-hooks
	}()
	return ws, nil
}

// Waiting for the HSM quorum at start: the first retry after
// walletRetryMin, doubling up to walletRetryMax.
const (
	walletRetryMin = time.Second
	walletRetryMax = 30 * time.Second
)

// openWallet waits until t+1 replicas report ready (replicas that are not
// started, still replaying their chain or not caught up yet refuse or do
// not answer), then opens the wallet service (migrations, the metadata key
// in the HSM). While the quorum is not ready, or the open fails for want of
// it, it retries with backoff until ctx ends; any other error ends it at
// once.
func openWallet(ctx context.Context, hsm *client.Client, cfg wallet.Config, log *slog.Logger) (*wallet.Service, error) {
	_, t := hsm.Threshold()
	wait := walletRetryMin
	for {
		ready, total := 0, 0
		for _, st := range hsm.Status(ctx) {
			total++
			if st.Ready {
				ready++
			}
		}
		var err error
		if ready >= t+1 {
			octx, cancel := context.WithTimeout(ctx, walletOpenTimeout)
			var svc *wallet.Service
			svc, err = wallet.Open(octx, cfg)
			cancel()
			if err == nil {
				return svc, nil
			}
			if ctx.Err() == nil && !errors.Is(err, wallet.ErrUnavailable) {
				return nil, fmt.Errorf("open wallet service: %w", err)
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			log.Warn("hsm_quorum_unavailable", "ready_replicas", ready, "replicas", total, "needed", t+1, "error", err.Error(), "retry_in", wait.String())
		} else {
			log.Warn("hsm_quorum_unavailable", "ready_replicas", ready, "replicas", total, "needed", t+1, "retry_in", wait.String())
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, walletRetryMax)
	}
}

// swapHandler serves the handler most recently set: the starting handler,
// then the API.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// close stops the server (letting requests finish for a while), the
// tracker, the service and the HSM client.
func (w *walletService) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), walletShutdownGrace)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	if w.ethSigner != nil {
		err = errors.Join(err, w.ethSigner.close())
	}
	w.stopTrack()
	<-w.tracked
	return errors.Join(err, w.svc.Close(), w.hsm.Close())
}
