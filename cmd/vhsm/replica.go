package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica"
)

func (c *cli) replicaCmd() *cobra.Command {
	var home, passFile, keyFile, level string
	cmd := &cobra.Command{
		Use:   "replica",
		Short: "Run one HSM replica from its home directory",
		Long: `Runs one replica (CometBFT node, ABCI application, participant engine and
HTTPS API) from a home laid out by vhsm devnet / replica/testnet, until
SIGINT or SIGTERM. Logs go to stderr.

The sealed share store is unlocked with the home's seal.key (testnets), or
with --key-file (a 32-byte key file kept outside the home, mode 0600), or
with --passphrase-file for a store created with a passphrase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return fmt.Errorf("--home is required")
			}
			if passFile != "" && keyFile != "" {
				return fmt.Errorf("--passphrase-file and --key-file are exclusive")
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg := replica.Config{
				Home: home,
				Log:  slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: lvl})),
				// KeyFile overrides HOME/seal.key.
				KeyFile: keyFile,
			}
			if passFile != "" {
				pass, err := readPassphrase(passFile)
				if err != nil {
					return err
				}
				defer clear(pass)
				cfg.Passphrase = pass
			}
			return replica.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "replica home directory (required)")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the sealed store's passphrase (one line)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "32-byte sealing key file (default HOME/seal.key)")
	cmd.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// readPassphrase reads a passphrase file, which must not be accessible by
// group or others, and strips one trailing newline.
func readPassphrase(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("passphrase file %s is accessible by group or others (chmod 600)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("passphrase file %s is empty", path)
	}
	return b, nil
}
