package bitcoin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// OutputLookup is implemented by backends that can look up any unspent output, not only the wallet's
// ([*RPC] with gettxout, [*Esplora] with GET /tx/:txid and /tx/:txid/outspend/:vout). The wallet uses
// it to check the spent outputs a PSBT claims for inputs that are not its own.
type OutputLookup interface {
	// TxOut returns the amount and script of the unspent output op (confirmed or in the mempool). An
	// unknown or spent output is [ErrNotFound].
	TxOut(ctx context.Context, op wire.OutPoint) (*wire.TxOut, error)
}

// FeeEstimator is implemented by backends that say whether a fee rate is the node's estimate or the
// configured fallback ([*RPC], [*Esplora]).
type FeeEstimator interface {
	// FeeEstimate is [Backend.FeeRate] with its source.
	FeeEstimate(ctx context.Context, targetBlocks int) (FeeEstimate, error)
}

// FeeEstimate is a fee rate and where it came from.
type FeeEstimate struct {
	Rate FeeRate
	// Fallback is true when the node had no estimate (btcd always on regtest, a fresh Core node) and
	// the configured fallback rate ([RPCConfig].Fallback) was returned instead.
	Fallback bool
}

var (
	_ OutputLookup = (*RPC)(nil)
	_ OutputLookup = (*Esplora)(nil)
	_ FeeEstimator = (*RPC)(nil)
	_ FeeEstimator = (*Esplora)(nil)
)

// rpcTxOut is the part of gettxout's answer TxOut needs (same shape on btcd and Bitcoin Core).
type rpcTxOut struct {
	Value        json.RawMessage `json:"value"`
	ScriptPubKey struct {
		Hex string `json:"hex"`
	} `json:"scriptPubKey"`
}

// TxOut implements [OutputLookup] with gettxout txid n include_mempool=true. Both btcd and Core
// answer null for an unknown or spent output. (btcd does not hide a confirmed output spent by a
// mempool transaction; Core does.) The amount is parsed from its decimal text exactly.
func (r *RPC) TxOut(ctx context.Context, op wire.OutPoint) (*wire.TxOut, error) {
	var raw json.RawMessage
	err := r.Call(ctx, "gettxout", []any{op.Hash.String(), op.Index, true}, &raw)
	if isNoInfo(err) || (err == nil && (len(raw) == 0 || string(raw) == "null")) {
		return nil, fmt.Errorf("%w: output %s", ErrNotFound, op)
	}
	var re *RPCError
	if errors.As(err, &re) && re.Code == -8 { // invalid vout (btcd: ErrRPCInvalidTxVout)
		return nil, fmt.Errorf("%w: output %s", ErrNotFound, op)
	}
	if err != nil {
		return nil, fmt.Errorf("gettxout: %w", err)
	}
	var res rpcTxOut
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%w: gettxout: %v", ErrBackend, err)
	}
	v, err := parseBTCAmount(res.Value)
	if err != nil || v < 0 || v > btcutil.MaxSatoshi {
		return nil, fmt.Errorf("%w: gettxout: bad amount", ErrBackend)
	}
	script, err := hex.DecodeString(res.ScriptPubKey.Hex)
	if err != nil {
		return nil, fmt.Errorf("%w: gettxout: bad script", ErrBackend)
	}
	return wire.NewTxOut(v, script), nil
}

// esploraTx is the part of GET /tx/:txid TxOut needs.
type esploraTx struct {
	Vout []struct {
		ScriptPubKey string `json:"scriptpubkey"`
		Value        *int64 `json:"value"`
	} `json:"vout"`
}

// TxOut implements [OutputLookup] with GET /tx/:txid (amount and script) and GET
// /tx/:txid/outspend/:vout (whether a confirmed or mempool transaction spends it).
func (e *Esplora) TxOut(ctx context.Context, op wire.OutPoint) (*wire.TxOut, error) {
	var tx esploraTx
	if err := e.getJSON(ctx, "/tx/"+op.Hash.String(), &tx); err != nil {
		return nil, err
	}
	if int(op.Index) >= len(tx.Vout) {
		return nil, fmt.Errorf("%w: output %s", ErrNotFound, op)
	}
	o := tx.Vout[op.Index]
	script, err := hex.DecodeString(o.ScriptPubKey)
	if err != nil || o.Value == nil || *o.Value < 0 || *o.Value > btcutil.MaxSatoshi {
		return nil, fmt.Errorf("%w: tx %s output %d malformed", ErrBackend, op.Hash, op.Index)
	}
	var spend struct {
		Spent *bool `json:"spent"`
	}
	if err := e.getJSON(ctx, "/tx/"+op.Hash.String()+"/outspend/"+strconv.FormatUint(uint64(op.Index), 10), &spend); err != nil {
		return nil, err
	}
	if spend.Spent == nil {
		return nil, fmt.Errorf("%w: outspend malformed", ErrBackend)
	}
	if *spend.Spent {
		return nil, fmt.Errorf("%w: output %s is spent", ErrNotFound, op)
	}
	return wire.NewTxOut(*o.Value, script), nil
}

// FeeEstimate implements [FeeEstimator]: Esplora has no fallback, so Fallback is always false.
func (e *Esplora) FeeEstimate(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	r, err := e.FeeRate(ctx, targetBlocks)
	return FeeEstimate{Rate: r}, err
}

// FeeEstimate implements [FeeEstimator]: [RPC.FeeRate] saying whether the fallback was used.
func (r *RPC) FeeEstimate(ctx context.Context, targetBlocks int) (FeeEstimate, error) {
	return r.feeEstimate(ctx, targetBlocks)
}
