package wallet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// Defaults of [Config].
const (
	DefaultMetadataKeyID = "wallet-metadata"
	DefaultMinConf       = 1
	DefaultPSBTLockTTL   = time.Hour
	DefaultPollInterval  = 5 * time.Second
	DefaultStaleBuilt    = 15 * time.Minute
)

// WalletKeyPrefix starts the HSM key id of every wallet and validator the
// service creates ("vw-" + the wallet id's hex). Such keys, and the
// metadata key, are managed by the service: the REST API's raw key routes
// refuse them, so that a token cannot sign around the wallet's coin
// locking and fee bounds, sign slashable messages with a validator key, or
// decrypt stored metadata.
const WalletKeyPrefix = "vw-"

// HSM is what the wallet service needs from the threshold HSM: its
// client identity (the owner of the keys it generates), key generation
// and lookup, Taproot key-path signing with a tweak ([bitcoin.Signer]),
// BLS signing of a signing root, and the encryption of its metadata.
// Errors are the HSM client's ([client.ErrNoQuorum], [*client.RejectedError],
// …), which the service maps to its sentinels. *client.Client implements
// it.
type HSM interface {
	// ID is the client identity that owns the keys GenerateKey makes.
	ID() string
	GenerateKey(ctx context.Context, id, scheme string) (client.KeyInfo, error)
	PublicKey(ctx context.Context, id string) (client.KeyInfo, error)
	// SignTaproot signs a BIP-341 sighash with the key tweaked by
	// merkleRoot (empty: BIP-86).
	SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error)
	// SignTaprootPath is SignTaproot for the BIP-32 unhardened child of
	// the key at path ([bitcoin.PathSigner]; derived addresses).
	SignTaprootPath(ctx context.Context, keyID string, path []uint32, sighash [32]byte, merkleRoot []byte) ([64]byte, error)
	// SignBLS signs msg (here a 32-byte consensus signing root) with a BLS
	// key.
	SignBLS(ctx context.Context, keyID string, msg []byte) ([]byte, error)
	// GenerateValidatorKey makes a bls key marked as an Ethereum validator
	// key (it signs typed requests only); MarkValidatorKey marks an
	// existing one, for good.
	GenerateValidatorKey(ctx context.Context, id string) (client.KeyInfo, error)
	MarkValidatorKey(ctx context.Context, id string) error
	// SignEth2 signs a typed remote-signing request with a validator key;
	// the replicas compute the signing root from it.
	SignEth2(ctx context.Context, keyID string, request []byte) ([]byte, error)
	Encrypt(ctx context.Context, keyID string, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, keyID string, ciphertext []byte) ([]byte, error)
}

var (
	_ HSM                = (*client.Client)(nil)
	_ bitcoin.PathSigner = HSM(nil)
)

// ethSigner adapts an HSM to the Ethereum chain's signer (a 32-byte
// signing root).
type ethSigner struct{ hsm HSM }

// SignTyped signs a typed request (deposit, exit, BLS change) with a
// validator key, and the signing root with any other key (chains/ethereum
// verifies the result over its own root either way).
func (e ethSigner) SignTyped(ctx context.Context, keyID string, signingRoot [32]byte, request []byte) ([]byte, error) {
	info, err := e.hsm.PublicKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if info.Usage == wire.UsageEth2Validator {
		return e.hsm.SignEth2(ctx, keyID, request)
	}
	return e.hsm.SignBLS(ctx, keyID, signingRoot[:])
}

func (e ethSigner) SignBLS(ctx context.Context, keyID string, signingRoot [32]byte) ([]byte, error) {
	return e.hsm.SignBLS(ctx, keyID, signingRoot[:])
}

var _ ethereum.TypedSigner = ethSigner{}

// Config configures [Open].
type Config struct {
	// Database is "sqlite:/path/wallet.db" (a plain path also means SQLite)
	// or "postgres://…" (pgx).
	Database string
	// HSM is the threshold HSM (normally a *client.Client).
	HSM HSM
	// Bitcoin maps a network name ("regtest", "mainnet", …) to its chain
	// backend. Bitcoin wallets can be created only on these networks.
	Bitcoin map[string]bitcoin.Backend
	// Ethereum maps a network name to the validator networks allowed.
	Ethereum map[string]ethereum.Network
	// MetadataKeyID is the DiSE key that encrypts labels, notes and PSBTs;
	// it is created on first Open if absent (default "wallet-metadata").
	MetadataKeyID string
	// MinConf is the confirmations a non-coinbase UTXO needs to be spent
	// (default 1).
	MinConf int
	// PSBTLockTTL is how long BuildPSBT keeps its inputs locked while
	// waiting for SignPSBT (default one hour).
	PSBTLockTTL time.Duration
	// PollInterval is Track's interval (default 5 s).
	PollInterval time.Duration
	// MaxFeeRate bounds a requested fee rate in sat/vB (default and
	// ceiling: the constant MaxFeeRate).
	MaxFeeRate int64
	// HighFeeShare, HighFeeFloor and HighFeeCap are the review's fee
	// sanity limits: a fee above HighFeeCap satoshi (default 1,000,000),
	// or above both HighFeeFloor satoshi (default 5,000) and HighFeeShare
	// × the amount paid to others (default 0.10), is flagged and a send
	// needs AcceptHighFee (see FeeEstimates).
	HighFeeShare float64
	HighFeeFloor int64
	HighFeeCap   int64
	// Webhooks tunes webhook delivery (webhooks.go; RunWebhooks).
	Webhooks WebhookConfig
	// Logger receives operational events (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the wallet domain service. It is safe for concurrent use.
type Service struct {
	cfg   Config
	st    *store
	hsm   HSM
	log   *slog.Logger
	now   func() time.Time
	cache *labelCache

	mu    sync.Mutex
	flows map[string]*flowLock // per transaction row: one resumer at a time

	// afterKeyGen, if set (tests only), runs between key generation and
	// storing the wallet; an error simulates a crash there.
	afterKeyGen func(keyID string) error
	// afterReserve, if set (tests only), runs after a send's inputs are
	// reserved and before it is signed; an error simulates a crash there.
	afterReserve func(txID string) error

	hd hdCache // derived addresses (addresses.go)
}

type flowLock struct {
	mu   sync.Mutex
	refs int
}

// Open opens (creating and migrating if needed) the database, makes sure
// the metadata key exists in the HSM, and returns the service.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.HSM == nil {
		return nil, fmt.Errorf("%w: no HSM client configured", ErrInvalid)
	}
	if cfg.Database == "" {
		return nil, fmt.Errorf("%w: no database configured", ErrInvalid)
	}
	if cfg.MetadataKeyID == "" {
		cfg.MetadataKeyID = DefaultMetadataKeyID
	}
	if cfg.MinConf <= 0 {
		cfg.MinConf = DefaultMinConf
	}
	if cfg.PSBTLockTTL <= 0 {
		cfg.PSBTLockTTL = DefaultPSBTLockTTL
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	applyFeeDefaults(&cfg)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for name := range cfg.Bitcoin {
		if _, err := bitcoin.NetworkByName(name); err != nil {
			return nil, fmt.Errorf("%w: bitcoin network %q: %v", ErrInvalid, name, err)
		}
	}
	st, err := openStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := st.migrate(ctx); err != nil {
		st.db.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, st: st, hsm: cfg.HSM, log: cfg.Logger, now: cfg.Now,
		cache: newLabelCache(4096), flows: map[string]*flowLock{}}
	if err := s.ensureMetadataKey(ctx); err != nil {
		st.db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database. The HSM client belongs to the caller.
func (s *Service) Close() error {
	return s.st.db.Close()
}

// HSM returns the HSM the service uses.
func (s *Service) HSM() HSM { return s.hsm }

// Ping checks the database (for readiness probes).
func (s *Service) Ping(ctx context.Context) error {
	if err := s.st.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: database: %v", ErrUnavailable, err)
	}
	return nil
}

// ensureMetadataKey looks the metadata key up and generates it if absent.
func (s *Service) ensureMetadataKey(ctx context.Context) error {
	info, err := s.hsm.PublicKey(ctx, s.cfg.MetadataKeyID)
	if err == nil {
		if info.Scheme != wire.SchemeSymmetric {
			return fmt.Errorf("%w: metadata key %q is %s, not symmetric", ErrInvalid, s.cfg.MetadataKeyID, info.Scheme)
		}
		return nil
	}
	if !errors.Is(err, client.ErrRejected) {
		return hsmErr("look up metadata key", err)
	}
	if _, err := s.hsm.GenerateKey(ctx, s.cfg.MetadataKeyID, wire.SchemeSymmetric); err != nil {
		// Another service instance may have created it meanwhile.
		if info, err2 := s.hsm.PublicKey(ctx, s.cfg.MetadataKeyID); err2 == nil && info.Scheme == wire.SchemeSymmetric {
			return nil
		}
		return hsmErr("create metadata key", err)
	}
	s.log.Info("metadata_key_created", "key_id", s.cfg.MetadataKeyID)
	return nil
}

// lockFlow serializes work on one transaction row inside this process.
func (s *Service) lockFlow(id string) func() {
	s.mu.Lock()
	l := s.flows[id]
	if l == nil {
		l = &flowLock{}
		s.flows[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.flows, id)
		}
		s.mu.Unlock()
	}
}

// hsmErr maps an HSM client error to the package's sentinels.
func hsmErr(action string, err error) error {
	switch {
	case errors.Is(err, client.ErrNoQuorum), errors.Is(err, context.DeadlineExceeded):
		var qe *client.QuorumError
		if errors.As(err, &qe) {
			return fmt.Errorf("%w: %s: HSM quorum unavailable (%d of %d replicas gave a valid answer, %d needed)", ErrUnavailable, action, qe.Valid, qe.Total, qe.Needed)
		}
		return fmt.Errorf("%w: %s: HSM quorum unavailable", ErrUnavailable, action)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %s: request cancelled", ErrUnavailable, action)
	case errors.Is(err, client.ErrRejected):
		var re *client.RejectedError
		if errors.As(err, &re) {
			return fmt.Errorf("%w: %s: HSM refused: %s", ErrRejected, action, re.Reason)
		}
		return fmt.Errorf("%w: %s: HSM refused the request", ErrRejected, action)
	case errors.Is(err, client.ErrInvalidArgument):
		return fmt.Errorf("%w: %s: %v", ErrInvalid, action, err)
	default:
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, action, err)
	}
}

// dbErr wraps a storage failure as unavailable: the client sees the
// action only; the driver's message is logged for the operator.
func (s *Service) dbErr(action string, err error) error {
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrInsufficient) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrRejected) ||
		errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, action, err)
	}
	s.log.Error("storage_error", "action", action, "error", err.Error())
	return fmt.Errorf("%w: %s: storage error", ErrUnavailable, action)
}

// newID returns prefix + 2n random hex characters.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux (Go 1.24+ crashes anyway)
	}
	return prefix + hex.EncodeToString(b)
}

// reqHash is a digest of a request's canonical fields, used to tell a retry
// from a different request under the same idempotency key.
func reqHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Service) nowNano() int64 { return s.now().UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }
