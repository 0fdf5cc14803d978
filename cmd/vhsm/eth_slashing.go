package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/client"
)

// maxInterchangeFile bounds an interchange file read by vhsm eth slashing
// import.
const maxInterchangeFile = 64 << 20

func (c *cli) ethSlashingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "slashing",
		Short: "EIP-3076 import and export of the replicated slashing protection (admin)",
		Long: `The replicas keep Ethereum slashing protection in their replicated state: every block
proposal and attestation signed with a validator key is checked against, and recorded in, the
history of (genesis validators root, pubkey) by the ordered log. These commands move that
history in and out as EIP-3076 interchange files (format version 5), for example when a
validator moves from another signer to vhsm (import its file BEFORE the first signature here).`,
	}
	cmd.AddCommand(c.ethSlashingImportCmd(), c.ethSlashingExportCmd())
	return cmd
}

func (c *cli) ethSlashingImportCmd() *cobra.Command {
	var net ethNetFlags
	cmd := &cobra.Command{
		Use:   "import <FILE|-> --network NET",
		Short: "Merge an EIP-3076 interchange file into the replicated slashing protection",
		Long: `Merge an EIP-3076 interchange file (- reads standard input) into the slashing protection
of the network's chain, as EIP-3076 says (the union with what is kept). A malformed file, or
one whose genesis_validators_root is not the network's, is refused before anything is sent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			var r io.Reader
			if args[0] == "-" {
				r = cmd.InOrStdin()
			} else {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("%w: %v", errETHInput, err)
				}
				defer f.Close()
				r = f
			}
			data, err := io.ReadAll(io.LimitReader(r, maxInterchangeFile+1))
			if err != nil {
				return err
			}
			if len(data) > maxInterchangeFile {
				return fmt.Errorf("%w: interchange file larger than %d bytes", errETHInput, maxInterchangeFile)
			}
			f, err := slashing.ParseInterchange(data)
			if err != nil {
				return fmt.Errorf("%w: %v", errETHInput, err)
			}
			return c.withClient(func(cl *client.Client) error {
				if err := cl.ImportSlashingProtection(cmd.Context(), [32]byte(nw.GenesisValidatorsRoot), data); err != nil {
					return err
				}
				return c.emit(map[string]any{"network": nw.Name, "validators": len(f.Data), "status": "imported"},
					fmt.Sprintf("imported the slashing protection of %d validator entries for %s", len(f.Data), nw.Name))
			})
		},
	}
	net.register(cmd)
	return cmd
}

func (c *cli) ethSlashingExportCmd() *cobra.Command {
	var (
		net     ethNetFlags
		minimal bool
		out     string
	)
	cmd := &cobra.Command{
		Use:   "export --network NET [--minimal] [--out FILE]",
		Short: "Export the replicated slashing protection as an EIP-3076 interchange file",
		Long: `Export the slashing protection of the network's chain, as of the export's place in the
replicas' log, as an EIP-3076 interchange file: complete (every record kept, with its signing
root) or, with --minimal, per validator the highest slot and the highest source and target
epochs. Written to --out (created, never overwritten) or standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			return c.withClient(func(cl *client.Client) error {
				file, err := cl.ExportSlashingProtection(cmd.Context(), [32]byte(nw.GenesisValidatorsRoot), minimal)
				if err != nil {
					return err
				}
				if out == "" {
					_, err := c.stdout.Write(append(file, '\n'))
					return err
				}
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("%w: --out: %v", errETHInput, err)
				}
				if _, err := f.Write(append(file, '\n')); err != nil {
					f.Close()
					os.Remove(out)
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return c.emit(map[string]any{"network": nw.Name, "file": out, "minimal": minimal}, "wrote "+out)
			})
		},
	}
	net.register(cmd)
	cmd.Flags().BoolVar(&minimal, "minimal", false, "per validator only the highest slot, source and target (no signing roots)")
	cmd.Flags().StringVar(&out, "out", "", "write the file here (created, never overwritten) instead of standard output")
	return cmd
}

func (c *cli) ethMarkValidatorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mark-validator <key-id>",
		Short: "Mark a bls key as a validator key, for good: it then signs typed requests only",
		Long: `Mark an existing bls key as an Ethereum validator key (owner or admin). The mark is one-way
and replicated: from its commit on, every replica refuses raw signing with the key (vhsm sign,
vhsm eth sign-root, the raw-key API) and signs only typed requests, computing each signing
root itself and checking block proposals and attestations against the slashing protection.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withClient(func(cl *client.Client) error {
				if err := cl.MarkValidatorKey(cmd.Context(), args[0]); err != nil {
					return err
				}
				return c.emit(map[string]any{"key_id": args[0], "usage": "eth2-validator"}, "key "+args[0]+" is a validator key")
			})
		},
	}
}
