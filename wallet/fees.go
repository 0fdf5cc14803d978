package wallet

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// MaxFeeRate is the highest fee rate, in sat/vB, the service ever pays or
// signs: a requested fee_rate, a backend estimate and the fee rate of an
// imported PSBT. It is the one limit: Config.MaxFeeRate may lower it, never
// raise it; the API's field error and the OpenAPI document's "maximum" use
// this constant (a test compares them).
const MaxFeeRate = 10_000

// Fee sanity defaults (Config.HighFeeShare, Config.HighFeeCap).
const (
	// DefaultHighFeeShare flags a fee above 10% of the amount paid to
	// others (when the fee is above DefaultHighFeeFloor): the issue's
	// 1,000 sat/vB on a 10,000 sat payment (~111,000 sat, 1,110%) is
	// flagged; normal payments are not.
	DefaultHighFeeShare = 0.10
	// DefaultHighFeeFloor: a fee of at most 5,000 sat is never flagged by
	// the share rule (a 2,000 sat payment at 2 sat/vB pays ~300 sat, 15%,
	// and is no loss worth a prompt).
	DefaultHighFeeFloor = 5_000
	// DefaultHighFeeCap flags any fee above 0.01 BTC, whatever the amount.
	DefaultHighFeeCap = 1_000_000
)

// ErrHighFee reports a send, PSBT or PSBT signing whose fee the review
// flagged (Transaction.HighFee) and that did not set AcceptHighFee. Nothing
// was stored, locked or signed.
var ErrHighFee = errors.New("wallet: fee above the sanity limit")

// FeeTargets are the confirmation targets FeeEstimates reports, in blocks
// (next block, about an hour, about a day).
var FeeTargets = []int{1, 6, 144}

// FeeEstimate is the backend's fee rate for one confirmation target.
type FeeEstimate struct {
	TargetBlocks int `json:"target_blocks"`
	// FeeRate is in sat/vB, rounded up.
	FeeRate int64 `json:"fee_rate"`
	// Source is "node" (the backend's estimate), "fallback" (the node had
	// no estimate, e.g. btcd on regtest, and the configured fallback rate
	// is shown: not market data) or "backend" (a backend that does not say).
	Source string `json:"source"`
}

// FeeEstimates are the estimates of one Bitcoin network.
type FeeEstimates struct {
	Network   string        `json:"network"`
	Estimates []FeeEstimate `json:"estimates"`
	// MaxFeeRate is the service's fee-rate limit in sat/vB.
	MaxFeeRate int64 `json:"max_fee_rate"`
	// HighFeeShare, HighFeeFloor and HighFeeCap are the review's fee
	// sanity thresholds.
	HighFeeShare float64 `json:"high_fee_share"`
	HighFeeFloor int64   `json:"high_fee_floor"`
	HighFeeCap   int64   `json:"high_fee_cap"`
}

// FeeEstimates asks the chain backend of network (empty: the only
// configured one) for fee rates at FeeTargets. A rate above MaxFeeRate is
// reported as it is (a send would refuse it).
func (s *Service) FeeEstimates(ctx context.Context, network string) (*FeeEstimates, error) {
	if network == "" {
		if len(s.cfg.Bitcoin) != 1 {
			names := make([]string, 0, len(s.cfg.Bitcoin))
			for n := range s.cfg.Bitcoin {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("%w: network is required (configured: %v)", ErrInvalid, names)
		}
		for n := range s.cfg.Bitcoin {
			network = n
		}
	}
	be, ok := s.cfg.Bitcoin[network]
	if !ok {
		return nil, fmt.Errorf("%w: bitcoin network %q is not configured", ErrNotFound, truncate(network, 40))
	}
	share, floor, feeCap := s.feeLimits()
	out := &FeeEstimates{Network: network, MaxFeeRate: min(s.cfg.MaxFeeRate, MaxFeeRate), HighFeeShare: share, HighFeeFloor: floor, HighFeeCap: feeCap}
	for _, target := range FeeTargets {
		e := FeeEstimate{TargetBlocks: target, Source: "backend"}
		var rate bitcoin.FeeRate
		var err error
		if fe, ok := be.(bitcoin.FeeEstimator); ok {
			var est bitcoin.FeeEstimate
			est, err = fe.FeeEstimate(ctx, target)
			rate, e.Source = est.Rate, "node"
			if est.Fallback {
				e.Source = "fallback"
			}
		} else {
			rate, err = be.FeeRate(ctx, target)
		}
		if err != nil {
			return nil, chainErr("estimate fee", err)
		}
		e.FeeRate = (int64(rate) + 999) / 1000 // sat/kvB → sat/vB, rounded up
		out.Estimates = append(out.Estimates, e)
	}
	return out, nil
}

// applyFeeDefaults fills in the fee limits of cfg: MaxFeeRate (never
// above the constant), HighFeeShare and HighFeeCap.
func applyFeeDefaults(cfg *Config) {
	if cfg.MaxFeeRate <= 0 || cfg.MaxFeeRate > MaxFeeRate {
		cfg.MaxFeeRate = MaxFeeRate
	}
	if cfg.HighFeeShare <= 0 {
		cfg.HighFeeShare = DefaultHighFeeShare
	}
	if cfg.HighFeeFloor <= 0 {
		cfg.HighFeeFloor = DefaultHighFeeFloor
	}
	if cfg.HighFeeCap <= 0 {
		cfg.HighFeeCap = DefaultHighFeeCap
	}
}

// feeLimits returns the configured fee sanity limits (defaults for unset
// ones).
func (s *Service) feeLimits() (share float64, floor, feeCap int64) {
	share, floor, feeCap = s.cfg.HighFeeShare, s.cfg.HighFeeFloor, s.cfg.HighFeeCap
	if share <= 0 {
		share = DefaultHighFeeShare
	}
	if floor <= 0 {
		floor = DefaultHighFeeFloor
	}
	if feeCap <= 0 {
		feeCap = DefaultHighFeeCap
	}
	return share, floor, feeCap
}

// flagFee sets t.HighFee and t.FeeWarning when the fee is above
// HighFeeCap, or above both HighFeeFloor and HighFeeShare of the amount
// paid to others. A transaction that pays nobody else (a consolidation)
// is held to the cap only.
func (s *Service) flagFee(t *Transaction) {
	t.HighFee, t.FeeWarning = false, ""
	if t.Direction == "in" || t.Fee <= 0 {
		return
	}
	share, floor, feeCap := s.feeLimits()
	switch {
	case t.Fee > feeCap:
		t.HighFee = true
		t.FeeWarning = fmt.Sprintf("the fee of %d sat is above the cap of %d sat", t.Fee, feeCap)
	case t.Amount > 0 && t.Fee > floor && float64(t.Fee) > share*float64(t.Amount):
		t.HighFee = true
		pct := 100 * float64(t.Fee) / float64(t.Amount)
		t.FeeWarning = fmt.Sprintf("the fee of %d sat (%d sat/vB) is %.1f%% of the %d sat paid, above the limit of %g%%",
			t.Fee, t.FeeRate, pct, t.Amount, 100*share)
	}
}

// checkFee flags t's fee and refuses it with ErrHighFee unless accepted.
func (s *Service) checkFee(t *Transaction, accept bool) error {
	s.flagFee(t)
	if t.HighFee && !accept {
		return fmt.Errorf("%w: %s; review it and set accept_high_fee to send anyway", ErrHighFee, t.FeeWarning)
	}
	return nil
}
