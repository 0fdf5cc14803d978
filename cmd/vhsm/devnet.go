package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// Devnet timings.
const (
	devnetReadyTimeout = 3 * time.Minute        // replicas up, pools primed, a key generated
	devnetStopGrace    = 15 * time.Second       // SIGTERM → SIGKILL
	devnetPoll         = 250 * time.Millisecond // status polling period
)

// devnetProbeKey is the Schnorr key the devnet generates once to prove that
// keys can be made; it is the only key a fresh devnet lists.
const devnetProbeKey = "devnet-probe"

// devnetOptions are the flags of vhsm devnet.
type devnetOptions struct {
	dir           string
	replicas      int
	noWallet      bool
	walletListen  string
	ethSigner     string
	btcRegtest    bool
	blockInterval time.Duration
}

func (c *cli) devnetCmd() *cobra.Command {
	var o devnetOptions
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local cluster of replicas as child processes",
		Long: `Generates a testnet in --dir (or reuses the one there), starts every replica
as a child process of this binary, writes DIR/client.json for the client
commands, waits until every replica is ready and a key can be generated,
then starts the wallet service (REST API and web wallet, database
DIR/wallet.db) on --wallet-listen, writes its URL and an admin API token
into DIR/client.json (api_url, api_token), and prints a line containing
"ready" and the web wallet's URL. Replica logs go to stderr, prefixed with
the replica's name. A replica that exits once the devnet is ready is
started again (after 0.5 s, doubling up to 10 s while it keeps crashing)
and the devnet serves on meanwhile. SIGINT or SIGTERM stops everything;
started again on the same directory, the devnet resumes with all its keys
and wallets.

With --btc-regtest it also runs a local btcd on regtest (binary on PATH or
in $(go env GOPATH)/bin; data in DIR/btcd), creates a "devnet faucet"
wallet that btcd mines to, mines until Taproot is active and the faucet's
coinbase outputs are mature, and then mines a block every
--btc-block-interval while transactions wait in the mempool. btcd's RPC
URL and credentials go into DIR/client.json (btc_rpc_url, btc_rpc_user,
btc_rpc_pass). btcd forgets a regtest chain when it starts, so the devnet
saves the chain to DIR/btcd/blocks.dat (every few seconds and on the way
down) and replays it into btcd at the next start. Without it the
wallet service has no Bitcoin backend: Bitcoin routes answer a problem
saying the network is not configured (validators and raw keys work).

The wallet service also serves the Ethereum remote-signing API for
validator clients on --eth-signer-listen (loopback, plain HTTP) and writes
its URL into DIR/client.json (eth_signer_url).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.replicas != 4 && o.replicas != 7 {
				return fmt.Errorf("--replicas must be 4 or 7")
			}
			return c.runDevnet(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "vhsm-devnet", "devnet directory (created if absent, reused if present)")
	cmd.Flags().IntVar(&o.replicas, "replicas", 4, "number of replicas: 4 (f=1) or 7 (f=2)")
	cmd.Flags().BoolVar(&o.noWallet, "no-wallet", false, "do not start the wallet service")
	cmd.Flags().StringVar(&o.walletListen, "wallet-listen", "127.0.0.1:8080", "wallet service (API and web wallet) listen address")
	cmd.Flags().StringVar(&o.ethSigner, "eth-signer-listen", "127.0.0.1:0", "Ethereum remote signer listen address, loopback (plain HTTP; its URL goes into DIR/client.json as eth_signer_url; empty: off)")
	cmd.Flags().BoolVar(&o.btcRegtest, "btc-regtest", false, "also run a local btcd on regtest wired to the wallet service")
	cmd.Flags().DurationVar(&o.blockInterval, "btc-block-interval", 5*time.Second, "with --btc-regtest: mine a block this often while the mempool is not empty")
	return cmd
}

func (c *cli) runDevnet(ctx context.Context, o devnetOptions) (err error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	tn, err := ensureTestnet(dir, o.replicas)
	if err != nil {
		return err
	}
	cfgPath := tn.clientPath
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	logs := &lockedWriter{w: c.stderr}
	dlog := slog.New(slog.NewTextHandler(&lineWriter{logs: logs, name: "devnet"}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var children []*child
	var sups []*supervisor
	stopSupervisors := func() {}
	defer func() {
		stopSupervisors()
		for i, s := range sups {
			children[i] = s.current()
		}
		if stopErr := stopChildren(children, devnetStopGrace); stopErr != nil && err == nil {
			err = fmt.Errorf("stop replicas: %w", stopErr)
		}
	}()
	for i, r := range tn.replicas {
		ch, err := startChild(fmt.Sprintf("replica-%d", i+1), exe, r.args, logs)
		if err != nil {
			return err
		}
		dlog.Info("replica_started", "replica", ch.name, "pid", ch.cmd.Process.Pid)
		children = append(children, ch)
	}

	cl, err := client.New(tn.client)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := waitDevnetReady(ctx, cl, children); err != nil {
		return err
	}
	// From here on a replica that exits is started again, and the devnet
	// keeps serving meanwhile (the cluster tolerates f replicas down).
	sups, stopSupervisors = superviseReplicas(children, tn, exe, logs, dlog)
	var walletURL, ethSignerURL string
	var walletErr <-chan error // nil without a wallet service: never ready
	if !o.noWallet {
		dw, err := startDevnetWallet(ctx, dir, tn, o, logs)
		if err != nil {
			return err
		}
		defer func() {
			if stopErr := dw.close(); stopErr != nil && err == nil {
				err = fmt.Errorf("stop wallet service: %w", stopErr)
			}
		}()
		walletURL, walletErr = dw.ws.url, dw.ws.serveErr
		ethSignerURL = dw.ws.ethSignerURL()
	}
	ready := struct {
		Ready     bool   `json:"ready"`
		Replicas  int    `json:"replicas"`
		Dir       string `json:"dir"`
		Config    string `json:"config"`
		WalletURL string `json:"wallet_url,omitempty"`
		EthSigner string `json:"eth_signer_url,omitempty"`
	}{true, len(children), dir, cfgPath, walletURL, ethSignerURL}
	human := fmt.Sprintf("vhsm devnet ready: %d replicas, client config %s (export %s=%s)", len(children), cfgPath, client.ConfigEnv, cfgPath)
	if walletURL != "" {
		human += fmt.Sprintf("; web wallet %s/ (API token: api_token in %s)", walletURL, cfgPath)
	}
	if ethSignerURL != "" {
		human += fmt.Sprintf("; Ethereum remote signer %s", ethSignerURL)
	}
	if err := c.emit(ready, human); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-walletErr:
		return fmt.Errorf("wallet service: %w", err)
	}
}

// superviseReplicas restarts every replica that exits from now on (see
// [supervisor]) and returns the function that ends the supervision; the
// caller then stops the current processes.
func superviseReplicas(children []*child, tn *devnetFiles, exe string, logs *lockedWriter, log *slog.Logger) ([]*supervisor, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sups := make([]*supervisor, len(children))
	for i, ch := range children {
		sups[i] = newSupervisor(ch, exe, tn.replicas[i].args, logs, log)
		wg.Go(func() { sups[i].run(ctx) })
	}
	return sups, func() {
		cancel()
		wg.Wait()
	}
}

// waitDevnetReady polls every replica's status until all are ready, then
// generates a key to show the cluster works end to end. It gives up when
// ctx ends, a replica exits, or devnetReadyTimeout passes.
func waitDevnetReady(parent context.Context, cl *client.Client, children []*child) error {
	ctx, cancel := context.WithTimeout(parent, devnetReadyTimeout)
	defer cancel()
	tick := time.NewTicker(devnetPoll)
	defer tick.Stop()
	var last string
	wait := func() error {
		for _, ch := range children {
			if ch.exited() {
				return fmt.Errorf("%s exited during startup: %v", ch.name, ch.err)
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return errors.New("interrupted before the devnet was ready")
			}
			if last != "" {
				return fmt.Errorf("devnet not ready: %s: %w", last, ctx.Err())
			}
			return fmt.Errorf("devnet not ready: %w", ctx.Err())
		case <-tick.C:
			return nil
		}
	}
	for {
		notReady := 0
		for _, st := range cl.Status(ctx) {
			if !st.Ready {
				notReady++
				last = fmt.Sprintf("replica %d not ready (%s)", st.Replica, st.Error)
			}
		}
		if notReady == 0 {
			break
		}
		if err := wait(); err != nil {
			return err
		}
	}
	for {
		// One probe key for the life of the devnet: generated on the first
		// start. "Already exists" proves as much as success does (an
		// ordered keys.gen was committed and answered by t+1 replicas): on a
		// restart, or when an earlier attempt timed out but committed later.
		_, err := cl.GenerateKey(ctx, devnetProbeKey, wire.SchemeSchnorr)
		var rej *client.RejectedError
		if err == nil || errors.As(err, &rej) && rej.Reason == app.ErrKeyExists.Error() {
			return nil
		}
		last = "probe key: " + err.Error()
		if err := wait(); err != nil {
			return err
		}
	}
}
