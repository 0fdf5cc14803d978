package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/wire"
)

// keyJSON is the JSON shape of a key in command output.
type keyJSON struct {
	KeyID     string `json:"key_id"`
	Scheme    string `json:"scheme"`
	PublicKey string `json:"public_key"`
}

func toKeyJSON(k client.KeyInfo) keyJSON {
	return keyJSON{KeyID: k.KeyID, Scheme: k.Scheme, PublicKey: hex.EncodeToString(k.PublicKey)}
}

func (k keyJSON) human() string { return fmt.Sprintf("%s\t%s\t%s", k.KeyID, k.Scheme, k.PublicKey) }

func (c *cli) keysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Generate, list and manage keys"}
	keys.AddCommand(
		&cobra.Command{
			Use:   "gen <key-id> <schnorr|bls|symmetric>",
			Short: "Generate a key by the replicas' DKG pool",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withClient(func(cl *client.Client) error {
					k, err := cl.GenerateKey(cmd.Context(), args[0], args[1])
					if err != nil {
						return err
					}
					c.rememberKeys(k)
					kj := toKeyJSON(k)
					return c.emit(kj, kj.human())
				})
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the keys this client may use",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withClient(func(cl *client.Client) error {
					ks, err := cl.ListKeys(cmd.Context())
					if err != nil {
						return err
					}
					c.rememberKeys(ks...)
					out := struct {
						Keys []keyJSON `json:"keys"`
					}{Keys: make([]keyJSON, 0, len(ks))}
					lines := make([]string, 0, len(ks))
					for _, k := range ks {
						kj := toKeyJSON(k)
						out.Keys = append(out.Keys, kj)
						lines = append(lines, kj.human())
					}
					if len(lines) == 0 {
						lines = append(lines, "no keys")
					}
					return c.emit(out, strings.Join(lines, "\n"))
				})
			},
		},
		&cobra.Command{
			Use:   "pub <key-id>",
			Short: "Show a key's public key",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withClient(func(cl *client.Client) error {
					k, err := cl.PublicKey(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					c.rememberKeys(k)
					kj := toKeyJSON(k)
					return c.emit(kj, kj.human())
				})
			},
		},
		&cobra.Command{
			Use:   "grant <key-id> <client-id>",
			Short: "Let another client use a key (owner only)",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withClient(func(cl *client.Client) error {
					if err := cl.GrantKey(cmd.Context(), args[0], args[1]); err != nil {
						return err
					}
					out := struct {
						KeyID    string `json:"key_id"`
						ClientID string `json:"client_id"`
						Granted  bool   `json:"granted"`
					}{args[0], args[1], true}
					return c.emit(out, fmt.Sprintf("granted %s to %s", args[0], args[1]))
				})
			},
		},
		&cobra.Command{
			Use:   "disable <key-id>",
			Short: "Disable a key for good (owner or admin)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.withClient(func(cl *client.Client) error {
					if err := cl.DisableKey(cmd.Context(), args[0]); err != nil {
						return err
					}
					out := struct {
						KeyID    string `json:"key_id"`
						Disabled bool   `json:"disabled"`
					}{args[0], true}
					return c.emit(out, fmt.Sprintf("disabled %s", args[0]))
				})
			},
		},
	)
	return keys
}

func (c *cli) clientsCmd() *cobra.Command {
	clients := &cobra.Command{Use: "clients", Short: "Manage clients (admin)"}
	var admin bool
	register := &cobra.Command{
		Use:   "register <client-id> <ed25519-public-key-hex>",
		Short: "Register a client or replace its key (admin only)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := hex.DecodeString(args[1])
			if err != nil || len(pub) != 32 {
				return fmt.Errorf("public key must be 32 bytes of hex")
			}
			return c.withClient(func(cl *client.Client) error {
				if err := cl.RegisterClient(cmd.Context(), args[0], pub, admin); err != nil {
					return err
				}
				out := struct {
					ClientID  string `json:"client_id"`
					PublicKey string `json:"public_key"`
					Admin     bool   `json:"admin"`
				}{args[0], hex.EncodeToString(pub), admin}
				return c.emit(out, fmt.Sprintf("registered %s (admin=%t)", args[0], admin))
			})
		},
	}
	register.Flags().BoolVar(&admin, "admin", false, "give the client administrator rights")
	clients.AddCommand(register)
	return clients
}

// The key cache. vhsm verify checks a signature locally, without a replica
// round trip, so the CLI remembers the public data of every key it has seen
// (keys gen, keys pub, keys list, sign) next to the client configuration:
// client.json → client.keys.json (mode 0600, atomic writes). Only public
// keys are kept, each already accepted by the client from t+1 agreeing
// replicas and checked against its DKG commitment. The cache is bound to
// the cluster (a hash of the replicas' URLs and pinned certificates): a
// cluster generated anew in the same directory ignores it.

// keyCacheFile is the cache's file name next to the configuration file.
func keyCacheFile(cfgPath string) string {
	return strings.TrimSuffix(cfgPath, ".json") + ".keys.json"
}

// keyCache is the JSON shape of the key cache.
type keyCache struct {
	Cluster string               `json:"cluster"`
	Keys    map[string]cachedKey `json:"keys"`
}

// cachedKey is one remembered key: its scheme and public key (hex).
type cachedKey struct {
	Scheme    string `json:"scheme"`
	PublicKey string `json:"public_key"`
}

// maxKeyCacheBytes bounds the cache file read.
const maxKeyCacheBytes = 16 << 20

// clusterID identifies the replica set of a configuration.
func clusterID(cfg *client.Config) string {
	h := sha256.New()
	var l [4]byte
	for _, r := range cfg.Replicas {
		for _, b := range [][]byte{[]byte(r.URL), r.TLSCert} {
			binary.BigEndian.PutUint32(l[:], uint32(len(b)))
			h.Write(l[:])
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parseKeyCache decodes a key cache strictly: unknown fields, bad key ids,
// schemes or public key lengths are errors.
func parseKeyCache(b []byte) (*keyCache, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var kc keyCache
	if err := dec.Decode(&kc); err != nil {
		return nil, fmt.Errorf("key cache: %w", err)
	}
	if dec.More() {
		return nil, errors.New("key cache: trailing data")
	}
	for id, k := range kc.Keys {
		if !validKeyID(id) {
			return nil, fmt.Errorf("key cache: invalid key id %q", id)
		}
		want := map[string]int{wire.SchemeSchnorr: 32, wire.SchemeBLS: 48, wire.SchemeSymmetric: 48}[k.Scheme]
		pub, err := hex.DecodeString(k.PublicKey)
		if want == 0 || err != nil || len(pub) != want {
			return nil, fmt.Errorf("key cache: key %q: invalid scheme or public key", id)
		}
	}
	return &kc, nil
}

// validKeyID reports whether id is a valid key id ([A-Za-z0-9._-]{1,64}).
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > wire.MaxKeyIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// readKeyCache reads the cache of the loaded configuration; a missing,
// unreadable or foreign cache reads as empty.
func (c *cli) readKeyCache() *keyCache {
	empty := &keyCache{Cluster: clusterID(c.cfg), Keys: map[string]cachedKey{}}
	f, err := os.Open(keyCacheFile(c.cfgPath))
	if err != nil {
		return empty
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyCacheBytes))
	if err != nil {
		return empty
	}
	kc, err := parseKeyCache(b)
	if err != nil || kc.Cluster != empty.Cluster {
		return empty
	}
	if kc.Keys == nil {
		kc.Keys = map[string]cachedKey{}
	}
	return kc
}

// localKey returns the cached public data of key id, if any.
func (c *cli) localKey(id string) (client.KeyInfo, bool) {
	k, ok := c.readKeyCache().Keys[id]
	if !ok {
		return client.KeyInfo{}, false
	}
	pub, _ := hex.DecodeString(k.PublicKey) // checked by parseKeyCache
	return client.KeyInfo{KeyID: id, Scheme: k.Scheme, PublicKey: pub}, true
}

// rememberKeys adds keys to the cache. The cache is an optimization for
// verify: a failure to write it is reported on stderr and not an error.
func (c *cli) rememberKeys(ks ...client.KeyInfo) {
	if c.cfg == nil || len(ks) == 0 {
		return
	}
	kc := c.readKeyCache()
	changed := false
	for _, k := range ks {
		ck := cachedKey{Scheme: k.Scheme, PublicKey: hex.EncodeToString(k.PublicKey)}
		if kc.Keys[k.KeyID] != ck {
			kc.Keys[k.KeyID] = ck
			changed = true
		}
	}
	if !changed {
		return
	}
	b, err := json.Marshal(kc)
	if err == nil {
		_, err = parseKeyCache(b) // never write what could not be read back
	}
	if err == nil {
		err = sealed.WriteFileAtomic(keyCacheFile(c.cfgPath), append(b, '\n'), 0o600)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "vhsm: warning: could not update the key cache: %v\n", err)
	}
}
