package bitcoin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// ErrOtherNetwork reports a backend whose chain is not the network expected:
// its genesis block differs (output scripts carry no network, so this is
// the check that keeps a wallet off another chain).
var ErrOtherNetwork = errors.New("bitcoin: backend is on another network")

// GenesisSource is a backend that can name its chain's genesis block;
// [*RPC] and [*Esplora] are.
type GenesisSource interface {
	GenesisHash(ctx context.Context) (chainhash.Hash, error)
}

var (
	_ GenesisSource = (*RPC)(nil)
	_ GenesisSource = (*Esplora)(nil)
)

// CheckNetwork asks b for its genesis block and returns an error wrapping
// [ErrOtherNetwork] unless it is net's.
func CheckNetwork(ctx context.Context, b GenesisSource, net *Network) error {
	got, err := b.GenesisHash(ctx)
	if err != nil {
		return fmt.Errorf("genesis block: %w", err)
	}
	if got != *net.Params.GenesisHash {
		return fmt.Errorf("%w: not on %s (genesis block %s, %s's is %s)", ErrOtherNetwork, net.Name, got, net.Name, net.Params.GenesisHash)
	}
	return nil
}

// GenesisHash returns the node's block 0 hash (getblockhash 0; bitcoind
// and btcd).
func (r *RPC) GenesisHash(ctx context.Context) (chainhash.Hash, error) {
	var s string
	if err := r.Call(ctx, "getblockhash", []any{0}, &s); err != nil {
		return chainhash.Hash{}, err
	}
	return parseBlockHash(s, "getblockhash 0")
}

// GenesisHash returns the server's block 0 hash (GET /block-height/0).
func (e *Esplora) GenesisHash(ctx context.Context) (chainhash.Hash, error) {
	b, err := e.request(ctx, http.MethodGet, "/block-height/0", nil, "")
	if err != nil {
		return chainhash.Hash{}, err
	}
	return parseBlockHash(strings.TrimSpace(string(b)), "GET /block-height/0")
}

// parseBlockHash decodes a block hash in its display hex (64 digits).
func parseBlockHash(s, what string) (chainhash.Hash, error) {
	h, err := chainhash.NewHashFromStr(s)
	if err != nil || len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("%w: %s answered %.80q", ErrBackend, what, s)
	}
	return *h, nil
}

// TxCheckError is a transaction that [CheckTx] refuses; Reason says why.
type TxCheckError struct{ Reason string }

func (e *TxCheckError) Error() string { return "bitcoin: transaction check: " + e.Reason }

// CheckTx checks a signed transaction without a node: consensus sanity
// (blockchain.CheckTransactionSanity: inputs and outputs present, values
// in [0, 21e6 BTC] and their sum too, no duplicate inputs, size), every
// input carrying a scriptSig or witness, and, when prevOuts (the outputs
// the inputs spend, in input order) is not nil, the fee and each input's
// script (txscript engine, standard verify flags). A refusal is a
// [*TxCheckError].
func CheckTx(tx *wire.MsgTx, prevOuts []*wire.TxOut) error {
	refuse := func(format string, args ...any) error { return &TxCheckError{Reason: fmt.Sprintf(format, args...)} }
	if err := blockchain.CheckTransactionSanity(btcutil.NewTx(tx)); err != nil {
		return refuse("%s", err.Error())
	}
	for i, txIn := range tx.TxIn {
		if len(txIn.SignatureScript) == 0 && len(txIn.Witness) == 0 {
			return refuse("input %d has neither scriptSig nor witness", i)
		}
	}
	if prevOuts == nil {
		return nil
	}
	if len(prevOuts) != len(tx.TxIn) {
		return refuse("%d spent outputs given for %d inputs", len(prevOuts), len(tx.TxIn))
	}
	var sumIn, sumOut int64
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, txIn := range tx.TxIn {
		po := prevOuts[i]
		if po == nil {
			return refuse("input %d: spent output missing", i)
		}
		if po.Value < 0 || po.Value > btcutil.MaxSatoshi {
			return refuse("input %d spends an out-of-range value", i)
		}
		if sumIn += po.Value; sumIn > btcutil.MaxSatoshi {
			return refuse("inputs sum above 21 million BTC")
		}
		fetcher.AddPrevOut(txIn.PreviousOutPoint, po)
	}
	for _, o := range tx.TxOut {
		sumOut += o.Value
	}
	if sumOut > sumIn {
		return refuse("outputs (%d sat) exceed inputs (%d sat)", sumOut, sumIn)
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i := range tx.TxIn {
		po := prevOuts[i]
		vm, err := txscript.NewEngine(po.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, po.Value, fetcher)
		if err != nil {
			return refuse("input %d: %v", i, err)
		}
		if err := vm.Execute(); err != nil {
			return refuse("input %d: script verification failed: %v", i, err)
		}
	}
	return nil
}
