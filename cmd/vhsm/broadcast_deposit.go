package main

// vhsm broadcast eth-deposit: send the deposits of a deposit_data-*.json
// file to the deposit contract, paid by an execution-layer key read from a
// file. The domain work is in chains/ethereum/depositcontract.

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract"
)

// defaultDepositWait bounds the wait for deposit receipts.
const defaultDepositWait = 5 * time.Minute

// depositTxJSON describes one deposit transaction in the output.
type depositTxJSON struct {
	Pubkey               string `json:"pubkey"`
	DepositDataRoot      string `json:"deposit_data_root"`
	AmountGwei           uint64 `json:"amount_gwei"`
	ChainID              uint64 `json:"chain_id"`
	From                 string `json:"from"`
	To                   string `json:"to"`
	Nonce                uint64 `json:"nonce"`
	ValueWei             string `json:"value_wei"`
	Gas                  uint64 `json:"gas"`
	MaxFeePerGas         string `json:"max_fee_per_gas"`
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"`
	Data                 string `json:"data"`
	// Set once sent:
	TxHash      string `json:"tx_hash,omitempty"`
	Status      string `json:"status,omitempty"` // "success", "reverted" or "pending"
	BlockNumber uint64 `json:"block_number,omitempty"`
	GasUsed     uint64 `json:"gas_used,omitempty"`
}

// depositResultJSON is the --json output of vhsm broadcast eth-deposit.
type depositResultJSON struct {
	Network  string          `json:"network"`
	Contract string          `json:"contract"`
	DryRun   bool            `json:"dry_run"`
	Deposits []depositTxJSON `json:"deposits"`
}

// readDepositFile reads a deposit file, or stdin for "-", bounded.
func readDepositFile(arg string, stdin io.Reader) ([]ethereum.DepositEntry, error) {
	r := stdin
	if arg != "-" {
		f, err := os.Open(arg)
		if err != nil {
			return nil, fmt.Errorf("read deposit file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBroadcastInput+1))
	if err != nil {
		return nil, fmt.Errorf("read deposit file: %w", err)
	}
	if len(b) > maxBroadcastInput {
		return nil, fmt.Errorf("%w: deposit file larger than %d bytes", errBroadcastInput, maxBroadcastInput)
	}
	es, err := ethereum.ParseDepositFile(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBroadcastInput, err)
	}
	return es, nil
}

func (c *cli) broadcastETHDepositCmd() *cobra.Command {
	var (
		net                                          ethNetFlags
		rpcURL, contractFlag, fromFlag               string
		keystoreFile, passphraseFile, privateKeyFile string
		dryRun                                       bool
		wait                                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "eth-deposit --rpc URL --network NET (--keystore FILE --passphrase-file FILE | --private-key-file FILE | --dry-run --from 0x…) [--contract 0x…] [--wait 5m] <deposit_data.json | ->",
		Short: "Send a deposit_data-*.json to the deposit contract, paid by an execution-layer key from a file",
		Long: `Turn each entry of a deposit_data-*.json (vhsm eth deposit, the deposit CLI) into a call of the
deposit contract's deposit(pubkey, withdrawal_credentials, signature, deposit_data_root) with value =
amount (Gwei × 10^9 wei), sign the transactions with an execution-layer key and send them to the node at
--rpc, then wait (at most --wait) for the receipts and print them.

Before anything is signed: every entry is verified against the network (roots, amount and BLS signature:
the contract checks deposit_data_root but not the signature, and a deposit with a bad signature loses its
ether); the node's chain id must be the network's deposit chain id and the contract address (--contract,
default the network's) must hold code; every call is simulated by the node, so one the contract would revert
is refused; and the sender's balance must cover all deposits and fees. Any failure: nothing is sent.

The key is read from a file, never from the command line: a Web3 Secret Storage keystore (geth, clef,
the deposit CLI's eth1 tools) with --passphrase-file (its first line), or --private-key-file holding 64 hex
digits (mode 0600). --dry-run needs no key (give --from, or a key to take its address) and prints the
unsigned transactions without sending anything.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			if rpcURL == "" {
				return fmt.Errorf("%w: --rpc is required (an execution node's JSON-RPC URL)", errETHInput)
			}
			if wait <= 0 {
				return fmt.Errorf("%w: --wait must be positive", errETHInput)
			}
			contract := nw.DepositContractAddress
			if contractFlag != "" {
				if contract, err = ethereum.ParseExecutionAddress(contractFlag); err != nil {
					return fmt.Errorf("%w: --contract: %w", errETHInput, err)
				}
			}
			key, from, err := depositKey(keystoreFile, passphraseFile, privateKeyFile, fromFlag, dryRun)
			if err != nil {
				return err
			}
			entries, err := readDepositFile(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			// Local verification first: a file for another network, or with
			// a bad signature, is refused before any node is asked.
			for i, e := range entries {
				if err := e.Verify(nw); err != nil {
					return fmt.Errorf("broadcast: deposit %d (%s): %w", i, e.Pubkey, err)
				}
			}
			ctx := cmd.Context()
			dctx, cancel := context.WithTimeout(ctx, broadcastTimeout)
			node, err := ethclient.DialContext(dctx, rpcURL)
			cancel()
			if err != nil {
				return fmt.Errorf("broadcast: connect to %s: %w", rpcURL, err)
			}
			defer node.Close()
			qctx, cancel := context.WithTimeout(ctx, broadcastTimeout)
			defer cancel()
			if err := depositcontract.CheckEndpoint(qctx, node, nw, contract); err != nil {
				return fmt.Errorf("broadcast: %w", err)
			}
			txs, err := depositcontract.Prepare(qctx, node, nw, contract, from, entries)
			if err != nil {
				return fmt.Errorf("broadcast: %w", err)
			}
			res := depositResultJSON{Network: nw.Name, Contract: contract.Checksum(), DryRun: dryRun}
			for i, tx := range txs {
				res.Deposits = append(res.Deposits, depositTxJSON{
					Pubkey: entries[i].Pubkey.String(), DepositDataRoot: entries[i].DepositDataRoot.String(),
					AmountGwei: entries[i].Amount, ChainID: nw.DepositChainID, From: from.Hex(), To: contract.Checksum(),
					Nonce: tx.Nonce(), ValueWei: tx.Value().String(), Gas: tx.Gas(), MaxFeePerGas: tx.GasFeeCap().String(),
					MaxPriorityFeePerGas: tx.GasTipCap().String(), Data: hexutil.Encode(tx.Data()),
				})
			}
			if dryRun {
				return c.emit(res, depositText(res))
			}
			sent, err := depositcontract.SendAndWait(ctx, node, depositcontract.KeySigner(nw.DepositChainID, key), txs, wait)
			for i, s := range sent {
				d := &res.Deposits[i]
				d.TxHash, d.Status = s.Tx.Hash().Hex(), "pending"
				if r := s.Receipt; r != nil {
					d.Status, d.BlockNumber, d.GasUsed = "success", r.BlockNumber.Uint64(), r.GasUsed
					if r.Status != types.ReceiptStatusSuccessful {
						d.Status = "reverted"
					}
				}
			}
			if err != nil {
				// Print what was sent (hashes to look up) on stderr, then fail.
				fmt.Fprintln(c.stderr, depositText(res))
				return fmt.Errorf("broadcast: %w", err)
			}
			return c.emit(res, depositText(res))
		},
	}
	f := cmd.Flags()
	net.register(cmd)
	f.StringVar(&rpcURL, "rpc", "", "execution node JSON-RPC URL, e.g. http://127.0.0.1:8545 (required)")
	f.StringVar(&contractFlag, "contract", "", "deposit contract address (default: the network's)")
	f.StringVar(&keystoreFile, "keystore", "", "Web3 Secret Storage keystore file of the paying account")
	f.StringVar(&passphraseFile, "passphrase-file", "", "file whose first line is the keystore passphrase")
	f.StringVar(&privateKeyFile, "private-key-file", "", "file holding the paying account's private key as hex (mode 0600)")
	f.StringVar(&fromFlag, "from", "", "with --dry-run and no key: the paying account's address")
	f.BoolVar(&dryRun, "dry-run", false, "check everything and print the unsigned transactions; send nothing")
	f.DurationVar(&wait, "wait", defaultDepositWait, "how long to wait for the receipts")
	return cmd
}

// depositKey loads the paying key from the flags, or for a dry run without
// a key the --from address.
func depositKey(keystoreFile, passphraseFile, privateKeyFile, from string, dryRun bool) (*ecdsa.PrivateKey, common.Address, error) {
	var key *ecdsa.PrivateKey
	var err error
	switch {
	case keystoreFile != "" && privateKeyFile != "":
		return nil, common.Address{}, fmt.Errorf("%w: give --keystore or --private-key-file, not both", errETHInput)
	case keystoreFile != "":
		if passphraseFile == "" {
			return nil, common.Address{}, fmt.Errorf("%w: --keystore needs --passphrase-file", errETHInput)
		}
		key, err = depositcontract.KeyFromKeystore(keystoreFile, passphraseFile)
	case privateKeyFile != "":
		key, err = depositcontract.KeyFromHexFile(privateKeyFile)
	case dryRun && from != "":
		a, err := ethereum.ParseExecutionAddress(from)
		if err != nil {
			return nil, common.Address{}, fmt.Errorf("%w: --from: %w", errETHInput, err)
		}
		return nil, common.Address(a), nil
	case dryRun:
		return nil, common.Address{}, fmt.Errorf("%w: a dry run needs --from or a key file (the sender decides nonce and balance)", errETHInput)
	default:
		return nil, common.Address{}, fmt.Errorf("%w: give --keystore with --passphrase-file, or --private-key-file (keys are never taken from the command line)", errETHInput)
	}
	if err != nil {
		return nil, common.Address{}, err
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	if from != "" {
		a, err := ethereum.ParseExecutionAddress(from)
		if err != nil {
			return nil, common.Address{}, fmt.Errorf("%w: --from: %w", errETHInput, err)
		}
		if common.Address(a) != addr {
			return nil, common.Address{}, fmt.Errorf("%w: --from %s is not the key's address %s", errETHInput, a.Checksum(), addr.Hex())
		}
	}
	return key, addr, nil
}

// depositText is the human output.
func depositText(r depositResultJSON) string {
	var b strings.Builder
	if r.DryRun {
		fmt.Fprintf(&b, "dry run: %d unsigned deposit transaction(s) to %s on %s; nothing sent\n", len(r.Deposits), r.Contract, r.Network)
	}
	for i, d := range r.Deposits {
		fmt.Fprintf(&b, "deposit %d: validator %s, %d Gwei, nonce %d, gas %d", i, d.Pubkey, d.AmountGwei, d.Nonce, d.Gas)
		if d.TxHash != "" {
			fmt.Fprintf(&b, "\n  tx %s: %s", d.TxHash, d.Status)
			if d.BlockNumber != 0 {
				fmt.Fprintf(&b, " in block %d (gas used %d)", d.BlockNumber, d.GasUsed)
			}
		}
		if r.DryRun {
			fmt.Fprintf(&b, "\n  from %s to %s value %s wei, max fee %s, tip %s\n  data %s", d.From, d.To, d.ValueWei, d.MaxFeePerGas, d.MaxPriorityFeePerGas, d.Data)
		}
		if i < len(r.Deposits)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
