// Package node embeds a CometBFT v1 node in the replica process, running
// the ABCI application through a local (in-process) client.
//
// # Tuning
//
// Replicas of one HSM talk over loopback or a LAN, so [Tune] sets the
// consensus for low latency: no commit timeout, 5 ms gossip sleeps, 1 ms
// p2p flush throttle, no empty blocks, and no mempool recheck (the app's
// CheckTx is stateless apart from replay, which FinalizeBlock checks again).
//
// # Broadcasting
//
// Every replica submits the same signed client request to its own mempool;
// the mempool cache deduplicates them, so [Node.BroadcastTx] treats "already
// in cache" and "already in mempool" as success.
//
// # Logging
//
// CometBFT's logs are routed to slog at warn level and above ([NewLogger]);
// the mempool's per-duplicate ERROR lines are dropped.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
)

// Errors returned by the node.
var (
	// ErrConfig is returned for a missing or unusable home directory, node key,
	// validator key or genesis.
	ErrConfig = errors.New("node: invalid configuration")
	// ErrRejected is returned by BroadcastTx when the application's CheckTx
	// rejects the transaction.
	ErrRejected = errors.New("node: transaction rejected by CheckTx")
	// ErrNotRunning is returned by BroadcastTx before Start or after Stop.
	ErrNotRunning = errors.New("node: not running")
)

// Config locates and configures one CometBFT node.
type Config struct {
	// Home is the CometBFT home: config/{genesis.json,node_key.json,
	// priv_validator_key.json} and data/.
	Home string
	// Moniker names the node in peer lists (default "vhsm").
	Moniker string
	// P2PListen is the p2p listen address, e.g. "tcp://127.0.0.1:26656".
	P2PListen string
	// Peers are the other replicas, "nodeid@host:port".
	Peers []string
	// RPCListen is the CometBFT RPC address; empty disables the RPC server.
	RPCListen string
}

// Paths of the files a home holds (relative to Home).
const (
	GenesisFile   = "config/genesis.json"
	NodeKeyFile   = "config/node_key.json"
	PrivValKey    = "config/priv_validator_key.json"
	PrivValState  = "data/priv_validator_state.json"
	CometTOMLFile = "config/config.toml"
)

// Tune applies the loopback/LAN tuning to c.
func Tune(c *cmtcfg.Config) {
	c.Consensus.TimeoutCommit = 0
	c.Consensus.SkipTimeoutCommit = true //nolint:staticcheck // still honoured by v1.0.1
	// The gossip routines poll for votes and block parts to send and sleep
	// this long when there is nothing, so each consensus step may wait up
	// to one sleep. 1 ms measured no better than 5 ms on a loaded 2-core
	// machine (issue 8) and costs 5x the polling CPU.
	c.Consensus.PeerGossipSleepDuration = 5 * time.Millisecond
	c.Consensus.CreateEmptyBlocks = false
	c.P2P.FlushThrottleTimeout = 1 * time.Millisecond
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	c.P2P.PexReactor = false
	c.Mempool.Recheck = false
	c.Mempool.Size = 20000
	c.Mempool.CacheSize = 100000
	c.Instrumentation.Prometheus = false
	// No transaction index: the app keeps its own request log, and CometBFT
	// v1.0.1 does not close the indexer's database on Stop (an in-process
	// restart would find it locked).
	c.TxIndex.Indexer = "null"
}

// CometConfig builds the CometBFT configuration of c (tuned).
func CometConfig(c Config) *cmtcfg.Config {
	cc := cmtcfg.DefaultConfig()
	cc.SetRoot(c.Home)
	cc.Moniker = c.Moniker
	if cc.Moniker == "" {
		cc.Moniker = "vhsm"
	}
	Tune(cc)
	if c.P2PListen != "" {
		cc.P2P.ListenAddress = c.P2PListen
	}
	cc.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	cc.RPC.ListenAddress = c.RPCListen
	cc.GRPC.ListenAddress = ""
	cc.RPC.PprofListenAddress = ""
	return cc
}

// WriteTOML writes the effective configuration of c to Home/config/config.toml,
// for operators and CometBFT tooling; the node itself is configured from
// Config, not from the TOML file.
func WriteTOML(c Config) error {
	if err := os.MkdirAll(filepath.Join(c.Home, "config"), 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return catch("write config.toml", func() {
		cmtcfg.WriteConfigFile(filepath.Join(c.Home, CometTOMLFile), CometConfig(c))
	})
}

// Node is a running CometBFT node.
type Node struct {
	n       *cmtnode.Node
	pv      *SignerPV
	log     *slog.Logger
	mu      sync.Mutex
	running bool
}

// New creates the node for app from the files under c.Home; Start runs it.
func New(ctx context.Context, c Config, app abci.Application, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cc := CometConfig(c)
	if err := cc.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, f := range []string{GenesisFile, NodeKeyFile, PrivValKey} {
		if _, err := os.Stat(filepath.Join(c.Home, f)); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, f, err)
		}
	}
	nodeKey, err := p2p.LoadNodeKey(cc.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("%w: node key: %w", ErrConfig, err)
	}
	pv, err := LoadOrGenPrivValidator(c.Home)
	if err != nil {
		return nil, err
	}
	var (
		n       *cmtnode.Node
		nodeErr error
	)
	err = catch("create node", func() {
		n, nodeErr = cmtnode.NewNode(ctx, cc, pv, nodeKey,
			// One mutex per ABCI connection, not one for all: CheckTx
			// (mempool) then does not wait for FinalizeBlock and Commit
			// (consensus). The app is safe for that (see its package doc).
			proxy.NewConnSyncLocalClientCreator(app),
			cmtnode.DefaultGenesisDocProviderFunc(cc),
			dbProvider,
			cmtnode.DefaultMetricsProvider(cc.Instrumentation),
			NewLogger(log))
	})
	if err == nil {
		err = nodeErr
	}
	if err != nil {
		pv.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	return &Node{n: n, pv: pv, log: log}, nil
}

// catch runs f, turning a panic of the CometBFT code it calls (which panics
// on unreadable key files) into an error.
func catch(what string, f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", what, r)
		}
	}()
	f()
	return nil
}

// Start starts consensus, p2p and (if configured) RPC.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.n.Start(); err != nil {
		return fmt.Errorf("node: start: %w", err)
	}
	n.running = true
	return nil
}

// Stop stops the node and waits for it; stopping twice is harmless.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		n.pv.Close() // never started: nothing signs with it
		return nil
	}
	n.running = false
	if err := n.n.Stop(); err != nil {
		return fmt.Errorf("node: stop: %w", err)
	}
	n.n.Wait()
	n.pv.Close()
	return nil
}

// ID is the node's p2p identity (hex of its node key's address).
func (n *Node) ID() string { return string(n.n.NodeInfo().ID()) }

// Height is the height of the latest committed block.
func (n *Node) Height() int64 { return n.n.BlockStore().Height() }

// BroadcastTx submits tx to the local mempool and waits for the
// application's CheckTx verdict. A transaction already in the mempool cache
// (submitted by this replica or gossiped by another) counts as submitted.
func (n *Node) BroadcastTx(ctx context.Context, tx []byte) error {
	n.mu.Lock()
	running := n.running
	n.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	rr, err := n.n.Mempool().CheckTx(types.Tx(tx), "")
	if errors.Is(err, mempool.ErrTxInCache) || errors.Is(err, mempool.ErrTxInMempool) {
		return nil
	}
	if err != nil {
		return broadcastError(err)
	}
	done := make(chan struct{})
	go func() {
		// The ABCI client always completes a request, even on error.
		rr.Wait()
		close(done)
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("node: broadcast: %w", ctx.Err())
	case <-done:
	}
	if err := rr.Error(); err != nil {
		return broadcastError(err)
	}
	res := rr.Response.GetCheckTx()
	if res == nil {
		return fmt.Errorf("node: broadcast: no CheckTx response")
	}
	if res.Code != abci.CodeTypeOK {
		return fmt.Errorf("%w: code %d: %s", ErrRejected, res.Code, res.Log)
	}
	return nil
}

// broadcastError names a CheckTx rejection ErrRejected.
func broadcastError(err error) error {
	var invalid mempool.ErrInvalidTx
	if errors.As(err, &invalid) {
		return fmt.Errorf("%w: code %d: %s", ErrRejected, invalid.Code, invalid.Log)
	}
	return fmt.Errorf("node: broadcast: %w", err)
}
