package wallet

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// BuildPSBT builds a payment like Send but stops before signing: the
// transaction is stored with status built and its PSBT (base64), and its
// inputs are locked for Config.PSBTLockTTL (default one hour) so that
// other sends do not spend them meanwhile. SignPSBT within that time signs
// it (and makes the locks permanent until it confirms or fails); after it
// the locks lapse, Refresh marks the transaction failed, and the outputs
// can be spent again.
func (s *Service) BuildPSBT(ctx context.Context, walletID string, req SendRequest) (*Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return s.Send(ctx, walletID, req)
	}
	p, err := s.parseSend(bw, originPSBT, req)
	if err != nil {
		return nil, err
	}
	id, err := s.reserveIdem(ctx, bw, originPSBT, req.IdempotencyKey, p, int64(s.cfg.PSBTLockTTL))
	if err != nil {
		return nil, err
	}
	r, err := s.txByID(ctx, walletID, id)
	if err != nil {
		return nil, err
	}
	return s.public(ctx, r)
}

// SignPSBT signs a PSBT whose every input spends this wallet's key-path
// output (Wallet.ImportPSBT's checks) and, with Broadcast, broadcasts it.
// A PSBT built by BuildPSBT is matched by its txid and its stored copy is
// signed; any other PSBT is recorded as a new transaction whose inputs are
// locked (ErrConflict if another pending transaction holds one). Signing
// the same PSBT twice returns the first result; a second call with
// Broadcast broadcasts the signed transaction. A PSBT signed without
// Broadcast keeps its inputs locked for PSBTLockTTL (the caller may
// broadcast it elsewhere; Refresh notices when it appears on chain).
func (s *Service) SignPSBT(ctx context.Context, walletID string, req SignPSBTRequest) (*Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	pkt, err := decodePSBTRequest(bw, req)
	if err != nil {
		return nil, err
	}
	txid := pkt.UnsignedTx.TxHash().String()
	hash := reqHash(originImport, walletID, txid, fmt.Sprint(req.Broadcast))
	if req.IdempotencyKey != "" {
		prev, err := s.txByIdem(ctx, walletID, req.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if prev != nil && prev.t.TxID != txid {
			return nil, fmt.Errorf("%w: idempotency key already used for a different request", ErrConflict)
		}
	}
	// Our own PSBT (or an earlier import of the same transaction)?
	r, err := scanTx(s.st.q().row(ctx, `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? AND txid = ? AND origin IN (?, ?) AND status <> ?
		ORDER BY created_at DESC LIMIT 1`, walletID, txid, originPSBT, originImport, StatusFailed))
	if errors.Is(err, sql.ErrNoRows) {
		id, err := s.importPSBT(ctx, bw, pkt, req.IdempotencyKey, hash)
		if err != nil {
			return nil, err
		}
		if r, err = s.txByID(ctx, walletID, id); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, s.dbErr("find psbt", err)
	}
	now := s.nowNano()
	if r.t.Status == StatusBuilt && !r.signReq {
		if _, err := s.st.q().exec(ctx, `UPDATE transactions SET sign_requested = 1, updated_at = ? WHERE id = ? AND status = ?`, now, r.t.ID, StatusBuilt); err != nil {
			return nil, s.dbErr("mark signing", err)
		}
	}
	if req.Broadcast && !r.broadcast {
		if _, err := s.st.q().exec(ctx, `UPDATE transactions SET broadcast = 1, updated_at = ? WHERE id = ?`, now, r.t.ID); err != nil {
			return nil, s.dbErr("mark broadcast", err)
		}
		if r.t.Status == StatusSigned {
			if _, err := s.st.q().exec(ctx, `UPDATE utxo_locks SET expires_at = 0 WHERE tx_id = ?`, r.t.ID); err != nil {
				return nil, s.dbErr("extend locks", err)
			}
		}
	}
	return s.advance(ctx, bw, r.t.ID)
}

// decodePSBTRequest validates a SignPSBTRequest's fields and decodes its
// PSBT with the wallet's import checks.
func decodePSBTRequest(bw *btcWallet, req SignPSBTRequest) (*psbt.Packet, error) {
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	if len(req.PSBT) == 0 || len(req.PSBT) > MaxPSBTLen {
		return nil, fmt.Errorf("%w: psbt must be base64, at most %d bytes", ErrInvalid, int(MaxPSBTLen))
	}
	pkt, err := bw.w.ImportPSBT([]byte(strings.TrimSpace(req.PSBT)), true)
	if err != nil {
		return nil, fmt.Errorf("%w: psbt: %v", ErrInvalid, err)
	}
	return pkt, nil
}

// importPSBT records a PSBT this service did not build, locking its inputs.
func (s *Service) importPSBT(ctx context.Context, bw *btcWallet, pkt *psbt.Packet, idem, hash string) (string, error) {
	if idem == "" {
		idem = newID("auto-", 16)
	}
	id := newID("tx_", 12)
	var in, out int64
	for _, x := range pkt.Inputs {
		in += x.WitnessUtxo.Value
	}
	change, changeIdx := int64(0), -1
	for i, o := range pkt.UnsignedTx.TxOut {
		out += o.Value
		if changeIdx < 0 && bytes.Equal(o.PkScript, bw.w.PkScript()) {
			change, changeIdx = o.Value, i
		}
	}
	// The same fee-rate bound as a Send: a PSBT from elsewhere must not
	// hand most of its inputs to the miners.
	if vs := bitcoin.VSize(pkt.UnsignedTx); in-out > s.cfg.MaxFeeRate*vs {
		return "", fmt.Errorf("%w: psbt: fee %d sat is above %d sat/vB for %d vB", ErrInvalid, in-out, s.cfg.MaxFeeRate, vs)
	}
	t := Transaction{ID: id}
	review(&t, pkt, in-out, bitcoin.VSize(pkt.UnsignedTx), change, changeIdx, bw.net)
	var buf bytes.Buffer
	if err := pkt.Serialize(&buf); err != nil {
		return "", fmt.Errorf("%w: psbt: %v", ErrInvalid, err)
	}
	psbtEnc, err := s.sealMeta(ctx, "transactions", id, "psbt", base64.StdEncoding.EncodeToString(buf.Bytes()))
	if err != nil {
		return "", err
	}
	outs, _ := json.Marshal(t.Outputs)
	now := s.nowNano()
	err = s.st.inTx(ctx, func(tx dbq) error {
		if _, err := tx.exec(ctx, `DELETE FROM utxo_locks WHERE wallet_id = ? AND expires_at <> 0 AND expires_at <= ?`, bw.r.w.ID, now); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, fee, fee_rate, vsize,
			change_amount, inputs, psbt, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, bw.r.w.ID, idem, hash, originImport, t.TxID, StatusBuilt, string(outs), t.Amount, t.Fee, t.FeeRate, t.VSize,
			t.Change, t.Inputs, psbtEnc, now, now)
		if isUnique(err) {
			return fmt.Errorf("%w: idempotency key already used for a different request", ErrConflict)
		}
		if err != nil {
			return err
		}
		for i, x := range pkt.UnsignedTx.TxIn {
			_, err := tx.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, ?, ?, ?, 0, ?)`,
				outpointKey(x.PreviousOutPoint), bw.r.w.ID, id, pkt.Inputs[i].WitnessUtxo.Value, now)
			if isUnique(err) {
				return fmt.Errorf("%w: input %d is reserved by another pending transaction", ErrConflict, i)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", s.dbErr("store imported psbt", err)
	}
	return id, nil
}
