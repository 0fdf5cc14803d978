package wallet

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// Transactions returns the wallet's history, newest first: its sends and
// PSBTs, and incoming payments. Incoming payments are recorded when first
// seen among the wallet's UTXOs (here or by Refresh), so a payment that
// was spent before the service ever saw it is not listed. If the chain
// backend is unreachable the stored history is returned.
func (s *Service) Transactions(ctx context.Context, walletID string) ([]Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if err := s.recordIncoming(ctx, bw); err != nil && !errors.Is(err, ErrUnavailable) {
		return nil, err
	}
	rs, err := s.queryTxRows(ctx, "list transactions", `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? ORDER BY created_at DESC, id DESC`, walletID)
	if err != nil {
		return nil, err
	}
	out := make([]Transaction, 0, len(rs))
	for _, r := range rs {
		t, err := s.public(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// GetTransaction returns one transaction of the wallet, by its id
// ("tx_…") or by its Bitcoin txid (64 hex digits).
func (s *Service) GetTransaction(ctx context.Context, walletID, txID string) (*Transaction, error) {
	if _, err := s.btc(ctx, walletID); err != nil {
		return nil, err
	}
	var r *txRow
	var err error
	if len(txID) == 64 && checkID("transaction", "", txID, 64) == nil {
		r, err = scanTx(s.st.q().row(ctx, `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? AND txid = ? ORDER BY created_at DESC LIMIT 1`, walletID, txID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: no transaction %s in wallet %s", ErrNotFound, txID, walletID)
		}
		if err != nil {
			return nil, s.dbErr("read transaction", err)
		}
	} else {
		if err := checkID("transaction", "tx_", txID, 24); err != nil {
			return nil, err
		}
		if r, err = s.txByID(ctx, walletID, txID); err != nil {
			return nil, err
		}
	}
	return s.public(ctx, r)
}

// recordIncoming stores, once, every transaction paying the wallet that
// appears in its UTXOs and is not one of its own.
func (s *Service) recordIncoming(ctx context.Context, bw *btcWallet) error {
	// Every address of the wallet: base and derived (addresses.go).
	us, err := s.listUTXOs(ctx, bw)
	if err != nil {
		return err
	}
	return s.recordIncomingFrom(ctx, bw, us)
}

// recordIncomingFrom is recordIncoming on UTXOs already fetched. Every
// path that lists a wallet's UTXOs calls it, so a payment is usually
// recorded (with its time of first sight) before it is spent.
func (s *Service) recordIncomingFrom(ctx context.Context, bw *btcWallet, us []bitcoin.UTXO) error {
	type agg struct {
		amount int64
		conf   int64
		addr   string // the (first) address paid
	}
	byTx := map[string]*agg{}
	var order []string
	for _, u := range us {
		if !bw.w.Owns(u.PkScript) {
			continue
		}
		k := u.OutPoint.Hash.String()
		a := byTx[k]
		if a == nil {
			a = &agg{conf: u.Confirmations, addr: scriptAddress(u.PkScript, bw.net)}
			byTx[k] = a
			order = append(order, k)
		}
		a.amount += u.Value
	}
	if len(order) == 0 {
		return nil
	}
	known := map[string]bool{}
	rows, err := s.st.q().query(ctx, `SELECT txid FROM transactions WHERE wallet_id = ? AND txid <> ''`, bw.r.w.ID)
	if err != nil {
		return s.dbErr("read transactions", err)
	}
	for rows.Next() {
		var txid string
		if err := rows.Scan(&txid); err != nil {
			rows.Close()
			return s.dbErr("read transactions", err)
		}
		known[txid] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.dbErr("read transactions", err)
	}
	for _, txid := range order {
		a := byTx[txid]
		if known[txid] {
			continue
		}
		status := StatusBroadcast
		if a.conf > 0 {
			status = StatusConfirmed
		}
		outs, _ := json.Marshal([]Output{{Address: a.addr, Amount: a.amount}})
		now := s.nowNano()
		if _, err := s.st.q().exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, confirmations,
			created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wallet_id, idem_key) DO NOTHING`,
			newID("tx_", 12), bw.r.w.ID, incomingKeyPrefix+txid, originIncoming, txid, status, string(outs), a.amount, a.conf, now, now); err != nil {
			return s.dbErr("record incoming", err)
		}
	}
	return nil
}

// Refresh brings every pending transaction up to date: it releases
// expired PSBT locks (failing their transactions), fails sends left built
// for too long (a crash before signing, never retried), rebroadcasts
// signed transactions, records confirmations (releasing the inputs'
// locks) and incoming payments (an incoming payment gone from the node
// for an hour without confirming is marked failed). It returns the first
// error met, after trying everything.
func (s *Service) Refresh(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	now := s.nowNano()
	// Expired PSBT reservations and stale built sends.
	rs, err := s.queryTxRows(ctx, "refresh", `SELECT `+txCols+` FROM transactions WHERE status IN (?, ?, ?) OR (status = ? AND confirmations < 6) ORDER BY created_at`,
		StatusBuilt, StatusSigned, StatusBroadcast, StatusConfirmed)
	if err != nil {
		return err
	}
	wallets := map[string]*btcWallet{}
	getW := func(id string) (*btcWallet, error) {
		if bw, ok := wallets[id]; ok {
			return bw, nil
		}
		bw, err := s.btc(ctx, id)
		if err == nil {
			wallets[id] = bw
		}
		return bw, err
	}
	for _, r := range rs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		bw, err := getW(r.t.WalletID)
		if err != nil {
			keep(err)
			continue
		}
		switch r.t.Status {
		case StatusBuilt:
			if r.signReq && now-r.t.UpdatedAt.UnixNano() < int64(DefaultStaleBuilt) {
				continue // SignPSBT in progress
			}
			// A row locks the wallet's own inputs (all of them, but for a
			// PSBT with inputs of others); it lapsed when any lock expired
			// (or expired locks were already swept and none is left).
			var held, total int
			if err := s.st.q().row(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN expires_at = 0 OR expires_at > ? THEN 1 ELSE 0 END), 0)
				FROM utxo_locks WHERE tx_id = ?`, now, r.t.ID).Scan(&total, &held); err != nil {
				keep(s.dbErr("refresh", err))
				continue
			}
			stale := (r.origin == originSend && now-r.t.CreatedAt.UnixNano() > int64(DefaultStaleBuilt)) || r.signReq
			if held == 0 || held < total || stale {
				unlock := s.lockFlow(r.t.ID)
				s.fail(ctx, r, "expired before it was signed")
				unlock()
			}
		case StatusSigned:
			if !r.broadcast {
				// Signed PSBT handed to the user: did they broadcast it?
				if st, err := bw.be.TxStatus(ctx, mustHash(r.t.TxID)); err == nil {
					s.setChainStatus(ctx, r, st)
				}
				continue
			}
			if _, err := s.advance(ctx, bw, r.t.ID); err != nil && !errors.Is(err, ErrRejected) {
				keep(err)
			}
		case StatusBroadcast, StatusConfirmed:
			st, err := bw.be.TxStatus(ctx, mustHash(r.t.TxID))
			switch {
			case err == nil:
				if st.Confirmations != r.t.Confirmations || st.Confirmed != (r.t.Status == StatusConfirmed) {
					s.setChainStatus(ctx, r, st)
				}
			case errors.Is(err, bitcoin.ErrNotFound) && r.origin != originIncoming && r.t.Status == StatusBroadcast:
				// Dropped from the mempool: rebroadcast; a refusal fails it.
				unlock := s.lockFlow(r.t.ID)
				if err := s.broadcastRow(ctx, bw, r); err != nil && !errors.Is(err, ErrRejected) {
					keep(err)
				}
				unlock()
			case errors.Is(err, bitcoin.ErrNotFound) && r.t.Status == StatusBroadcast && now-r.t.CreatedAt.UnixNano() > int64(time.Hour):
				// An incoming payment that left the mempool unconfirmed
				// (replaced or evicted) for an hour.
				s.fail(ctx, r, "dropped from the mempool")
			case errors.Is(err, bitcoin.ErrNotFound):
			default:
				keep(chainErr("transaction status", err))
			}
		}
	}
	// Incoming payments of every Bitcoin wallet.
	ws, err := s.st.q().query(ctx, `SELECT `+walletCols+` FROM wallets WHERE kind = ?`, KindBitcoin)
	if err != nil {
		return s.dbErr("refresh", err)
	}
	var wrs []*row
	for ws.Next() {
		r, err := scanWallet(ws)
		if err != nil {
			ws.Close()
			return s.dbErr("refresh", err)
		}
		wrs = append(wrs, r)
	}
	ws.Close()
	for _, r := range wrs {
		bw, err := s.btcOf(ctx, r)
		if err != nil {
			continue // network no longer configured
		}
		// Its derived addresses too: a payment to any of them is incoming.
		if err := s.loadHD(ctx, bw); err != nil {
			keep(err)
			continue
		}
		keep(s.recordIncoming(ctx, bw))
	}
	return first
}

// mustHash parses a stored txid (written by this package); a corrupt one
// becomes the zero hash, which no backend knows.
func mustHash(s string) chainhash.Hash {
	p, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}
	}
	return *p
}

// Track runs Refresh every Config.PollInterval until ctx ends, logging
// failures (they are retried at the next poll).
func (s *Service) Track(ctx context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("refresh_failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// queryTxRows runs a query selecting txCols and reads every row; what names
// the operation in a database error.
func (s *Service) queryTxRows(ctx context.Context, what, q string, args ...any) ([]*txRow, error) {
	rows, err := s.st.q().query(ctx, q, args...)
	if err != nil {
		return nil, s.dbErr(what, err)
	}
	defer rows.Close()
	var rs []*txRow
	for rows.Next() {
		r, err := scanTx(rows)
		if err != nil {
			return nil, s.dbErr(what, err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr(what, err)
	}
	return rs, nil
}
