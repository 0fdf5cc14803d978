package replica

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/testnet"
)

// TestRefusesDamagedSecrets: a replica whose sealed store cannot be opened
// or holds a damaged secret refuses to start, with ErrSecrets.
func TestRefusesDamagedSecrets(t *testing.T) {
	tn, err := testnet.Generate(t.TempDir(), 4, testnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(cfg Config) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return Run(ctx, cfg)
	}

	// Wrong sealing key.
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(Config{Home: tn.Homes[0], KeyFile: other}); !errors.Is(err, ErrSecrets) || !errors.Is(err, sealed.ErrWrongKey) {
		t.Fatalf("wrong key file: %v", err)
	}
	// Missing key file.
	if err := os.Remove(filepath.Join(tn.Homes[1], layout.SealKeyFile)); err != nil {
		t.Fatal(err)
	}
	if err := run(Config{Home: tn.Homes[1]}); !errors.Is(err, ErrSecrets) {
		t.Fatalf("missing key file: %v", err)
	}
	// A damaged long-term secret.
	rec := filepath.Join(tn.Homes[2], layout.SecretsDir, "r-"+hex.EncodeToString([]byte(layout.SecretDKGKey))+".sealed")
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(rec, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(Config{Home: tn.Homes[2]}); !errors.Is(err, ErrSecrets) || !errors.Is(err, sealed.ErrCorrupted) {
		t.Fatalf("damaged dkg key: %v", err)
	}
	// An emptied store (re-created under the same key file): keys are missing.
	h4 := tn.Homes[3]
	if err := os.RemoveAll(filepath.Join(h4, layout.SecretsDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := testnet.OpenStore(h4, false, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := run(Config{Home: h4}); !errors.Is(err, ErrSecrets) {
		t.Fatalf("emptied store: %v", err)
	}
}
