package wallet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// TestFlagFee: the review flags a fee above the share of the amount or
// above the cap, and nothing else; checkFee refuses a flagged fee unless
// accepted.
func TestFlagFee(t *testing.T) {
	s, _ := storeOnly(t)
	for _, tc := range []struct {
		amount, fee int64
		share       float64
		cap         int64
		high        bool
		warn        string
	}{
		{10_000, 111_000, 0, 0, true, "1110.0% of the 10000 sat paid"}, // the issue: 1,000 sat/vB on 10,000 sat
		{50_000, 5_000, 0, 0, false, ""},                               // exactly 10%: not above
		{50_000, 5_001, 0, 0, true, "above the limit of 10%"},
		{2_000, 308, 0, 0, false, ""},    // 15%, but 308 sat: below the floor
		{10_000, 5_000, 0, 0, false, ""}, // 50%, at the floor
		{10_000, 5_001, 0, 0, true, "50.0% of the 10000 sat paid"},
		{100_000_000, 1_000_001, 0, 0, true, "above the cap of 1000000 sat"}, // 1% of 1 BTC, but above 0.01 BTC
		{100_000_000, 999_999, 0, 0, false, ""},
		{40_000, 10_000, 0.25, 0, false, ""},
		{40_000, 10_001, 0.25, 0, true, "above the limit of 25%"},
		{1_000_000_000, 60_000, 0, 50_000, true, "cap of 50000 sat"},
		{0, 300_000, 0, 0, false, ""},                    // nothing paid to others (a consolidation): the cap only
		{0, 1_000_001, 0, 0, true, "cap of 1000000 sat"}, // ... which still applies
	} {
		s.cfg.HighFeeShare, s.cfg.HighFeeCap = tc.share, tc.cap
		tx := Transaction{Direction: "out", Amount: tc.amount, Fee: tc.fee, FeeRate: 10}
		s.flagFee(&tx)
		if tx.HighFee != tc.high || !strings.Contains(tx.FeeWarning, tc.warn) || (tx.FeeWarning == "") == tc.high {
			t.Errorf("%+v: high %v warning %q", tc, tx.HighFee, tx.FeeWarning)
		}
		err := s.checkFee(&tx, false)
		if tc.high != errors.Is(err, ErrHighFee) || (err != nil && !strings.Contains(err.Error(), "accept_high_fee")) {
			t.Errorf("%+v: checkFee: %v", tc, err)
		}
		if err := s.checkFee(&tx, true); err != nil || tx.HighFee != tc.high {
			t.Errorf("%+v: accepted: %v", tc, err)
		}
	}
	in := Transaction{Direction: "in", Amount: 1, Fee: 1_000_000_000}
	s.flagFee(&in)
	if in.HighFee {
		t.Error("an incoming payment's fee is not ours to flag")
	}
}

// estBackend answers FeeRate (and, with estimator, FeeEstimate with the
// fallback mark for targets above 6).
type estBackend struct{ fail bool }

func (estBackend) UTXOs(context.Context, btcutil.Address) ([]bitcoin.UTXO, error) { return nil, nil }
func (b estBackend) FeeRate(_ context.Context, n int) (bitcoin.FeeRate, error) {
	if b.fail {
		return 0, bitcoin.ErrBackend
	}
	return bitcoin.FeeRate(20_500 / n), nil
}
func (estBackend) Broadcast(context.Context, *btcwire.MsgTx) (chainhash.Hash, error) {
	return chainhash.Hash{}, bitcoin.ErrBackend
}
func (estBackend) TxStatus(context.Context, chainhash.Hash) (bitcoin.TxStatus, error) {
	return bitcoin.TxStatus{}, bitcoin.ErrNotFound
}

type estimator struct{ estBackend }

func (e estimator) FeeEstimate(ctx context.Context, n int) (bitcoin.FeeEstimate, error) {
	r, err := e.FeeRate(ctx, n)
	return bitcoin.FeeEstimate{Rate: r, Fallback: n > 6}, err
}

func TestFeeEstimates(t *testing.T) {
	s, _ := storeOnly(t)
	ctx := context.Background()
	s.cfg.Bitcoin = map[string]bitcoin.Backend{"regtest": estimator{}}
	est, err := s.FeeEstimates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []FeeEstimate{{1, 21, "node"}, {6, 4, "node"}, {144, 1, "fallback"}} // 20500, 3416, 142 sat/kvB rounded up
	if est.Network != "regtest" || len(est.Estimates) != 3 || est.MaxFeeRate != MaxFeeRate || est.HighFeeShare != DefaultHighFeeShare ||
		est.HighFeeFloor != DefaultHighFeeFloor || est.HighFeeCap != DefaultHighFeeCap {
		t.Fatalf("%+v", est)
	}
	for i := range want {
		if est.Estimates[i] != want[i] {
			t.Errorf("estimate %d: %+v, want %+v", i, est.Estimates[i], want[i])
		}
	}
	s.cfg.Bitcoin = map[string]bitcoin.Backend{"regtest": estBackend{}, "signet": estBackend{fail: true}}
	if _, err := s.FeeEstimates(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("two networks, none named: %v", err)
	}
	if est, err := s.FeeEstimates(ctx, "regtest"); err != nil || est.Estimates[0].Source != "backend" {
		t.Fatalf("plain backend: %+v %v", est, err)
	}
	if _, err := s.FeeEstimates(ctx, "signet"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failing backend: %v", err)
	}
	if _, err := s.FeeEstimates(ctx, "mainnet"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unconfigured: %v", err)
	}
}

// TestMaxFeeRateClamp: Config.MaxFeeRate may lower the limit, never raise
// it above MaxFeeRate.
func TestMaxFeeRateClamp(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{{0, MaxFeeRate}, {-1, MaxFeeRate}, {500, 500}, {MaxFeeRate * 10, MaxFeeRate}} {
		cfg := Config{MaxFeeRate: tc.in}
		applyFeeDefaults(&cfg)
		if cfg.MaxFeeRate != tc.want || cfg.HighFeeShare != DefaultHighFeeShare || cfg.HighFeeCap != DefaultHighFeeCap || cfg.HighFeeFloor != DefaultHighFeeFloor {
			t.Errorf("%d: %+v", tc.in, cfg)
		}
	}
}
