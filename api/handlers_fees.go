package api

import (
	"net/http"

	"github.com/vhsm/vhsm/wallet"
)

// feeEstimates answers GET /v1/fee-estimates[?network=NAME]: the chain
// backend's fee rates for 1, 6 and 144 blocks (each marked node or
// fallback), the fee-rate limit and the fee sanity thresholds.
func (s *server) feeEstimates(w http.ResponseWriter, r *http.Request) {
	network := r.URL.Query().Get("network")
	if len(network) > 16 || (network != "" && !validID(network)) {
		s.fail(w, r, invalid("network is malformed", FieldError{Field: "network", Message: "a Bitcoin network name, e.g. regtest"}))
		return
	}
	est, err := s.w.FeeEstimates(r.Context(), network)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if est.Estimates == nil {
		est.Estimates = []wallet.FeeEstimate{}
	}
	writeJSON(w, http.StatusOK, est)
}
