// Package testnet lays out replica homes and generates a complete HSM
// testnet on one machine: for n replicas, every replica's CometBFT files,
// sealed long-term secrets, TLS certificate and replica.json, one genesis
// shared by all, and the admin client's configuration.
//
// # Layout
//
//	dir/client.json                 admin client config (client.Config, 0600)
//	dir/replica-i/                  a replica home, laid out as replica/home says
//
// [Generate] is idempotent: it reuses every file that already exists, so it
// can be run again on a testnet to repair or complete it without changing
// any identity.
//
// # Ports
//
// Every listen port of a generated testnet (each replica's CometBFT p2p
// and HTTPS API port), and every port a test harness needs for a server it
// starts later (btcd, a wallet), comes from [FreePorts]. Such a port is
// bound only later, by another process or goroutine, so being free when
// picked is not enough: FreePorts also reserves it for its caller's
// process with an exclusive, non-blocking flock(2) on PortLockDir/PORT.lock
// (0600), kept until [ReleasePorts] or the process's exit, and skips any
// port whose lock another process holds. Two processes picking ports at
// once (test packages running in parallel, a devnet beside them) therefore
// never get the same port, and a crashed process leaves no reservation
// behind: its locks die with it, and the next process sweeps its files. A
// port is still probed (listened on) before it is handed out; a program
// that does not take part in the reservation can still bind a reserved
// port, so whoever binds one must expect EADDRINUSE: replica/cluster
// starts a cluster again on fresh ports when a replica's bind fails.
package testnet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/client"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/node"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/server"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// Errors returned by the package.
var (
	// ErrInvalid is returned for bad arguments or an inconsistent existing
	// testnet (e.g. a genesis for another n).
	ErrInvalid = errors.New("testnet: invalid testnet")
)

// Files of a testnet directory, beside the replica homes (layout in
// replica/home).
const (
	ClientFile = "client.json"
	AdminID    = "admin"
)

// Options tune Generate.
type Options struct {
	// Passphrase, when set, seals every replica's store with a key derived
	// from this passphrase (Argon2id) instead of a random key file per
	// replica.
	Passphrase []byte
	// KDFCost overrides sealed.DefaultArgon2id for new passphrase stores.
	KDFCost *sealed.Argon2idCost
	// Pools overrides app.DefaultPoolConfig().
	Pools *app.PoolConfig
	// ChainID is the cluster id; it defaults to "vhsm-" and 16 random hex
	// digits.
	ChainID string
	// Rand defaults to crypto/rand.
	Rand io.Reader
}

// Testnet describes a generated testnet.
type Testnet struct {
	Dir        string
	N, T       int
	Homes      []string // Homes[i-1] is replica i's home
	ClientPath string   // the admin client's client.json
}

// Generate creates (or completes) an n-replica testnet in dir.
func Generate(dir string, n int, opts Options) (*Testnet, error) {
	if n < 1 || n > 64 {
		return nil, fmt.Errorf("%w: n=%d", ErrInvalid, n)
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.ChainID == "" {
		// A random chain id per cluster: every signed request names it, so
		// a request can never be replayed into another cluster (replica
		// homes that already have a genesis keep its chain id).
		var id [8]byte
		if _, err := io.ReadFull(opts.Rand, id[:]); err != nil {
			return nil, fmt.Errorf("testnet: chain id: %w", err)
		}
		opts.ChainID = "vhsm-" + hex.EncodeToString(id[:])
	}
	pools := app.DefaultPoolConfig()
	if opts.Pools != nil {
		pools = *opts.Pools
	}
	t := dkg.DefaultT(n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	tn := &Testnet{Dir: dir, N: n, T: t, ClientPath: filepath.Join(dir, ClientFile)}

	type rep struct {
		home   string
		cfg    *layout.ReplicaConfig
		nodeID string
		info   app.ReplicaInfo
		valPub types.GenesisValidator
	}
	reps := make([]*rep, n)
	for i := 1; i <= n; i++ {
		home := filepath.Join(dir, "replica-"+strconv.Itoa(i))
		tn.Homes = append(tn.Homes, home)
		r := &rep{home: home}
		var err error
		if r.cfg, err = loadOrNewReplicaConfig(home, i, n, t, opts); err != nil {
			return nil, err
		}
		store, err := OpenStore(home, r.cfg.Passphrase, opts.Passphrase, opts.KDFCost, opts.Rand)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		signKey, err := loadOrNew(store, layout.SecretSignKey, func() ([]byte, error) {
			seed := make([]byte, ed25519.SeedSize)
			_, err := io.ReadFull(opts.Rand, seed)
			return seed, err
		})
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		dkgKey, err := loadOrNew(store, layout.SecretDKGKey, func() ([]byte, error) {
			s, err := group.Secp256k1().RandomScalar(opts.Rand)
			if err != nil {
				return nil, err
			}
			return s.Bytes(), nil
		})
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		dkgSecret, err := group.Secp256k1().DecodeScalar(dkgKey)
		if err != nil {
			return nil, fmt.Errorf("replica %d: dkg key: %w", i, err)
		}
		certDER, err := loadOrNewTLS(home, store, i, opts.Rand)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		r.info = app.ReplicaInfo{
			Index:   i,
			SignKey: ed25519.NewKeyFromSeed(signKey).Public().(ed25519.PublicKey),
			DKGKey:  group.Secp256k1().BaseMul(dkgSecret).Bytes(),
			API:     r.cfg.APIURL,
			TLSCert: certDER,
		}
		clear(signKey)
		clear(dkgKey)
		if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(home, "data"), 0o700); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		nk, err := p2p.LoadOrGenNodeKey(filepath.Join(home, node.NodeKeyFile))
		if err != nil {
			return nil, fmt.Errorf("replica %d: node key: %w", i, err)
		}
		r.nodeID = string(nk.ID())
		pv, err := node.LoadOrGenPrivValidator(home)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		pub, err := pv.GetPubKey()
		pv.Close()
		if err != nil {
			return nil, fmt.Errorf("replica %d: validator key: %w", i, err)
		}
		r.valPub = types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: "replica-" + strconv.Itoa(i)}
		reps[i-1] = r
	}

	// Peers: every other replica.
	for _, r := range reps {
		r.cfg.Peers = r.cfg.Peers[:0]
		for _, o := range reps {
			if o != r {
				r.cfg.Peers = append(r.cfg.Peers, o.nodeID+"@"+hostPort(o.cfg.P2PListen))
			}
		}
	}

	// Admin client.
	cc, err := loadOrNewClient(tn.ClientPath, opts.Rand)
	if err != nil {
		return nil, err
	}
	cc.N, cc.T = n, t
	cc.Replicas = cc.Replicas[:0]
	for _, r := range reps {
		cc.Replicas = append(cc.Replicas, client.ReplicaEndpoint{Index: r.info.Index, URL: r.info.API, TLSCert: r.info.TLSCert})
	}
	if cc.Timeout == "" {
		cc.Timeout = "30s"
	}
	if err := cc.Save(tn.ClientPath); err != nil {
		return nil, fmt.Errorf("testnet: client config: %w", err)
	}

	// Genesis: reuse replica 1's if it exists, else build it.
	gen, err := loadGenesis(filepath.Join(reps[0].home, node.GenesisFile))
	if err != nil {
		return nil, err
	}
	if gen == nil {
		g := app.Genesis{Cluster: opts.ChainID, N: n, T: t, Pools: pools,
			Admin: app.ClientInfo{ID: cc.ClientID, PublicKey: ed25519.NewKeyFromSeed(cc.PrivateKey).Public().(ed25519.PublicKey), Admin: true}}
		for _, r := range reps {
			g.Replicas = append(g.Replicas, r.info)
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		appState, err := json.Marshal(g)
		if err != nil {
			return nil, fmt.Errorf("testnet: genesis: %w", err)
		}
		gen = &types.GenesisDoc{
			GenesisTime:     time.Now().UTC().Truncate(time.Second),
			ChainID:         opts.ChainID,
			InitialHeight:   1,
			ConsensusParams: types.DefaultConsensusParams(),
			AppState:        appState,
		}
		for _, r := range reps {
			gen.Validators = append(gen.Validators, r.valPub)
		}
		if err := gen.ValidateAndComplete(); err != nil {
			return nil, fmt.Errorf("testnet: genesis: %w", err)
		}
	} else if len(gen.Validators) != n {
		return nil, fmt.Errorf("%w: existing genesis has %d validators, want %d", ErrInvalid, len(gen.Validators), n)
	}
	if cc.Cluster != gen.ChainID {
		cc.Cluster = gen.ChainID
		if err := cc.Save(tn.ClientPath); err != nil {
			return nil, fmt.Errorf("testnet: client config: %w", err)
		}
	}
	genBytes, err := cmtjson.MarshalIndent(gen, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("testnet: genesis: %w", err)
	}
	for _, r := range reps {
		r.cfg.ChainID = gen.ChainID
		if err := sealed.WriteFileAtomic(filepath.Join(r.home, node.GenesisFile), genBytes, 0o644); err != nil {
			return nil, fmt.Errorf("testnet: genesis: %w", err)
		}
		if err := layout.SaveReplicaConfig(r.home, r.cfg); err != nil {
			return nil, err
		}
		if err := node.WriteTOML(layout.NodeConfig(r.home, r.cfg)); err != nil {
			return nil, err
		}
	}
	return tn, nil
}

// OpenStore opens a replica home's sealed store: with the passphrase when
// usePassphrase (passphrase must then be non-empty; cost is the KDF cost of
// a new store, nil for the default), else with the home's seal.key, created
// if absent.
func OpenStore(home string, usePassphrase bool, passphrase []byte, cost *sealed.Argon2idCost, rnd io.Reader) (*sealed.Store, error) {
	dir := filepath.Join(home, layout.SecretsDir)
	var key *sealed.Key
	var err error
	if usePassphrase {
		key, err = sealed.KeyFromPassphrase(dir, passphrase, cost)
	} else {
		kf := filepath.Join(home, layout.SealKeyFile)
		if err = sealed.NewKeyFile(kf, rnd); err == nil {
			key, err = sealed.KeyFromFile(kf)
		}
	}
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	return sealed.Open(dir, key)
}

func loadOrNew(s *sealed.Store, name string, gen func() ([]byte, error)) ([]byte, error) {
	v, err := s.Get(name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sealed.ErrNotFound) {
		return nil, err
	}
	v, err = gen()
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", name, err)
	}
	if err := s.Put(name, v); err != nil {
		return nil, err
	}
	return v, nil
}

func loadOrNewTLS(home string, s *sealed.Store, i int, rnd io.Reader) ([]byte, error) {
	certPath := filepath.Join(home, layout.TLSCertFile)
	cert, certErr := os.ReadFile(certPath)
	_, keyErr := s.Get(layout.SecretTLSKey)
	if certErr == nil && keyErr == nil {
		return cert, nil
	}
	if keyErr != nil && !errors.Is(keyErr, sealed.ErrNotFound) {
		return nil, keyErr
	}
	cert, key, err := server.GenerateCert(rnd, "vhsm-replica-"+strconv.Itoa(i), []string{"127.0.0.1", "localhost"})
	if err != nil {
		return nil, err
	}
	if err := s.Put(layout.SecretTLSKey, key); err != nil {
		return nil, err
	}
	if err := sealed.WriteFileAtomic(certPath, cert, 0o644); err != nil {
		return nil, fmt.Errorf("testnet: tls cert: %w", err)
	}
	return cert, nil
}

func loadOrNewReplicaConfig(home string, i, n, t int, opts Options) (*layout.ReplicaConfig, error) {
	if _, err := os.Stat(filepath.Join(home, layout.ReplicaFile)); err == nil {
		c, err := layout.LoadReplicaConfig(home)
		if err != nil {
			return nil, err
		}
		if c.Index != i || c.N != n || c.T != t {
			return nil, fmt.Errorf("%w: %s is replica %d of %d", ErrInvalid, home, c.Index, c.N)
		}
		return c, nil
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	api := "127.0.0.1:" + strconv.Itoa(ports[1])
	return &layout.ReplicaConfig{
		Index: i, N: n, T: t, ChainID: opts.ChainID,
		P2PListen:  "tcp://127.0.0.1:" + strconv.Itoa(ports[0]),
		APIListen:  api,
		APIURL:     "https://" + api,
		Passphrase: len(opts.Passphrase) > 0,
	}, nil
}

func loadOrNewClient(path string, rnd io.Reader) (*client.Config, error) {
	if _, err := os.Stat(path); err == nil {
		c, err := client.Load(path)
		if err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		return c, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, fmt.Errorf("testnet: client key: %w", err)
	}
	return &client.Config{ClientID: AdminID, PrivateKey: seed}, nil
}

func loadGenesis(path string) (*types.GenesisDoc, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	g, err := types.GenesisDocFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis: %w", ErrInvalid, err)
	}
	return g, nil
}

// hostPort strips the scheme of a CometBFT address.
func hostPort(addr string) string {
	if i := bytes.Index([]byte(addr), []byte("://")); i >= 0 {
		return addr[i+3:]
	}
	return addr
}
