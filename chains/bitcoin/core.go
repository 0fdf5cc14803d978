package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// NodeKind is the JSON-RPC dialect of the node behind an [RPC].
type NodeKind int32

const (
	// NodeAuto detects the node with getnetworkinfo on first need (the default).
	NodeAuto NodeKind = iota
	// NodeBtcd is btcd: address index for UTXOs, estimatefee for fees.
	NodeBtcd
	// NodeCore is Bitcoin Core (bitcoind v25 or later, descriptor wallets): a watch-only wallet for
	// UTXOs, estimatesmartfee for fees.
	NodeCore
)

// String returns "auto", "btcd" or "bitcoind".
func (k NodeKind) String() string {
	switch k {
	case NodeAuto:
		return "auto"
	case NodeBtcd:
		return "btcd"
	case NodeCore:
		return "bitcoind"
	}
	return fmt.Sprintf("NodeKind(%d)", int32(k))
}

// DefaultCoreWallet is the name of the watch-only wallet an [RPC] keeps on Bitcoin Core.
const DefaultCoreWallet = "vhsm-watch"

// Bitcoin Core JSON-RPC error codes (src/rpc/protocol.h) that the Core path acts on or explains.
const (
	coreErrMisc           = -1
	coreErrType           = -3
	coreErrWallet         = -4
	coreErrInvalidAddress = -5
	coreErrInvalidParam   = -8
	coreErrWalletNotFound = -18
	coreErrWalletNotSpec  = -19
	coreErrInWarmup       = -28
	coreErrWalletLoaded   = -35
	coreErrWalletExists   = -36
	coreErrMethodNotFound = -32601
)

// coreHints explains Core's error codes in the errors the Core path returns.
var coreHints = map[int]string{
	coreErrMisc:           "node error",
	coreErrType:           "wrong parameter type",
	coreErrWallet:         "wallet error",
	coreErrInvalidAddress: "invalid address or key",
	coreErrInvalidParam:   "invalid parameter",
	coreErrWalletNotFound: "wallet not found or not loaded",
	coreErrWalletNotSpec:  "wallet not specified",
	coreErrInWarmup:       "node is still starting; try again later",
	coreErrWalletLoaded:   "wallet already loaded",
	coreErrWalletExists:   "wallet already exists",
	coreErrMethodNotFound: "method not found (is bitcoind running with -disablewallet?)",
}

// coreError wraps err from a Bitcoin Core call with [ErrBackend], the method and, for a node error,
// what its code means; the [*RPCError] stays reachable with errors.As.
func coreError(method string, err error) error {
	var re *RPCError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: %w", method, err)
	}
	hint := coreHints[re.Code]
	if hint == "" {
		hint = "node refused the call"
	}
	return fmt.Errorf("%w: bitcoind %s: %s: %w", ErrBackend, method, hint, err)
}

func rpcCode(err error) (int, bool) {
	var re *RPCError
	if errors.As(err, &re) {
		return re.Code, true
	}
	return 0, false
}

// Kind returns the kind of node behind r: the configured one, or the one detected by the first call
// that needed it. Detection asks getnetworkinfo: a subversion containing "/Satoshi:" is Bitcoin Core
// (Bitcoin Knots too); btcd v0.24.2 lists getnetworkinfo as unimplemented and answers with an error
// (rpcserver.go rpcUnimplemented: code -1 "Command unimplemented"; a limited user gets another error),
// and Core never refuses it except while starting (-28), so any other node error means btcd. A failure
// is not cached: the next call tries again.
func (r *RPC) Kind(ctx context.Context) (NodeKind, error) {
	if r.node != NodeAuto {
		return r.node, nil
	}
	if k := NodeKind(r.detected.Load()); k != NodeAuto {
		return k, nil
	}
	var info struct {
		Subversion *string `json:"subversion"`
	}
	err := r.Call(ctx, "getnetworkinfo", nil, &info)
	var k NodeKind
	switch code, isRPC := rpcCode(err); {
	case err == nil && info.Subversion != nil && strings.Contains(*info.Subversion, "/Satoshi:"):
		k = NodeCore
	case err == nil && info.Subversion != nil && strings.Contains(strings.ToLower(*info.Subversion), "btcd"):
		k = NodeBtcd
	case err == nil:
		sub := ""
		if info.Subversion != nil {
			sub = *info.Subversion
		}
		return NodeAuto, fmt.Errorf("%w: unrecognized node (getnetworkinfo subversion %.80q); set RPCConfig.Node", ErrBackend, sub)
	case isRPC && code == coreErrInWarmup:
		return NodeAuto, coreError("getnetworkinfo", err)
	case isRPC:
		k = NodeBtcd
	default:
		return NodeAuto, fmt.Errorf("detect node: %w", err)
	}
	r.detected.Store(int32(k))
	return k, nil
}

// walletCall calls a wallet method through the wallet endpoint. If the node has meanwhile unloaded the
// wallet (-18), the wallet is set up again and the call repeated once.
func (r *RPC) walletCall(ctx context.Context, method string, params []any, result any) error {
	if err := r.ensureWallet(ctx); err != nil {
		return err
	}
	err := r.call(ctx, r.walletURL, method, params, result)
	if code, ok := rpcCode(err); ok && code == coreErrWalletNotFound {
		r.walletMu.Lock()
		r.walletOK = false
		r.walletMu.Unlock()
		if err := r.ensureWallet(ctx); err != nil {
			return err
		}
		err = r.call(ctx, r.walletURL, method, params, result)
	}
	if err != nil {
		return coreError(method, err)
	}
	return nil
}

// ensureWallet makes sure the watch-only wallet is loaded and is what vhsm needs. loadwallet comes
// first (not createwallet): its codes tell "not found" (-18) from "already loaded" (-35), where
// createwallet answers an existing wallet with the generic -4. Only -18 leads to createwallet; a -4 from
// createwallet (another process created the wallet in between) leads to one more loadwallet.
func (r *RPC) ensureWallet(ctx context.Context) error {
	r.walletMu.Lock()
	defer r.walletMu.Unlock()
	if r.walletOK {
		return nil
	}
	load := func() error {
		// loadwallet "filename" (load_on_startup omitted: left as it is)
		err := r.Call(ctx, "loadwallet", []any{r.walletName}, nil)
		if code, ok := rpcCode(err); ok && code == coreErrWalletLoaded {
			return nil
		}
		return err
	}
	err := load()
	if code, ok := rpcCode(err); ok && code == coreErrWalletNotFound {
		// createwallet "wallet_name" disable_private_keys blank "passphrase" avoid_reuse descriptors
		// load_on_startup (src/wallet/rpc/wallet.cpp); passphrase null = unencrypted.
		err = r.Call(ctx, "createwallet", []any{r.walletName, true, true, nil, false, true, true}, nil)
		if code, ok := rpcCode(err); ok && (code == coreErrWallet || code == coreErrWalletExists) {
			if lerr := load(); lerr == nil {
				err = nil
			}
		}
		if err != nil {
			return coreError("createwallet", err)
		}
	} else if err != nil {
		return coreError("loadwallet", err)
	}
	var info struct {
		PrivateKeys *bool `json:"private_keys_enabled"`
		Descriptors *bool `json:"descriptors"`
	}
	if err := r.call(ctx, r.walletURL, "getwalletinfo", nil, &info); err != nil {
		return coreError("getwalletinfo", err)
	}
	if info.PrivateKeys == nil || info.Descriptors == nil {
		return fmt.Errorf("%w: bitcoind getwalletinfo: answer lacks private_keys_enabled or descriptors", ErrBackend)
	}
	if *info.PrivateKeys || !*info.Descriptors {
		return fmt.Errorf("%w: bitcoind wallet %q is not a watch-only descriptor wallet (private keys enabled: %t, descriptors: %t); choose another RPCConfig.Wallet",
			ErrBackend, r.walletName, *info.PrivateKeys, *info.Descriptors)
	}
	r.walletOK = true
	return nil
}

// importNow stands for importdescriptors' timestamp "now" in RPC.imported: later than any explicit time.
const importNow = math.MaxInt64

// ImportAddress makes Bitcoin Core's watch-only wallet track addr: importdescriptors with
// "addr(ADDRESS)#checksum", scanning the chain from rescanFrom (zero = "now": the last two hours of
// blocks and the mempool only). An address already imported by r from the same or an earlier time is
// not imported again; importing it from an earlier time rescans. Core keeps the descriptor in the wallet
// file, so a restarted vhsm re-imports cheaply with "now" and loses nothing. On btcd ImportAddress does
// nothing (its address index needs no import).
func (r *RPC) ImportAddress(ctx context.Context, addr btcutil.Address, rescanFrom time.Time) error {
	kind, err := r.Kind(ctx)
	if err != nil || kind != NodeCore {
		return err
	}
	if err := r.ensureWallet(ctx); err != nil {
		return err
	}
	desc, err := AddrDescriptor(addr)
	if err != nil {
		return err
	}
	var ts any = "now"
	stamp := int64(importNow)
	if !rescanFrom.IsZero() {
		stamp = max(rescanFrom.Unix(), 0)
		ts = stamp
	}
	key := addr.EncodeAddress()
	r.walletMu.Lock()
	defer r.walletMu.Unlock()
	if prev, ok := r.imported[key]; ok && prev <= stamp {
		return nil
	}
	// importdescriptors [{"desc", "timestamp"}] (src/wallet/rpc/backup.cpp): one result per request.
	var res []coreImportResult
	err = r.call(ctx, r.walletURL, "importdescriptors", []any{[]any{map[string]any{"desc": desc, "timestamp": ts}}}, &res)
	if code, ok := rpcCode(err); ok && code == coreErrWalletNotFound {
		r.walletOK = false // unloaded meanwhile: the next call sets it up again
	}
	if err != nil {
		return coreError("importdescriptors", err)
	}
	if err := checkImport(res); err != nil {
		return fmt.Errorf("import %s: %w", key, err)
	}
	r.imported[key] = stamp
	return nil
}

// coreImportResult is one element of importdescriptors' answer.
type coreImportResult struct {
	Success  *bool    `json:"success"`
	Warnings []string `json:"warnings"`
	Error    *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// checkImport accepts importdescriptors' answer for one request only if it says success.
func checkImport(res []coreImportResult) error {
	if len(res) != 1 || res[0].Success == nil {
		return fmt.Errorf("%w: bitcoind importdescriptors: %d results for 1 request", ErrBackend, len(res))
	}
	if !*res[0].Success {
		if e := res[0].Error; e != nil {
			return coreError("importdescriptors", &RPCError{Code: e.Code, Message: e.Message})
		}
		return fmt.Errorf("%w: bitcoind importdescriptors: no success and no error", ErrBackend)
	}
	return nil
}

// coreUnspent is one element of listunspent's answer (src/wallet/rpc/coins.cpp); other fields are
// ignored. Amount is kept as JSON text so that it converts to satoshis exactly.
type coreUnspent struct {
	TxID          string          `json:"txid"`
	Vout          *uint32         `json:"vout"`
	ScriptPubKey  string          `json:"scriptPubKey"`
	Amount        json.RawMessage `json:"amount"`
	Confirmations *int64          `json:"confirmations"`
}

// coreUTXOs lists addr's unspent outputs from the watch-only wallet.
func (r *RPC) coreUTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	if err := r.ImportAddress(ctx, addr, r.rescanFrom); err != nil {
		return nil, err
	}
	var items []coreUnspent
	// listunspent minconf maxconf ["address"]: minconf 0 includes mempool outputs.
	if err := r.walletCall(ctx, "listunspent", []any{0, 9999999, []string{addr.EncodeAddress()}}, &items); err != nil {
		return nil, err
	}
	script, err := payToAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("utxos: %w", err)
	}
	return parseCoreUnspent(items, script)
}

// parseCoreUnspent checks listunspent's entries and turns them into UTXOs paying script.
func parseCoreUnspent(items []coreUnspent, script []byte) ([]UTXO, error) {
	return parseCoreUnspentOf(items, func(spk []byte) bool { return bytes.Equal(spk, script) })
}

// parseCoreUnspentOf checks listunspent's entries and turns them into UTXOs, each paying a script
// that wanted accepts.
func parseCoreUnspentOf(items []coreUnspent, wanted func([]byte) bool) ([]UTXO, error) {
	out := make([]UTXO, 0, len(items))
	seen := make(map[wire.OutPoint]bool, len(items))
	for i, it := range items {
		h, err := chainhash.NewHashFromStr(it.TxID)
		if err != nil || len(it.TxID) != 2*chainhash.HashSize || it.Vout == nil || it.Confirmations == nil || *it.Confirmations < 0 {
			return nil, fmt.Errorf("%w: bitcoind listunspent: entry %d malformed", ErrBackend, i)
		}
		spk, err := hex.DecodeString(it.ScriptPubKey)
		if err != nil || !wanted(spk) {
			return nil, fmt.Errorf("%w: bitcoind listunspent: entry %d does not pay the address", ErrBackend, i)
		}
		sats, err := parseBTCAmount(it.Amount)
		if err != nil {
			return nil, fmt.Errorf("%w: bitcoind listunspent: entry %d: %v", ErrBackend, i, err)
		}
		op := wire.OutPoint{Hash: *h, Index: *it.Vout}
		if seen[op] {
			return nil, fmt.Errorf("%w: bitcoind listunspent: outpoint %s listed twice", ErrBackend, op)
		}
		seen[op] = true
		out = append(out, UTXO{OutPoint: op, Value: sats, PkScript: spk, Confirmations: *it.Confirmations})
	}
	sortUTXOs(out)
	return out, nil
}

// parseBTCAmount converts a JSON number in BTC, as Bitcoin Core writes amounts (ValueFromAmount:
// digits, a point, eight decimals), to satoshis exactly, from the text: no float64 in between. It
// accepts at most eight decimals and no exponent, sign or quotes, and at most 21 million BTC.
func parseBTCAmount(raw []byte) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 8 || (len(whole) > 1 && whole[0] == '0') || (hasPoint && frac == "") || len(frac) > 8 {
		return 0, fmt.Errorf("amount %.40q is not a BTC amount", s)
	}
	var sats int64
	for _, c := range whole + frac + strings.Repeat("0", 8-len(frac)) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("amount %.40q is not a BTC amount", s)
		}
		sats = sats*10 + int64(c-'0')
	}
	if sats > btcutil.MaxSatoshi {
		return 0, fmt.Errorf("amount %.40q exceeds 21 million BTC", s)
	}
	return sats, nil
}

// coreSmartFee is estimatesmartfee's answer (src/rpc/fees.cpp): feerate in BTC/kvB, present only when
// there were no errors.
type coreSmartFee struct {
	FeeRate json.RawMessage `json:"feerate"`
	Errors  []string        `json:"errors"`
	Blocks  *int64          `json:"blocks"`
}

// smartFeeRate returns estimatesmartfee's feerate in sat/kvB, or 0 and Core's reasons when it has
// none; a feerate that is not a BTC amount is an error.
func smartFeeRate(est coreSmartFee) (int64, string, error) {
	if len(est.FeeRate) == 0 || string(est.FeeRate) == "null" {
		return 0, strings.Join(est.Errors, "; "), nil
	}
	rate, err := parseBTCAmount(est.FeeRate)
	if err != nil {
		return 0, "", fmt.Errorf("%w: bitcoind estimatesmartfee: %v", ErrBackend, err)
	}
	return rate, "", nil
}

// coreMaxTarget is the highest confirmation target estimatesmartfee accepts (1008 blocks).
const coreMaxTarget = 1008

// coreFeeRate asks estimatesmartfee; BTC/kvB × 1e8 is sat/kvB, the unit of [FeeRate], so the parsed
// amount is the rate.
func (r *RPC) coreFeeRate(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	var est coreSmartFee
	// estimatesmartfee conf_target (estimate_mode left at its default)
	err := r.Call(ctx, "estimatesmartfee", []any{min(targetBlocks, coreMaxTarget)}, &est)
	if _, isRPC := rpcCode(err); err != nil && !isRPC {
		return FeeEstimate{}, fmt.Errorf("estimatesmartfee: %w", err)
	}
	var rate int64
	reason := ""
	if err != nil {
		reason = err.Error()
	} else if rate, reason, err = smartFeeRate(est); err != nil {
		return FeeEstimate{}, err
	}
	if rate <= 0 || rate > 1e8 { // no estimate, or above 1 BTC/kvB: not a usable answer
		if r.fallback > 0 {
			return FeeEstimate{Rate: r.fallback, Fallback: true}, nil
		}
		return FeeEstimate{}, fmt.Errorf("%w: node has no fee estimate (%.200s)", ErrBackend, reason)
	}
	return FeeEstimate{Rate: max(FeeRate(rate), MinRelayFeeRate)}, nil
}

// coreWalletTx is the part of gettransaction's answer TxStatus needs (src/wallet/rpc/transactions.cpp):
// confirmations is negative for a transaction conflicting with the chain, 0 in the mempool.
type coreWalletTx struct {
	Confirmations *int64 `json:"confirmations"`
	BlockHash     string `json:"blockhash"`
	BlockHeight   *int64 `json:"blockheight"`
}

// coreWalletTxStatus asks the watch-only wallet about txid. It loads the wallet if it exists but never
// creates it: a node that has no vhsm wallet cannot know vhsm's transactions that way.
func (r *RPC) coreWalletTxStatus(ctx context.Context, txid chainhash.Hash) (TxStatus, error) {
	var tx coreWalletTx
	// gettransaction "txid" include_watchonly
	params := []any{txid.String(), true}
	err := r.call(ctx, r.walletURL, "gettransaction", params, &tx)
	if code, ok := rpcCode(err); ok && code == coreErrWalletNotFound {
		lerr := r.Call(ctx, "loadwallet", []any{r.walletName}, nil)
		switch code, _ := rpcCode(lerr); {
		case lerr == nil || code == coreErrWalletLoaded:
			err = r.call(ctx, r.walletURL, "gettransaction", params, &tx)
		case code == coreErrWalletNotFound:
			return TxStatus{}, fmt.Errorf("%w: tx %s (the node has no -txindex and no wallet %q)", ErrNotFound, txid, r.walletName)
		default:
			return TxStatus{}, coreError("loadwallet", lerr)
		}
	}
	if code, ok := rpcCode(err); ok && code == coreErrInvalidAddress {
		return TxStatus{}, fmt.Errorf("%w: tx %s", ErrNotFound, txid)
	}
	if err != nil {
		return TxStatus{}, coreError("gettransaction", err)
	}
	return coreTxStatus(tx)
}

// coreTxStatus checks gettransaction's answer.
func coreTxStatus(tx coreWalletTx) (TxStatus, error) {
	if tx.Confirmations == nil {
		return TxStatus{}, fmt.Errorf("%w: bitcoind gettransaction: no confirmations", ErrBackend)
	}
	switch c := *tx.Confirmations; {
	case c < 0:
		return TxStatus{}, fmt.Errorf("%w: tx conflicts with the chain (%d confirmations)", ErrNotFound, c)
	case c == 0:
		return TxStatus{}, nil
	}
	h, err := chainhash.NewHashFromStr(tx.BlockHash)
	if err != nil || len(tx.BlockHash) != 2*chainhash.HashSize || tx.BlockHeight == nil || *tx.BlockHeight < 0 {
		return TxStatus{}, fmt.Errorf("%w: bitcoind gettransaction: bad block", ErrBackend)
	}
	return TxStatus{Confirmed: true, BlockHeight: *tx.BlockHeight, BlockHash: *h, Confirmations: *tx.Confirmations}, nil
}
