package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigSaveLoad(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, nil)
	path := filepath.Join(t.TempDir(), "client.json")
	if err := fc.cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientID != "alice" || got.N != 4 || got.T != 1 || len(got.Replicas) != 4 || string(got.Replicas[2].TLSCert) != string(fc.cfg.Replicas[2].TLSCert) {
		t.Fatalf("loaded %+v", got)
	}
	t.Setenv(ConfigEnv, path)
	if _, err := Load(""); err != nil {
		t.Fatalf("load from %s: %v", ConfigEnv, err)
	}
	t.Setenv(ConfigEnv, "")
	if _, err := Load(""); !errors.Is(err, ErrConfig) {
		t.Fatalf("no path: %v", err)
	}
	// A configuration readable by others is refused: it holds a key.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrConfig) {
		t.Fatalf("world-readable: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, nil)
	cases := map[string]func(c *Config){
		"bad id":        func(c *Config) { c.ClientID = "a b" },
		"short seed":    func(c *Config) { c.PrivateKey = c.PrivateKey[:31] },
		"t too big":     func(c *Config) { c.T = 2 },
		"missing":       func(c *Config) { c.Replicas = c.Replicas[:3] },
		"dup index":     func(c *Config) { c.Replicas[1].Index = 1 },
		"http url":      func(c *Config) { c.Replicas[0].URL = strings.Replace(c.Replicas[0].URL, "https", "http", 1) },
		"bad cert":      func(c *Config) { c.Replicas[0].TLSCert = []byte{1, 2, 3} },
		"bad timeout":   func(c *Config) { c.Timeout = "-1s" },
		"index 0":       func(c *Config) { c.Replicas[0].Index = 0 },
		"negative t":    func(c *Config) { c.T = -1 },
		"t below f":     func(c *Config) { c.T = 0 }, // f=1 replicas would hold the key
		"unparsable tm": func(c *Config) { c.Timeout = "soon" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c := *fc.cfg
			c.Replicas = append([]ReplicaEndpoint(nil), fc.cfg.Replicas...)
			mutate(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v", err)
			}
			if _, err := New(&c); !errors.Is(err, ErrConfig) {
				t.Fatalf("New accepted it: %v", err)
			}
		})
	}
	if err := fc.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := *fc.cfg
	c.T = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "need f ≤ t and t+1 ≤ n−f (f=1)") {
		t.Fatalf("t=0 for n=4: %v, want the threshold rule", err)
	}
}

func TestLoadRejectsUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.json")
	if err := os.WriteFile(path, []byte(`{"client_id":"a","surprise":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v", err)
	}
}
