package bitcoin

import (
	"context"
	"errors"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Backend is a view of the chain: the wallet's UTXOs, fee estimates, broadcast and transaction status.
// [*Esplora] and [*RPC] implement it.
type Backend interface {
	// UTXOs returns the unspent outputs paying addr, confirmed and in the mempool.
	UTXOs(ctx context.Context, addr btcutil.Address) ([]UTXO, error)
	// FeeRate returns the estimated fee rate for confirmation within targetBlocks blocks.
	FeeRate(ctx context.Context, targetBlocks int) (FeeRate, error)
	// Broadcast submits tx. A refusal is a [*RejectError] carrying the node's reason.
	Broadcast(ctx context.Context, tx *wire.MsgTx) (chainhash.Hash, error)
	// TxStatus reports whether txid is known and how deeply it is confirmed; unknown is [ErrNotFound].
	TxStatus(ctx context.Context, txid chainhash.Hash) (TxStatus, error)
}

var (
	_ Backend = (*Esplora)(nil)
	_ Backend = (*RPC)(nil)
)

// TxStatus is the chain status of a transaction.
type TxStatus struct {
	Confirmed     bool
	BlockHeight   int64          // 0 when unconfirmed
	BlockHash     chainhash.Hash // zero when unconfirmed
	Confirmations int64          // 0 when unconfirmed; filled by backends that know the tip
}

// Retry is the retry policy for transient backend errors (connection failures, timeouts, HTTP 429 and
// 5xx). Rejections and other 4xx answers are never retried.
type Retry struct {
	Attempts int           // total attempts, at least 1
	Initial  time.Duration // first backoff; doubles after each failure
	Max      time.Duration // backoff ceiling
}

// DefaultTimeout is the per-request timeout used when a backend is configured with none.
const DefaultTimeout = 30 * time.Second

// DefaultRetry makes 4 attempts with 200 ms, 400 ms, 800 ms backoff.
var DefaultRetry = Retry{Attempts: 4, Initial: 200 * time.Millisecond, Max: 5 * time.Second}

// transientError marks an error worth retrying.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// do runs op under the retry policy, sleeping between transient failures and stopping at ctx's end.
func (r Retry) do(ctx context.Context, op func(context.Context) error) error {
	attempts := max(r.Attempts, 1)
	backoff := r.Initial
	var err error
	for i := range attempts {
		err = op(ctx)
		var te *transientError
		if err == nil || !errors.As(err, &te) || i == attempts-1 {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, max(r.Max, r.Initial))
	}
	var te *transientError
	if errors.As(err, &te) {
		return te.err
	}
	return err
}
