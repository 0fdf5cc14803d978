package wallet

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// migrationBumpWebhooks is schema migration 4: the replacement links of fee
// bumps, the script of each locked output (hex; a bump re-signs the inputs
// of an HD wallet, each for the address it spends; empty for locks taken
// before: the wallet's base address) and the webhook tables (webhooks.go).
const migrationBumpWebhooks = `ALTER TABLE transactions ADD COLUMN replaces TEXT NOT NULL DEFAULT '';
	ALTER TABLE transactions ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE utxo_locks ADD COLUMN script TEXT NOT NULL DEFAULT '';
	CREATE TABLE webhooks (
		id TEXT PRIMARY KEY,
		wallet_id TEXT NOT NULL REFERENCES wallets(id),
		url TEXT NOT NULL,
		events TEXT NOT NULL,
		confirmations BIGINT NOT NULL,
		secret TEXT NOT NULL,
		scanned_to BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX webhooks_wallet ON webhooks (wallet_id);
	CREATE TABLE webhook_deliveries (
		id TEXT PRIMARY KEY,
		webhook_id TEXT NOT NULL,
		event_key TEXT NOT NULL,
		event TEXT NOT NULL,
		payload TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts BIGINT NOT NULL DEFAULT 0,
		next_at BIGINT NOT NULL,
		last_error TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		UNIQUE (webhook_id, event_key)
	);
	CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at)`

// IncrementalRelayFeeRate is the BIP-125 rule 4 incremental relay fee of
// Bitcoin Core and btcd (1 sat/vB): a replacement's fee must exceed the
// original's by at least this rate times the replacement's vsize.
const IncrementalRelayFeeRate = bitcoin.MinRelayFeeRate

// BumpRequest asks for a replacement (BIP-125 replace-by-fee) of a
// broadcast send at a higher fee rate.
type BumpRequest struct {
	FeeRate        int64  `json:"fee_rate"` // sat/vB, above the original's; required
	IdempotencyKey string `json:"-"`
}

// Bump replaces a broadcast, unconfirmed transaction of the wallet with one
// paying a higher fee (BIP-125), and returns the replacement.
//
// The replacement spends the same inputs and pays the same recipients the
// same amounts, in the same order; only the change is reduced. If the
// change cannot pay the higher fee (or would fall below the dust limit and
// the remainder still does not), confirmed unlocked outputs of the wallet
// are added as inputs, largest first, with a change output; an
// unconfirmed one never is (BIP-125 rule 2). The fee is at least
// fee_rate × vsize, above the original's fee rate (rule 6), and at least
// the original's fee plus IncrementalRelayFeeRate × vsize (rules 3 and 4).
//
// The original's input locks move to the replacement in the same database
// transaction that stores it; the replacement is then signed by the HSM
// and broadcast by the send path. Once the node accepts it, the original
// is marked StatusReplaced (ReplacedBy); both stay in history. If the node
// refuses the replacement, it is failed and the original gets its locks
// back, unchanged.
//
// Refused: an unknown transaction (ErrNotFound), a payment received
// (ErrInvalid), one that is confirmed, failed, already replaced, not yet
// broadcast, no longer in the node's mempool (its inputs spent elsewhere,
// or dropped), or whose change a pending transaction of the wallet
// already spends (the bump would evict it) (ErrConflict).
func (s *Service) Bump(ctx context.Context, walletID, txRef string, req BumpRequest) (*Transaction, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	if req.FeeRate < 1 || req.FeeRate > s.cfg.MaxFeeRate {
		return nil, fmt.Errorf("%w: fee_rate must be between 1 and %d sat/vB", ErrInvalid, s.cfg.MaxFeeRate)
	}
	orig, err := s.txByRef(ctx, walletID, txRef)
	if err != nil {
		return nil, err
	}
	// A replacement is stored as a send (origin send: advance signs and
	// broadcasts it like one); the request hash, prefixed "bump", tells a
	// retried Bump from a Send under the same idempotency key.
	hash := reqHash("bump", walletID, orig.t.ID, fmt.Sprint(req.FeeRate))
	idem := req.IdempotencyKey
	if idem != "" {
		prev, err := s.txByIdem(ctx, walletID, idem)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if prev.hash != hash {
				return nil, fmt.Errorf("%w: idempotency key already used for a different request", ErrConflict)
			}
			return s.advance(ctx, bw, prev.t.ID)
		}
	} else {
		idem = newID("auto-", 16)
	}
	unlock := s.lockFlow("bump:" + orig.t.ID)
	id, err := s.reserveBump(ctx, bw, orig, bitcoin.SatPerVByte(req.FeeRate), idem, hash)
	for attempt := 0; errors.Is(err, errRetry) && attempt < 8; attempt++ {
		// A concurrent spend claimed the change address planned: plan
		// again with the next one.
		id, err = s.reserveBump(ctx, bw, orig, bitcoin.SatPerVByte(req.FeeRate), idem, hash)
	}
	if errors.Is(err, errRetry) {
		err = fmt.Errorf("%w: concurrent spends took every change address planned; retry", ErrUnavailable)
	}
	unlock()
	if errors.Is(err, errIdem) {
		// A concurrent retry with the same key stored it first.
		prev, err2 := s.txByIdem(ctx, walletID, idem)
		if err2 != nil || prev == nil || prev.hash != hash {
			return nil, fmt.Errorf("%w: concurrent requests with the same idempotency key", ErrConflict)
		}
		id, err = prev.t.ID, nil
	}
	if err != nil {
		return nil, err
	}
	return s.advance(ctx, bw, id)
}

// txByRef reads a transaction row by its id ("tx_…") or Bitcoin txid.
func (s *Service) txByRef(ctx context.Context, walletID, ref string) (*txRow, error) {
	if len(ref) == 64 && checkID("transaction", "", ref, 64) == nil {
		r, err := scanTx(s.st.q().row(ctx, `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? AND txid = ? ORDER BY created_at DESC LIMIT 1`, walletID, ref))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: no transaction %s in wallet %s", ErrNotFound, ref, walletID)
		}
		if err != nil {
			return nil, s.dbErr("read transaction", err)
		}
		return r, nil
	}
	if err := checkID("transaction", "tx_", ref, 24); err != nil {
		return nil, err
	}
	return s.txByID(ctx, walletID, ref)
}

// bumpPlan is a built replacement.
type bumpPlan struct {
	pkt         *psbt.Packet
	fee, vsize  int64
	change      int64
	changeIndex int
	added       []bitcoin.UTXO // wallet inputs added to pay the fee
	// newChange: the change output is new (the original had none), paying
	// the fresh change address bw.change, claimed with the replacement.
	newChange bool
}

// reserveBump checks that orig may be replaced, builds the replacement
// and stores it (status built) with the original's locks moved to it and
// new locks on added inputs, in one database transaction.
func (s *Service) reserveBump(ctx context.Context, bw *btcWallet, orig *txRow, rate bitcoin.FeeRate, idem, hash string) (string, error) {
	switch {
	case orig.origin == originIncoming:
		return "", fmt.Errorf("%w: %s is a payment to this wallet, not one it sent; only its sender can bump it", ErrInvalid, orig.t.ID)
	case orig.t.Status == StatusConfirmed:
		return "", fmt.Errorf("%w: %s is already confirmed", ErrConflict, orig.t.ID)
	case orig.t.Status == StatusReplaced:
		return "", fmt.Errorf("%w: %s was already replaced by %s; bump that one", ErrConflict, orig.t.ID, orig.t.ReplacedBy)
	case orig.t.Status == StatusFailed:
		return "", fmt.Errorf("%w: %s failed; there is nothing to replace", ErrConflict, orig.t.ID)
	case orig.t.Status != StatusBroadcast:
		return "", fmt.Errorf("%w: %s is %s, not broadcast; only a transaction the node accepted can be bumped", ErrConflict, orig.t.ID, orig.t.Status)
	}
	origTx, err := decodeRawTx(orig.t.RawTx)
	if err != nil {
		return "", err
	}
	// The node is the authority on whether the original can still be
	// replaced: confirmed, or gone from the mempool (replaced from
	// elsewhere, its inputs spent by another transaction, evicted).
	st, err := bw.be.TxStatus(ctx, origTx.TxHash())
	switch {
	case errors.Is(err, bitcoin.ErrNotFound):
		return "", fmt.Errorf("%w: %s is not in the node's mempool (dropped, or its inputs were spent elsewhere); it cannot be bumped", ErrConflict, orig.t.ID)
	case err != nil:
		return "", chainErr("transaction status", err)
	case st.Confirmed:
		s.setChainStatus(ctx, orig, st)
		return "", fmt.Errorf("%w: %s is already confirmed", ErrConflict, orig.t.ID)
	}
	lk, err := s.locks(ctx, s.st.q(), bw.r.w.ID)
	if err != nil {
		return "", s.dbErr("read locks", err)
	}
	// A pending transaction of ours spending the original's outputs (a
	// chained send on its change) would be evicted with it.
	origHash := origTx.TxHash()
	for i := range origTx.TxOut {
		if l, ok := lk[outpointKey(btcwire.OutPoint{Hash: origHash, Index: uint32(i)})]; ok {
			return "", fmt.Errorf("%w: output %d of %s is spent by pending transaction %s; a replacement would evict it", ErrConflict, i, orig.t.ID, l.txID)
		}
	}
	values, err := s.lockValues(ctx, orig.t.ID)
	if err != nil {
		return "", s.dbErr("read locks", err)
	}
	plan, err := s.planBump(ctx, bw, orig, origTx, values, lk, rate)
	if err != nil {
		return "", err
	}
	id := newID("tx_", 12)
	t := Transaction{ID: id, WalletID: bw.r.w.ID, Status: StatusBuilt, Direction: "out"}
	review(&t, plan.pkt, plan.fee, plan.vsize, plan.change, plan.changeIndex, bw.net)
	note, err := s.openMeta(ctx, "transactions", orig.t.ID, "note", orig.noteEnc)
	if err != nil {
		return "", err
	}
	noteEnc, err := s.sealMeta(ctx, "transactions", id, "note", note)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := plan.pkt.Serialize(&buf); err != nil {
		return "", fmt.Errorf("%w: serialize psbt: %v", ErrInvalid, err)
	}
	psbtEnc, err := s.sealMeta(ctx, "transactions", id, "psbt", base64.StdEncoding.EncodeToString(buf.Bytes()))
	if err != nil {
		return "", err
	}
	outs, _ := json.Marshal(t.Outputs)
	errMoved := errors.New("locks moved")
	now := s.nowNano()
	err = s.st.inTx(ctx, func(tx dbq) error {
		var status string
		if err := tx.row(ctx, `SELECT status FROM transactions WHERE id = ?`, orig.t.ID).Scan(&status); err != nil {
			return err
		}
		if status != StatusBroadcast {
			return errMoved
		}
		// Expired locks (abandoned PSBTs) give their outputs back, as in reserve.
		if _, err := tx.exec(ctx, `DELETE FROM utxo_locks WHERE wallet_id = ? AND expires_at <> 0 AND expires_at <= ?`, bw.r.w.ID, now); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, fee, fee_rate, vsize,
			change_amount, inputs, note, psbt, broadcast, replaces, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
			id, bw.r.w.ID, idem, hash, originSend, t.TxID, StatusBuilt, string(outs), t.Amount, t.Fee, t.FeeRate, t.VSize,
			t.Change, t.Inputs, noteEnc, psbtEnc, orig.t.ID, now, now)
		if isUnique(err) {
			return errIdem
		}
		if err != nil {
			return err
		}
		for _, in := range origTx.TxIn {
			res, err := tx.exec(ctx, `UPDATE utxo_locks SET tx_id = ?, expires_at = 0 WHERE outpoint = ? AND tx_id = ?`, id, outpointKey(in.PreviousOutPoint), orig.t.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errMoved
			}
		}
		if plan.newChange {
			// The fresh change address, claimed with the replacement
			// (addresses.go); a concurrent spend that took it first makes
			// Bump plan again with the next one.
			if err := s.claimChange(ctx, tx, bw, plan.changeIndex); err != nil {
				return err
			}
		}
		for _, u := range plan.added {
			_, err := tx.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, script, expires_at, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)`,
				outpointKey(u.OutPoint), bw.r.w.ID, id, u.Value, hex.EncodeToString(u.PkScript), now)
			if isUnique(err) {
				return errMoved
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case err == nil:
		if plan.newChange && bw.change != nil {
			s.watch(ctx, bw, bw.change.Address()) // Bitcoin Core: import before broadcast
		}
		s.log.Info("transaction_bump_built", "wallet_id", bw.r.w.ID, "tx_id", id, "replaces", orig.t.ID, "fee", t.Fee, "added_inputs", len(plan.added))
		return id, nil
	case errors.Is(err, errIdem):
		return "", errIdem
	case errors.Is(err, errRetry):
		return "", errRetry
	case errors.Is(err, errMoved):
		return "", fmt.Errorf("%w: %s is being replaced or its inputs changed hands meanwhile; read it again", ErrConflict, orig.t.ID)
	default:
		return "", s.dbErr("store replacement", err)
	}
}

// lockedOutput is an output locked by a transaction: its value and script
// (nil when the lock predates stored scripts: the wallet's base address).
type lockedOutput struct {
	value  int64
	script []byte
}

// lockValues returns the outputs locked by transaction txID (the
// original's inputs: it holds them until it confirms).
func (s *Service) lockValues(ctx context.Context, txID string) (map[string]lockedOutput, error) {
	rows, err := s.st.q().query(ctx, `SELECT outpoint, value, script FROM utxo_locks WHERE tx_id = ?`, txID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]lockedOutput{}
	for rows.Next() {
		var op, script string
		var v int64
		if err := rows.Scan(&op, &v, &script); err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(script)
		if err != nil {
			return nil, fmt.Errorf("stored lock script of %s is corrupt", op)
		}
		out[op] = lockedOutput{value: v, script: b}
	}
	return out, rows.Err()
}

// planBump builds the replacement of origTx at rate (see [Service.Bump]).
func (s *Service) planBump(ctx context.Context, bw *btcWallet, orig *txRow, origTx *btcwire.MsgTx, values map[string]lockedOutput,
	locked map[string]lockInfo, rate bitcoin.FeeRate) (*bumpPlan, error) {
	// A change output the replacement adds goes to a fresh change address
	// (addresses.go; the wallet's own address for a one-address wallet).
	if err := s.nextChange(ctx, bw); err != nil {
		return nil, err
	}
	script := bw.w.PkScript()
	if bw.change != nil {
		script = bw.change.PkScript()
	}
	if len(values) != len(origTx.TxIn) {
		return nil, fmt.Errorf("%w: the inputs of %s are no longer reserved by it", ErrConflict, orig.t.ID)
	}
	var in int64
	tx := btcwire.NewMsgTx(origTx.Version)
	tx.LockTime = origTx.LockTime
	var inOuts []*btcwire.TxOut // the output each input spends
	for _, ti := range origTx.TxIn {
		l, ok := values[outpointKey(ti.PreviousOutPoint)]
		if !ok {
			return nil, fmt.Errorf("%w: the inputs of %s are no longer reserved by it", ErrConflict, orig.t.ID)
		}
		ls := l.script
		if len(ls) == 0 {
			ls = bw.w.PkScript() // a lock from before scripts were stored: the base address
		}
		if !bw.w.Owns(ls) {
			return nil, fmt.Errorf("%w: an input of %s is not one of this wallet's addresses", ErrUnsupported, orig.t.ID)
		}
		in += l.value
		inOuts = append(inOuts, btcwire.NewTxOut(l.value, bytes.Clone(ls)))
		tx.AddTxIn(&btcwire.TxIn{PreviousOutPoint: ti.PreviousOutPoint, Sequence: bitcoin.SequenceRBF})
	}
	// Recipients are the stored outputs; the one output that is not a
	// recipient is the change, and it must pay the wallet.
	want := slices.Clone(orig.t.Outputs)
	changeIdx := -1
	var out int64
	for i, o := range origTx.TxOut {
		addr := scriptAddress(o.PkScript, bw.net)
		j := slices.IndexFunc(want, func(w Output) bool { return w.Address == addr && w.Amount == o.Value })
		if j >= 0 {
			want = slices.Delete(want, j, j+1)
			out += o.Value
			tx.AddTxOut(btcwire.NewTxOut(o.Value, bytes.Clone(o.PkScript)))
			continue
		}
		// The change: the one other output, paying one of the wallet's
		// addresses (base, or a derived change address).
		if changeIdx >= 0 || !bw.w.Owns(o.PkScript) {
			return nil, fmt.Errorf("%w: %s has outputs this wallet did not record; it cannot be bumped here", ErrUnsupported, orig.t.ID)
		}
		changeIdx = i
		tx.AddTxOut(btcwire.NewTxOut(o.Value, bytes.Clone(o.PkScript)))
	}
	if len(want) != 0 || orig.t.VSize <= 0 {
		return nil, fmt.Errorf("%w: %s does not match its stored outputs", ErrUnsupported, orig.t.ID)
	}
	// BIP-125 rule 6 (Core's and btcd's "higher fee rate" in sat/kvB).
	oldPerKvB := orig.t.Fee * 1000 / orig.t.VSize
	if int64(rate) <= oldPerKvB {
		return nil, fmt.Errorf("%w: fee_rate must be above the original's %d.%03d sat/vB", ErrInvalid, oldPerKvB/1000, oldPerKvB%1000)
	}
	need := func(vsize int64) int64 {
		// Rules 3 and 4: more than the original's absolute fee, by at
		// least the incremental relay fee for the replacement's size.
		return max(rate.FeeFor(vsize), orig.t.Fee+IncrementalRelayFeeRate.FeeFor(vsize))
	}
	var cands []bitcoin.UTXO // confirmed, unlocked wallet outputs, largest first
	candsLoaded := false
	var added []bitcoin.UTXO
	dust := bitcoin.DustLimit(script)
	for {
		// With change (reduced, or added when an input was added).
		withChange := tx.Copy()
		ci := changeIdx
		if ci < 0 {
			withChange.AddTxOut(btcwire.NewTxOut(0, bytes.Clone(script)))
			ci = len(withChange.TxOut) - 1
		}
		vs := bitcoin.VSize(withChange)
		if fee := need(vs); in-out-fee >= dust {
			withChange.TxOut[ci].Value = in - out - fee
			p, err := s.bumpPacket(bw, withChange, append(inOuts, outsOf(added)...), added, fee, vs, in-out-fee, ci)
			if p != nil {
				p.newChange = changeIdx < 0
			}
			return p, err
		}
		// Without change: the sub-dust remainder goes to the fee.
		noChange := tx.Copy()
		if changeIdx >= 0 {
			noChange.TxOut = slices.Delete(noChange.TxOut, changeIdx, changeIdx+1)
		}
		if len(noChange.TxOut) > 0 {
			vs = bitcoin.VSize(noChange)
			if fee := in - out; fee >= need(vs) {
				return s.bumpPacket(bw, noChange, append(inOuts, outsOf(added)...), added, fee, vs, 0, -1)
			}
		}
		// Add a confirmed wallet input (BIP-125 rule 2: no new unconfirmed inputs).
		if !candsLoaded {
			// Every address of the wallet (base and derived).
			us, err := s.listUTXOs(ctx, bw)
			if err != nil {
				return nil, err
			}
			for _, u := range us {
				if bw.w.Owns(u.PkScript) && u.Value > 0 && u.Confirmations >= int64(s.cfg.MinConf) &&
					(!u.Coinbase || u.Confirmations >= bitcoin.CoinbaseMaturity) && !hasLock(locked, u) {
					if _, spent := values[outpointKey(u.OutPoint)]; !spent {
						cands = append(cands, u)
					}
				}
			}
			slices.SortFunc(cands, func(a, b bitcoin.UTXO) int { return cmp.Compare(b.Value, a.Value) })
			candsLoaded = true
		}
		if len(added) == len(cands) {
			return nil, fmt.Errorf("%w: the change of %s does not pay a fee of %d sat/vB and the wallet has no other confirmed, unlocked output to add", ErrInsufficient, orig.t.ID, int64(rate)/1000)
		}
		u := cands[len(added)]
		added = append(added, u)
		in += u.Value
		tx.AddTxIn(&btcwire.TxIn{PreviousOutPoint: u.OutPoint, Sequence: bitcoin.SequenceRBF})
	}
}

func outsOf(us []bitcoin.UTXO) []*btcwire.TxOut {
	out := make([]*btcwire.TxOut, len(us))
	for i, u := range us {
		out[i] = btcwire.NewTxOut(u.Value, bytes.Clone(u.PkScript))
	}
	return out
}

// bumpPacket wraps a replacement in a PSBT with the BIP-371 fields the
// signer needs: every input spends one of the wallet's addresses, inOuts
// says which (and its value); each carries its internal key, merkle root
// (recovery leaf) and BIP-32 derivation, and the change output too.
func (s *Service) bumpPacket(bw *btcWallet, tx *btcwire.MsgTx, inOuts []*btcwire.TxOut, added []bitcoin.UTXO, fee, vsize, change int64, changeIdx int) (*bumpPlan, error) {
	if fee > s.cfg.MaxFeeRate*vsize {
		return nil, fmt.Errorf("%w: the replacement's fee %d sat is above %d sat/vB", ErrInvalid, fee, s.cfg.MaxFeeRate)
	}
	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, fmt.Errorf("%w: build replacement: %v", ErrInvalid, err)
	}
	for i := range pkt.Inputs {
		pkt.Inputs[i].WitnessUtxo = inOuts[i]
		pkt.Inputs[i].SighashType = txscript.SigHashDefault
	}
	bw.w.AnnotatePSBT(pkt, changeIdx)
	return &bumpPlan{pkt: pkt, fee: fee, vsize: vsize, change: change, changeIndex: changeIdx, added: added}, nil
}

// decodeRawTx parses a stored raw transaction.
func decodeRawTx(rawHex string) (*btcwire.MsgTx, error) {
	raw, err := hex.DecodeString(rawHex)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%w: stored transaction is corrupt", ErrUnavailable)
	}
	var tx btcwire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%w: stored transaction is corrupt", ErrUnavailable)
	}
	return &tx, nil
}

// markReplaced records, once a fee bump r is in the mempool or a block,
// that its original is replaced. It is a no-op for other transactions.
func (s *Service) markReplaced(ctx context.Context, r *txRow) {
	if r.t.Replaces == "" {
		return
	}
	res, err := s.st.q().exec(ctx, `UPDATE transactions SET status = ?, replaced_by = ?, error = ?, updated_at = ? WHERE id = ? AND status IN (?, ?)`,
		StatusReplaced, r.t.ID, "replaced by "+r.t.ID+" (txid "+r.t.TxID+")", s.nowNano(), r.t.Replaces, StatusBroadcast, StatusSigned)
	if err != nil {
		s.log.Warn("replace_update_failed", "tx_id", r.t.Replaces)
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Info("transaction_replaced", "tx_id", r.t.Replaces, "replaced_by", r.t.ID)
	}
}

// unreplace runs inside fail's database transaction when a fee bump r
// fails: the original gets back the locks on its own inputs (added
// inputs are released by fail) and, if it had been marked replaced, its
// broadcast status, so that Refresh tracks it again (it may have been
// mined after all, or be rebroadcast).
func (s *Service) unreplace(ctx context.Context, tx dbq, r *txRow) error {
	if r.t.Replaces == "" {
		return nil
	}
	// Only if fail's update took effect: a replacement that is in fact
	// confirmed (a stale row) keeps its inputs and its original stays
	// replaced.
	var own string
	if err := tx.row(ctx, `SELECT status FROM transactions WHERE id = ?`, r.t.ID).Scan(&own); err != nil {
		return err
	}
	if own != StatusFailed {
		return nil
	}
	var raw, status string
	err := tx.row(ctx, `SELECT raw_tx, status FROM transactions WHERE id = ?`, r.t.Replaces).Scan(&raw, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	origTx, err := decodeRawTx(raw)
	if err != nil {
		return nil // nothing to give back to
	}
	if status == StatusReplaced {
		if _, err := tx.exec(ctx, `UPDATE transactions SET status = ?, replaced_by = '', error = '', updated_at = ? WHERE id = ? AND status = ? AND replaced_by = ?`,
			StatusBroadcast, s.nowNano(), r.t.Replaces, StatusReplaced, r.t.ID); err != nil {
			return err
		}
		status = StatusBroadcast
	}
	if status != StatusBroadcast && status != StatusSigned {
		return nil
	}
	for _, in := range origTx.TxIn {
		if _, err := tx.exec(ctx, `UPDATE utxo_locks SET tx_id = ? WHERE outpoint = ? AND tx_id = ?`, r.t.Replaces, outpointKey(in.PreviousOutPoint), r.t.ID); err != nil {
			return err
		}
	}
	return nil
}
