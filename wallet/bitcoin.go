package wallet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"
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
	// hd and addrs: the wallet's tree and derived addresses (loadHD; nil
	// for a one-address wallet); change: the change address prepared for a
	// spend (nextChange).
	hd     *hdState
	addrs  []addrRow
	change *bitcoin.DerivedKey
}

// btc loads a Bitcoin wallet.
func (s *Service) btc(ctx context.Context, id string) (*btcWallet, error) {
	r, err := s.walletRow(ctx, id)
	if err != nil {
		return nil, err
	}
	bw, err := s.btcOf(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := s.loadHD(ctx, bw); err != nil {
		return nil, err
	}
	return bw, nil
}

func (s *Service) btcOf(ctx context.Context, r *row) (*btcWallet, error) {
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
	if rp, err := s.recoveryOf(ctx, r); err != nil {
		return nil, err
	} else if rp != nil {
		if w, err = recoveryWallet(r, rp, net); err != nil {
			return nil, err
		}
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
	us, err := s.listUTXOs(ctx, bw)
	if err != nil {
		return nil, err
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
		if !bw.w.Owns(u.PkScript) {
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

	acceptHighFee bool // SendRequest.AcceptHighFee (not part of hash)
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
	p := &sendPlan{rate: bitcoin.SatPerVByte(req.FeeRate), note: req.Note, acceptHighFee: req.AcceptHighFee}
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
	us, err := s.listUTXOs(ctx, bw)
	if err != nil {
		return nil, 0, err
	}
	if err := s.recordIncomingFrom(ctx, bw, us); err != nil {
		return nil, 0, err
	}
	// Change goes to a fresh change address (addresses.go).
	if err := s.nextChange(ctx, bw); err != nil {
		return nil, 0, err
	}
	free := us[:0:0]
	for _, u := range us {
		if _, ok := locked[outpointKey(u.OutPoint)]; !ok {
			free = append(free, u)
		}
	}
	sp, err := s.selectSpend(ctx, bw, p, free, us, locked, rate) // change.go: confirmed first, then own unconfirmed change
	switch {
	case err == nil:
		return sp, rate, nil
	case errors.Is(err, ErrInsufficient), errors.Is(err, ErrUnavailable):
		return nil, 0, err
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
