package main

// vhsm recover: sweep a wallet's coins through its recovery leaf with the
// offline recovery key alone, without any replica.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// Recover settings.
const (
	recoverTimeout     = 30 * time.Second // per backend request
	recoverDefaultGap  = 20               // BIP-44 gap limit
	recoverMaxGap      = 10_000
	recoverMaxIndex    = 1 << 20 // an address scan stops here whatever the gap
	recoverMaxKeyFile  = 4096
	recoverFeeTarget   = 6 // blocks, for the estimated fee rate
	recoverMaxDescs    = 8
	recoverKeyFileMode = 0o077 // permission bits that must be clear on the key file
)

// recoverOptions are the flags of vhsm recover.
type recoverOptions struct {
	network              string
	descriptors          []string
	internal, recoveryXP string
	older                uint32
	gap                  int
	keyFile              string
	rpcURL, rpcUser      string
	rpcPass, esploraURL  string
	to                   string
	feeRate              int64
	dryRun               bool
	rescanFrom           string
}

// recoverUTXO is one output found by the scan.
type recoverUTXO struct {
	Outpoint      string `json:"outpoint"`
	Address       string `json:"address"`
	Descriptor    int    `json:"descriptor"` // index into the descriptors
	Index         uint32 `json:"index"`      // derivation index (0 for a non-ranged descriptor)
	Value         int64  `json:"value_sat"`
	Confirmations int64  `json:"confirmations"`
	// UnlocksIn is the number of blocks until the recovery path may spend it (0 = now).
	UnlocksIn int64 `json:"unlocks_in_blocks"`
}

// recoverResult is the output of vhsm recover.
type recoverResult struct {
	Network     string        `json:"network"`
	Descriptors []string      `json:"descriptors"`
	Scanned     int           `json:"addresses_scanned"`
	Sweep       []recoverUTXO `json:"sweep"`
	Locked      []recoverUTXO `json:"locked"`
	Destination string        `json:"destination"`
	Total       int64         `json:"total_sat"`
	Fee         int64         `json:"fee_sat"`
	FeeRate     int64         `json:"fee_rate_sat_per_kvb"`
	Value       int64         `json:"value_sat"`
	VSize       int64         `json:"vsize"`
	Txid        string        `json:"txid,omitempty"`
	RawTx       string        `json:"raw_tx,omitempty"`
	Broadcast   bool          `json:"broadcast"`
}

func (c *cli) recoverCmd() *cobra.Command {
	var o recoverOptions
	cmd := &cobra.Command{
		Use:   "recover --key-file FILE --to ADDRESS (--descriptor D ... | --internal KEY --recovery-xpub XPUB --older N) [--rpc URL | --esplora URL] [--dry-run]",
		Short: "Sweep a wallet through its recovery path with the offline recovery key (no replica needed)",
		Long: `Sweep every coin of a wallet whose outputs are tr(KEY,and_v(v:pk(RKEY),older(N)))
to one address, signing by the script path with the recovery key alone. No replica is
contacted: this is what the recovery path is for.

The wallet is given by its descriptors (the wallet's recovery.descriptor in
GET /v1/wallets/{id}, or the HD descriptors of GET /v1/wallets/{id}/descriptor; ranged
ones, ending in /*, are scanned up to --gap consecutive addresses without coins; give
all three of an HD wallet: receive, change and base),
or by --internal (the threshold key: an xpub, scanned on branches 0 and 1 and at its
base address, the xpub's own key with RKEY/0/0; or the 64-hex
x-only key of a single-address wallet, whose recovery key is RKEY/0/0), --recovery-xpub
and --older. --key-file holds the recovery private key (the xprv whose xpub is the
recovery xpub, or a WIF key); it must not be readable by group or others (chmod 600).
The key is never taken on the command line.

Coins are spendable by the recovery key once they are N blocks deep (BIP-68 relative
lock time); younger ones are listed as locked with the blocks left. The fee rate is
--fee-rate sat/vB or the backend's estimate for 6 blocks. With --dry-run the signed
transaction is printed and not broadcast. The backend is --rpc (btcd or Bitcoin Core
JSON-RPC; password from --rpc-pass or $` + rpcPassEnv + `), --esplora, or btc_rpc_url from
the client configuration (vhsm devnet --btc-regtest writes it); its genesis block must
be --network's. btcd needs --txindex --addrindex. Bitcoin Core watches each address
through a watch-only wallet and sees past coins only with --btc-rescan-from (a rescan per
address: give the wallet's creation date).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.runRecover(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.network, "network", "regtest", "mainnet, testnet (testnet3), testnet4, signet or regtest")
	f.StringArrayVar(&o.descriptors, "descriptor", nil, "a recovery descriptor tr(KEY,and_v(v:pk(RKEY),older(N)))[#checksum] (repeatable)")
	f.StringVar(&o.internal, "internal", "", "the wallet's threshold key: xpub (HD wallet) or 64-hex x-only key (single-address wallet)")
	f.StringVar(&o.recoveryXP, "recovery-xpub", "", "the recovery xpub given at wallet creation")
	f.Uint32Var(&o.older, "older", 0, "the recovery timelock N in blocks given at wallet creation")
	f.IntVar(&o.gap, "gap", recoverDefaultGap, "stop scanning a ranged descriptor after this many consecutive addresses without coins")
	f.StringVar(&o.keyFile, "key-file", "", "file holding the recovery xprv or WIF key (mode 0600; required)")
	f.StringVar(&o.rpcURL, "rpc", "", "btcd or Bitcoin Core JSON-RPC URL (TLS or loopback only)")
	f.StringVar(&o.rpcUser, "rpc-user", "", "JSON-RPC user")
	f.StringVar(&o.rpcPass, "rpc-pass", "", "JSON-RPC password (default $"+rpcPassEnv+")")
	f.StringVar(&o.esploraURL, "esplora", "", "Esplora API base URL")
	f.StringVar(&o.to, "to", "", "destination address (required)")
	f.Int64Var(&o.feeRate, "fee-rate", 0, "fee rate in sat/vB (default: the backend's estimate)")
	f.BoolVar(&o.dryRun, "dry-run", false, "build and sign, print, do not broadcast")
	f.StringVar(&o.rescanFrom, "btc-rescan-from", "", "Bitcoin Core: scan the chain from this date (RFC 3339 or YYYY-MM-DD; the wallet's creation date) when importing each address; without it Core sees only coins that arrive from now on")
	return cmd
}

// recoverDescriptors returns the descriptors of the flags.
func recoverDescriptors(o recoverOptions, net *bitcoin.Network) ([]*bitcoin.RecoveryDescriptor, error) {
	if len(o.descriptors) > 0 {
		if o.internal != "" || o.recoveryXP != "" || o.older != 0 {
			return nil, errors.New("recover: give --descriptor or --internal/--recovery-xpub/--older, not both")
		}
		if len(o.descriptors) > recoverMaxDescs {
			return nil, fmt.Errorf("recover: at most %d descriptors", recoverMaxDescs)
		}
		var out []*bitcoin.RecoveryDescriptor
		for i, s := range o.descriptors {
			d, err := bitcoin.ParseRecoveryDescriptor(s, net)
			if err != nil {
				return nil, fmt.Errorf("recover: descriptor %d: %w", i+1, err)
			}
			out = append(out, d)
		}
		return out, nil
	}
	if o.internal == "" || o.recoveryXP == "" || o.older == 0 {
		return nil, errors.New("recover: give --descriptor, or all of --internal, --recovery-xpub and --older")
	}
	if o.older > bitcoin.MaxRecoveryOlder {
		return nil, fmt.Errorf("recover: --older must be 1..%d blocks", bitcoin.MaxRecoveryOlder)
	}
	internal, err := bitcoin.ParseDescKey(o.internal, net)
	if err != nil {
		return nil, fmt.Errorf("recover: --internal: %w", err)
	}
	rec, err := bitcoin.ParseDescKey(o.recoveryXP, net)
	if err != nil {
		return nil, fmt.Errorf("recover: --recovery-xpub: %w", err)
	}
	if !rec.Extended() || rec.Wildcard() {
		return nil, errors.New("recover: --recovery-xpub must be an extended public key without /*")
	}
	if !internal.Extended() {
		// A single-address wallet: the threshold key itself and the recovery key RKEY/0/0.
		rk, err := rec.Child(false, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("recover: %w", err)
		}
		return []*bitcoin.RecoveryDescriptor{{Internal: internal, Recovery: rk, Older: uint16(o.older)}}, nil
	}
	if internal.Wildcard() {
		return nil, errors.New("recover: --internal must be an xpub without /*")
	}
	var out []*bitcoin.RecoveryDescriptor
	for _, branch := range []uint32{0, 1} { // receive and change
		ik, err := internal.Child(true, branch)
		if err != nil {
			return nil, fmt.Errorf("recover: --internal: %w", err)
		}
		rk, err := rec.Child(true, branch)
		if err != nil {
			return nil, fmt.Errorf("recover: --recovery-xpub: %w", err)
		}
		out = append(out, &bitcoin.RecoveryDescriptor{Internal: ik, Recovery: rk, Older: uint16(o.older)})
	}
	// The wallet's base address: the threshold key itself with RKEY/0/0
	// (its original address, kept by HD wallets).
	rk, err := rec.Child(false, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("recover: --recovery-xpub: %w", err)
	}
	out = append(out, &bitcoin.RecoveryDescriptor{Internal: internal, Recovery: rk, Older: uint16(o.older)})
	return out, nil
}

// readRecoveryKey reads and parses the key file, refusing one that group
// or others may read or write. Errors never contain the file's content.
func readRecoveryKey(path string, net *bitcoin.Network) (*bitcoin.RecoveryKey, error) {
	if path == "" {
		return nil, errors.New("recover: --key-file is required (the recovery key is never taken on the command line)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recover: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("recover: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("recover: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&recoverKeyFileMode != 0 {
		return nil, fmt.Errorf("recover: key file %s has mode %04o; it must not be accessible to group or others (chmod 600 %s)", path, perm, path)
	}
	buf, err := io.ReadAll(io.LimitReader(f, recoverMaxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("recover: key file: %w", err)
	}
	defer clear(buf)
	if len(buf) > recoverMaxKeyFile {
		return nil, fmt.Errorf("recover: key file %s is larger than %d bytes", path, recoverMaxKeyFile)
	}
	key, err := bitcoin.ParseRecoveryKey(string(bytes.TrimSpace(buf)), net)
	if err != nil {
		return nil, fmt.Errorf("recover: key file %s: %w", path, err)
	}
	return key, nil
}

// recoverBackend builds the backend of the flags or of the client
// configuration and checks its network.
func (c *cli) recoverBackend(ctx context.Context, o recoverOptions, net *bitcoin.Network) (bitcoin.Backend, error) {
	if o.rpcURL != "" && o.esploraURL != "" {
		return nil, errors.New("recover: give --rpc or --esplora, not both")
	}
	url, user, pass := o.rpcURL, o.rpcUser, o.rpcPass
	if url == "" && o.esploraURL == "" {
		cfg, err := c.loadClientConfig()
		if err != nil || cfg.BTCRPCURL == "" {
			return nil, errors.New("recover: give --rpc or --esplora (no btc_rpc_url in the client configuration)")
		}
		url, user, pass = cfg.BTCRPCURL, cfg.BTCRPCUser, cfg.BTCRPCPass
	}
	var be bitcoin.Backend
	var source bitcoin.GenesisSource
	if url != "" {
		if !strings.Contains(url, "://") {
			url = "http://" + url
		}
		if err := checkRPCURL(url); err != nil {
			return nil, err
		}
		if pass == "" {
			pass = os.Getenv(rpcPassEnv)
		}
		var fallback bitcoin.FeeRate
		if net.Name == "regtest" {
			fallback = bitcoin.SatPerVByte(2) // regtest nodes have no fee estimate
		}
		kind, rescan, err := coreOptions(walletOptions{btcNode: "auto", btcRescan: o.rescanFrom})
		if err != nil {
			return nil, fmt.Errorf("recover: %w", err)
		}
		rpc, err := bitcoin.NewRPC(bitcoin.RPCConfig{URL: url, User: user, Pass: pass, Timeout: recoverTimeout,
			Retry: bitcoin.DefaultRetry, Fallback: fallback, Node: kind, RescanFrom: rescan})
		if err != nil {
			return nil, err
		}
		be, source = rpc, rpc
	} else {
		e, err := bitcoin.NewEsplora(o.esploraURL, nil, recoverTimeout, bitcoin.DefaultRetry)
		if err != nil {
			return nil, err
		}
		be, source = e, e
	}
	if err := bitcoin.CheckNetwork(ctx, source, net); err != nil {
		return nil, fmt.Errorf("recover: backend: %w", err)
	}
	return be, nil
}

// recoverScan lists the UTXOs of every descriptor: a ranged one index by
// index until gap consecutive addresses hold nothing.
func recoverScan(ctx context.Context, be bitcoin.Backend, descs []*bitcoin.RecoveryDescriptor, net *bitcoin.Network, gap int) (ins []bitcoin.SweepInput, found []recoverUTXO, scanned int, err error) {
	seen := map[wire.OutPoint]bool{}
	for di, d := range descs {
		empty := 0
		for i := uint32(0); i < recoverMaxIndex; i++ {
			out, err := d.Output(i)
			if err != nil {
				return nil, nil, scanned, fmt.Errorf("recover: descriptor %d index %d: %w", di+1, i, err)
			}
			addr, err := out.Address(net)
			if err != nil {
				return nil, nil, scanned, err
			}
			utxos, err := be.UTXOs(ctx, addr)
			if err != nil {
				return nil, nil, scanned, fmt.Errorf("recover: list %s: %w", addr, err)
			}
			scanned++
			for _, u := range utxos {
				if !out.Pays(u.PkScript) || seen[u.OutPoint] {
					continue // another address's output, or one found through an earlier descriptor
				}
				seen[u.OutPoint] = true
				ins = append(ins, bitcoin.SweepInput{UTXO: u, Output: out, KeyPath: d.Recovery.Path(i)})
				found = append(found, recoverUTXO{Outpoint: u.OutPoint.String(), Address: addr.EncodeAddress(),
					Descriptor: di, Index: i, Value: u.Value, Confirmations: u.Confirmations,
					UnlocksIn: unlocksIn(u, int64(out.Leaf.Older))})
			}
			if !d.Ranged() {
				break
			}
			if len(utxos) == 0 {
				if empty++; empty >= gap {
					break
				}
			} else {
				empty = 0
			}
		}
	}
	return ins, found, scanned, nil
}

// unlocksIn is the number of blocks before u may be swept: BIP-68 needs
// older confirmations (the next block then has height ≥ coin height + N),
// and a coinbase output also needs CoinbaseMaturity.
func unlocksIn(u bitcoin.UTXO, older int64) int64 {
	need := older
	if u.Coinbase {
		need = max(need, bitcoin.CoinbaseMaturity)
	}
	return max(need-u.Confirmations, 0)
}

func (c *cli) runRecover(ctx context.Context, o recoverOptions) error {
	net, err := bitcoin.NetworkByName(o.network)
	if err != nil {
		return err
	}
	if o.gap < 1 || o.gap > recoverMaxGap {
		return fmt.Errorf("recover: --gap must be 1..%d", recoverMaxGap)
	}
	if o.to == "" {
		return errors.New("recover: --to is required")
	}
	dest, err := bitcoin.ParseAddress(o.to, net)
	if err != nil {
		return fmt.Errorf("recover: --to: %w", err)
	}
	if o.feeRate < 0 || o.feeRate > int64(bitcoin.MaxSweepFeeRate/1000) {
		return fmt.Errorf("recover: --fee-rate must be 1..%d sat/vB (0 to estimate)", bitcoin.MaxSweepFeeRate/1000)
	}
	descs, err := recoverDescriptors(o, net)
	if err != nil {
		return err
	}
	key, err := readRecoveryKey(o.keyFile, net)
	if err != nil {
		return err
	}
	defer key.Zero()
	be, err := c.recoverBackend(ctx, o, net)
	if err != nil {
		return err
	}
	ins, found, scanned, err := recoverScan(ctx, be, descs, net, o.gap)
	if err != nil {
		return err
	}
	res := recoverResult{Network: net.Name, Scanned: scanned, Destination: dest.EncodeAddress(), Sweep: []recoverUTXO{}, Locked: []recoverUTXO{}}
	for _, d := range descs {
		s, err := d.String()
		if err != nil {
			return err
		}
		res.Descriptors = append(res.Descriptors, s)
	}
	var ready []bitcoin.SweepInput
	for i, u := range found {
		if u.UnlocksIn > 0 {
			res.Locked = append(res.Locked, u)
			continue
		}
		res.Sweep = append(res.Sweep, u)
		res.Total += u.Value
		ready = append(ready, ins[i])
	}
	if len(ready) == 0 {
		if len(res.Locked) > 0 {
			return fmt.Errorf("recover: nothing to sweep yet: %d outputs are still locked (%s)", len(res.Locked), lockedText(res.Locked))
		}
		return fmt.Errorf("recover: no coins found on %d addresses", scanned)
	}
	rate := bitcoin.SatPerVByte(o.feeRate)
	if o.feeRate == 0 {
		if rate, err = be.FeeRate(ctx, recoverFeeTarget); err != nil {
			return fmt.Errorf("recover: fee estimate (give --fee-rate): %w", err)
		}
		rate = max(rate, bitcoin.MinRelayFeeRate)
	}
	sw, err := bitcoin.BuildSweep(bitcoin.SweepRequest{Inputs: ready, Destination: dest, FeeRate: rate})
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := bitcoin.SignSweep(sw, key); err != nil {
		return fmt.Errorf("recover: sign: %w", err)
	}
	var raw bytes.Buffer
	if err := sw.Tx.Serialize(&raw); err != nil {
		return fmt.Errorf("recover: serialize: %w", err)
	}
	res.Fee, res.FeeRate, res.Value, res.VSize = sw.Fee, int64(rate), sw.Value, sw.VSize
	res.Txid = sw.Tx.TxHash().String()
	if o.dryRun {
		res.RawTx = fmt.Sprintf("%x", raw.Bytes())
		return c.emit(res, recoverText(res)+"\ndry run: not broadcast; signed transaction:\n"+res.RawTx)
	}
	txid, err := be.Broadcast(ctx, sw.Tx)
	if err != nil {
		return fmt.Errorf("recover: broadcast: %w", err)
	}
	res.Txid, res.Broadcast = txid.String(), true
	return c.emit(res, recoverText(res)+"\nbroadcast: txid "+res.Txid)
}

// lockedText summarises locked outputs for an error message.
func lockedText(l []recoverUTXO) string {
	soonest := l[0].UnlocksIn
	for _, u := range l {
		soonest = min(soonest, u.UnlocksIn)
	}
	return fmt.Sprintf("the first unlocks in %d blocks", soonest)
}

// recoverText is the human summary of a sweep.
func recoverText(r recoverResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d addresses on %s\n", r.Scanned, r.Network)
	for _, u := range r.Sweep {
		fmt.Fprintf(&b, "  sweep  %s  %s BTC  %s (%d conf)\n", u.Outpoint, btcutil.Amount(u.Value).Format(btcutil.AmountBTC), u.Address, u.Confirmations)
	}
	for _, u := range r.Locked {
		fmt.Fprintf(&b, "  locked %s  %s BTC  %s (unlocks in %d blocks)\n", u.Outpoint, btcutil.Amount(u.Value).Format(btcutil.AmountBTC), u.Address, u.UnlocksIn)
	}
	fmt.Fprintf(&b, "total %s BTC, fee %s BTC (%d vB at %.3f sat/vB), %s BTC to %s\ntxid %s",
		btcutil.Amount(r.Total).Format(btcutil.AmountBTC), btcutil.Amount(r.Fee).Format(btcutil.AmountBTC), r.VSize,
		float64(r.FeeRate)/1000, btcutil.Amount(r.Value).Format(btcutil.AmountBTC), r.Destination, r.Txid)
	return b.String()
}
