package wallet

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// rejectBackend refuses every broadcast with reason and answers TxStatus
// with statusErr.
type rejectBackend struct {
	reason    string
	statusErr error
}

func (b *rejectBackend) UTXOs(context.Context, btcutil.Address) ([]bitcoin.UTXO, error) {
	return nil, nil
}
func (b *rejectBackend) FeeRate(context.Context, int) (bitcoin.FeeRate, error) {
	return bitcoin.MinRelayFeeRate, nil
}
func (b *rejectBackend) Broadcast(context.Context, *btcwire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, &bitcoin.RejectError{Code: -26, Reason: b.reason}
}
func (b *rejectBackend) TxStatus(context.Context, chainhash.Hash) (bitcoin.TxStatus, error) {
	return bitcoin.TxStatus{}, b.statusErr
}

// signedRow stores a signed send (broadcast requested) holding one
// permanent input lock, and returns it.
func signedRow(t *testing.T, s *Service, bw *btcWallet, id string) *txRow {
	t.Helper()
	ctx := context.Background()
	tx := btcwire.NewMsgTx(2)
	op := btcwire.OutPoint{Hash: chainhash.Hash{byte(len(id)), id[len(id)-1]}, Index: 0}
	tx.AddTxIn(btcwire.NewTxIn(&op, nil, nil))
	tx.AddTxOut(btcwire.NewTxOut(5000, bw.w.PkScript()))
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	q := s.st.q()
	if _, err := q.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, txid, status, outputs, inputs, raw_tx, broadcast, created_at, updated_at)
		VALUES (?, ?, ?, '', 'send', ?, 'signed', '[]', 1, ?, 1, 0, 0)`, id, bw.r.w.ID, id, tx.TxHash().String(), hex.EncodeToString(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if _, err := q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, ?, ?, 6000, 0, 0)`,
		outpointKey(op), bw.r.w.ID, id); err != nil {
		t.Fatal(err)
	}
	r, err := s.txByID(ctx, bw.r.w.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBroadcastRejectUnknownStatus: a refused broadcast fails the send
// (releasing its inputs) only when the backend says it does not know the
// transaction. When its status cannot be read, or the node says it
// already has it, the send stays signed with its inputs locked: marking a
// transaction that may be in the mempool "failed" invites a second payment.
func TestBroadcastRejectUnknownStatus(t *testing.T) {
	s, _ := storeOnly(t)
	ctx := context.Background()
	bw := testWallet(t)
	if _, err := s.st.q().exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES (?, 'bitcoin', 'regtest', 'k', '', ?, '', '', 0, NULL, 0)`,
		bw.r.w.ID, bw.r.w.Address); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		reason    string
		statusErr error
		want      string
	}{
		{"bad-txns-inputs-missingorspent", errors.New("getrawtransaction: connection refused"), StatusSigned},
		{"txn-already-known", fmt.Errorf("%w: tx", bitcoin.ErrNotFound), StatusSigned},
		{"min relay fee not met", fmt.Errorf("%w: tx", bitcoin.ErrNotFound), StatusFailed},
	}
	for i, c := range cases {
		id := fmt.Sprintf("tx_%024x", i+1)
		r := signedRow(t, s, bw, id)
		bw.be = &rejectBackend{reason: c.reason, statusErr: c.statusErr}
		err := s.broadcastRow(ctx, bw, r)
		if (c.want == StatusFailed) != errors.Is(err, ErrRejected) {
			t.Errorf("%s: err %v", c.reason, err)
		}
		cur, err := s.txByID(ctx, bw.r.w.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		var held int
		s.st.q().row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE tx_id = ?`, id).Scan(&held)
		if cur.t.Status != c.want || (held == 1) != (c.want == StatusSigned) {
			t.Errorf("%s / %v: status %s, %d locks held; want %s", c.reason, c.statusErr, cur.t.Status, held, c.want)
		}
	}
}

// TestClaimLocksAtomic: signing claims a transaction's input locks in one
// conditional update. If any has lapsed (and so may be reserved by another
// send by now), nothing is extended and signing is refused; otherwise all
// become permanent.
func TestClaimLocksAtomic(t *testing.T) {
	s, clk := storeOnly(t)
	ctx := context.Background()
	q := s.st.q()
	if _, err := q.exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES ('w_1', 'bitcoin', 'regtest', 'k', '', '', '', '', 0, NULL, 0)`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"tx_a", "tx_b"} {
		if _, err := q.exec(ctx, `INSERT INTO transactions (id, wallet_id, idem_key, req_hash, origin, status, outputs, created_at, updated_at)
			VALUES (?, 'w_1', ?, '', 'psbt', 'built', '[]', 0, 0)`, id, id); err != nil {
			t.Fatal(err)
		}
	}
	now := clk.t.UnixNano()
	lock := func(tx string, n byte, exp int64) {
		t.Helper()
		op := btcwire.OutPoint{Hash: chainhash.Hash{n}, Index: 0}
		if _, err := q.exec(ctx, `INSERT INTO utxo_locks (outpoint, wallet_id, tx_id, value, expires_at, created_at) VALUES (?, 'w_1', ?, 1, ?, 0)`,
			outpointKey(op), tx, exp); err != nil {
			t.Fatal(err)
		}
	}
	lock("tx_a", 1, now+1e9)
	lock("tx_a", 2, now-1) // lapsed
	if ok, err := s.claimLocks(ctx, "tx_a", 2); ok || err != nil {
		t.Fatalf("claim with a lapsed lock: %v %v", ok, err)
	}
	var perm int
	q.row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE expires_at = 0`).Scan(&perm)
	if perm != 0 {
		t.Fatalf("a refused claim made %d locks permanent", perm)
	}
	lock("tx_b", 3, now+1e9)
	lock("tx_b", 4, 0)
	if ok, err := s.claimLocks(ctx, "tx_b", 2); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	q.row(ctx, `SELECT COUNT(*) FROM utxo_locks WHERE tx_id = 'tx_b' AND expires_at = 0`).Scan(&perm)
	if perm != 2 {
		t.Fatalf("%d of 2 locks permanent", perm)
	}
	if ok, _ := s.claimLocks(ctx, "tx_b", 3); ok {
		t.Fatal("claim of 3 inputs with 2 locks held succeeded")
	}
}

// TestImportPSBTFeeCap: a PSBT from elsewhere whose fee rate exceeds
// Config.MaxFeeRate (the bound a Send obeys) is refused before anything is
// stored, locked or signed.
func TestImportPSBTFeeCap(t *testing.T) {
	s, _ := storeOnly(t)
	ctx := context.Background()
	bw := testWallet(t)
	mk := func(out int64) *psbt.Packet {
		op := btcwire.OutPoint{Hash: chainhash.Hash{9}, Index: 1}
		pkt, err := psbt.New([]*btcwire.OutPoint{&op}, []*btcwire.TxOut{btcwire.NewTxOut(out, bw.w.PkScript())}, 2, 0, []uint32{btcwire.MaxTxInSequenceNum})
		if err != nil {
			t.Fatal(err)
		}
		pkt.Inputs[0].WitnessUtxo = btcwire.NewTxOut(100_000_000, bw.w.PkScript())
		return pkt
	}
	pkt := mk(1000)
	plan, err := bw.w.PlanPSBT(pkt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.importPSBT(ctx, bw, pkt, plan, SignPSBTRequest{AcceptHighFee: true}, "h")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("fee of ~1 BTC: %v, want ErrInvalid", err)
	}
	var n int
	s.st.q().row(ctx, `SELECT COUNT(*) FROM utxo_locks`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d locks after a refused import", n)
	}
}

// TestIdempotencyKeyReservedPrefix: a client's idempotency key cannot take
// the form of an incoming payment's ("in:<txid>"), which would keep that
// payment out of the history.
func TestIdempotencyKeyReservedPrefix(t *testing.T) {
	if err := checkIdempotencyKey(incomingKeyPrefix + strings.Repeat("ab", 32)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("in:<txid>: %v", err)
	}
	if err := checkIdempotencyKey("invoice-42"); err != nil {
		t.Fatalf("invoice-42: %v", err)
	}
}
