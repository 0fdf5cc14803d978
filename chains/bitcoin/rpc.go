package bitcoin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// RPC is a [Backend] over the JSON-RPC interface of a btcd node or of Bitcoin Core (bitcoind v25+), for
// regtest and self-hosted nodes. Which one it talks to is detected once, on first need, from
// getnetworkinfo (Bitcoin Core answers with a subversion "/Satoshi:.../"; btcd v0.24.2 refuses the call
// as "Command unimplemented"), or set with [RPCConfig].Node. An RPC is safe for concurrent use.
//
// btcd: UTXOs come from btcd's address index: searchrawtransactions (btcd must run with --addrindex
// --txindex), which lists every confirmed and mempool transaction touching the address; an output to
// the address is unspent when no listed transaction spends it. FeeRate is estimatefee.
//
// Bitcoin Core has neither call. UTXOs come from a watch-only descriptor wallet that the RPC owns
// ([RPCConfig].Wallet, default [DefaultCoreWallet]): it is loaded, or created (private keys disabled,
// blank, descriptors, load on startup) on first use; each address is imported once per RPC as
// "addr(ADDRESS)#checksum" with importdescriptors, then listed with listunspent through the wallet
// endpoint /wallet/<name>. FeeRate is estimatesmartfee. TxStatus falls back to the wallet's
// gettransaction when the node has no -txindex. See [RPC.UTXOs] for what listunspent includes.
//
// Broadcast (sendrawtransaction) and TxStatus (getrawtransaction, getblockheader) are the same calls on
// both.
type RPC struct {
	url      string
	user     string
	pass     string
	client   *http.Client
	retry    Retry
	fallback FeeRate
	id       atomic.Uint64

	node       NodeKind         // as configured; NodeAuto = detect
	walletURL  string           // the Bitcoin Core wallet endpoint: url + "/wallet/" + escaped name
	walletName string           // the Bitcoin Core wallet's name
	rescanFrom time.Time        // default rescan start of an import; zero = "now"
	detected   atomic.Int32     // the detected NodeKind, 0 until known
	walletMu   sync.Mutex       // serializes wallet setup and imports
	walletOK   bool             // the wallet is loaded and checked (guarded by walletMu)
	imported   map[string]int64 // address → earliest import timestamp sent (guarded by walletMu)

	fullScans atomic.Int64             // btcd multi-address listings that scanned every address
	scanMu    sync.Mutex               // guards scans
	scans     map[[32]byte]*cachedScan // btcd: last listing per address set (multi.go)
}

// RPCConfig configures [NewRPC].
type RPCConfig struct {
	URL      string        // e.g. "http://127.0.0.1:18334" (use TLS or loopback only)
	User     string        // RPC user
	Pass     string        // RPC password
	Timeout  time.Duration // per request; 0 = DefaultTimeout
	Retry    Retry
	Client   *http.Client // optional; overrides Timeout
	Fallback FeeRate      // rate FeeRate returns when the node has no estimate (regtest); 0 = error

	// Node selects the JSON-RPC dialect; NodeAuto (the zero value) detects it with getnetworkinfo.
	Node NodeKind
	// Wallet names the watch-only descriptor wallet used on Bitcoin Core; "" = DefaultCoreWallet.
	// It must be a plain name (no path separators).
	Wallet string
	// RescanFrom is how far back Bitcoin Core scans the chain when an address is first imported into
	// the wallet. Zero means "now": only the last two hours of blocks and the mempool are scanned, which
	// is right for a fresh address and cheap. Set it to a time before the address's first payment when
	// the address already has history (or import such an address with [RPC.ImportAddress]).
	RescanFrom time.Time
}

// NewRPC returns a JSON-RPC backend. It does no I/O: the node is contacted on first use.
func NewRPC(cfg RPCConfig) (*RPC, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: rpc url %q", ErrBackend, cfg.URL)
	}
	if cfg.Node < NodeAuto || cfg.Node > NodeCore {
		return nil, fmt.Errorf("%w: unknown node kind %d", ErrBackend, cfg.Node)
	}
	name := cfg.Wallet
	if name == "" {
		name = DefaultCoreWallet
	}
	if !utf8.ValidString(name) || strings.ContainsAny(name, "\x00/\\") || name == "." || name == ".." {
		return nil, fmt.Errorf("%w: wallet name %q", ErrBackend, name)
	}
	c := cfg.Client
	if c == nil {
		t := cfg.Timeout
		if t <= 0 {
			t = DefaultTimeout
		}
		c = &http.Client{Timeout: t}
	}
	return &RPC{url: cfg.URL, user: cfg.User, pass: cfg.Pass, client: c, retry: cfg.Retry, fallback: cfg.Fallback,
		node: cfg.Node, walletName: name, rescanFrom: cfg.RescanFrom, imported: map[string]int64{},
		walletURL: u.JoinPath("wallet", name).String()}, nil
}

// RPCError is a JSON-RPC error object returned by the node (code and message verbatim).
type RPCError struct {
	Code    int
	Message string
}

// Error implements error.
func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Call performs one JSON-RPC call with retries on transient failures and decodes the result into
// result (unless nil). A node error is an [*RPCError].
func (r *RPC) Call(ctx context.Context, method string, params []any, result any) error {
	return r.call(ctx, r.url, method, params, result)
}

// call is [RPC.Call] against endpoint (the node's URL or the wallet endpoint).
func (r *RPC) call(ctx context.Context, endpoint, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": r.id.Add(1), "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrBackend, method, err)
	}
	return r.retry.do(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBackend, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(r.user, r.pass)
		resp, err := r.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %s: %w", ErrBackend, method, ctx.Err())
			}
			return &transientError{fmt.Errorf("%w: %s: %v", ErrBackend, method, err)}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return &transientError{fmt.Errorf("%w: read %s: %v", ErrBackend, method, err)}
		}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %s: HTTP %d (check rpc credentials)", ErrBackend, method, resp.StatusCode)
		}
		var rr rpcResponse
		if err := json.Unmarshal(b, &rr); err != nil {
			if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
				return &transientError{fmt.Errorf("%w: %s: HTTP %d", ErrBackend, method, resp.StatusCode)}
			}
			return fmt.Errorf("%w: %s: HTTP %d, undecodable answer", ErrBackend, method, resp.StatusCode)
		}
		if rr.Error != nil {
			return &RPCError{Code: rr.Error.Code, Message: rr.Error.Message}
		}
		if resp.StatusCode != http.StatusOK {
			return &transientError{fmt.Errorf("%w: %s: HTTP %d", ErrBackend, method, resp.StatusCode)}
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(rr.Result, result); err != nil {
			return fmt.Errorf("%w: decode %s result: %v", ErrBackend, method, err)
		}
		return nil
	})
}

// isNoInfo reports btcd's/bitcoind's "no information" error (-5).
func isNoInfo(err error) bool {
	var re *RPCError
	return errors.As(err, &re) && re.Code == int(btcjson.ErrRPCNoTxInfo)
}

// rpcPageSize and rpcMaxTxs bound the address-index scan.
const (
	rpcPageSize = 200
	rpcMaxTxs   = 100_000
)

// UTXOs implements [Backend]. On btcd it scans searchrawtransactions (see [RPC]); coinbase outputs are
// flagged. On Bitcoin Core it imports addr into the watch-only wallet (once per RPC, see
// [RPC.ImportAddress]) and calls listunspent with minconf 0: that includes outputs of mempool
// transactions and leaves out outputs already spent by a mempool transaction, as well as immature
// coinbase outputs (Core lists a coinbase output only once it is mature, and does not say that it is a
// coinbase output, so Coinbase is never set).
func (r *RPC) UTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	kind, err := r.Kind(ctx)
	if err != nil {
		return nil, err
	}
	if kind == NodeCore {
		return r.coreUTXOs(ctx, addr)
	}
	return r.btcdUTXOs(ctx, addr)
}

// btcdUTXOs lists addr's unspent outputs from btcd's address index.
func (r *RPC) btcdUTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	type key = wire.OutPoint
	outs := map[key]UTXO{}
	spent := map[key]bool{}
	want := addr.EncodeAddress()
	for skip := 0; skip < rpcMaxTxs; skip += rpcPageSize {
		var page []btcjson.SearchRawTransactionsResult
		// searchrawtransactions address verbose=1 skip count vinextra=0 reverse=false
		err := r.Call(ctx, "searchrawtransactions", []any{want, 1, skip, rpcPageSize, 0, false}, &page)
		if isNoInfo(err) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("searchrawtransactions: %w", err)
		}
		for _, tx := range page {
			h, err := chainhash.NewHashFromStr(tx.Txid)
			if err != nil {
				return nil, fmt.Errorf("%w: bad txid in search result", ErrBackend)
			}
			if tx.Confirmations > math.MaxInt32 {
				return nil, fmt.Errorf("%w: bad confirmation count in search result", ErrBackend)
			}
			coinbase := false
			for _, in := range tx.Vin {
				if in.Coinbase != "" {
					coinbase = true
					continue
				}
				ph, err := chainhash.NewHashFromStr(in.Txid)
				if err != nil {
					return nil, fmt.Errorf("%w: bad prevout in search result", ErrBackend)
				}
				spent[key{Hash: *ph, Index: in.Vout}] = true
			}
			for _, o := range tx.Vout {
				script, err := hex.DecodeString(o.ScriptPubKey.Hex)
				if err != nil {
					return nil, fmt.Errorf("%w: bad script in search result", ErrBackend)
				}
				if !scriptPays(script, addr) {
					continue
				}
				amt, err := btcutil.NewAmount(o.Value)
				if err != nil || amt < 0 || amt > btcutil.MaxSatoshi || math.IsNaN(o.Value) {
					return nil, fmt.Errorf("%w: bad amount in search result", ErrBackend)
				}
				outs[key{Hash: *h, Index: o.N}] = UTXO{
					OutPoint: key{Hash: *h, Index: o.N}, Value: int64(amt), PkScript: script,
					Confirmations: int64(tx.Confirmations), Coinbase: coinbase,
				}
			}
		}
		if len(page) < rpcPageSize {
			break
		}
	}
	var res []UTXO
	for op, u := range outs {
		if !spent[op] {
			res = append(res, u)
		}
	}
	sortUTXOs(res)
	return res, nil
}

// sortUTXOs orders UTXOs by outpoint.
func sortUTXOs(res []UTXO) {
	slices.SortFunc(res, func(a, b UTXO) int {
		if c := bytes.Compare(a.OutPoint.Hash[:], b.OutPoint.Hash[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
	})
}

func scriptPays(script []byte, addr btcutil.Address) bool {
	want, err := payToAddr(addr)
	return err == nil && bytes.Equal(script, want)
}

// FeeRate implements [Backend] with estimatefee on btcd (BTC/kB for numblocks) and estimatesmartfee on
// Bitcoin Core (BTC/kvB; targets above 1008 blocks are asked as 1008, the most Core tracks). When the
// node has no estimate (regtest, fresh node: an error, a non-positive answer, or Core's "errors" without
// a feerate) the configured fallback is returned, or an error if there is none. The result is at least
// [MinRelayFeeRate].
func (r *RPC) FeeRate(ctx context.Context, targetBlocks int) (FeeRate, error) {
	est, err := r.feeEstimate(ctx, targetBlocks)
	return est.Rate, err
}

// feeEstimate is [RPC.FeeRate] saying whether the fallback was used.
func (r *RPC) feeEstimate(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	if targetBlocks < 1 {
		return FeeEstimate{}, fmt.Errorf("%w: target %d blocks", ErrInvalidRequest, targetBlocks)
	}
	kind, err := r.Kind(ctx)
	if err != nil {
		return FeeEstimate{}, err
	}
	if kind == NodeCore {
		return r.coreFeeRate(ctx, targetBlocks)
	}
	var btcPerKB float64
	err = r.Call(ctx, "estimatefee", []any{targetBlocks}, &btcPerKB)
	var re *RPCError
	if err != nil && !errors.As(err, &re) {
		return FeeEstimate{}, fmt.Errorf("estimatefee: %w", err)
	}
	if err != nil || btcPerKB <= 0 || math.IsNaN(btcPerKB) || btcPerKB > 1 {
		if r.fallback > 0 {
			return FeeEstimate{Rate: r.fallback, Fallback: true}, nil
		}
		return FeeEstimate{}, fmt.Errorf("%w: node has no fee estimate", ErrBackend)
	}
	return FeeEstimate{Rate: max(FeeRate(math.Ceil(btcPerKB*1e8)), MinRelayFeeRate)}, nil
}

// Broadcast implements [Backend] with sendrawtransaction. The node's refusal is a [*RejectError]
// with its code and message (btcd: "rejected transaction ...: ..."; bitcoind: the reject reason).
func (r *RPC) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("serialize: %w", err)
	}
	var got string
	err := r.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(buf.Bytes())}, &got)
	var re *RPCError
	if errors.As(err, &re) {
		return chainhash.Hash{}, &RejectError{Code: re.Code, Reason: re.Message}
	}
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("sendrawtransaction: %w", err)
	}
	want := tx.TxHash()
	if h, err := chainhash.NewHashFromStr(got); err != nil || *h != want {
		return chainhash.Hash{}, fmt.Errorf("%w: node answered txid %.80q, want %s", ErrBackend, got, want)
	}
	return want, nil
}

// TxStatus implements [Backend] with getrawtransaction (verbose) and getblockheader. Bitcoin Core
// without -txindex knows only mempool transactions that way; when it does not know txid, the
// watch-only wallet's gettransaction is asked, which knows every transaction paying or spending an
// imported address.
func (r *RPC) TxStatus(ctx context.Context, txid chainhash.Hash) (TxStatus, error) {
	var tx btcjson.TxRawResult
	err := r.Call(ctx, "getrawtransaction", []any{txid.String(), 1}, &tx)
	if isNoInfo(err) {
		kind, kerr := r.Kind(ctx)
		if kerr != nil {
			return TxStatus{}, kerr
		}
		if kind == NodeCore {
			return r.coreWalletTxStatus(ctx, txid)
		}
		return TxStatus{}, fmt.Errorf("%w: tx %s", ErrNotFound, txid)
	}
	if err != nil {
		return TxStatus{}, fmt.Errorf("getrawtransaction: %w", err)
	}
	if tx.BlockHash == "" || tx.Confirmations == 0 {
		return TxStatus{}, nil
	}
	bh, err := chainhash.NewHashFromStr(tx.BlockHash)
	if err != nil {
		return TxStatus{}, fmt.Errorf("%w: bad block hash", ErrBackend)
	}
	var hdr btcjson.GetBlockHeaderVerboseResult
	if err := r.Call(ctx, "getblockheader", []any{tx.BlockHash, true}, &hdr); err != nil {
		return TxStatus{}, fmt.Errorf("getblockheader: %w", err)
	}
	return TxStatus{Confirmed: true, BlockHeight: int64(hdr.Height), BlockHash: *bh, Confirmations: int64(tx.Confirmations)}, nil
}
