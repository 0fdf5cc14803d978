package main

// vhsm broadcast: hand a signed Bitcoin transaction to an Esplora server or a
// bitcoind/btcd node, or a signed Ethereum voluntary exit / BLS-to-execution
// change to a beacon node. Nothing here signs; the inputs are public data.
// (broadcast eth-deposit, in broadcast_deposit.go, signs execution-layer
// transactions with a key the user supplies in a file.)

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/beacon"
)

// maxBroadcastInput bounds what broadcast reads from a file or stdin: far
// above a standard transaction (400 000 weight units) or a beacon-API array.
const maxBroadcastInput = 4 << 20

// broadcastTimeout bounds each request to an endpoint.
const broadcastTimeout = 30 * time.Second

// Errors of the broadcast command.
var (
	// errBroadcastInput reports input that is neither a transaction, a PSBT
	// nor a beacon-API object of the expected shape.
	errBroadcastInput = errors.New("broadcast: malformed input")
	// errNotFinalized reports a PSBT with an input that carries no final
	// scriptSig or witness.
	errNotFinalized = errors.New("broadcast: psbt is not finalized")
	// errCheckFailed reports a transaction that a --check found invalid.
	errCheckFailed = errors.New("broadcast: check failed")
)

// esploraDefaults are the public Esplora APIs used when neither --esplora
// nor --rpc is given; explorerTx is the transaction page prefix printed with
// the txid. Regtest has neither.
var (
	esploraDefaults = map[string]string{
		"mainnet":  "https://blockstream.info/api",
		"testnet3": "https://blockstream.info/testnet/api",
		"testnet4": "https://mempool.space/testnet4/api",
		"signet":   "https://mempool.space/signet/api",
	}
	explorerTx = map[string]string{
		"mainnet":  "https://mempool.space/tx/",
		"testnet3": "https://mempool.space/testnet/tx/",
		"testnet4": "https://mempool.space/testnet4/tx/",
		"signet":   "https://mempool.space/signet/tx/",
	}
)

func (c *cli) broadcastCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broadcast",
		Short: "Broadcast a signed Bitcoin transaction, Ethereum exit/withdrawal-credential change, or deposits",
	}
	cmd.AddCommand(c.broadcastBTCCmd(), c.broadcastETHCmd(), c.broadcastETHDepositCmd())
	return cmd
}

// readBroadcastArg returns the literal argument, the content of @file, or
// stdin for "-", bounded by maxBroadcastInput.
func readBroadcastArg(arg string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	switch {
	case arg == "-":
		r = stdin
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		defer f.Close()
		r = f
	default:
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBroadcastInput+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(b) > maxBroadcastInput {
		return nil, fmt.Errorf("%w: input larger than %d bytes", errBroadcastInput, maxBroadcastInput)
	}
	return b, nil
}

// btcInput is a decoded Bitcoin input: the transaction and, for a PSBT, the
// outputs its inputs spend (nil for a raw transaction).
type btcInput struct {
	kind     string // "raw" or "psbt"
	tx       *wire.MsgTx
	prevOuts []*wire.TxOut
}

// psbtMagic starts every binary PSBT (BIP-174 "magic bytes").
var psbtMagic = []byte("psbt\xff")

// decodeBTCInput detects by shape and decodes a raw transaction (hex), a
// PSBT (base64, hex or binary), and extracts the final transaction of a
// PSBT, refusing one that is not finalized.
func decodeBTCInput(data []byte) (*btcInput, error) {
	if bytes.HasPrefix(data, psbtMagic) {
		return decodeFinalPSBT(data, false)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil, fmt.Errorf("%w: empty", errBroadcastInput)
	}
	// "cHNidP" is base64 of the magic bytes "psbt\xff".
	if strings.HasPrefix(s, "cHNidP") {
		return decodeFinalPSBT([]byte(s), true)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: neither hex nor a base64 PSBT", errBroadcastInput)
	}
	if bytes.HasPrefix(raw, psbtMagic) {
		return decodeFinalPSBT(raw, false)
	}
	var tx wire.MsgTx
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", errBroadcastInput, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: transaction: %d trailing bytes", errBroadcastInput, r.Len())
	}
	return &btcInput{kind: "raw", tx: &tx}, nil
}

func decodeFinalPSBT(data []byte, isBase64 bool) (*btcInput, error) {
	pkt, err := bitcoin.DecodePSBT(data, isBase64)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBroadcastInput, err)
	}
	for i, in := range pkt.Inputs {
		// BIP-174: a finalized input has PSBT_IN_FINAL_SCRIPTSIG and/or
		// PSBT_IN_FINAL_SCRIPTWITNESS.
		if len(in.FinalScriptSig) == 0 && len(in.FinalScriptWitness) == 0 {
			why := "no signature"
			if len(in.PartialSigs) > 0 || len(in.TaprootKeySpendSig) > 0 || len(in.TaprootScriptSpendSig) > 0 {
				why = "signed but not finalized (run a finalizer)"
			}
			return nil, fmt.Errorf("%w: input %d: %s", errNotFinalized, i, why)
		}
	}
	tx, err := psbt.Extract(pkt)
	if err != nil {
		return nil, fmt.Errorf("%w: extract: %v", errNotFinalized, err)
	}
	return &btcInput{kind: "psbt", tx: tx, prevOuts: psbtPrevOuts(pkt)}, nil
}

// psbtPrevOuts returns the outputs spent by pkt's inputs, or nil unless
// every input carries its witness or non-witness UTXO (BIP-174).
func psbtPrevOuts(pkt *psbt.Packet) []*wire.TxOut {
	prevOuts := make([]*wire.TxOut, len(pkt.Inputs))
	for i, in := range pkt.Inputs {
		op := pkt.UnsignedTx.TxIn[i].PreviousOutPoint
		switch {
		case in.WitnessUtxo != nil:
			prevOuts[i] = in.WitnessUtxo
		case in.NonWitnessUtxo != nil && in.NonWitnessUtxo.TxHash() == op.Hash && int(op.Index) < len(in.NonWitnessUtxo.TxOut):
			prevOuts[i] = in.NonWitnessUtxo.TxOut[op.Index]
		default:
			return nil
		}
	}
	return prevOuts
}

// localCheck is what --check does without a node ([bitcoin.CheckTx]): it
// returns the reason for refusal, or "" when allowed.
func localCheck(in *btcInput) string {
	var ce *bitcoin.TxCheckError
	if err := bitcoin.CheckTx(in.tx, in.prevOuts); errors.As(err, &ce) {
		return ce.Reason
	} else if err != nil {
		return err.Error()
	}
	return ""
}

// localCheckName says how far localCheck can go: "local" verifies the
// scripts (a PSBT with the spent outputs), "local-sanity" only the form
// (a raw transaction: its signatures cannot be checked without the spent
// outputs).
func localCheckName(in *btcInput) string {
	if in.prevOuts == nil {
		return "local-sanity"
	}
	return "local"
}

// btcResult is the --json output of vhsm broadcast btc.
type btcResult struct {
	Txid        string `json:"txid"`
	ExplorerURL string `json:"explorer_url,omitempty"`
	Network     string `json:"network"`
	Input       string `json:"input"` // "raw" or "psbt"
	Checked     bool   `json:"checked"`
	CheckedBy   string `json:"checked_by,omitempty"` // "node" (testmempoolaccept), "local" or "local-sanity"
	Allowed     bool   `json:"allowed"`
	Broadcast   bool   `json:"broadcast"`
}

func (c *cli) broadcastBTCCmd() *cobra.Command {
	var netName, esploraURL, rpcURL, rpcUser, rpcPass string
	var check bool
	cmd := &cobra.Command{
		Use:   "btc --network NET [--esplora URL | --rpc URL --rpc-user U --rpc-pass P] [--check] <hex-tx | psbt | @file | ->",
		Short: "Broadcast a raw transaction or finalized PSBT (or only check it with --check)",
		Long: `Broadcast a signed Bitcoin transaction given as hex, or a finalized PSBT given as
base64, hex or a binary file. The endpoint is --esplora URL, --rpc URL (bitcoind or btcd
JSON-RPC), or the network's public Esplora API (not for regtest). Before sending, the
endpoint's genesis block is compared with --network. --check runs testmempoolaccept on an
RPC node (or checks locally: sanity, signatures present, and scripts when a PSBT carries
the spent outputs) and does not broadcast.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			net, err := bitcoin.NetworkByName(netName)
			if err != nil {
				return err
			}
			if esploraURL != "" && rpcURL != "" {
				return errors.New("broadcast: give --esplora or --rpc, not both")
			}
			if esploraURL == "" && rpcURL == "" {
				esploraURL = esploraDefaults[net.Name]
				if esploraURL == "" {
					return fmt.Errorf("broadcast: %s has no public Esplora; give --rpc or --esplora", net.Name)
				}
			}
			if rpcURL != "" {
				if err := checkRPCURL(rpcURL); err != nil {
					return err
				}
			}
			data, err := readBroadcastArg(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			in, err := decodeBTCInput(data)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var backend bitcoin.Backend
			var rpc *bitcoin.RPC
			var source bitcoin.GenesisSource
			if rpcURL != "" {
				if rpcPass == "" {
					rpcPass = os.Getenv(rpcPassEnv)
				}
				rpc, err = bitcoin.NewRPC(bitcoin.RPCConfig{URL: rpcURL, User: rpcUser, Pass: rpcPass,
					Timeout: broadcastTimeout, Retry: bitcoin.Retry{Attempts: 1}})
				if err != nil {
					return err
				}
				backend, source = rpc, rpc
			} else {
				e, err := bitcoin.NewEsplora(esploraURL, nil, broadcastTimeout, bitcoin.Retry{Attempts: 1})
				if err != nil {
					return err
				}
				backend, source = e, e
			}
			// Wrong network is refused before anything is sent: output scripts
			// carry no network, the endpoint's genesis block does.
			if err := bitcoin.CheckNetwork(ctx, source, net); err != nil {
				return fmt.Errorf("broadcast: endpoint: %w", err)
			}
			txid := in.tx.TxHash()
			res := btcResult{Txid: txid.String(), Network: net.Name, Input: in.kind}
			if p := explorerTx[net.Name]; p != "" {
				res.ExplorerURL = p + res.Txid
			}
			if check {
				res.Checked = true
				by, reason, err := checkTx(ctx, rpc, in)
				if err != nil {
					return err
				}
				res.CheckedBy = by
				if reason != "" {
					return fmt.Errorf("%w (%s): %s", errCheckFailed, by, reason)
				}
				res.Allowed = true
				return c.emit(res, fmt.Sprintf("%s: would be accepted (%s check), not broadcast\n%s",
					res.Txid, by, outputsText(in.tx, net)))
			}
			got, err := backend.Broadcast(ctx, in.tx)
			if err != nil {
				return fmt.Errorf("broadcast: %w", err)
			}
			res.Txid, res.Allowed, res.Broadcast = got.String(), true, true
			human := "txid " + res.Txid
			if res.ExplorerURL != "" {
				human += "\n" + res.ExplorerURL
			}
			return c.emit(res, human)
		},
	}
	f := cmd.Flags()
	f.StringVar(&netName, "network", "", "mainnet, testnet (testnet3), testnet4, signet or regtest (required)")
	f.StringVar(&esploraURL, "esplora", "", "Esplora API base URL (default: the network's public API)")
	f.StringVar(&rpcURL, "rpc", "", "bitcoind/btcd JSON-RPC URL (TLS or loopback only)")
	f.StringVar(&rpcUser, "rpc-user", "", "JSON-RPC user")
	f.StringVar(&rpcPass, "rpc-pass", "", "JSON-RPC password (default $"+rpcPassEnv+", which keeps it out of ps)")
	f.BoolVar(&check, "check", false, "only check whether the node would accept it; do not broadcast")
	_ = cmd.MarkFlagRequired("network")
	return cmd
}

// rpcPassEnv names the environment variable read when --rpc-pass is empty.
const rpcPassEnv = "VHSM_BTC_RPC_PASS"

// checkRPCURL refuses cleartext http to a host other than loopback: the RPC
// credentials travel in every request.
func checkRPCURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: rpc url: %v", bitcoin.ErrBackend, err)
	}
	if u.Scheme != "http" {
		return nil // https, or an unsupported scheme NewRPC refuses
	}
	if h := u.Hostname(); h == "localhost" {
		return nil
	} else if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("broadcast: --rpc %s is cleartext http to a non-loopback host; use https or a tunnel", u.Host)
}

// outputsText lists the outputs with their address on net where the
// script is a standard one.
func outputsText(tx *wire.MsgTx, net *bitcoin.Network) string {
	var b strings.Builder
	for i, o := range tx.TxOut {
		dest := "non-standard script"
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(o.PkScript, net.Params)
		if err == nil && len(addrs) == 1 {
			dest = addrs[0].EncodeAddress()
		} else if txscript.GetScriptClass(o.PkScript) == txscript.NullDataTy {
			dest = "OP_RETURN"
		}
		fmt.Fprintf(&b, "  output %d: %s BTC to %s\n", i, btcutil.Amount(o.Value).Format(btcutil.AmountBTC), dest)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// rpcMethodNotFound is JSON-RPC 2.0's "method not found" code, which
// bitcoind and btcd both use.
const rpcMethodNotFound = -32601

// maxFeeRateBTCPerKvB is the testmempoolaccept fee-rate ceiling.
const maxFeeRateBTCPerKvB = 0.10

// checkTx runs testmempoolaccept on rpc, falling back to localCheck when
// there is no RPC or the node does not know the method. It returns who
// checked ("node", or [localCheckName]) and the refusal reason ("" =
// allowed).
func checkTx(ctx context.Context, rpc *bitcoin.RPC, in *btcInput) (by, reason string, err error) {
	if rpc == nil {
		return localCheckName(in), localCheck(in), nil
	}
	var buf bytes.Buffer
	if err := in.tx.Serialize(&buf); err != nil {
		return "", "", fmt.Errorf("serialize: %w", err)
	}
	var res []struct {
		Txid         string `json:"txid"`
		Allowed      bool   `json:"allowed"`
		RejectReason string `json:"reject-reason"`
	}
	// maxfeerate is given explicitly (btcd requires it): bitcoind's default,
	// 0.10 BTC/kvB, refuses absurd fees as "max-fee-exceeded".
	err = rpc.Call(ctx, "testmempoolaccept", []any{[]string{hex.EncodeToString(buf.Bytes())}, maxFeeRateBTCPerKvB}, &res)
	var re *bitcoin.RPCError
	if errors.As(err, &re) && re.Code == rpcMethodNotFound {
		return localCheckName(in), localCheck(in), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("testmempoolaccept: %w", err)
	}
	if len(res) != 1 || res[0].Txid != in.tx.TxHash().String() {
		return "", "", fmt.Errorf("%w: testmempoolaccept answered for another transaction", bitcoin.ErrBackend)
	}
	if !res[0].Allowed {
		r := res[0].RejectReason
		if r == "" {
			r = "not allowed (no reason given)"
		}
		return "node", r, nil
	}
	return "node", "", nil
}

// ethInput is a decoded Ethereum input: exactly one of exit, exits and
// changes; meta is the deposit CLI's metadata of a
// bls_to_execution_change file.
type ethInput struct {
	exit    *ethereum.SignedVoluntaryExit
	exits   []ethereum.SignedVoluntaryExit // a list, as `vhsm eth exits` and POST /v1/validators/exits write it
	changes []ethereum.SignedBLSToExecutionChange
	meta    *ethereum.ChangeFileMetadata
}

// decodeETHInput detects by shape: a JSON object is a SignedVoluntaryExit, a
// JSON array a list of SignedBLSToExecutionChange (a single change object,
// recognised by its from_bls_pubkey, is accepted as a list of one), either
// in beacon-API JSON or as the deposit CLI's bls_to_execution_change file;
// a JSON array of objects with an epoch and no from_bls_pubkey is a list
// of SignedVoluntaryExit.
func decodeETHInput(data []byte) (*ethInput, error) {
	s := bytes.TrimSpace(data)
	switch {
	case len(s) > 0 && s[0] == '[' && bytes.Contains(s, []byte(`"epoch"`)) && !bytes.Contains(s, []byte(`"from_bls_pubkey"`)):
		exits, err := ethereum.ParseSignedVoluntaryExits(s)
		if err != nil {
			return nil, fmt.Errorf("%w: voluntary_exits: %w", errBroadcastInput, err)
		}
		return &ethInput{exits: exits}, nil
	case len(s) > 0 && s[0] == '[':
		ch, meta, err := ethereum.ParseBLSToExecutionChangeFile(s)
		if err != nil {
			return nil, fmt.Errorf("%w: bls_to_execution_changes: %w", errBroadcastInput, err)
		}
		return &ethInput{changes: ch, meta: meta}, nil
	case len(s) > 0 && s[0] == '{':
		if bytes.Contains(s, []byte(`"from_bls_pubkey"`)) {
			ch, meta, err := ethereum.ParseBLSToExecutionChangeFile(append(append([]byte{'['}, s...), ']'))
			if err != nil {
				return nil, fmt.Errorf("%w: bls_to_execution_change: %w", errBroadcastInput, err)
			}
			return &ethInput{changes: ch, meta: meta}, nil
		}
		ex, err := ethereum.ParseSignedVoluntaryExit(s)
		if err != nil {
			return nil, fmt.Errorf("%w: voluntary_exit: %w", errBroadcastInput, err)
		}
		return &ethInput{exit: &ex}, nil
	default:
		return nil, fmt.Errorf("%w: expected a JSON object (voluntary exit) or array (bls to execution changes)", errBroadcastInput)
	}
}

// changeFileNetwork returns the network of a deposit CLI change file's
// metadata: given, when --network or --network-config chose one, which
// must have the file's genesis validators root; else the built-in network
// with that root (and name); else the node's network, whose genesis
// validators root must be the file's (its genesis fork version, which
// signs the changes, is the node's).
func changeFileNetwork(ctx context.Context, node *beacon.Client, meta *ethereum.ChangeFileMetadata, given *ethereum.Network) (ethereum.Network, error) {
	if given != nil {
		if given.GenesisValidatorsRoot != meta.GenesisValidatorsRoot {
			return ethereum.Network{}, fmt.Errorf("%w: the file is for network %q (genesis validators root %s), not %s",
				ethereum.ErrInvalidNetwork, meta.NetworkName, meta.GenesisValidatorsRoot, given.Name)
		}
		return *given, nil
	}
	for _, name := range ethereum.NetworkNames() {
		n, err := ethereum.NetworkByName(name)
		if err != nil || n.GenesisValidatorsRoot != meta.GenesisValidatorsRoot {
			continue
		}
		if meta.NetworkName != n.Name {
			return ethereum.Network{}, fmt.Errorf("%w: the file names network %q but its genesis validators root is %s's",
				ethereum.ErrInvalidNetwork, meta.NetworkName, n.Name)
		}
		return n, nil
	}
	g, err := node.Genesis(ctx)
	if err != nil {
		return ethereum.Network{}, err
	}
	if g.ValidatorsRoot != meta.GenesisValidatorsRoot {
		return ethereum.Network{}, fmt.Errorf("%w: the file is for network %q (genesis validators root %s); the node is on %s",
			ethereum.ErrInvalidNetwork, meta.NetworkName, meta.GenesisValidatorsRoot, g.ValidatorsRoot)
	}
	return ethereum.Network{Name: meta.NetworkName, GenesisForkVersion: g.GenesisForkVersion, GenesisValidatorsRoot: g.ValidatorsRoot}, nil
}

// ethResult is the --json output of vhsm broadcast eth.
type ethResult struct {
	Submitted        string   `json:"submitted"` // "voluntary_exit", "voluntary_exits" or "bls_to_execution_changes"
	ValidatorIndex   *uint64  `json:"validator_index,omitempty"`
	ValidatorIndices []uint64 `json:"validator_indices,omitempty"`
	Network          string   `json:"network,omitempty"`
}

func (c *cli) broadcastETHCmd() *cobra.Command {
	var (
		beaconURL string
		net       ethNetFlags
	)
	cmd := &cobra.Command{
		Use:   "eth --beacon URL [--network NET | --network-config FILE] <exit.json | exits.json | changes.json | @file | ->",
		Short: "Submit signed voluntary exits or BLS-to-execution changes to a beacon node",
		Long: `Submit a SignedVoluntaryExit (a JSON object), a list of them (a JSON array, as
vhsm eth exits and POST /v1/validators/exits write it; sent one by one, in order) or a
SignedBLSToExecutionChange list (a JSON array, or one object) in beacon-API JSON to the
node at --beacon. With --network
(mainnet, hoodi, sepolia, holesky) or --network-config (a custom network file) the node's
genesis must match it and every signature is verified before sending (an exit against the
validator's key as the node reports it). A bls_to_execution_change-*.json written by the
deposit CLI is accepted as it is: its metadata must name the network given, or, without
--network, selects it (a built-in network by its genesis validators root, otherwise the
node's, which must have that root), and the signatures are verified; the metadata is not sent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if beaconURL == "" {
				return errors.New("broadcast: --beacon is required")
			}
			data, err := readBroadcastArg(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			in, err := decodeETHInput(data)
			if err != nil {
				return err
			}
			client, err := beacon.New(beaconURL, beacon.WithTimeout(broadcastTimeout))
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res := ethResult{}
			var nw *ethereum.Network
			if net.name != "" || net.file != "" {
				n, err := net.network()
				if err != nil {
					return err
				}
				nw = &n
			}
			if in.meta != nil {
				// A deposit CLI file names its network: it must be the one
				// given, and without --network it selects the network.
				n, err := changeFileNetwork(ctx, client, in.meta, nw)
				if err != nil {
					return fmt.Errorf("broadcast: %w", err)
				}
				nw = &n
			}
			if nw != nil {
				net := *nw
				res.Network = net.Name
				if err := client.CheckNetwork(ctx, net); err != nil {
					return fmt.Errorf("broadcast: %w", err)
				}
				// The node checks these too; checking first turns a generic
				// refusal into one naming the validator and the cause.
				exits := in.exits
				if in.exit != nil {
					exits = []ethereum.SignedVoluntaryExit{*in.exit}
				}
				for _, ex := range exits {
					idx := uint64(ex.Message.ValidatorIndex)
					v, err := client.Validator(ctx, "head", strconv.FormatUint(idx, 10))
					if err != nil {
						return fmt.Errorf("broadcast: look up validator %d: %w", idx, err)
					}
					if err := ex.Verify(net, v.Pubkey); err != nil {
						return fmt.Errorf("broadcast: exit of validator %d: %w", idx, err)
					}
				}
				for i, ch := range in.changes {
					if err := ch.Verify(net); err != nil {
						return fmt.Errorf("broadcast: change %d (validator %d): %w", i, ch.Message.ValidatorIndex, err)
					}
				}
			}
			if in.exit != nil {
				if err := client.SubmitVoluntaryExit(ctx, *in.exit); err != nil {
					return fmt.Errorf("broadcast: %w", err)
				}
				idx := uint64(in.exit.Message.ValidatorIndex)
				res.Submitted, res.ValidatorIndex = "voluntary_exit", &idx
				return c.emit(res, fmt.Sprintf("voluntary exit of validator %d submitted", idx))
			}
			if in.exits != nil {
				// The beacon API takes one exit per request.
				for i, ex := range in.exits {
					if err := client.SubmitVoluntaryExit(ctx, ex); err != nil {
						return fmt.Errorf("broadcast: exit %d (validator %d; exits before it were submitted: %v): %w",
							i, ex.Message.ValidatorIndex, res.ValidatorIndices, err)
					}
					res.ValidatorIndices = append(res.ValidatorIndices, uint64(ex.Message.ValidatorIndex))
				}
				res.Submitted = "voluntary_exits"
				return c.emit(res, fmt.Sprintf("%d voluntary exit(s) submitted for validators %v", len(in.exits), res.ValidatorIndices))
			}
			if err := client.SubmitBLSToExecutionChanges(ctx, in.changes); err != nil {
				return fmt.Errorf("broadcast: %w", err)
			}
			res.Submitted = "bls_to_execution_changes"
			for _, ch := range in.changes {
				res.ValidatorIndices = append(res.ValidatorIndices, uint64(ch.Message.ValidatorIndex))
			}
			return c.emit(res, fmt.Sprintf("%d BLS-to-execution change(s) submitted for validators %v", len(in.changes), res.ValidatorIndices))
		},
	}
	f := cmd.Flags()
	f.StringVar(&beaconURL, "beacon", "", "beacon node API URL, e.g. http://127.0.0.1:5052 (required)")
	net.register(cmd)
	return cmd
}
