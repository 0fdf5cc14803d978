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

// SignPSBT signs this wallet's inputs of a PSBT and, with Broadcast,
// broadcasts the transaction.
//
// Before anything is stored, locked or signed, every input's spent output
// (witness_utxo, or a non_witness_utxo whose txid matches) is checked
// against the chain backend (verifyInputs): this wallet's inputs must be
// unspent outputs of the wallet with exactly that amount and script, the
// others must exist unspent with that amount and script. A mismatch is
// ErrInvalid naming the input. Inputs of others are left untouched
// (Transaction.SignedInputs lists the ones signed); RawTx is set only when
// the transaction is complete, and Broadcast is refused when it would not
// be. The returned PSBT is the signed one (BIP-371 tap_key_sig), so that
// a finalizer or another signer can finish it.
//
// A PSBT built by BuildPSBT is matched by its txid and its stored copy is
// signed; any other PSBT is recorded as a new transaction whose own inputs
// are locked (ErrConflict if another pending transaction holds one). A
// fee the review flags needs AcceptHighFee (ErrHighFee). Signing the same
// PSBT twice returns the first result; a second call with Broadcast
// broadcasts the signed transaction. A PSBT signed without Broadcast
// keeps its inputs locked for PSBTLockTTL (the caller may broadcast it
// elsewhere; Refresh notices when it appears on chain).
func (s *Service) SignPSBT(ctx context.Context, walletID string, req SignPSBTRequest) (*Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	pkt, plan, err := decodePSBTRequest(bw, req)
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
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// New: check it against the chain before locking anything.
		if req.Broadcast && !bitcoin.CompleteWhenSigned(pkt, plan) {
			return nil, errIncomplete(plan)
		}
		if err := s.verifyInputs(ctx, bw, pkt, plan); err != nil {
			return nil, err
		}
		id, err := s.importPSBT(ctx, bw, pkt, plan, req, hash)
		if err != nil {
			return nil, err
		}
		if r, err = s.txByID(ctx, walletID, id); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, s.dbErr("find psbt", err)
	case r.t.Status == StatusBuilt:
		// Built here (its stored copy is what gets signed) but check that
		// its inputs are still there and that the caller's copy tells the
		// truth about them.
		if req.Broadcast && !bitcoin.CompleteWhenSigned(pkt, plan) {
			return nil, errIncomplete(plan)
		}
		if err := s.verifyInputs(ctx, bw, pkt, plan); err != nil {
			return nil, err
		}
	case req.Broadcast && r.t.RawTx == "" && r.t.Status == StatusSigned:
		return nil, errIncomplete(plan)
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
	t, err := s.advance(ctx, bw, r.t.ID)
	if t != nil && t.PSBT != "" && t.Status != StatusBuilt {
		t.SignedInputs = signedInputs(bw, t.PSBT)
	}
	return t, err
}

// errIncomplete refuses Broadcast for a PSBT whose other inputs are not
// signed yet.
func errIncomplete(plan *bitcoin.PSBTPlan) error {
	return fmt.Errorf("%w: broadcast needs every input signed, and inputs %v are not this wallet's and not finalized; sign without broadcast and finish it with the other signer",
		ErrInvalid, plan.Foreign)
}

// signedInputs lists the inputs of a signed PSBT (base64) that spend the
// wallet's output and carry a key-path signature.
func signedInputs(bw *btcWallet, b64 string) []int {
	pkt, err := bitcoin.DecodePSBT([]byte(b64), true)
	if err != nil {
		return nil
	}
	var out []int
	for i, in := range pkt.Inputs {
		if in.WitnessUtxo != nil && bw.ownsScript(in.WitnessUtxo.PkScript) && len(in.TaprootKeySpendSig) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// decodePSBTRequest validates a SignPSBTRequest's fields and decodes and
// plans its PSBT (bitcoin.Wallet.ImportPartialPSBT).
func decodePSBTRequest(bw *btcWallet, req SignPSBTRequest) (*psbt.Packet, *bitcoin.PSBTPlan, error) {
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, nil, err
	}
	if len(req.PSBT) == 0 || len(req.PSBT) > MaxPSBTLen {
		return nil, nil, fmt.Errorf("%w: psbt must be base64, at most %d bytes", ErrInvalid, int(MaxPSBTLen))
	}
	pkt, plan, err := bw.w.ImportPartialPSBT([]byte(strings.TrimSpace(req.PSBT)), true)
	if errors.Is(err, bitcoin.ErrPSBTVersion) {
		return nil, nil, fmt.Errorf("%w: psbt: PSBT version 2 (BIP-370) is not supported; convert it to version 0 (BIP-174)", ErrInvalid)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: psbt: %v", ErrInvalid, err)
	}
	return pkt, plan, nil
}

// importPSBT records a PSBT this service did not build, locking its own
// inputs. The caller has verified the inputs (verifyInputs).
func (s *Service) importPSBT(ctx context.Context, bw *btcWallet, pkt *psbt.Packet, plan *bitcoin.PSBTPlan, req SignPSBTRequest, hash string) (string, error) {
	idem := req.IdempotencyKey
	if idem == "" {
		idem = newID("auto-", 16)
	}
	id := newID("tx_", 12)
	change, changeIdx := int64(0), -1
	for i, o := range pkt.UnsignedTx.TxOut {
		if changeIdx < 0 && bw.ownsScript(o.PkScript) {
			change, changeIdx = o.Value, i
		}
	}
	fee := plan.In - plan.Out
	// The same fee-rate bound as a Send: a PSBT from elsewhere must not
	// hand most of its inputs to the miners.
	if vs := bitcoin.VSize(pkt.UnsignedTx); fee > s.cfg.MaxFeeRate*vs {
		return "", fmt.Errorf("%w: psbt: fee %d sat is above %d sat/vB for %d vB", ErrInvalid, fee, s.cfg.MaxFeeRate, vs)
	}
	t := Transaction{ID: id, Direction: "out"}
	review(&t, pkt, fee, bitcoin.VSize(pkt.UnsignedTx), change, changeIdx, bw.net)
	if err := s.checkFee(&t, req.AcceptHighFee); err != nil {
		return "", err
	}
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
		for _, i := range plan.Own {
			_, err := tx.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, script, expires_at, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)`,
				outpointKey(pkt.UnsignedTx.TxIn[i].PreviousOutPoint), bw.r.w.ID, id, plan.Prevouts[i].Value, hex.EncodeToString(plan.Prevouts[i].PkScript), now)
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
