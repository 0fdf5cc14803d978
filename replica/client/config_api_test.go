package client

import (
	"errors"
	"os"
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
	c.BTCRPCURL, c.BTCRPCUser, c.BTCRPCPass = "http://127.0.0.1:18443", "user", "vhsm_rpc-pass"
	path := filepath.Join(t.TempDir(), "client.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got.APIURL != c.APIURL || got.APIToken != c.APIToken ||
		got.BTCRPCURL != c.BTCRPCURL || got.BTCRPCUser != c.BTCRPCUser || got.BTCRPCPass != c.BTCRPCPass {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	for name, mutate := range map[string]func(*Config){
		"ftp url":      func(c *Config) { c.APIURL = "ftp://x" },
		"no host":      func(c *Config) { c.APIURL = "http://" },
		"token space":  func(c *Config) { c.APIToken = "vhsm_a b" },
		"token length": func(c *Config) { c.APIToken = strings.Repeat("a", 257) },
		"btc no url":   func(c *Config) { c.BTCRPCURL = "" },
		"btc bad url":  func(c *Config) { c.BTCRPCURL = "tcp://127.0.0.1:1" },
		"btc no user":  func(c *Config) { c.BTCRPCUser = "" },
		"btc no pass":  func(c *Config) { c.BTCRPCPass = "" },
		"btc pass sp":  func(c *Config) { c.BTCRPCPass = "vhsm_a b" },
	} {
		bad := c
		mutate(&bad)
		err := bad.Validate()
		if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "vhsm_") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestConfigWithoutOptionalFields: a client.json written before the
// optional fields existed still parses, and a config without them saves
// none of their keys (backward compatible both ways).
func TestConfigWithoutOptionalFields(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, nil)
	c := *fc.cfg
	c.APIURL, c.APIToken, c.BTCRPCURL, c.BTCRPCUser, c.BTCRPCPass = "", "", "", "", ""
	path := filepath.Join(t.TempDir(), "client.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"api_url", "api_token", "btc_rpc_url", "btc_rpc_user", "btc_rpc_pass"} {
		if strings.Contains(string(b), k) {
			t.Errorf("%s written without a value", k)
		}
	}
	if _, err := ParseConfig(b); err != nil {
		t.Fatal(err)
	}
	// Still strict: an unknown field is refused.
	bad := strings.Replace(string(b), `"n":`, `"btc_rpc":"x","n":`, 1)
	if _, err := ParseConfig([]byte(bad)); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown field: %v", err)
	}
}
