package client

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// ConfigEnv is the environment variable [Load] reads when given no path.
const ConfigEnv = "VHSM_CONFIG"

// DefaultTimeout bounds one request (all replicas) when Config.Timeout is empty.
const DefaultTimeout = 10 * time.Second

// Config is a client's configuration: its identity and signing key, the
// replica set and the pinned TLS certificate of every replica. It is stored
// as JSON (DIR/client.json), readable by its owner only, because it holds the
// client's private key.
type Config struct {
	// ClientID is the client's registered identifier.
	ClientID string `json:"client_id"`
	// Cluster is the cluster id (the replicas' CometBFT chain id) that every
	// request is bound to; replicas of another cluster refuse it.
	Cluster string `json:"cluster"`
	// PrivateKey is the client's Ed25519 seed (32 bytes, base64 in JSON).
	PrivateKey []byte `json:"private_key"`
	// N is the number of replicas, T the polynomial degree (t+1 partials
	// combine; t replicas may be faulty).
	N int `json:"n"`
	T int `json:"t"`
	// Replicas lists every replica, indices 1..N.
	Replicas []ReplicaEndpoint `json:"replicas"`
	// Timeout bounds one request, as a Go duration ("10s"); empty means
	// [DefaultTimeout].
	Timeout string `json:"timeout"`
	// APIURL and APIToken are optional: the wallet service's base URL and a
	// bearer token for its REST API, written by vhsm devnet (the client
	// itself does not use them).
	APIURL   string `json:"api_url,omitempty"`
	APIToken string `json:"api_token,omitempty"`
	// BTCRPCURL, BTCRPCUser and BTCRPCPass are optional: the JSON-RPC
	// endpoint and credentials of the devnet's regtest btcd, written by
	// vhsm devnet --btc-regtest at every start (btcd's port and
	// credentials change then) for users and scripts (btcctl, curl); the
	// client itself does not use them. All three are set or none.
	BTCRPCURL  string `json:"btc_rpc_url,omitempty"`
	BTCRPCUser string `json:"btc_rpc_user,omitempty"`
	BTCRPCPass string `json:"btc_rpc_pass,omitempty"`
	// EthSignerURL is optional: the base URL of the wallet service's
	// Ethereum remote-signing API (Web3Signer-compatible), written by vhsm
	// devnet for validator clients; the client itself does not use it.
	EthSignerURL string `json:"eth_signer_url,omitempty"`
}

// ReplicaEndpoint is how the client reaches one replica.
type ReplicaEndpoint struct {
	// Index is the replica's 1-based index in the genesis.
	Index int `json:"index"`
	// URL is the replica API's https base URL.
	URL string `json:"url"`
	// TLSCert is the replica's self-signed certificate (DER, base64 in
	// JSON); the client accepts exactly this certificate and no other.
	TLSCert []byte `json:"tls_cert"`
}

// Load reads a configuration file. An empty path means the file named by
// the VHSM_CONFIG environment variable. The file must not be readable by
// group or others, since it holds the client's private key.
func Load(path string) (*Config, error) {
	if path == "" {
		path = os.Getenv(ConfigEnv)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: no configuration file (set %s)", ErrConfig, ConfigEnv)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible by group or others (it holds a private key; chmod 600)", ErrConfig, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// maxConfigBytes bounds a configuration file.
const maxConfigBytes = 1 << 20

// ParseConfig decodes a configuration strictly (unknown fields are an
// error) and validates it.
func ParseConfig(b []byte) (*Config, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrConfig, maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Save writes the configuration to path atomically (temporary file, fsync,
// rename) with mode 0600.
func (c *Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b = append(b, '\n')
	return writeFileAtomic(path, b, 0o600)
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Validate checks the configuration's internal consistency: a 32-byte
// seed, a threshold t valid for n ([dkg.CheckThreshold]: f ≤ t and
// t+1 ≤ n−2f), exactly N replicas with indices 1..N, https URLs and
// parseable certificates. Its errors never contain the private key.
func (c *Config) Validate() error {
	if !validID(c.ClientID) {
		return fmt.Errorf("%w: client_id must match [A-Za-z0-9._-]{1,64}", ErrConfig)
	}
	if len(c.PrivateKey) != ed25519.SeedSize {
		return fmt.Errorf("%w: private_key must be a %d-byte Ed25519 seed", ErrConfig, ed25519.SeedSize)
	}
	if err := dkg.CheckThreshold(c.N, c.T); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if len(c.Replicas) != c.N {
		return fmt.Errorf("%w: %d replicas listed, n=%d", ErrConfig, len(c.Replicas), c.N)
	}
	if len(c.Cluster) > 50 || strings.ContainsFunc(c.Cluster, func(r rune) bool { return r <= 0x20 || r > 0x7e }) {
		return fmt.Errorf("%w: cluster must be the replicas' chain id (at most 50 printable ASCII characters)", ErrConfig)
	}
	seen := make(map[int]bool, c.N)
	for _, r := range c.Replicas {
		if r.Index < 1 || r.Index > c.N || seen[r.Index] {
			return fmt.Errorf("%w: replica index %d is out of range or repeated", ErrConfig, r.Index)
		}
		seen[r.Index] = true
		u, err := url.Parse(r.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%w: replica %d: url must be https://host:port", ErrConfig, r.Index)
		}
		if _, err := x509.ParseCertificate(r.TLSCert); err != nil {
			return fmt.Errorf("%w: replica %d: tls_cert: %v", ErrConfig, r.Index, err)
		}
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: api_url must be http(s)://host:port", ErrConfig)
		}
	}
	for i := 0; i < len(c.APIToken); i++ {
		if c.APIToken[i] <= 0x20 || c.APIToken[i] > 0x7e || i >= 256 {
			return fmt.Errorf("%w: api_token must be at most 256 printable ASCII characters", ErrConfig)
		}
	}
	if c.BTCRPCURL != "" || c.BTCRPCUser != "" || c.BTCRPCPass != "" {
		u, err := url.Parse(c.BTCRPCURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: btc_rpc_url must be http(s)://host:port", ErrConfig)
		}
		if !printable(c.BTCRPCUser) || !printable(c.BTCRPCPass) {
			return fmt.Errorf("%w: btc_rpc_user and btc_rpc_pass must be 1 to 256 printable ASCII characters", ErrConfig)
		}
	}
	if c.EthSignerURL != "" {
		u, err := url.Parse(c.EthSignerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: eth_signer_url must be http(s)://host:port", ErrConfig)
		}
	}
	if c.Timeout != "" {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: timeout %q is not a positive duration", ErrConfig, c.Timeout)
		}
	}
	return nil
}

// printable reports whether s is 1 to 256 printable ASCII characters
// without spaces.
func printable(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// timeout returns the configured request timeout (Validate has run).
func (c *Config) timeout() time.Duration {
	if c.Timeout == "" {
		return DefaultTimeout
	}
	d, err := time.ParseDuration(c.Timeout)
	if err != nil || d <= 0 {
		return DefaultTimeout
	}
	return d
}

// validID reports whether s is a valid key or client identifier:
// [A-Za-z0-9._-]{1,64} (wire.MaxKeyIDLen).
func validID(s string) bool {
	if len(s) == 0 || len(s) > wire.MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}
