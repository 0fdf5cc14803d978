package client

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigAPIFields checks the optional wallet-service fields that vhsm
// devnet writes: they round-trip, and malformed values are refused without
// echoing the token.
func TestConfigAPIFields(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, nil)
	c := *fc.cfg
	c.APIURL, c.APIToken = "http://127.0.0.1:8080", "vhsm_secret-token"
	path := filepath.Join(t.TempDir(), "client.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got.APIURL != c.APIURL || got.APIToken != c.APIToken {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	for name, mutate := range map[string]func(*Config){
		"ftp url":      func(c *Config) { c.APIURL = "ftp://x" },
		"no host":      func(c *Config) { c.APIURL = "http://" },
		"token space":  func(c *Config) { c.APIToken = "vhsm_a b" },
		"token length": func(c *Config) { c.APIToken = strings.Repeat("a", 257) },
	} {
		bad := c
		mutate(&bad)
		err := bad.Validate()
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "vhsm_") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
