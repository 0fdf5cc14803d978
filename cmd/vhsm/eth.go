package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/beacon"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
)

// errETHInput marks a bad flag or argument of a vhsm eth command.
var errETHInput = errors.New("eth")

// ethNetFlags selects the consensus network of a vhsm eth command: a
// built-in name or a network file (ethereum.LoadNetworkConfig).
type ethNetFlags struct {
	name, file string
}

func (f *ethNetFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "network", "", "consensus network: "+strings.Join(ethereum.NetworkNames(), ", "))
	cmd.Flags().StringVar(&f.file, "network-config", "", "a custom network file (YAML: name, fork versions, genesis validators root, deposit contract)")
}

// network resolves the flags: exactly one of --network and --network-config.
func (f *ethNetFlags) network() (ethereum.Network, error) {
	switch {
	case f.name != "" && f.file != "":
		return ethereum.Network{}, fmt.Errorf("%w: give --network or --network-config, not both", errETHInput)
	case f.name != "":
		return ethereum.NetworkByName(f.name)
	case f.file != "":
		return ethereum.LoadNetworkConfig(f.file)
	default:
		return ethereum.Network{}, fmt.Errorf("%w: --network or --network-config is required (built in: %s)", errETHInput, strings.Join(ethereum.NetworkNames(), ", "))
	}
}

// blsKey returns the public key of the HSM key id, which must be a usable
// BLS key.
func blsKey(ctx context.Context, cl *client.Client, id string) (ethereum.Pubkey, error) {
	k, err := cl.PublicKey(ctx, id)
	if err != nil {
		return ethereum.Pubkey{}, err
	}
	if k.Scheme != wire.SchemeBLS {
		return ethereum.Pubkey{}, fmt.Errorf("%w: key %s is a %s key; Ethereum payloads need a bls key", errETHInput, k.KeyID, k.Scheme)
	}
	if k.Disabled {
		return ethereum.Pubkey{}, fmt.Errorf("%w: key %s is disabled", errETHInput, k.KeyID)
	}
	var pub ethereum.Pubkey
	if len(k.PublicKey) != len(pub) {
		return ethereum.Pubkey{}, fmt.Errorf("key %s: public key of %d bytes, want %d", k.KeyID, len(k.PublicKey), len(pub))
	}
	copy(pub[:], k.PublicKey)
	return pub, nil
}

// withBLSKey runs f with a connected client and the public key of the HSM
// BLS key id (see blsKey), closing the client afterwards.
func (c *cli) withBLSKey(ctx context.Context, id string, f func(context.Context, *client.Client, ethereum.Pubkey) error) error {
	return c.withClient(func(cl *client.Client) error {
		pub, err := blsKey(ctx, cl, id)
		if err != nil {
			return err
		}
		return f(ctx, cl, pub)
	})
}

// uintFlag parses a canonical decimal flag value, naming the flag on error.
func uintFlag(name, v string) (uint64, error) {
	if v == "" {
		return 0, fmt.Errorf("%w: --%s is required", errETHInput, name)
	}
	n, err := ethereum.ParseUint64(v)
	if err != nil {
		return 0, fmt.Errorf("%w: --%s: %v", errETHInput, name, err)
	}
	return n, nil
}

func (c *cli) ethCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eth",
		Short: "Ethereum consensus-layer payloads signed by threshold BLS keys",
		Long: `Build and sign Ethereum consensus-layer payloads with threshold BLS keys held by the HSM:
deposit data for the Staking Launchpad, voluntary exits, BLS-to-execution changes, and any
signing root. Every signature is verified before it is printed. Submit exits and changes with
vhsm broadcast eth.`,
	}
	cmd.AddCommand(c.ethDepositCmd(), c.ethExitCmd(), c.ethChangeCmd(), c.ethSignRootCmd(), c.ethSlashingCmd(), c.ethMarkValidatorCmd(), c.ethNewCmd(), c.ethExitsCmd())
	return cmd
}

// ethDepositJSON is the --json output of vhsm eth deposit.
type ethDepositJSON struct {
	File     string            `json:"file"`
	Network  string            `json:"network"`
	Deposits []ethDepositEntry `json:"deposits"`
}

type ethDepositEntry struct {
	KeyID                 string `json:"key_id"`
	Pubkey                string `json:"pubkey"`
	WithdrawalCredentials string `json:"withdrawal_credentials"`
	Amount                uint64 `json:"amount"`
	DepositDataRoot       string `json:"deposit_data_root"`
}

func (c *cli) ethDepositCmd() *cobra.Command {
	var (
		net                  ethNetFlags
		address, blsWithdraw string
		compounding          bool
		amount, outDir       string
	)
	cmd := &cobra.Command{
		Use:   "deposit <key-id>... (--withdrawal-address 0x… [--compounding] | --bls-withdrawal-key KEY) --network NET [--amount-gwei N] [--out DIR]",
		Short: "Write deposit_data-*.json (the deposit CLI's format) for validator keys",
		Long: `Sign a deposit for each validator key and write them, verified, to one deposit_data-<time>.json
in the official deposit CLI's format, which the Staking Launchpad accepts. Withdrawal
credentials are 0x01 (--withdrawal-address), 0x02 (--withdrawal-address --compounding) or 0x00
(--bls-withdrawal-key: another threshold BLS key of the HSM). The amount is 32 ETH, or with
--compounding any whole number of Gwei from 1 to 2048 ETH.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			if (address == "") == (blsWithdraw == "") {
				return fmt.Errorf("%w: give exactly one of --withdrawal-address and --bls-withdrawal-key", errETHInput)
			}
			if compounding && address == "" {
				return fmt.Errorf("%w: --compounding needs --withdrawal-address", errETHInput)
			}
			gwei := uint64(32 * ethereum.GweiPerETH)
			if amount != "" {
				if gwei, err = uintFlag("amount-gwei", amount); err != nil {
					return err
				}
			}
			var addr ethereum.ExecutionAddress
			if address != "" {
				if addr, err = ethereum.ParseExecutionAddress(address); err != nil {
					return fmt.Errorf("%w: --withdrawal-address: %w", errETHInput, err)
				}
			}
			seen := map[string]bool{}
			for _, id := range args {
				if seen[id] {
					return fmt.Errorf("%w: key %s given twice", errETHInput, id)
				}
				seen[id] = true
			}
			return c.withClient(func(cl *client.Client) error {
				ctx := cmd.Context()
				var creds ethereum.Credentials
				switch {
				case blsWithdraw != "":
					wpub, err := blsKey(ctx, cl, blsWithdraw)
					if err != nil {
						return fmt.Errorf("withdrawal key: %w", err)
					}
					creds = ethereum.BLSCredentials(wpub)
				default:
					creds = ethereum.ExecutionCredentials(addr)
					if compounding {
						creds = ethereum.CompoundingCredentials(addr)
					}
				}
				if err := ethereum.CheckAmount(creds, gwei); err != nil {
					return fmt.Errorf("%w: %v", errETHInput, err)
				}
				out, err := writeDeposits(ctx, cl, nw, args, creds, gwei, outDir)
				if err != nil {
					return err
				}
				return c.emit(out, out.File)
			})
		},
	}
	net.register(cmd)
	cmd.Flags().StringVar(&address, "withdrawal-address", "", "execution address for 0x01 (or with --compounding 0x02) withdrawal credentials")
	cmd.Flags().BoolVar(&compounding, "compounding", false, "0x02 compounding credentials (EIP-7251)")
	cmd.Flags().StringVar(&blsWithdraw, "bls-withdrawal-key", "", "an HSM BLS key for 0x00 withdrawal credentials")
	cmd.Flags().StringVar(&amount, "amount-gwei", "", "deposit amount in Gwei (default 32 ETH)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory for the deposit file (default: the current directory)")
	return cmd
}

// writeDeposits signs a deposit for each key and writes them, verified, to
// one deposit_data-<time>.json in outDir.
func writeDeposits(ctx context.Context, cl *client.Client, nw ethereum.Network, ids []string, creds ethereum.Credentials, gwei uint64, outDir string) (ethDepositJSON, error) {
	out := ethDepositJSON{Network: nw.Name}
	var entries []ethereum.DepositEntry
	for _, id := range ids {
		pub, err := blsKey(ctx, cl, id)
		if err != nil {
			return out, err
		}
		e, err := ethereum.BuildDeposit(ctx, cl.EthSigner(), ethereum.DepositRequest{
			Network: nw, KeyID: id, Pubkey: pub, WithdrawalCredentials: creds, Amount: gwei,
		})
		if err != nil {
			return out, fmt.Errorf("deposit for %s: %w", id, err)
		}
		entries = append(entries, e)
		out.Deposits = append(out.Deposits, ethDepositEntry{KeyID: id, Pubkey: e.Pubkey.String(),
			WithdrawalCredentials: e.WithdrawalCredentials.String(), Amount: e.Amount, DepositDataRoot: e.DepositDataRoot.String()})
	}
	path, err := ethereum.WriteDepositFile(outDir, nw, entries, time.Now())
	if err != nil {
		return out, err
	}
	out.File = path
	return out, nil
}

// ethExitJSON is the --json output of vhsm eth exit.
type ethExitJSON struct {
	KeyID         string                       `json:"key_id"`
	Network       string                       `json:"network"`
	SigningRoot   string                       `json:"signing_root"`
	VoluntaryExit ethereum.SignedVoluntaryExit `json:"voluntary_exit"`
}

func (c *cli) ethExitCmd() *cobra.Command {
	var (
		net          ethNetFlags
		index, epoch string
	)
	cmd := &cobra.Command{
		Use:   "exit <key-id> --validator-index N --epoch E --network NET",
		Short: "Sign a voluntary exit (EIP-7044 domain) and print it as beacon-API JSON",
		Long: `Sign a voluntary exit of the validator whose key is <key-id> under the EIP-7044 domain
(Capella fork version and the network's genesis validators root), so it stays valid in every
fork from Deneb on. Without --json the SignedVoluntaryExit is printed as the beacon API's JSON,
ready for: vhsm broadcast eth --beacon URL --network NET -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			idx, err := uintFlag("validator-index", index)
			if err != nil {
				return err
			}
			ep, err := uintFlag("epoch", epoch)
			if err != nil {
				return err
			}
			return c.withBLSKey(cmd.Context(), args[0], func(ctx context.Context, cl *client.Client, pub ethereum.Pubkey) error {
				msg := ethereum.VoluntaryExit{Epoch: ethereum.Uint64(ep), ValidatorIndex: ethereum.Uint64(idx)}
				signed, err := ethereum.SignVoluntaryExit(ctx, cl.EthSigner(), nw, args[0], pub, msg)
				if err != nil {
					return err
				}
				root := ethereum.ComputeSigningRoot(msg.HashTreeRoot(), nw.VoluntaryExitDomain())
				payload, err := json.Marshal(signed)
				if err != nil {
					return err
				}
				return c.emit(ethExitJSON{KeyID: args[0], Network: nw.Name, SigningRoot: root.String(), VoluntaryExit: signed}, string(payload))
			})
		},
	}
	net.register(cmd)
	cmd.Flags().StringVar(&index, "validator-index", "", "the validator's index on the beacon chain")
	cmd.Flags().StringVar(&epoch, "epoch", "", "earliest epoch at which the exit may be processed")
	return cmd
}

// ethChangeJSON is the --json output of vhsm eth bls-change.
type ethChangeJSON struct {
	KeyID       string                                `json:"key_id"`
	Network     string                                `json:"network"`
	SigningRoot string                                `json:"signing_root"`
	Changes     []ethereum.SignedBLSToExecutionChange `json:"bls_to_execution_changes"`
}

func (c *cli) ethChangeCmd() *cobra.Command {
	var (
		net                       ethNetFlags
		index, to, creds, nodeURL string
	)
	cmd := &cobra.Command{
		Use:   "bls-change <withdrawal-key-id> --validator-index N --to-address 0x… (--withdrawal-credentials 0x… | --beacon URL) --network NET",
		Short: "Sign a BLS-to-execution change with a threshold BLS withdrawal key",
		Long: `Sign a change of a validator's 0x00 withdrawal credentials to the execution address
--to-address, with the HSM BLS key those credentials commit to. The validator's current
credentials are given by --withdrawal-credentials or read from the beacon node at --beacon,
and must commit to the key. Without --json the change is printed as the beacon API's JSON array,
ready for: vhsm broadcast eth --beacon URL --network NET -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			idx, err := uintFlag("validator-index", index)
			if err != nil {
				return err
			}
			addr, err := ethereum.ParseExecutionAddress(to)
			if err != nil {
				return fmt.Errorf("%w: --to-address: %w", errETHInput, err)
			}
			if (creds == "") == (nodeURL == "") {
				return fmt.Errorf("%w: give exactly one of --withdrawal-credentials and --beacon", errETHInput)
			}
			var current ethereum.Credentials
			if creds != "" {
				if err := current.UnmarshalText([]byte(creds)); err != nil {
					return fmt.Errorf("%w: --withdrawal-credentials: %v", errETHInput, err)
				}
			}
			return c.withBLSKey(cmd.Context(), args[0], func(ctx context.Context, cl *client.Client, pub ethereum.Pubkey) error {
				if nodeURL != "" {
					node, err := beacon.New(nodeURL, beacon.WithTimeout(broadcastTimeout))
					if err != nil {
						return err
					}
					if err := node.CheckNetwork(ctx, nw); err != nil {
						return err
					}
					v, err := node.Validator(ctx, "head", fmt.Sprint(idx))
					if err != nil {
						return fmt.Errorf("look up validator %d: %w", idx, err)
					}
					current = v.WithdrawalCredentials
				}
				msg := ethereum.BLSToExecutionChange{ValidatorIndex: ethereum.Uint64(idx), FromBLSPubkey: pub, ToExecutionAddress: addr}
				signed, err := ethereum.SignBLSToExecutionChange(ctx, cl.EthSigner(), nw, args[0], msg, current)
				if err != nil {
					return err
				}
				list := []ethereum.SignedBLSToExecutionChange{signed}
				payload, err := json.Marshal(list)
				if err != nil {
					return err
				}
				root := ethereum.ComputeSigningRoot(msg.HashTreeRoot(), nw.BLSToExecutionChangeDomain())
				return c.emit(ethChangeJSON{KeyID: args[0], Network: nw.Name, SigningRoot: root.String(), Changes: list}, string(payload))
			})
		},
	}
	net.register(cmd)
	cmd.Flags().StringVar(&index, "validator-index", "", "the validator's index on the beacon chain")
	cmd.Flags().StringVar(&to, "to-address", "", "the execution address that will receive withdrawals")
	cmd.Flags().StringVar(&creds, "withdrawal-credentials", "", "the validator's current 0x00 withdrawal credentials (0x-prefixed hex)")
	cmd.Flags().StringVar(&nodeURL, "beacon", "", "read the current withdrawal credentials from this beacon node")
	return cmd
}

// ethSignRootJSON is the output of vhsm eth sign-root.
type ethSignRootJSON struct {
	KeyID       string `json:"key_id"`
	PublicKey   string `json:"public_key"`
	Domain      string `json:"domain"`
	SigningRoot string `json:"signing_root"`
	Signature   string `json:"signature"`
}

// parseDomainType decodes a 0x-prefixed 4-byte domain type.
func parseDomainType(s string) (ethereum.DomainType, error) {
	var d ethereum.DomainType
	h, ok := strings.CutPrefix(s, "0x")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != len(d) {
		return d, fmt.Errorf("%w: --domain-type must be 0x and 8 hex digits", errETHInput)
	}
	copy(d[:], b)
	return d, nil
}

func (c *cli) ethSignRootCmd() *cobra.Command {
	var (
		net                            ethNetFlags
		object, domain, dtype, version string
	)
	cmd := &cobra.Command{
		Use:   "sign-root <key-id> --object-root 0x… (--domain 0x… | --domain-type 0x… [--fork-version 0x…] --network NET)",
		Short: "Sign compute_signing_root(object root, domain) with a BLS key",
		Long: `For payloads this command does not build: sign the SSZ hash_tree_root of any container
under a domain, given whole (--domain) or computed as compute_domain(--domain-type,
--fork-version or the network's genesis fork version, the network's genesis validators root).
Deposits are signed under a zero genesis validators root: use vhsm eth deposit for them.
Careful: this signs whatever the root is, including slashable attestations and blocks —
which is why the replicas refuse it for validator keys (see vhsm eth mark-validator).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := ethereum.ParseRoot(object)
			if err != nil {
				return fmt.Errorf("%w: --object-root: %v", errETHInput, err)
			}
			var d ethereum.Domain
			switch {
			case domain != "" && (dtype != "" || version != "" || net.name != "" || net.file != ""):
				return fmt.Errorf("%w: --domain is the whole domain; do not combine it with --domain-type, --fork-version or a network", errETHInput)
			case domain != "":
				if err := d.UnmarshalText([]byte(domain)); err != nil {
					return fmt.Errorf("%w: --domain: %v", errETHInput, err)
				}
			case dtype != "":
				dt, err := parseDomainType(dtype)
				if err != nil {
					return err
				}
				nw, err := net.network()
				if err != nil {
					return err
				}
				fv := nw.GenesisForkVersion
				if version != "" {
					if err := fv.UnmarshalText([]byte(version)); err != nil {
						return fmt.Errorf("%w: --fork-version: %v", errETHInput, err)
					}
				}
				d = ethereum.ComputeDomain(dt, fv, nw.GenesisValidatorsRoot)
			default:
				return fmt.Errorf("%w: give --domain, or --domain-type with a network", errETHInput)
			}
			return c.withBLSKey(cmd.Context(), args[0], func(ctx context.Context, cl *client.Client, pub ethereum.Pubkey) error {
				sr, sig, err := ethereum.SignObjectRoot(ctx, cl.EthSigner(), args[0], pub, root, d)
				if err != nil {
					return err
				}
				out := ethSignRootJSON{KeyID: args[0], PublicKey: pub.String(), Domain: d.String(), SigningRoot: sr.String(), Signature: sig.String()}
				return c.emit(out, out.Signature)
			})
		},
	}
	net.register(cmd)
	cmd.Flags().StringVar(&object, "object-root", "", "the SSZ hash_tree_root of the object to sign")
	cmd.Flags().StringVar(&domain, "domain", "", "the whole 32-byte domain")
	cmd.Flags().StringVar(&dtype, "domain-type", "", "a 4-byte domain type, e.g. 0x04000000 (voluntary exit)")
	cmd.Flags().StringVar(&version, "fork-version", "", "fork version for --domain-type (default: the network's genesis fork version)")
	return cmd
}
