package main

import (
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
)

func (c *cli) encryptCmd() *cobra.Command {
	var isHex bool
	cmd := &cobra.Command{
		Use:   "encrypt <key-id> <plaintext>",
		Short: "Encrypt with a symmetric (DiSE) key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pt, err := messageArg(args[1], isHex)
			if err != nil {
				return fmt.Errorf("plaintext is not valid hex")
			}
			return c.withClient(func(cl *client.Client) error {
				ct, err := cl.Encrypt(cmd.Context(), args[0], pt)
				if err != nil {
					return err
				}
				out := struct {
					KeyID      string `json:"key_id"`
					Ciphertext string `json:"ciphertext"`
				}{args[0], hex.EncodeToString(ct)}
				return c.emit(out, out.Ciphertext)
			})
		},
	}
	cmd.Flags().BoolVar(&isHex, "hex", false, "the plaintext is hex-encoded bytes")
	return cmd
}

func (c *cli) decryptCmd() *cobra.Command {
	var isHex bool
	cmd := &cobra.Command{
		Use:   "decrypt <key-id> <ciphertext-hex>",
		Short: "Decrypt with a symmetric (DiSE) key",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := hex.DecodeString(args[1])
			if err != nil {
				return fmt.Errorf("ciphertext is not valid hex")
			}
			return c.withClient(func(cl *client.Client) error {
				pt, err := cl.Decrypt(cmd.Context(), args[0], ct)
				if err != nil {
					return err
				}
				var text string
				switch {
				case isHex:
					text = hex.EncodeToString(pt)
				case utf8.Valid(pt):
					text = string(pt)
				default:
					return fmt.Errorf("plaintext is not UTF-8 text; use --hex")
				}
				out := struct {
					KeyID     string `json:"key_id"`
					Plaintext string `json:"plaintext"`
				}{args[0], text}
				return c.emit(out, text)
			})
		},
	}
	cmd.Flags().BoolVar(&isHex, "hex", false, "print the plaintext hex-encoded")
	return cmd
}
