package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/wallet"
)

// TestBatchExits: POST /v1/validators/exits signs one exit per validator,
// in request order, with the given or the recorded index; every refusal
// (missing epoch, unknown id, missing index, index conflict, too many,
// duplicates) is decided before anything is signed.
func TestBatchExits(t *testing.T) {
	fw := newFakeWallets()
	const val2, val3 = "w_val2val2val2val2val2val2", "w_val3val3val3val3val3val3"
	for _, id := range []string{val2, val3} {
		fw.wallets[id] = &wallet.Wallet{ID: id, Kind: wallet.KindValidator, Network: "hoodi", KeyID: id, PublicKey: strings.Repeat("cd", 48), CreatedAt: time.Unix(1_700_000_000, 0)}
	}
	h := newTestHandler(t, fw, Config{})
	const path = "/v1/validators/exits"
	if code, _, _ := call(t, h, "PUT", "/v1/validators/"+val2+"/index", fakeAdmin, map[string]any{"validator_index": 22}); code != 200 {
		t.Fatal("set index")
	}
	refuse := func(name string, want int, field string, body any) {
		t.Helper()
		code, _, b := call(t, h, "POST", path, fakeSpend, body)
		if code != want {
			t.Fatalf("%s: %d %s", name, code, b)
		}
		if _, fields := problemType(t, b); field != "" && (len(fields) == 0 || fields[0].Field != field) {
			t.Errorf("%s: fields %+v, want %s (%s)", name, fields, field, b)
		}
		if fw.exits != 0 {
			t.Fatalf("%s: %d exits signed", name, fw.exits)
		}
	}
	one := func(id string, idx any) map[string]any {
		m := map[string]any{"id": id}
		if idx != nil {
			m["validator_index"] = idx
		}
		return m
	}
	ok := []any{one(fakeVal, "7"), one(val2, nil), one(val3, 33)}
	refuse("missing epoch", 400, "epoch", map[string]any{"validators": ok})
	refuse("bad epoch", 400, "epoch", map[string]any{"validators": ok, "epoch": "-1"})
	refuse("bad index", 400, "validators.validator_index", map[string]any{"validators": []any{one(fakeVal, "0x7")}, "epoch": "1"})
	refuse("negative index", 400, "validators.validator_index", map[string]any{"validators": []any{one(fakeVal, -7)}, "epoch": "1"})
	refuse("epoch out of range", 400, "epoch", map[string]any{"validators": ok, "epoch": fmt.Sprint(uint64(maxExitIndex) + 1)})
	refuse("no validators", 400, "validators", map[string]any{"epoch": "5"})
	refuse("both", 400, "all", map[string]any{"epoch": "5", "all": true, "validators": ok})
	refuse("unknown id", 404, "validators[1].id", map[string]any{"epoch": "5", "validators": []any{one(fakeVal, "7"), one("w_nosuchnosuchnosuchnosuch", "8")}})
	refuse("bitcoin wallet", 404, "validators[0].id", map[string]any{"epoch": "5", "validators": []any{one(fakeBTC, "8")}})
	refuse("malformed id", 400, "validators[0].id", map[string]any{"epoch": "5", "validators": []any{one("a/b", "8")}})
	refuse("missing index", 400, "validators[2].validator_index", map[string]any{"epoch": "5", "validators": []any{one(fakeVal, "7"), one(val2, nil), one(val3, nil)}})
	refuse("index conflict", 409, "validators[1].validator_index", map[string]any{"epoch": "5", "validators": []any{one(fakeVal, "7"), one(val2, "23")}})
	refuse("duplicate", 400, "validators[1].id", map[string]any{"epoch": "5", "validators": []any{one(fakeVal, "7"), one(fakeVal, "7")}})
	many := make([]any, maxExitBatch+1)
	for i := range many {
		many[i] = one(fmt.Sprintf("w_%024d", i), i)
	}
	refuse("too many", 400, "validators", map[string]any{"epoch": "5", "validators": many})
	refuse("all without indices", 400, "all", map[string]any{"epoch": "5", "all": true})
	if code, _, b := call(t, h, "POST", path, fakeRead, map[string]any{"epoch": "5", "validators": ok}); code != 403 || fw.exits != 0 {
		t.Fatalf("read token: %d %s", code, b)
	}

	code, _, b := call(t, h, "POST", path, fakeSpend, map[string]any{"epoch": "1000", "validators": ok})
	if code != 200 {
		t.Fatalf("batch: %d %s", code, b)
	}
	var exits []ethereum.SignedVoluntaryExit
	if err := json.Unmarshal(b, &exits); err != nil || len(exits) != 3 {
		t.Fatalf("answer %s: %v", b, err)
	}
	for i, want := range []uint64{7, 22, 33} {
		if uint64(exits[i].Message.ValidatorIndex) != want || exits[i].Message.Epoch != 1000 {
			t.Errorf("exit %d: %+v, want index %d epoch 1000", i, exits[i].Message, want)
		}
	}
	if !strings.Contains(string(b), `"validator_index":"7"`) {
		t.Errorf("not beacon-API JSON: %s", b)
	}
	if _, err := ethereum.ParseSignedVoluntaryExits(b); err != nil {
		t.Errorf("the answer is not an exits file: %v", err)
	}

	// all: every validator with a recorded index (the fake lists one).
	fw.exits = 0
	if code, _, _ := call(t, h, "PUT", "/v1/validators/"+fakeVal+"/index", fakeAdmin, map[string]any{"validator_index": 9}); code != 200 {
		t.Fatal("set index")
	}
	code, _, b = call(t, h, "POST", path, fakeSpend, map[string]any{"epoch": 3, "all": true})
	if code != 200 || json.Unmarshal(b, &exits) != nil || len(exits) != 1 || exits[0].Message.ValidatorIndex != 9 || exits[0].Message.Epoch != 3 {
		t.Fatalf("all: %d %s", code, b)
	}
	// A signing failure fails the whole batch.
	fw.err = fmt.Errorf("%w: hsm down", wallet.ErrUnavailable)
	if code, _, b := call(t, h, "POST", path, fakeSpend, map[string]any{"epoch": "5", "validators": []any{one(fakeVal, "9")}}); code != 503 {
		t.Fatalf("hsm down: %d %s", code, b)
	}
}

// FuzzExitsBody: the exits body decoder never panics, and a decoded number
// is exactly the decimal digits given.
func FuzzExitsBody(f *testing.F) {
	f.Add([]byte(`{"validators":[{"id":"w_a","validator_index":"12"}],"epoch":"3"}`))
	f.Add([]byte(`{"all":true,"epoch":18446744073709551615}`))
	f.Add([]byte(`{"epoch":"012"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b exitsBody
		if strictUnmarshal(data, &b) != nil {
			return
		}
		if b.Epoch != nil {
			var back exitUint
			if err := back.UnmarshalJSON([]byte(strconv.FormatUint(b.Epoch.v, 10))); err != nil || back != *b.Epoch {
				t.Fatalf("epoch %d does not round-trip: %v", b.Epoch.v, err)
			}
		}
	})
}
