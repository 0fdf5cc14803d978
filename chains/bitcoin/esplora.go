package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// maxBody bounds every response body read from a backend.
const maxBody = 8 << 20

// Esplora is a [Backend] over the Esplora REST API (Blockstream/esplora API.md), for mainnet, testnet
// and signet.
type Esplora struct {
	base   string // e.g. "https://blockstream.info/api" (no trailing slash)
	client *http.Client
	retry  Retry
}

// NewEsplora returns an Esplora client for baseURL with a per-request timeout (0 = [DefaultTimeout])
// and retry policy. A nil client means one with the given timeout.
func NewEsplora(baseURL string, client *http.Client, timeout time.Duration, retry Retry) (*Esplora, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: esplora base url %q", ErrBackend, baseURL)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	return &Esplora{base: strings.TrimRight(baseURL, "/"), client: client, retry: retry}, nil
}

// request performs one HTTP exchange with retries and returns the body of a 200 answer.
func (e *Esplora) request(ctx context.Context, method, path string, body []byte, contentType string) ([]byte, error) {
	var out []byte
	err := e.retry.do(ctx, func(ctx context.Context) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBackend, err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %s %s: %w", ErrBackend, method, path, ctx.Err())
			}
			return &transientError{fmt.Errorf("%w: %s %s: %v", ErrBackend, method, path, err)}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return &transientError{fmt.Errorf("%w: read %s: %v", ErrBackend, path, err)}
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			out = b
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			return &transientError{fmt.Errorf("%w: %s %s: HTTP %d", ErrBackend, method, path, resp.StatusCode)}
		case resp.StatusCode == http.StatusNotFound && method == http.MethodGet:
			return fmt.Errorf("%w: %s", ErrNotFound, path)
		case method == http.MethodPost:
			// Esplora relays the node's refusal as a 400 whose body is the reason.
			return &RejectError{Code: resp.StatusCode, Reason: strings.TrimSpace(string(b))}
		default:
			return fmt.Errorf("%w: %s %s: HTTP %d: %.200s", ErrBackend, method, path, resp.StatusCode, b)
		}
	})
	return out, err
}

func (e *Esplora) getJSON(ctx context.Context, path string, v any) error {
	b, err := e.request(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrBackend, path, err)
	}
	return nil
}

type esploraStatus struct {
	Confirmed   bool   `json:"confirmed"`
	BlockHeight *int64 `json:"block_height"`
	BlockHash   string `json:"block_hash"`
}

type esploraUTXO struct {
	TxID   string        `json:"txid"`
	Vout   *uint32       `json:"vout"`
	Value  *int64        `json:"value"`
	Status esploraStatus `json:"status"`
}

// UTXOs implements [Backend] with GET /address/:address/utxo. Esplora does not say whether an output is
// a coinbase output; Confirmations is derived from the tip height (GET /blocks/tip/height), and a
// caller that may receive coinbase outputs must check maturity itself.
func (e *Esplora) UTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error) {
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("utxos: %w", err)
	}
	var items []esploraUTXO
	if err := e.getJSON(ctx, "/address/"+url.PathEscape(addr.EncodeAddress())+"/utxo", &items); err != nil {
		return nil, err
	}
	tip, err := e.TipHeight(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UTXO, 0, len(items))
	for i, it := range items {
		h, err := chainhash.NewHashFromStr(it.TxID)
		if err != nil || len(it.TxID) != 64 || it.Vout == nil || it.Value == nil || *it.Value < 0 || *it.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: utxo %d malformed", ErrBackend, i)
		}
		u := UTXO{OutPoint: wire.OutPoint{Hash: *h, Index: *it.Vout}, Value: *it.Value, PkScript: script}
		if it.Status.Confirmed {
			if it.Status.BlockHeight == nil || *it.Status.BlockHeight < 0 || *it.Status.BlockHeight > tip {
				return nil, fmt.Errorf("%w: utxo %d: bad block height", ErrBackend, i)
			}
			u.Confirmations = tip - *it.Status.BlockHeight + 1
		}
		out = append(out, u)
	}
	return out, nil
}

// TipHeight returns the height of the best block (GET /blocks/tip/height).
func (e *Esplora) TipHeight(ctx context.Context) (int64, error) {
	b, err := e.request(ctx, http.MethodGet, "/blocks/tip/height", nil, "")
	if err != nil {
		return 0, err
	}
	h, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || h < 0 {
		return 0, fmt.Errorf("%w: tip height %.20q", ErrBackend, b)
	}
	return h, nil
}

// FeeRate implements [Backend] with GET /fee-estimates (target in blocks → sat/vB). It uses the estimate
// for the largest target not above targetBlocks (the faster estimate, so never too cheap); if there is
// none, the smallest target available. The result is rounded up to whole sat/kvB and is at least
// [MinRelayFeeRate].
func (e *Esplora) FeeRate(ctx context.Context, targetBlocks int) (FeeRate, error) {
	if targetBlocks < 1 {
		return 0, fmt.Errorf("%w: target %d blocks", ErrInvalidRequest, targetBlocks)
	}
	var est map[string]float64
	if err := e.getJSON(ctx, "/fee-estimates", &est); err != nil {
		return 0, err
	}
	type kv struct {
		target int
		rate   float64
	}
	var all []kv
	for k, v := range est {
		t, err := strconv.Atoi(k)
		if err != nil || t < 1 || math.IsNaN(v) || v < 0 || v > 1e6 {
			return 0, fmt.Errorf("%w: fee estimate %q malformed", ErrBackend, k)
		}
		all = append(all, kv{t, v})
	}
	if len(all) == 0 {
		return 0, fmt.Errorf("%w: no fee estimates", ErrBackend)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].target < all[j].target })
	pick := all[0]
	for _, x := range all {
		if x.target <= targetBlocks {
			pick = x
		}
	}
	r := FeeRate(math.Ceil(pick.rate * 1000))
	return max(r, MinRelayFeeRate), nil
}

// Broadcast implements [Backend] with POST /tx (body: raw transaction hex; answer: the txid). A refusal
// is a [*RejectError] with the server's text.
func (e *Esplora) Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return chainhash.Hash{}, fmt.Errorf("serialize: %w", err)
	}
	b, err := e.request(ctx, http.MethodPost, "/tx", []byte(hex.EncodeToString(buf.Bytes())), "text/plain")
	if err != nil {
		return chainhash.Hash{}, err
	}
	want := tx.TxHash()
	got, err := chainhash.NewHashFromStr(strings.TrimSpace(string(b)))
	if err != nil || *got != want {
		return chainhash.Hash{}, fmt.Errorf("%w: broadcast answered %.80q, want txid %s", ErrBackend, b, want)
	}
	return want, nil
}

// TxStatus implements [Backend] with GET /tx/:txid/status and the tip height.
func (e *Esplora) TxStatus(ctx context.Context, txid chainhash.Hash) (TxStatus, error) {
	var st esploraStatus
	if err := e.getJSON(ctx, "/tx/"+txid.String()+"/status", &st); err != nil {
		return TxStatus{}, err
	}
	if !st.Confirmed {
		return TxStatus{}, nil
	}
	h, err := chainhash.NewHashFromStr(st.BlockHash)
	if err != nil || st.BlockHeight == nil || *st.BlockHeight < 0 {
		return TxStatus{}, fmt.Errorf("%w: tx status malformed", ErrBackend)
	}
	tip, err := e.TipHeight(ctx)
	if err != nil {
		return TxStatus{}, err
	}
	return TxStatus{Confirmed: true, BlockHeight: *st.BlockHeight, BlockHash: *h, Confirmations: max(tip-*st.BlockHeight+1, 1)}, nil
}
