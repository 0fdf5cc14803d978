package main

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
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
