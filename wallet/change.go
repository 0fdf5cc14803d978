package wallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// Unconfirmed own change ("trusted" outputs, as Bitcoin Core calls them).
//
// An output of a transaction this wallet built with its own coin
// selection (a send or a BuildPSBT, not an imported PSBT) and that the
// node accepted is spendable before it confirms: only this wallet can
// double-spend its inputs, so the output cannot vanish unless the wallet
// itself replaces the transaction. Outputs others sent to the wallet stay
// unspendable until MinConf confirmations: the sender can still replace
// them. Coin selection first tries confirmed outputs only and adds trusted
// unconfirmed ones only when those do not suffice (Core's order), so a
// chain of unconfirmed transactions is made only when it is needed.
//
// An imported PSBT is excluded because its inputs were chosen elsewhere and
// may themselves be unconfirmed outputs from others (Core's IsTrusted
// requires every input of a trusted transaction to be trusted).

// trustedTxids returns the txids of the wallet's own transactions whose
// outputs may be spent unconfirmed: sends and PSBTs built by this service,
// accepted by the node (broadcast) or confirmed.
func (s *Service) trustedTxids(ctx context.Context, walletID string) (map[string]bool, error) {
	rows, err := s.st.q().query(ctx, `SELECT txid FROM transactions WHERE wallet_id = ? AND origin IN (?, ?) AND status IN (?, ?) AND txid <> ''`,
		walletID, originSend, originPSBT, StatusBroadcast, StatusConfirmed)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var txid string
		if err := rows.Scan(&txid); err != nil {
			return nil, err
		}
		out[txid] = true
	}
	return out, rows.Err()
}

// selectSpend builds p from free (the wallet's unlocked UTXOs) at rate:
// first with confirmed outputs only, then with the wallet's unconfirmed
// own change too. all is every UTXO of the wallet (locked ones included)
// and locked the valid locks; they only feed the insufficient-funds
// message, which says how much is confirmed, unconfirmed (trusted own
// change / untrusted from others), immature and locked.
func (s *Service) selectSpend(ctx context.Context, bw *btcWallet, p *sendPlan, free, all []bitcoin.UTXO, locked map[string]lockInfo, rate bitcoin.FeeRate) (*bitcoin.Spend, error) {
	minConf := int64(s.cfg.MinConf)
	req := bitcoin.SpendRequest{UTXOs: free, Outputs: p.outs, FeeRate: rate, MinConf: minConf}
	sp, err := bw.w.BuildSpend(req)
	if !errors.Is(err, bitcoin.ErrInsufficientFunds) {
		return sp, err
	}
	trusted, terr := s.trustedTxids(ctx, bw.r.w.ID)
	if terr != nil {
		return nil, s.dbErr("read own transactions", terr)
	}
	// Second pass: trusted unconfirmed outputs become eligible. The copy
	// passed to the builder counts them as having MinConf confirmations;
	// that value is used for eligibility only, never shown.
	widened := make([]bitcoin.UTXO, 0, len(free))
	extra := false
	for _, u := range free {
		if !u.Coinbase && u.Confirmations < minConf && trusted[u.OutPoint.Hash.String()] {
			u.Confirmations = minConf
			extra = true
		}
		widened = append(widened, u)
	}
	if extra {
		req.UTXOs = widened
		sp, err = bw.w.BuildSpend(req)
		if !errors.Is(err, bitcoin.ErrInsufficientFunds) {
			return sp, err
		}
	}
	f := fundsOf(bw, all, locked, trusted, minConf)
	return nil, fmt.Errorf("%w: the outputs and the fee need more than the spendable %d sat (confirmed %d, unconfirmed own change %d); "+
		"not spendable: unconfirmed from others %d, immature %d, locked by pending transactions %d",
		ErrInsufficient, f.confirmed+f.trusted, f.confirmed, f.trusted, f.untrusted, f.immature, f.locked)
}

// funds splits a wallet's UTXOs by spendability (satoshi).
type funds struct {
	confirmed, trusted, untrusted, immature, locked int64
}

func fundsOf(bw *btcWallet, all []bitcoin.UTXO, locked map[string]lockInfo, trusted map[string]bool, minConf int64) funds {
	var f funds
	for _, u := range all {
		// Outputs paying any of the wallet's addresses (base or derived).
		if !bw.w.Owns(u.PkScript) {
			continue
		}
		switch {
		case hasLock(locked, u):
			f.locked += u.Value
		case u.Coinbase && u.Confirmations < bitcoin.CoinbaseMaturity:
			f.immature += u.Value
		case u.Confirmations >= minConf:
			f.confirmed += u.Value
		case trusted[u.OutPoint.Hash.String()]:
			f.trusted += u.Value
		default:
			f.untrusted += u.Value
		}
	}
	return f
}

func hasLock(locked map[string]lockInfo, u bitcoin.UTXO) bool {
	_, ok := locked[outpointKey(u.OutPoint)]
	return ok
}
