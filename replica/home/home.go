// Package home is the layout of a replica's home directory, which the
// replica runtime reads and replica/testnet (or an operator) writes:
//
//	home/replica.json      [ReplicaConfig]
//	home/config/           CometBFT genesis.json (app_state = app.Genesis),
//	                       node_key.json, priv_validator_key.json, config.toml
//	home/data/             CometBFT data; priv_validator_state.slots, the
//	                       consensus double-sign state (replica/node)
//	home/secrets/          sealed store (replica signing, DKG and TLS keys; shares)
//	home/seal.key          sealing key file (absent when a passphrase or key file is used)
//	home/tls.der           the replica's self-signed certificate (public)
//	home/app/              the ABCI application's state
//	home/audit/chain.log   the audit chain of served requests (replica/audit)
package home

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vhsm/vhsm/replica/node"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// ErrInvalid is returned for a replica.json that does not parse or check.
var ErrInvalid = errors.New("home: invalid replica home")

// Names of the sealed long-term secrets of a replica.
const (
	SecretSignKey = "replica-sign-key" // Ed25519 seed (32 bytes)
	SecretDKGKey  = "replica-dkg-key"  // secp256k1 scalar (32 bytes)
	SecretTLSKey  = "replica-tls-key"  // PKCS#8 DER
)

// Files in a replica home.
const (
	ReplicaFile = "replica.json"
	SecretsDir  = "secrets"
	SealKeyFile = "seal.key"
	TLSCertFile = "tls.der"
	AppDir      = "app"
	AuditDir    = "audit" // the audit chain (replica/audit)
)

// ReplicaConfig is a replica home's replica.json: everything a replica needs
// besides its sealed secrets and CometBFT files.
type ReplicaConfig struct {
	Index   int    `json:"index"`
	N       int    `json:"n"`
	T       int    `json:"t"`
	ChainID string `json:"chain_id"`
	// P2PListen is CometBFT's p2p address ("tcp://127.0.0.1:port").
	P2PListen string `json:"p2p_listen"`
	// Peers are the other replicas ("nodeid@127.0.0.1:port").
	Peers []string `json:"peers"`
	// APIListen is the HTTPS API's listen address ("127.0.0.1:port").
	APIListen string `json:"api_listen"`
	// APIURL is the API's URL as published in the genesis.
	APIURL string `json:"api_url"`
	// Passphrase reports that the sealed store is keyed by a passphrase
	// rather than the seal.key file.
	Passphrase bool `json:"passphrase,omitempty"`
}

// LoadReplicaConfig reads home/replica.json.
func LoadReplicaConfig(home string) (*ReplicaConfig, error) {
	b, err := os.ReadFile(filepath.Join(home, ReplicaFile))
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	return ParseReplicaConfig(b)
}

// ParseReplicaConfig decodes replica.json strictly (unknown fields and
// trailing data are errors) and checks it.
func ParseReplicaConfig(b []byte) (*ReplicaConfig, error) {
	var c ReplicaConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, ReplicaFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data", ErrInvalid, ReplicaFile)
	}
	if c.Index < 1 || c.Index > c.N || c.N > 64 || c.APIListen == "" || c.P2PListen == "" {
		return nil, fmt.Errorf("%w: %s: index %d of %d", ErrInvalid, ReplicaFile, c.Index, c.N)
	}
	if err := dkg.CheckThreshold(c.N, c.T); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, ReplicaFile, err)
	}
	return &c, nil
}

// SaveReplicaConfig writes home/replica.json (0600, atomically).
func SaveReplicaConfig(home string, c *ReplicaConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if err := sealed.WriteFileAtomic(filepath.Join(home, ReplicaFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("home: %s: %w", ReplicaFile, err)
	}
	return nil
}

// NodeConfig is the node configuration of a replica home.
func NodeConfig(home string, c *ReplicaConfig) node.Config {
	return node.Config{
		Home:      home,
		Moniker:   "replica-" + strconv.Itoa(c.Index),
		P2PListen: c.P2PListen,
		Peers:     c.Peers,
	}
}
