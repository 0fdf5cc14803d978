package app

import (
	"crypto/ed25519"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// Genesis is the initial configuration of the HSM, also serialized as the
// CometBFT genesis app_state (JSON).
type Genesis struct {
	// Cluster is the cluster id every signed request and replica
	// transaction is bound to: the CometBFT chain id, which the replica
	// takes from its CometBFT genesis document (it is not part of the
	// app_state).
	Cluster  string `json:"-"`
	N, T     int
	Replicas []ReplicaInfo // index 1..N, in order
	Admin    ClientInfo    // initial admin client
	Pools    PoolConfig    // batch sizes and low watermarks
}

// ReplicaInfo is the public identity of one replica.
type ReplicaInfo struct {
	Index   int
	SignKey []byte // Ed25519 public key signing replica transactions
	DKGKey  []byte // 33-byte compressed secp256k1 key receiving dealt shares
	API     string // https URL of the replica API
	TLSCert []byte // DER certificate pinned by clients
}

// ClientInfo is a registered client.
type ClientInfo struct {
	ID        string
	PublicKey []byte // Ed25519
	Admin     bool
}

// PoolConfig sets, per pool kind, the DKG batch size and the low watermark
// below which a new batch is generated.
type PoolConfig struct {
	KeyBatch int // polynomials per key DKG session (each scheme)
	KeyLow   int // low watermark of each key pool
	// NonceBatch and NonceLow configured round 1's jointly dealt nonce
	// pool; they are read from old genesis files and ignored.
	NonceBatch int
	NonceLow   int
}

// DefaultPoolConfig returns batches of 128 keys, refilled while fewer than
// 512 keys of a scheme are available or being generated: up to 4 key
// sessions per scheme run in parallel under load. With 2 key sessions (a
// watermark of 256) 64 clients drained the key pool faster than a session
// completes on 2 shared cores and keygens were refused with "pool empty";
// 4 keep it from running dry.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{KeyBatch: 128, KeyLow: 512}
}

// Validate checks the genesis: 1 ≤ n ≤ dkg.MaxN, f ≤ t and t+1 ≤ n−2f
// ([dkg.CheckThreshold]), replicas indexed 1..N with valid keys, a valid
// admin and pool sizes within the DKG limits.
func (g *Genesis) Validate() error {
	if g.Cluster == "" || len(g.Cluster) > maxClusterLen {
		return fmt.Errorf("%w: cluster id %q (1 to %d bytes)", ErrBadGenesis, g.Cluster, maxClusterLen)
	}
	if g.N < 1 || g.N > dkg.MaxN || len(g.Replicas) != g.N {
		return fmt.Errorf("%w: n=%d with %d replicas", ErrBadGenesis, g.N, len(g.Replicas))
	}
	if err := dkg.CheckThreshold(g.N, g.T); err != nil {
		return fmt.Errorf("%w: %w", ErrBadGenesis, err)
	}
	for i, r := range g.Replicas {
		if r.Index != i+1 {
			return fmt.Errorf("%w: replica %d has index %d", ErrBadGenesis, i+1, r.Index)
		}
		if len(r.SignKey) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: replica %d sign key length %d", ErrBadGenesis, r.Index, len(r.SignKey))
		}
		if _, err := group.Secp256k1().DecodePoint(r.DKGKey); err != nil {
			return fmt.Errorf("%w: replica %d dkg key: %w", ErrBadGenesis, r.Index, err)
		}
	}
	if !validID(g.Admin.ID) || len(g.Admin.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: admin client", ErrBadGenesis)
	}
	p := g.Pools
	if p.KeyBatch < 1 || p.KeyBatch > dkg.MaxBatch {
		return fmt.Errorf("%w: key batch %d outside 1..%d", ErrBadGenesis, p.KeyBatch, dkg.MaxBatch)
	}
	if p.KeyLow < 0 {
		return fmt.Errorf("%w: negative low watermark", ErrBadGenesis)
	}
	return nil
}

// maxClusterLen is CometBFT's limit on a chain id.
const maxClusterLen = 50

// ValidID reports whether s is a key or client identifier, by the app's
// rule (validID).
func ValidID(s string) bool { return validID(s) }

// validID reports whether s is a key or client identifier: [A-Za-z0-9._-]{1,64}.
func validID(s string) bool {
	if len(s) == 0 || len(s) > wire.MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
