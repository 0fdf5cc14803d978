package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigEthSignerURL: eth_signer_url (written by vhsm devnet) round-trips,
// is omitted when empty, and a malformed one is refused.
func TestConfigEthSignerURL(t *testing.T) {
	fc := newFakeCluster(t, 4, 1, nil)
	c := *fc.cfg
	c.EthSignerURL = "http://127.0.0.1:9000"
	path := filepath.Join(t.TempDir(), "client.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got.EthSignerURL != c.EthSignerURL {
		t.Fatalf("round trip: %v %q", err, got.EthSignerURL)
	}
	for _, u := range []string{"ftp://x", "http://", "127.0.0.1:9000", "https//x"} {
		bad := c
		bad.EthSignerURL = u
		if err := bad.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", u, err)
		}
	}
	c.EthSignerURL = ""
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "eth_signer_url") {
		t.Fatal("empty eth_signer_url written")
	}
}
