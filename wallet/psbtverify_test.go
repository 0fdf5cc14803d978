package wallet

import (
	"context"
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

// chainView is a backend that knows the wallet's UTXOs and, with lookup,
// any other output.
type chainView struct {
	estBackend
	mine   []bitcoin.UTXO
	others map[btcwire.OutPoint]*btcwire.TxOut
	err    error
}

func (c *chainView) UTXOs(context.Context, btcutil.Address) ([]bitcoin.UTXO, error) {
	return c.mine, c.err
}

type lookupView struct{ *chainView }

func (l lookupView) TxOut(_ context.Context, op btcwire.OutPoint) (*btcwire.TxOut, error) {
	if o, ok := l.others[op]; ok {
		return o, nil
	}
	return nil, bitcoin.ErrNotFound
}

// TestVerifyInputs: every way a PSBT's claimed spent outputs can disagree
// with the chain is refused naming the input; the truth passes.
func TestVerifyInputs(t *testing.T) {
	s, _ := storeOnly(t)
	bw := testWallet(t)
	ctx := context.Background()
	own := btcwire.OutPoint{Hash: chainhash.Hash{1}, Index: 0}
	own2 := btcwire.OutPoint{Hash: chainhash.Hash{2}, Index: 1}
	foreign := btcwire.OutPoint{Hash: chainhash.Hash{3}, Index: 2}
	otherScript := append([]byte{0x00, 0x14}, make([]byte, 20)...)
	view := &chainView{
		mine: []bitcoin.UTXO{
			{OutPoint: own, Value: 50_000, PkScript: bw.w.PkScript(), Confirmations: 3},
			{OutPoint: own2, Value: 20_000, PkScript: bw.w.PkScript(), Confirmations: 1},
		},
		others: map[btcwire.OutPoint]*btcwire.TxOut{foreign: btcwire.NewTxOut(30_000, otherScript)},
	}
	type in struct {
		op     btcwire.OutPoint
		value  int64
		script []byte
	}
	mk := func(ins ...in) (*psbt.Packet, *bitcoin.PSBTPlan) {
		var ops []*btcwire.OutPoint
		var seq []uint32
		for i := range ins {
			ops = append(ops, &ins[i].op)
			seq = append(seq, bitcoin.SequenceRBF)
		}
		pkt, err := psbt.New(ops, []*btcwire.TxOut{btcwire.NewTxOut(400, otherScript)}, 2, 0, seq)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range ins {
			pkt.Inputs[i].WitnessUtxo = btcwire.NewTxOut(x.value, x.script)
		}
		plan, err := bw.w.PlanPSBT(pkt)
		if err != nil {
			t.Fatal(err)
		}
		return pkt, plan
	}
	ours := bw.w.PkScript()
	withLookup := &btcWallet{r: bw.r, w: bw.w, net: bw.net, be: lookupView{view}}
	withoutLookup := &btcWallet{r: bw.r, w: bw.w, net: bw.net, be: view}
	for _, tc := range []struct {
		name  string
		bw    *btcWallet
		ins   []in
		input int // -1: accepted
		says  string
	}{
		{"truth", withLookup, []in{{own, 50_000, ours}, {foreign, 30_000, otherScript}}, -1, ""},
		{"truth, own only, no lookup needed", withoutLookup, []in{{own, 50_000, ours}, {own2, 20_000, ours}}, -1, ""},
		{"understated own amount", withLookup, []in{{own, 500, ours}}, 0, "does not match the chain's 50000 sat"},
		{"overstated own amount", withLookup, []in{{own2, 20_000, ours}, {own, 60_000, ours}}, 1, "does not match the chain's 50000 sat"},
		{"unknown own outpoint", withLookup, []in{{own, 50_000, ours}, {btcwire.OutPoint{Hash: chainhash.Hash{9}}, 10_000, ours}}, 1, "not an unspent output of this wallet"},
		{"own outpoint claimed as foreign", withLookup, []in{{own2, 20_000, ours}, {own, 50_000, otherScript}}, 1, "script does not match the chain's (this wallet's output)"},
		{"foreign amount lie", withLookup, []in{{own, 50_000, ours}, {foreign, 30_001, otherScript}}, 1, "30001 sat does not match the chain's 30000 sat"},
		{"foreign script lie", withLookup, []in{{own, 50_000, ours}, {foreign, 30_000, append([]byte{0x51}, otherScript[1:]...)}}, 1, "script does not match"},
		{"foreign unknown or spent", withLookup, []in{{own, 50_000, ours}, {btcwire.OutPoint{Hash: chainhash.Hash{8}}, 5_000, otherScript}}, 1, "unknown or already spent"},
		{"foreign, backend cannot look up", withoutLookup, []in{{own, 50_000, ours}, {foreign, 30_000, otherScript}}, 1, "cannot look other outputs up"},
	} {
		pkt, plan := mk(tc.ins...)
		err := s.verifyInputs(ctx, tc.bw, pkt, plan)
		if tc.input < 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("input %d (", tc.input)) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// An immature coinbase of the wallet.
	view.mine[0].Coinbase, view.mine[0].Confirmations = true, 99
	pkt, plan := mk(in{own, 50_000, ours})
	if err := s.verifyInputs(ctx, withLookup, pkt, plan); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "coinbase output not mature") {
		t.Errorf("immature coinbase: %v", err)
	}
	// The backend down: unavailable, not a verdict on the PSBT.
	view.err = bitcoin.ErrBackend
	if err := s.verifyInputs(ctx, withLookup, pkt, plan); !errors.Is(err, ErrUnavailable) {
		t.Errorf("backend down: %v", err)
	}
}
