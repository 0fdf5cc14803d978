package api

import (
	"encoding/json"
	"testing"

	"github.com/vhsm/vhsm/wallet"
)

// TestSetValidatorIndex: PUT /v1/validators/{id}/index is admin-only,
// requires validator_index, and answers the validator with it.
func TestSetValidatorIndex(t *testing.T) {
	fw := newFakeWallets()
	h := newTestHandler(t, fw, Config{})
	path := "/v1/validators/" + fakeVal + "/index"
	if code, _, b := call(t, h, "PUT", path, fakeSpend, map[string]any{"validator_index": 7}); code != 403 {
		t.Fatalf("spend token: %d %s", code, b)
	}
	code, _, b := call(t, h, "PUT", path, fakeAdmin, map[string]any{})
	if code != 400 {
		t.Fatalf("empty body: %d %s", code, b)
	}
	if _, fields := problemType(t, b); len(fields) != 1 || fields[0].Field != "validator_index" {
		t.Errorf("empty body: fields %+v", fields)
	}
	if code, _, b := call(t, h, "PUT", path, fakeAdmin, map[string]any{"validator_index": 1 << 41}); code != 400 {
		t.Fatalf("out of range: %d %s", code, b)
	}
	code, _, b = call(t, h, "PUT", path, fakeAdmin, map[string]any{"validator_index": 0})
	if code != 200 {
		t.Fatalf("set: %d %s", code, b)
	}
	var v wallet.Validator
	if err := json.Unmarshal(b, &v); err != nil || v.ValidatorIndex == nil || *v.ValidatorIndex != 0 {
		t.Fatalf("answer %s: %v", b, err)
	}
	if code, _, _ := call(t, h, "PUT", "/v1/validators/"+fakeBTC+"/index", fakeAdmin, map[string]any{"validator_index": 1}); code != 404 {
		t.Errorf("bitcoin wallet: %d", code)
	}
}
