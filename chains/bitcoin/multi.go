package bitcoin

import (
	"context"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// MultiLister is implemented by backends that list the unspent outputs of many addresses at once
// ([*RPC]). [UTXOsOf] uses it when present.
type MultiLister interface {
	// UTXOsOf returns the unspent outputs paying any of addrs, confirmed and in the mempool.
	UTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error)
}

// MaxWatchedAddresses bounds one [UTXOsOf] call.
const MaxWatchedAddresses = 100_000

// multiConcurrency is how many per-address requests [UTXOsOf] keeps in flight.
const multiConcurrency = 8

// UTXOsOf returns the unspent outputs paying any of addrs (a wallet's watched addresses): with one
// call when be is a [MultiLister], otherwise with one [Backend.UTXOs] per address, at most 8 in
// flight. The result is sorted by outpoint and holds every outpoint once; the first failure fails
// the whole listing (a partial balance would be wrong, not just incomplete).
func UTXOsOf(ctx context.Context, be Backend, addrs []btcutil.Address) ([]UTXO, error) {
	if len(addrs) > MaxWatchedAddresses {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrInvalidRequest, len(addrs), MaxWatchedAddresses)
	}
	if ml, ok := be.(MultiLister); ok {
		return ml.UTXOsOf(ctx, addrs)
	}
	return eachAddress(ctx, addrs, be.UTXOs)
}

// eachAddress runs list for every address, at most multiConcurrency at once, and merges the
// results.
func eachAddress(ctx context.Context, addrs []btcutil.Address, list func(context.Context, btcutil.Address) ([]UTXO, error)) ([]UTXO, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([][]UTXO, len(addrs))
	errs := make([]error, len(addrs))
	asked := make([]bool, len(addrs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(multiConcurrency, len(addrs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = list(ctx, addrs[i])
				asked[i] = true
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := range addrs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("utxos of %s: %w", addrs[i].EncodeAddress(), err)
		}
	}
	for i := range asked {
		if !asked[i] { // cancelled from outside before every address was asked
			return nil, fmt.Errorf("utxos of %s: %w", addrs[i].EncodeAddress(), context.Cause(ctx))
		}
	}
	seen := map[wire.OutPoint]bool{}
	var out []UTXO
	for _, us := range results {
		for _, u := range us {
			if !seen[u.OutPoint] {
				seen[u.OutPoint] = true
				out = append(out, u)
			}
		}
	}
	sortUTXOs(out)
	return out, nil
}

// UTXOsOf implements [MultiLister]. On Bitcoin Core every address is imported into the watch-only
// wallet (once per RPC, [RPC.ImportAddress]) and all are listed with one listunspent; on btcd each
// address is one searchrawtransactions scan, at most 8 in flight.
func (r *RPC) UTXOsOf(ctx context.Context, addrs []btcutil.Address) ([]UTXO, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	kind, err := r.Kind(ctx)
	if err != nil {
		return nil, err
	}
	if kind != NodeCore {
		return eachAddress(ctx, addrs, r.btcdUTXOs)
	}
	scripts := make(map[string]bool, len(addrs))
	names := make([]string, len(addrs))
	for i, a := range addrs {
		if err := r.ImportAddress(ctx, a, r.rescanFrom); err != nil {
			return nil, err
		}
		s, err := payToAddr(a)
		if err != nil {
			return nil, fmt.Errorf("utxos: %w", err)
		}
		scripts[string(s)] = true
		names[i] = a.EncodeAddress()
	}
	var items []coreUnspent
	// listunspent minconf maxconf ["address", …]: minconf 0 includes mempool outputs.
	if err := r.walletCall(ctx, "listunspent", []any{0, 9999999, names}, &items); err != nil {
		return nil, err
	}
	return parseCoreUnspentOf(items, func(spk []byte) bool { return scripts[string(spk)] })
}
