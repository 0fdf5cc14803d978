// Package replica runs one vhsm HSM replica: it opens the sealed share
// store, the deterministic ABCI application (replica/app), the embedded
// CometBFT node (replica/node), the participant engine (replica/engine) and
// the HTTPS API (replica/server), and stops them in reverse order.
//
// A replica home is laid out by replica/testnet (see its package
// documentation). [Run] refuses to start, with an error naming the cause,
// when the sealed store cannot be opened (wrong passphrase or key file,
// insecure permissions, damaged records), when the sealed long-term keys
// do not match the genesis, or when the test-only Byzantine switch
// (engine.ByzantineEnv) is set in a build without the vhsm_byzantine tag.
package replica

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/audit"
	"github.com/vhsm/vhsm/replica/engine"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/node"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/server"
)

// Errors returned by Run.
var (
	// ErrSecrets is returned when the sealed store or a long-term secret
	// cannot be read; the replica refuses to serve.
	ErrSecrets = errors.New("replica: sealed secrets unavailable")
	// ErrGenesis is returned for a genesis that does not parse or does not
	// list this replica's keys.
	ErrGenesis = errors.New("replica: invalid genesis")
)

// ReadyMessage is the log line written once when the replica is ready.
const ReadyMessage = "replica ready"

// ListeningMessage is the log line written once the replica has bound its
// listen addresses (CometBFT's p2p and the HTTPS API).
const ListeningMessage = "replica listening"

// Config configures Run. Only Home is required.
type Config struct {
	// Home is the replica's home directory (replica.json and the rest).
	Home string
	// Passphrase unlocks the sealed store of a home created with a
	// passphrase; ignored for key-file homes.
	Passphrase []byte
	// KeyFile overrides the sealing key file (default Home/seal.key).
	KeyFile string
	// APIListen and P2PListen override replica.json's listen addresses.
	APIListen string
	P2PListen string
	// PhaseTimeout is the engine's DKG phase timeout (engine default when 0).
	PhaseTimeout time.Duration
	// Log receives the replica's logs (default: discarded).
	Log *slog.Logger
}

// Run runs the replica until ctx ends, then shuts it down cleanly. It
// returns nil after a shutdown requested through ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	// A normal build refuses the test-only Byzantine switch (issue 4).
	if err := engine.CheckFaultInjection(); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rc, err := layout.LoadReplicaConfig(cfg.Home)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if cfg.APIListen != "" {
		rc.APIListen = cfg.APIListen
	}
	if cfg.P2PListen != "" {
		rc.P2PListen = cfg.P2PListen
	}
	log = log.With("replica", rc.Index)

	store, err := openStore(cfg, rc)
	if err != nil {
		return err
	}
	sec, err := loadSecrets(store, cfg.Home)
	if err != nil {
		return err
	}
	defer sec.wipe()

	g, err := loadGenesis(filepath.Join(cfg.Home, node.GenesisFile))
	if err != nil {
		return err
	}
	if rc.Index > len(g.Replicas) {
		return fmt.Errorf("%w: replica %d not in the genesis", ErrGenesis, rc.Index)
	}
	me := g.Replicas[rc.Index-1]
	if !bytes.Equal(me.SignKey, sec.sign.Public().(ed25519.PublicKey)) || !bytes.Equal(me.TLSCert, sec.tls.Certificate[0]) {
		return fmt.Errorf("%w: sealed keys of replica %d do not match the genesis", ErrSecrets, rc.Index)
	}

	a, err := app.New(filepath.Join(cfg.Home, layout.AppDir), *g, log.With("component", "app"))
	if err != nil {
		return fmt.Errorf("replica: open app: %w", err)
	}
	defer func() {
		if cerr := a.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("replica: close app: %w", cerr)
		}
	}()

	nc := layout.NodeConfig(cfg.Home, rc)
	nd, err := node.New(ctx, nc, a, log)
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	if err := nd.Start(); err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	defer func() {
		if serr := nd.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("replica: %w", serr)
		}
	}()

	// The audit chain (issue 14): every served request, its head committed
	// through the log by eng.RunAudit.
	alog, err := audit.Open(filepath.Join(cfg.Home, layout.AuditDir), log.With("component", "audit"))
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	defer func() {
		if cerr := alog.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("replica: %w", cerr)
		}
	}()

	eng, err := engine.New(engine.Config{
		App: a, Me: rc.Index, SignKey: sec.sign, DKGKey: sec.dkg,
		Shares: store, Broadcast: nd, Rand: rand.Reader,
		Log: log.With("component", "engine"), PhaseTimeout: cfg.PhaseTimeout,
		Audit: alog,
	})
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}

	srv, err := server.New(server.Config{
		Replica: rc.Index,
		Handler: eng,
		Cert:    sec.tls,
		Log:     log.With("component", "api"),
		Status: func() server.Status {
			h, _ := a.Committed()
			st := server.Status{Height: h, Pools: map[string]int{}}
			if open, err := a.OpenSessions(); err == nil {
				st.OpenSessions = len(open)
			}
			for _, k := range app.Kinds {
				if n, err := a.Available(k); err == nil {
					st.Pools[k] = n
				}
			}
			if rerr := eng.Ready(); rerr != nil {
				st.Error = rerr.Error()
			} else {
				st.Ready = true
			}
			return st
		},
	})
	if err != nil {
		return fmt.Errorf("replica: %w", err)
	}
	ln, err := net.Listen("tcp", rc.APIListen)
	if err != nil {
		return fmt.Errorf("replica: api listen: %w", err)
	}
	log.Info(ListeningMessage, "api", ln.Addr().String(), "p2p", rc.P2PListen)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := eng.Run(runCtx); err != nil && runCtx.Err() == nil {
			errc <- fmt.Errorf("replica: engine: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil {
			errc <- fmt.Errorf("replica: api: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		announceReady(runCtx, eng, log, rc.APIListen)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := eng.RunAudit(runCtx); err != nil {
			log.Error("audit_stopped", "err", err)
		}
	}()

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	shCtx, shCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shCancel()
	if serr := srv.Shutdown(shCtx); serr != nil && err == nil {
		err = fmt.Errorf("replica: api shutdown: %w", serr)
	}
	wg.Wait()
	return err
}

// announceReady logs ReadyMessage once, when the engine first reports ready.
func announceReady(ctx context.Context, eng *engine.Engine, log *slog.Logger, api string) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if eng.Ready() == nil {
			log.Info(ReadyMessage, "api", api)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openStore opens the home's sealed store with the configured key.
func openStore(cfg Config, rc *layout.ReplicaConfig) (*sealed.Store, error) {
	dir := filepath.Join(cfg.Home, layout.SecretsDir)
	var key *sealed.Key
	var err error
	switch {
	case cfg.KeyFile != "":
		key, err = sealed.KeyFromFile(cfg.KeyFile)
	case rc.Passphrase:
		if len(cfg.Passphrase) == 0 {
			return nil, fmt.Errorf("%w: the store needs a passphrase", ErrSecrets)
		}
		key, err = sealed.KeyFromPassphrase(dir, cfg.Passphrase, nil)
	default:
		key, err = sealed.KeyFromFile(filepath.Join(cfg.Home, layout.SealKeyFile))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecrets, err)
	}
	defer clear(key[:])
	s, err := sealed.Open(dir, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecrets, err)
	}
	return s, nil
}

// secrets are the replica's long-term keys, unsealed.
type secrets struct {
	sign ed25519.PrivateKey
	dkg  []byte
	tls  tls.Certificate
}

func (s *secrets) wipe() {
	clear(s.sign)
	clear(s.dkg)
}

func loadSecrets(store *sealed.Store, home string) (*secrets, error) {
	seed, err := store.Get(layout.SecretSignKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrSecrets, err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: signing key has %d bytes", ErrSecrets, len(seed))
	}
	dkg, err := store.Get(layout.SecretDKGKey)
	if err != nil {
		return nil, fmt.Errorf("%w: dkg key: %w", ErrSecrets, err)
	}
	tlsKey, err := store.Get(layout.SecretTLSKey)
	if err != nil {
		return nil, fmt.Errorf("%w: tls key: %w", ErrSecrets, err)
	}
	defer clear(tlsKey)
	certDER, err := os.ReadFile(filepath.Join(home, layout.TLSCertFile))
	if err != nil {
		return nil, fmt.Errorf("%w: tls certificate: %w", ErrSecrets, err)
	}
	cert, err := server.LoadCert(certDER, tlsKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecrets, err)
	}
	return &secrets{sign: ed25519.NewKeyFromSeed(seed), dkg: dkg, tls: cert}, nil
}

// loadGenesis reads the CometBFT genesis and its app_state.
func loadGenesis(path string) (*app.Genesis, error) {
	doc, err := types.GenesisDocFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGenesis, err)
	}
	var g app.Genesis
	dec := json.NewDecoder(bytes.NewReader(doc.AppState))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: app_state: %w", ErrGenesis, err)
	}
	// Every signed request and replica transaction is bound to the chain id.
	g.Cluster = doc.ChainID
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGenesis, err)
	}
	return &g, nil
}
