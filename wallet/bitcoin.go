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
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// Origins of a transactions row.
const (
	originSend     = "send"     // Send: build, sign, broadcast
	originPSBT     = "psbt"     // BuildPSBT, later SignPSBT
	originImport   = "import"   // SignPSBT of a PSBT this service did not build
	originIncoming = "incoming" // a payment to the wallet seen in its UTXOs
)

// btcWallet is a Bitcoin wallet with its chain objects.
type btcWallet struct {
	r   *row
	w   *bitcoin.Wallet
	net *bitcoin.Network
	be  bitcoin.Backend
}

// btc loads a Bitcoin wallet.
func (s *Service) btc(ctx context.Context, id string) (*btcWallet, error) {
	r, err := s.walletRow(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.btcOf(r)
}

func (s *Service) btcOf(r *row) (*btcWallet, error) {
	if r.w.Kind != KindBitcoin {
		return nil, fmt.Errorf("%w: wallet %s is a %s, not a Bitcoin wallet", ErrUnsupported, r.w.ID, r.w.Kind)
	}
	be, ok := s.cfg.Bitcoin[r.w.Network]
	if !ok {
		return nil, fmt.Errorf("%w: bitcoin network %q is not configured", ErrUnavailable, r.w.Network)
	}
	net, err := bitcoin.NetworkByName(r.w.Network)
	if err != nil {
		return nil, fmt.Errorf("%w: stored network %q: %v", ErrUnavailable, r.w.Network, err)
	}
	pub, err := hex.DecodeString(r.w.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: stored key of wallet %s is corrupt", ErrUnavailable, r.w.ID)
	}
	w, err := bitcoin.NewWallet(r.w.KeyID, pub, net)
	if err != nil {
		return nil, fmt.Errorf("%w: stored key of wallet %s: %v", ErrUnavailable, r.w.ID, err)
	}
	return &btcWallet{r: r, w: w, net: net, be: be}, nil
}

// chainErr maps a chain backend error.
func chainErr(action string, err error) error {
	var re *bitcoin.RejectError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("%w: %s: node refused: %s", ErrRejected, action, truncate(re.Reason, 300))
	case errors.Is(err, bitcoin.ErrNotFound):
		return fmt.Errorf("%w: %s: not known to the chain backend", ErrNotFound, action)
	default:
		return fmt.Errorf("%w: %s: chain backend unavailable", ErrUnavailable, action)
	}
}

func outpointKey(op btcwire.OutPoint) string { return op.String() }

// lockInfo is a valid (unexpired) lock.
type lockInfo struct{ txID string }

// locks returns the wallet's unexpired UTXO locks by outpoint.
func (s *Service) locks(ctx context.Context, q dbq, walletID string) (map[string]lockInfo, error) {
	rows, err := q.query(ctx, `SELECT outpoint, tx_id, expires_at FROM utxo_locks WHERE wallet_id = ?`, walletID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.nowNano()
	out := map[string]lockInfo{}
	for rows.Next() {
		var op, tx string
		var exp int64
		if err := rows.Scan(&op, &tx, &exp); err != nil {
			return nil, err
		}
		if exp != 0 && exp <= now {
			continue
		}
		out[op] = lockInfo{txID: tx}
	}
	return out, rows.Err()
}

// UTXOs returns the wallet's unspent outputs as the chain backend reports
// them (confirmed and in the mempool), each marked if a pending send of
// this service has reserved it.
func (s *Service) UTXOs(ctx context.Context, walletID string) ([]UTXO, error) {
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	us, err := bw.be.UTXOs(ctx, bw.w.Address())
	if err != nil {
		return nil, chainErr("list utxos", err)
	}
	if err := s.recordIncomingFrom(ctx, bw, us); err != nil {
		return nil, err
	}
	lk, err := s.locks(ctx, s.st.q(), walletID)
	if err != nil {
		return nil, s.dbErr("read locks", err)
	}
	out := make([]UTXO, 0, len(us))
	for _, u := range us {
		if !bytes.Equal(u.PkScript, bw.w.PkScript()) {
			continue
		}
		x := UTXO{TxID: u.OutPoint.Hash.String(), Vout: u.OutPoint.Index, Value: u.Value,
			Confirmations: u.Confirmations, Coinbase: u.Coinbase}
		if l, ok := lk[outpointKey(u.OutPoint)]; ok {
			x.Locked, x.LockedBy = true, l.txID
		}
		out = append(out, x)
	}
	return out, nil
}

// Balance sums the wallet's UTXOs by spendability: Confirmed (enough
// confirmations, mature, not locked), Unconfirmed (fewer than MinConf
// confirmations), Locked (reserved by a pending send or PSBT) and
// Immature (coinbase outputs younger than 100 blocks).
func (s *Service) Balance(ctx context.Context, walletID string) (*Balance, error) {
	us, err := s.UTXOs(ctx, walletID)
	if err != nil {
		return nil, err
	}
	var b Balance
	for _, u := range us {
		switch {
		case u.Locked:
			b.Locked += u.Value
		case u.Coinbase && u.Confirmations < bitcoin.CoinbaseMaturity:
			b.Immature += u.Value
		case u.Confirmations < int64(s.cfg.MinConf):
			b.Unconfirmed += u.Value
		default:
			b.Confirmed += u.Value
		}
	}
	b.Total = b.Confirmed + b.Unconfirmed + b.Locked + b.Immature
	return &b, nil
}

// sendPlan is a validated SendRequest.
type sendPlan struct {
	outs []bitcoin.Output
	rate bitcoin.FeeRate // 0: estimate
	note string
	hash string
}

// parseSend validates req for the wallet's network.
func (s *Service) parseSend(bw *btcWallet, origin string, req SendRequest) (*sendPlan, error) {
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	if err := checkText("note", req.Note, MaxNoteLen, true); err != nil {
		return nil, err
	}
	if len(req.Outputs) == 0 {
		return nil, fmt.Errorf("%w: at least one output is required", ErrInvalid)
	}
	if len(req.Outputs) > MaxOutputs {
		return nil, fmt.Errorf("%w: at most %d outputs", ErrInvalid, MaxOutputs)
	}
	if req.SendMax && len(req.Outputs) != 1 {
		return nil, fmt.Errorf("%w: send_max takes exactly one output", ErrInvalid)
	}
	if req.FeeRate < 0 || req.FeeRate > s.cfg.MaxFeeRate {
		return nil, fmt.Errorf("%w: fee_rate must be between 1 and %d sat/vB (0 to estimate)", ErrInvalid, s.cfg.MaxFeeRate)
	}
	p := &sendPlan{rate: bitcoin.SatPerVByte(req.FeeRate), note: req.Note}
	var sum int64
	parts := []string{origin, bw.r.w.ID, fmt.Sprint(req.SendMax), fmt.Sprint(req.FeeRate), req.Note}
	for i, o := range req.Outputs {
		addr, err := bitcoin.ParseAddress(o.Address, bw.net)
		if err != nil {
			return nil, fmt.Errorf("%w: outputs[%d].address: %v", ErrInvalid, i, err)
		}
		script, err := txscript.PayToAddrScript(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: outputs[%d].address: unsupported address type", ErrInvalid, i)
		}
		if req.SendMax {
			if o.Amount != 0 {
				return nil, fmt.Errorf("%w: outputs[%d].amount must be 0 with send_max", ErrInvalid, i)
			}
		} else {
			if o.Amount <= 0 || o.Amount > maxSatoshi {
				return nil, fmt.Errorf("%w: outputs[%d].amount must be between 1 and 21e14 satoshi", ErrInvalid, i)
			}
			if d := bitcoin.DustLimit(script); o.Amount < d {
				return nil, fmt.Errorf("%w: outputs[%d].amount %d is below the dust limit %d for this address", ErrInvalid, i, o.Amount, d)
			}
			sum += o.Amount
			if sum > maxSatoshi {
				return nil, fmt.Errorf("%w: total amount exceeds 21 million BTC", ErrInvalid)
			}
		}
		p.outs = append(p.outs, bitcoin.Output{Address: addr, Value: o.Amount, SendMax: req.SendMax})
		parts = append(parts, addr.EncodeAddress(), fmt.Sprint(o.Amount))
	}
	p.hash = reqHash(parts...)
	return p, nil
}

// build selects coins (skipping locked outpoints) and builds the spend.
func (s *Service) build(ctx context.Context, bw *btcWallet, p *sendPlan, locked map[string]lockInfo) (*bitcoin.Spend, bitcoin.FeeRate, error) {
	rate := p.rate
	if rate == 0 {
		r, err := bw.be.FeeRate(ctx, DefaultFeeTarget)
		if err != nil {
			return nil, 0, chainErr("estimate fee", err)
		}
		rate = max(r, bitcoin.MinRelayFeeRate)
		if rate > bitcoin.SatPerVByte(s.cfg.MaxFeeRate) {
			return nil, 0, fmt.Errorf("%w: estimated fee rate %d sat/vB exceeds the limit %d", ErrUnavailable, int64(rate)/1000, s.cfg.MaxFeeRate)
		}
	}
	us, err := bw.be.UTXOs(ctx, bw.w.Address())
	if err != nil {
		return nil, 0, chainErr("list utxos", err)
	}
	if err := s.recordIncomingFrom(ctx, bw, us); err != nil {
		return nil, 0, err
	}
	free := us[:0:0]
	for _, u := range us {
		if _, ok := locked[outpointKey(u.OutPoint)]; !ok {
			free = append(free, u)
		}
	}
	sp, err := bw.w.BuildSpend(bitcoin.SpendRequest{UTXOs: free, Outputs: p.outs, FeeRate: rate, MinConf: int64(s.cfg.MinConf)})
	switch {
	case err == nil:
		return sp, rate, nil
	case errors.Is(err, bitcoin.ErrInsufficientFunds):
		return nil, 0, fmt.Errorf("%w: spendable outputs do not cover the amount and the fee", ErrInsufficient)
	case errors.Is(err, bitcoin.ErrDust), errors.Is(err, bitcoin.ErrInvalidRequest):
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	default:
		return nil, 0, fmt.Errorf("%w: build transaction: %v", ErrInvalid, err)
	}
}

// review fills the review fields of t from a built spend.
func review(t *Transaction, pkt *psbt.Packet, fee, vsize, change int64, changeIndex int, net *bitcoin.Network) {
	t.Outputs = t.Outputs[:0]
	t.Amount = 0
	for i, o := range pkt.UnsignedTx.TxOut {
		if i == changeIndex {
			continue
		}
		t.Outputs = append(t.Outputs, Output{Address: scriptAddress(o.PkScript, net), Amount: o.Value})
		t.Amount += o.Value
	}
	t.Fee, t.VSize, t.Change, t.Inputs = fee, vsize, change, len(pkt.UnsignedTx.TxIn)
	if vsize > 0 {
		t.FeeRate = fee / vsize
	}
	t.TxID = pkt.UnsignedTx.TxHash().String()
}

// scriptAddress renders an output script as an address (or "script:hex").
func scriptAddress(script []byte, net *bitcoin.Network) string {
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(script, net.Params)
	if err == nil && len(addrs) == 1 {
		return addrs[0].EncodeAddress()
	}
	return "script:" + hex.EncodeToString(script)
}

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
			for i, in := range sp.Packet.UnsignedTx.TxIn {
				_, err := tx.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
					outpointKey(in.PreviousOutPoint), bw.r.w.ID, id, sp.Packet.Inputs[i].WitnessUtxo.Value, exp, now)
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
	confirmations, block_height, note, psbt, raw_tx, error, broadcast, sign_requested, created_at, updated_at`

func scanTx(sc interface{ Scan(...any) error }) (*txRow, error) {
	var r txRow
	var outs string
	var created, updated, bcast, signReq int64
	t := &r.t
	if err := sc.Scan(&t.ID, &t.WalletID, &r.idem, &r.hash, &r.origin, &t.TxID, &t.Status, &outs, &t.Amount, &t.Fee, &t.FeeRate,
		&t.VSize, &t.Change, &t.Inputs, &t.Confirmations, &t.BlockHeight, &r.noteEnc, &r.psbtEnc, &t.RawTx, &t.Error, &bcast,
		&signReq, &created, &updated); err != nil {
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
	if r.origin != originSend && r.psbtEnc != "" && t.Status == StatusBuilt {
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
	var held int
	if err := s.st.q().row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE tx_id = ? AND (expires_at = 0 OR expires_at > ?)`, r.t.ID, s.nowNano()).Scan(&held); err != nil {
		return s.dbErr("read locks", err)
	}
	if held != r.t.Inputs {
		s.fail(ctx, r, "inputs were released before signing")
		return fmt.Errorf("%w: the transaction's inputs were released before it was signed; build it again", ErrConflict)
	}
	b64, err := s.openMeta(ctx, "transactions", r.t.ID, "psbt", r.psbtEnc)
	if err != nil {
		return err
	}
	pkt, err := bitcoin.DecodePSBT([]byte(b64), true)
	if err != nil {
		return fmt.Errorf("%w: stored psbt is corrupt", ErrUnavailable)
	}
	// Make the locks permanent while signing: a signed transaction's
	// inputs stay reserved until it confirms or fails.
	if _, err := s.st.q().exec(ctx, `UPDATE utxo_locks SET expires_at = 0 WHERE tx_id = ?`, r.t.ID); err != nil {
		return s.dbErr("extend locks", err)
	}
	tx, err := bw.w.Sign(ctx, s.hsm, pkt)
	if err != nil {
		if r.origin != originSend {
			// Give a PSBT its lock expiry back; SignPSBT can be retried.
			exp := s.nowNano() + int64(s.cfg.PSBTLockTTL)
			s.st.q().exec(ctx, `UPDATE utxo_locks SET expires_at = ? WHERE tx_id = ?`, exp, r.t.ID)
			s.st.q().exec(ctx, `UPDATE transactions SET sign_requested = 0 WHERE id = ? AND status = ?`, r.t.ID, StatusBuilt)
		}
		if errors.Is(err, bitcoin.ErrBadSignature) {
			return fmt.Errorf("%w: sign: the HSM returned a signature that does not verify", ErrRejected)
		}
		return hsmErr("sign transaction", err)
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return fmt.Errorf("%w: serialize transaction: %v", ErrUnavailable, err)
	}
	raw := hex.EncodeToString(buf.Bytes())
	txid := tx.TxHash().String()
	now := s.nowNano()
	res, err := s.st.q().exec(ctx, `UPDATE transactions SET status = ?, raw_tx = ?, txid = ?, psbt = '', error = '', updated_at = ? WHERE id = ? AND status = ?`,
		StatusSigned, raw, txid, now, r.t.ID, StatusBuilt)
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
	r.t.Status, r.t.RawTx, r.t.TxID, r.t.Error, r.psbtEnc, r.t.UpdatedAt = StatusSigned, raw, txid, "", "", fromNano(now)
	return nil
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
	switch {
	case err == nil:
	case errors.As(err, &re):
		// Already in the mempool or a block (a rebroadcast after a crash)?
		if st, err2 := bw.be.TxStatus(ctx, tx.TxHash()); err2 == nil {
			s.setChainStatus(ctx, r, st)
			return nil
		}
		reason := truncate(re.Reason, 300)
		s.fail(ctx, r, "rejected by the node: "+reason)
		return fmt.Errorf("%w: node refused the transaction: %s", ErrRejected, reason)
	default:
		msg := "broadcast deferred: chain backend unavailable"
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
	rows, err := s.st.q().query(ctx, `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? ORDER BY created_at DESC, id DESC`, walletID)
	if err != nil {
		return nil, s.dbErr("list transactions", err)
	}
	var rs []*txRow
	for rows.Next() {
		r, err := scanTx(rows)
		if err != nil {
			rows.Close()
			return nil, s.dbErr("list transactions", err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("list transactions", err)
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
	us, err := bw.be.UTXOs(ctx, bw.w.Address())
	if err != nil {
		return chainErr("list utxos", err)
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
	}
	byTx := map[string]*agg{}
	var order []string
	for _, u := range us {
		if !bytes.Equal(u.PkScript, bw.w.PkScript()) {
			continue
		}
		k := u.OutPoint.Hash.String()
		a := byTx[k]
		if a == nil {
			a = &agg{conf: u.Confirmations}
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
		outs, _ := json.Marshal([]Output{{Address: bw.r.w.Address, Amount: a.amount}})
		now := s.nowNano()
		if _, err := s.st.q().exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, amount, confirmations,
			created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wallet_id, idem_key) DO NOTHING`,
			newID("tx_", 12), bw.r.w.ID, "in:"+txid, originIncoming, txid, status, string(outs), a.amount, a.conf, now, now); err != nil {
			return s.dbErr("record incoming", err)
		}
	}
	return nil
}

// Refresh brings every pending transaction up to date: it releases
// expired PSBT locks (failing their transactions), fails sends left built
// for too long (a crash before signing, never retried), rebroadcasts
// signed transactions, records confirmations (releasing the inputs'
// locks) and incoming payments. It returns the first error met, after
// trying everything.
func (s *Service) Refresh(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	now := s.nowNano()
	// Expired PSBT reservations and stale built sends.
	rows, err := s.st.q().query(ctx, `SELECT `+txCols+` FROM transactions WHERE status IN (?, ?, ?) OR (status = ? AND confirmations < 6) ORDER BY created_at`,
		StatusBuilt, StatusSigned, StatusBroadcast, StatusConfirmed)
	if err != nil {
		return s.dbErr("refresh", err)
	}
	var rs []*txRow
	for rows.Next() {
		r, err := scanTx(rows)
		if err != nil {
			rows.Close()
			return s.dbErr("refresh", err)
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.dbErr("refresh", err)
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
			var held int
			if err := s.st.q().row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE tx_id = ? AND (expires_at = 0 OR expires_at > ?)`, r.t.ID, now).Scan(&held); err != nil {
				keep(s.dbErr("refresh", err))
				continue
			}
			stale := (r.origin == originSend && now-r.t.CreatedAt.UnixNano() > int64(DefaultStaleBuilt)) || r.signReq
			if held < r.t.Inputs || stale {
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
		bw, err := s.btcOf(r)
		if err != nil {
			continue // network no longer configured
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
