package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// signJSON is the JSON shape of vhsm sign.
type signJSON struct {
	KeyID     string `json:"key_id"`
	Scheme    string `json:"scheme"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
	// PublicKey is the key the signature verifies under: the key's public
	// key, or with --taproot the BIP-86 output key.
	PublicKey string `json:"public_key"`
}

// messageArg decodes a message argument: hex with --hex, else its bytes.
func messageArg(s string, isHex bool) ([]byte, error) {
	if !isHex {
		return []byte(s), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("message is not valid hex")
	}
	return b, nil
}

// taprootOption returns the BIP-86 option for --taproot, checking the
// scheme supports it.
func taprootOption(taproot bool, scheme string) (*wire.TaprootOption, error) {
	if !taproot {
		return nil, nil
	}
	if scheme != wire.SchemeSchnorr {
		return nil, fmt.Errorf("--taproot needs a schnorr key, not %s", scheme)
	}
	return &wire.TaprootOption{}, nil
}

func (c *cli) signCmd() *cobra.Command {
	var isHex, taproot bool
	cmd := &cobra.Command{
		Use:   "sign <key-id> <message>",
		Short: "Sign a message (BIP-340 Schnorr or Ethereum BLS, by the key's scheme)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := messageArg(args[1], isHex)
			if err != nil {
				return err
			}
			return c.withClient(func(cl *client.Client) error {
				ctx := cmd.Context()
				k, err := cl.PublicKey(ctx, args[0])
				if err != nil {
					return err
				}
				c.rememberKeys(k)
				opt, err := taprootOption(taproot, k.Scheme)
				if err != nil {
					return err
				}
				out := signJSON{KeyID: k.KeyID, Scheme: k.Scheme, Message: args[1], PublicKey: hex.EncodeToString(k.PublicKey)}
				switch k.Scheme {
				case wire.SchemeSchnorr:
					sig, err := cl.SignSchnorr(ctx, k.KeyID, msg, opt)
					if err != nil {
						return err
					}
					out.Signature = hex.EncodeToString(sig[:])
					if opt != nil {
						q, err := client.TaprootOutputKey(k.PublicKey, opt.MerkleRoot)
						if err != nil {
							return err
						}
						out.PublicKey = hex.EncodeToString(q[:])
					}
				case wire.SchemeBLS:
					sig, err := cl.SignBLS(ctx, k.KeyID, msg)
					if err != nil {
						return err
					}
					out.Signature = hex.EncodeToString(sig)
				default:
					return fmt.Errorf("key %s is a %s key and cannot sign", k.KeyID, k.Scheme)
				}
				return c.emit(out, out.Signature)
			})
		},
	}
	cmd.Flags().BoolVar(&isHex, "hex", false, "the message is hex-encoded bytes")
	cmd.Flags().BoolVar(&taproot, "taproot", false, "sign for the BIP-86 Taproot output key (schnorr keys)")
	return cmd
}

func (c *cli) verifyCmd() *cobra.Command {
	var isHex, taproot bool
	cmd := &cobra.Command{
		Use:   "verify <key-id> <message> <signature-hex>",
		Short: "Verify a signature locally against the key's public key",
		Long: `Verify a signature locally, without asking the replicas: the key's public
key comes from the key cache next to the client configuration
(client.json -> client.keys.json), which keys gen, keys pub, keys list and
sign fill. Only a key this configuration has never seen is fetched once
(keys pub) and then cached. Prints {"valid":false} with exit status 0 for
a signature that does not verify.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			msg, err := messageArg(args[1], isHex)
			if err != nil {
				return err
			}
			sig, err := hex.DecodeString(args[2])
			if err != nil {
				return fmt.Errorf("signature is not valid hex")
			}
			if _, err := c.loadClientConfig(); err != nil {
				return err
			}
			// Local: the key's public data comes from the key cache; only a
			// key this configuration has never seen is fetched (once).
			k, ok := c.localKey(args[0])
			if !ok {
				err := c.withClient(func(cl *client.Client) error {
					var err error
					k, err = cl.PublicKey(cmd.Context(), args[0])
					return err
				})
				if err != nil {
					return err
				}
				c.rememberKeys(k)
			}
			opt, err := taprootOption(taproot, k.Scheme)
			if err != nil {
				return err
			}
			var valid bool
			switch k.Scheme {
			case wire.SchemeSchnorr:
				valid, err = client.VerifySchnorr(k.PublicKey, msg, sig, opt)
			case wire.SchemeBLS:
				valid, err = client.VerifyBLS(k.PublicKey, msg, sig)
			default:
				return fmt.Errorf("key %s is a %s key and has no signatures", k.KeyID, k.Scheme)
			}
			if err != nil {
				return err
			}
			out := struct {
				Valid bool `json:"valid"`
			}{valid}
			human := "valid"
			if !valid {
				human = "invalid"
			}
			return c.emit(out, human)
		},
	}
	cmd.Flags().BoolVar(&isHex, "hex", false, "the message is hex-encoded bytes")
	cmd.Flags().BoolVar(&taproot, "taproot", false, "verify against the BIP-86 Taproot output key (schnorr keys)")
	return cmd
}
