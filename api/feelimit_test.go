package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/vhsm/vhsm/wallet"
)

// TestFeeRateLimitAgrees: the fee-rate limit is one number — wallet.MaxFeeRate
// — in the code, in the OpenAPI document's maximum and in the field error.
func TestFeeRateLimitAgrees(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	p := doc.Components.Schemas["SendRequest"].Value.Properties["fee_rate"].Value
	if p.Max == nil || *p.Max != float64(wallet.MaxFeeRate) || maxFeeRate != wallet.MaxFeeRate {
		t.Fatalf("fee_rate maximum: document %v, api %d, wallet %d", p.Max, maxFeeRate, wallet.MaxFeeRate)
	}
	if !strings.Contains(p.Description, fmt.Sprint(wallet.MaxFeeRate)) {
		t.Errorf("fee_rate description %q does not state the limit", p.Description)
	}
	if err := p.VisitJSON(float64(wallet.MaxFeeRate + 1)); err == nil {
		t.Error("the document accepts MaxFeeRate+1")
	}
	if err := p.VisitJSON(float64(wallet.MaxFeeRate)); err != nil {
		t.Errorf("the document refuses MaxFeeRate: %v", err)
	}
	h := newTestHandler(t, newFakeWallets(), Config{})
	for _, rate := range []int64{wallet.MaxFeeRate, wallet.MaxFeeRate + 1} {
		body := fmt.Sprintf(`{"outputs":[{"address":%q,"amount":10000}],"fee_rate":%d,"dry_run":true}`, fakeAddress(), rate)
		code, _, b := call(t, h, http.MethodPost, "/v1/wallets/"+fakeBTC+"/transactions", fakeSpend, body)
		var pr struct {
			Errors []FieldError `json:"errors"`
		}
		json.Unmarshal(b, &pr)
		tooHigh := rate > wallet.MaxFeeRate
		if (code == http.StatusBadRequest) != tooHigh {
			t.Fatalf("fee_rate %d: status %d: %s", rate, code, b)
		}
		if tooHigh && (len(pr.Errors) != 1 || pr.Errors[0].Field != "fee_rate" || !strings.Contains(pr.Errors[0].Message, fmt.Sprint(wallet.MaxFeeRate))) {
			t.Fatalf("field error does not state the limit: %s", b)
		}
	}
}

// TestHighFeeProblem: ErrHighFee is a 422 high-fee problem whose detail
// says what to do.
func TestHighFeeProblem(t *testing.T) {
	p, known := problemOf(fmt.Errorf("%w: the fee of 111000 sat is 1110%% of the 10000 sat paid; set accept_high_fee", wallet.ErrHighFee))
	if !known || p.Status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, ProblemHighFee) || !strings.Contains(p.Detail, "accept_high_fee") ||
		strings.Contains(p.Detail, "wallet:") {
		t.Fatalf("problem: %+v", p)
	}
}

// TestFeeEstimatesRoute: GET /v1/fee-estimates with a read token, the
// network query validated.
func TestFeeEstimatesRoute(t *testing.T) {
	h := newTestHandler(t, newFakeWallets(), Config{})
	code, _, b := call(t, h, http.MethodGet, "/v1/fee-estimates?network=regtest", fakeRead, nil)
	var est wallet.FeeEstimates
	if code != http.StatusOK || json.Unmarshal(b, &est) != nil || len(est.Estimates) != 3 || est.Estimates[0].Source != "fallback" {
		t.Fatalf("estimates: %d %s", code, b)
	}
	for q, want := range map[string]int{"?network=mainnet": 404, "?network=a%20b": 400, "?network=" + strings.Repeat("x", 17): 400, "": 200} {
		if code, _, b := call(t, h, http.MethodGet, "/v1/fee-estimates"+q, fakeRead, nil); code != want {
			t.Errorf("%q: %d, want %d: %s", q, code, want, b)
		}
	}
	if code, _, _ := call(t, h, http.MethodGet, "/v1/fee-estimates", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
}
