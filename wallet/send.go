package wallet

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// errRetry asks reserve to select coins again (a lock race was lost).
var errRetry = errors.New("lock race lost")

// errIdem reports a concurrent insert under the same idempotency key.
var errIdem = errors.New("idempotency race")

// reserve builds a spend from unlocked UTXOs and stores it (status built)
// together with locks on its inputs, in one database transaction. The
// locks table's primary key is the outpoint, so of two concurrent
// reservations of the same UTXO exactly one commits; the other selects
// again without it (up to 8 times), or fails with ErrInsufficient.
func (s *Service) reserve(ctx context.Context, bw *btcWallet, origin, idem string, p *sendPlan, lockTTL int64) (string, error) {
	for attempt := 0; attempt < 8; attempt++ {
		lk, err := s.locks(ctx, s.st.q(), bw.r.w.ID)
		if err != nil {
			return "", s.dbErr("read locks", err)
		}
		sp, _, err := s.build(ctx, bw, p, lk)
		if err != nil {
			return "", err
		}
		id := newID("tx_", 12)
		t := Transaction{ID: id, WalletID: bw.r.w.ID, Status: StatusBuilt, Direction: "out"}
		review(&t, sp.Packet, sp.Fee, sp.VSize, sp.Change, sp.ChangeIndex, bw.net)
		if err := s.checkFee(&t, p.acceptHighFee); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := sp.Packet.Serialize(&buf); err != nil {
			return "", fmt.Errorf("%w: serialize psbt: %v", ErrInvalid, err)
		}
		noteEnc, err := s.sealMeta(ctx, "transactions", id, "note", p.note)
		if err != nil {
			return "", err
		}
		psbtEnc, err := s.sealMeta(ctx, "transactions", id, "psbt", base64.StdEncoding.EncodeToString(buf.Bytes()))
		if err != nil {
			return "", err
		}
		outs, _ := json.Marshal(t.Outputs)
		now := s.nowNano()
		exp := int64(0)
		if lockTTL > 0 {
			exp = now + lockTTL
		}
		bcast := int64(0)
		if origin == originSend {
			bcast = 1
		}
		err = s.st.inTx(ctx, func(tx dbq) error {
			// Expired locks (abandoned PSBTs) give their outputs back.
			if _, err := tx.exec(ctx, `DELETE FROM utxo_locks WHERE wallet_id = ? AND expires_at <> 0 AND expires_at <= ?`, bw.r.w.ID, now); err != nil {
				return err
			}
			_, err := tx.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, fee, fee_rate, vsize,
				change_amount, inputs, note, psbt, broadcast, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, bw.r.w.ID, idem, p.hash, origin, t.TxID, StatusBuilt, string(outs), t.Amount, t.Fee, t.FeeRate, t.VSize,
				t.Change, t.Inputs, noteEnc, psbtEnc, bcast, now, now)
			if isUnique(err) {
				return errIdem
			}
			if err != nil {
				return err
			}
			// The fresh change address, claimed with the spend (addresses.go).
			if err := s.claimChange(ctx, tx, bw, sp.ChangeIndex); err != nil {
				return err
			}
			for i, in := range sp.Packet.UnsignedTx.TxIn {
				wu := sp.Packet.Inputs[i].WitnessUtxo
				_, err := tx.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, script, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					outpointKey(in.PreviousOutPoint), bw.r.w.ID, id, wu.Value, hex.EncodeToString(wu.PkScript), exp, now)
				if isUnique(err) {
					return errRetry
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		switch {
		case err == nil:
			if bw.change != nil && sp.ChangeIndex >= 0 {
				s.watch(ctx, bw, bw.change.Address())
			}
			s.log.Info("transaction_built", "wallet_id", bw.r.w.ID, "tx_id", id, "origin", origin, "inputs", t.Inputs, "fee", t.Fee)
			return id, nil
		case errors.Is(err, errRetry):
			s.log.Debug("utxo_lock_race", "wallet_id", bw.r.w.ID, "attempt", attempt+1)
			continue
		case errors.Is(err, errIdem):
			return "", errIdem
		default:
			return "", s.dbErr("store transaction", err)
		}
	}
	return "", fmt.Errorf("%w: every spendable output is being reserved by concurrent sends", ErrInsufficient)
}

// txRow is a transactions row with its sealed fields.
type txRow struct {
	t         Transaction
	origin    string
	idem      string
	hash      string
	noteEnc   string
	psbtEnc   string
	broadcast bool
	signReq   bool // SignPSBT asked for this row to be signed
}

const txCols = `id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, fee, fee_rate, vsize, change_amount, inputs,
	confirmations, block_height, note, psbt, raw_tx, error, broadcast, sign_requested, created_at, updated_at, replaces, replaced_by`

func scanTx(sc interface{ Scan(...any) error }) (*txRow, error) {
	var r txRow
	var outs string
	var created, updated, bcast, signReq int64
	t := &r.t
	if err := sc.Scan(&t.ID, &t.WalletID, &r.idem, &r.hash, &r.origin, &t.TxID, &t.Status, &outs, &t.Amount, &t.Fee, &t.FeeRate,
		&t.VSize, &t.Change, &t.Inputs, &t.Confirmations, &t.BlockHeight, &r.noteEnc, &r.psbtEnc, &t.RawTx, &t.Error, &bcast,
		&signReq, &created, &updated, &t.Replaces, &t.ReplacedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(outs), &t.Outputs); err != nil {
		return nil, fmt.Errorf("stored outputs: %w", err)
	}
	if t.Outputs == nil {
		t.Outputs = []Output{}
	}
	t.Direction = "out"
	if r.origin == originIncoming {
		t.Direction = "in"
	}
	r.broadcast = bcast != 0
	r.signReq = signReq != 0
	t.CreatedAt, t.UpdatedAt = fromNano(created), fromNano(updated)
	return &r, nil
}

// txByID reads one transaction row of a wallet.
func (s *Service) txByID(ctx context.Context, walletID, id string) (*txRow, error) {
	r, err := scanTx(s.st.q().row(ctx, `SELECT `+txCols+` FROM transactions WHERE id = ? AND wallet_id = ?`, id, walletID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no transaction %q in wallet %s", ErrNotFound, id, walletID)
	}
	if err != nil {
		return nil, s.dbErr("read transaction", err)
	}
	return r, nil
}

// txByIdem reads the transaction stored under an idempotency key.
func (s *Service) txByIdem(ctx context.Context, walletID, idem string) (*txRow, error) {
	r, err := scanTx(s.st.q().row(ctx, `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? AND idem_key = ?`, walletID, idem))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.dbErr("read transaction", err)
	}
	return r, nil
}

// public decrypts a row's note (and, for a built PSBT, the PSBT).
func (s *Service) public(ctx context.Context, r *txRow) (*Transaction, error) {
	t := r.t
	note, err := s.openMeta(ctx, "transactions", t.ID, "note", r.noteEnc)
	if err != nil {
		return nil, err
	}
	t.Note = note
	s.flagFee(&t)
	// A PSBT row keeps its PSBT: unsigned while built, signed afterwards.
	if r.origin != originSend && r.psbtEnc != "" {
		p, err := s.openMeta(ctx, "transactions", t.ID, "psbt", r.psbtEnc)
		if err != nil {
			return nil, err
		}
		t.PSBT = p
	}
	return &t, nil
}

// Send builds, signs and broadcasts a payment (or, with DryRun, only
// builds it for review: nothing is stored, locked or signed).
//
// The inputs are reserved in the database before signing, so concurrent
// sends never pick the same UTXO. With an IdempotencyKey a retry returns
// the stored transaction and resumes it where it stopped (a built one is
// signed, a signed one broadcast), never building a second one; the same
// key with a different request is ErrConflict.
//
// If the node refuses the transaction, the returned error wraps
// ErrRejected and the returned *Transaction (non-nil) is stored with status
// failed and its inputs released. If the backend cannot be reached after
// signing, the transaction is returned with status signed and no error;
// Refresh broadcasts it later.
func (s *Service) Send(ctx context.Context, walletID string, req SendRequest) (*Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	p, err := s.parseSend(bw, originSend, req)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		lk, err := s.locks(ctx, s.st.q(), walletID)
		if err != nil {
			return nil, s.dbErr("read locks", err)
		}
		sp, _, err := s.build(ctx, bw, p, lk)
		if err != nil {
			return nil, err
		}
		now := fromNano(s.nowNano())
		t := &Transaction{WalletID: walletID, Status: StatusBuilt, Direction: "out", Note: req.Note, CreatedAt: now, UpdatedAt: now}
		review(t, sp.Packet, sp.Fee, sp.VSize, sp.Change, sp.ChangeIndex, bw.net)
		s.flagFee(t)
		var buf bytes.Buffer
		if err := sp.Packet.Serialize(&buf); err == nil {
			t.PSBT = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		return t, nil
	}
	id, err := s.reserveIdem(ctx, bw, originSend, req.IdempotencyKey, p, 0)
	if err != nil {
		return nil, err
	}
	if s.afterReserve != nil {
		if err := s.afterReserve(id); err != nil {
			return nil, err
		}
	}
	return s.advance(ctx, bw, id)
}

// reserveIdem returns the id of the transaction stored under idem (after
// checking the request is the same) or reserves a new one.
func (s *Service) reserveIdem(ctx context.Context, bw *btcWallet, origin, idem string, p *sendPlan, lockTTL int64) (string, error) {
	auto := idem == ""
	if auto {
		idem = newID("auto-", 16)
	}
	for range 3 {
		if !auto {
			prev, err := s.txByIdem(ctx, bw.r.w.ID, idem)
			if err != nil {
				return "", err
			}
			if prev != nil {
				if prev.hash != p.hash || prev.origin != origin {
					return "", fmt.Errorf("%w: idempotency key already used for a different request", ErrConflict)
				}
				return prev.t.ID, nil
			}
		}
		id, err := s.reserve(ctx, bw, origin, idem, p, lockTTL)
		if errors.Is(err, errIdem) {
			continue // a concurrent request with the same key won; read its row
		}
		return id, err
	}
	return "", fmt.Errorf("%w: concurrent requests with the same idempotency key", ErrConflict)
}

// advance moves a stored outgoing transaction forward: a built send (or
// a PSBT being signed) is signed, a signed one marked for broadcast is
// broadcast. It is the single place that resumes after a crash or a
// retry, serialized per transaction in this process; the status updates
// are conditional on the previous status, so two processes cannot move a
// transaction backwards.
func (s *Service) advance(ctx context.Context, bw *btcWallet, id string) (*Transaction, error) {
	unlock := s.lockFlow(id)
	defer unlock()
	r, err := s.txByID(ctx, bw.r.w.ID, id)
	if err != nil {
		return nil, err
	}
	if r.t.Status == StatusBuilt && (r.origin == originSend || r.signReq) {
		if err := s.signRow(ctx, bw, r); err != nil {
			return nil, err
		}
	}
	if r.t.Status == StatusSigned && r.broadcast {
		if err := s.broadcastRow(ctx, bw, r); err != nil {
			t, err2 := s.public(ctx, r)
			if err2 != nil {
				return nil, err
			}
			return t, err
		}
	}
	return s.public(ctx, r)
}

// signRow signs a built row's PSBT with the HSM and stores the signed
// transaction (status signed). The inputs must still be locked by it.
func (s *Service) signRow(ctx context.Context, bw *btcWallet, r *txRow) error {
	raw, txid, signedPSBT, err := s.signStored(ctx, bw, r)
	if err != nil {
		return err
	}
	now := s.nowNano()
	res, err := s.st.q().exec(ctx, `UPDATE transactions SET status = ?, raw_tx = ?, txid = ?, psbt = ?, error = '', updated_at = ? WHERE id = ? AND status = ?`,
		StatusSigned, raw, txid, signedPSBT, now, r.t.ID, StatusBuilt)
	if err != nil {
		return s.dbErr("store signed transaction", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Another process signed (or failed) it first: use what is stored.
		cur, err := s.txByID(ctx, bw.r.w.ID, r.t.ID)
		if err != nil {
			return err
		}
		*r = *cur
		return nil
	}
	if !r.broadcast {
		// A signed PSBT handed back without broadcast keeps its inputs
		// reserved for PSBTLockTTL only: the user may never broadcast it.
		s.st.q().exec(ctx, `UPDATE utxo_locks SET expires_at = ? WHERE tx_id = ?`, now+int64(s.cfg.PSBTLockTTL), r.t.ID)
	}
	s.log.Info("transaction_signed", "wallet_id", bw.r.w.ID, "tx_id", r.t.ID, "txid", txid)
	r.t.Status, r.t.RawTx, r.t.TxID, r.t.Error, r.psbtEnc, r.t.UpdatedAt = StatusSigned, raw, txid, "", signedPSBT, fromNano(now)
	return nil
}

// claimLocks makes the locks of transaction txID permanent (a signed
// transaction's inputs stay reserved until it confirms or fails) and
// reports whether all of its inputs were still held. Checking and
// extending is one conditional UPDATE in one database transaction: a
// separate check would let a lock lapse, and another send take the
// outpoint, between the check and the extension, and the same UTXO would
// then be signed into two transactions. If not all are held nothing
// changes.
func (s *Service) claimLocks(ctx context.Context, txID string, inputs int) (bool, error) {
	errShort := errors.New("locks lapsed")
	err := s.st.inTx(ctx, func(tx dbq) error {
		res, err := tx.exec(ctx, `UPDATE utxo_locks SET expires_at = 0 WHERE tx_id = ? AND (expires_at = 0 OR expires_at > ?)`, txID, s.nowNano())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(inputs) {
			return errShort
		}
		return nil
	})
	if errors.Is(err, errShort) {
		return false, nil
	}
	return err == nil, err
}

// broadcastRow submits a signed row. A refusal fails it (unless the node
// already knows the transaction); an unreachable backend leaves it signed
// for Refresh.
func (s *Service) broadcastRow(ctx context.Context, bw *btcWallet, r *txRow) error {
	raw, err := hex.DecodeString(r.t.RawTx)
	if err != nil {
		return fmt.Errorf("%w: stored transaction is corrupt", ErrUnavailable)
	}
	var tx btcwire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("%w: stored transaction is corrupt", ErrUnavailable)
	}
	_, err = bw.be.Broadcast(ctx, &tx)
	var re *bitcoin.RejectError
	deferred := false
	switch {
	case err == nil:
	case errors.As(err, &re):
		// Already in the mempool or a block (a rebroadcast after a crash)?
		st, err2 := bw.be.TxStatus(ctx, tx.TxHash())
		if err2 == nil {
			s.setChainStatus(ctx, r, st)
			return nil
		}
		// Fail (and release the inputs) only when the backend says it does
		// not know the transaction: failing one that is in fact in the
		// mempool or a block invites the caller to pay a second time.
		if !errors.Is(err2, bitcoin.ErrNotFound) || strings.Contains(strings.ToLower(re.Reason), "already") {
			deferred = true
			break
		}
		reason := truncate(re.Reason, 300)
		s.fail(ctx, r, "rejected by the node: "+reason)
		return fmt.Errorf("%w: node refused the transaction: %s", ErrRejected, reason)
	default:
		deferred = true
	}
	if deferred {
		msg := "broadcast deferred: chain backend unavailable"
		if re != nil {
			msg = "broadcast deferred: the node refused it but its status is unknown: " + truncate(re.Reason, 200)
		}
		now := s.nowNano()
		s.st.q().exec(ctx, `UPDATE transactions SET error = ?, updated_at = ? WHERE id = ? AND status = ?`, msg, now, r.t.ID, StatusSigned)
		r.t.Error = msg
		s.log.Warn("broadcast_deferred", "wallet_id", bw.r.w.ID, "tx_id", r.t.ID)
		return nil
	}
	now := s.nowNano()
	if _, err := s.st.q().exec(ctx, `UPDATE transactions SET status = ?, error = '', updated_at = ? WHERE id = ? AND status = ?`,
		StatusBroadcast, now, r.t.ID, StatusSigned); err != nil {
		return s.dbErr("store broadcast status", err)
	}
	s.log.Info("transaction_broadcast", "wallet_id", bw.r.w.ID, "tx_id", r.t.ID, "txid", r.t.TxID)
	r.t.Status, r.t.Error, r.t.UpdatedAt = StatusBroadcast, "", fromNano(now)
	s.markReplaced(ctx, r) // bump.go: a fee bump accepted by the node replaces its original
	return nil
}

// setChainStatus records a chain status (broadcast or confirmed) and, once
// confirmed, releases the inputs' locks.
func (s *Service) setChainStatus(ctx context.Context, r *txRow, st bitcoin.TxStatus) {
	status := StatusBroadcast
	if st.Confirmed {
		status = StatusConfirmed
	}
	conf := st.Confirmations
	if st.Confirmed && conf < 1 {
		conf = 1
	}
	now := s.nowNano()
	err := s.st.inTx(ctx, func(tx dbq) error {
		if _, err := tx.exec(ctx, `UPDATE transactions SET status = ?, confirmations = ?, block_height = ?, error = '', updated_at = ?
			WHERE id = ? AND status IN (?, ?, ?)`, status, conf, st.BlockHeight, now, r.t.ID, StatusSigned, StatusBroadcast, StatusConfirmed); err != nil {
			return err
		}
		if st.Confirmed {
			_, err := tx.exec(ctx, `DELETE FROM utxo_locks WHERE tx_id = ?`, r.t.ID)
			return err
		}
		return nil
	})
	if err != nil {
		s.log.Warn("status_update_failed", "tx_id", r.t.ID)
		return
	}
	if r.t.Status != status {
		s.log.Info("transaction_status", "tx_id", r.t.ID, "status", status, "confirmations", conf)
	}
	s.markReplaced(ctx, r) // bump.go
	r.t.Status, r.t.Confirmations, r.t.BlockHeight, r.t.Error, r.t.UpdatedAt = status, conf, st.BlockHeight, "", fromNano(now)
}

// fail marks a row failed (terminal) and releases its locks.
func (s *Service) fail(ctx context.Context, r *txRow, reason string) {
	now := s.nowNano()
	err := s.st.inTx(ctx, func(tx dbq) error {
		if _, err := tx.exec(ctx, `UPDATE transactions SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status IN (?, ?, ?)`,
			StatusFailed, reason, now, r.t.ID, StatusBuilt, StatusSigned, StatusBroadcast); err != nil {
			return err
		}
		if err := s.unreplace(ctx, tx, r); err != nil { // bump.go: a failed fee bump gives its original back its inputs
			return err
		}
		_, err := tx.exec(ctx, `DELETE FROM utxo_locks WHERE tx_id = ?`, r.t.ID)
		return err
	})
	if err != nil {
		s.log.Warn("fail_update_failed", "tx_id", r.t.ID)
		return
	}
	s.log.Info("transaction_failed", "tx_id", r.t.ID)
	r.t.Status, r.t.Error, r.t.UpdatedAt = StatusFailed, reason, fromNano(now)
}
