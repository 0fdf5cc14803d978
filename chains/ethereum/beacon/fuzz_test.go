package beacon

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzResponses feeds arbitrary node replies to every response decoder:
// none may panic, an accepted reply must have had every required field, and
// an error message is bounded and free of control characters.
func FuzzResponses(f *testing.F) {
	root := `"0x` + strings.Repeat("ab", 32) + `"`
	f.Add([]byte(`{"data":{"genesis_time":"1","genesis_validators_root":` + root + `,"genesis_fork_version":"0x00000000"}}`))
	f.Add([]byte(`{"data":{"previous_version":"0x00000000","current_version":"0x01000000","epoch":"7"}}`))
	f.Add([]byte(`{"data":{"index":"1","balance":"2","status":"active_ongoing","validator":{"pubkey":"0x` + strings.Repeat("a1", 48) +
		`","withdrawal_credentials":` + root + `,"effective_balance":"3","slashed":false,"activation_eligibility_epoch":"0",` +
		`"activation_epoch":"0","exit_epoch":"1","withdrawable_epoch":"2"}}}`))
	f.Add([]byte(`{"code":400,"message":"bad","failures":[{"index":0,"message":"x\n"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if g, err := parseGenesis("/g", data); err == nil {
			var probe struct {
				Data map[string]json.RawMessage `json:"data"`
			}
			if json.Unmarshal(data, &probe) != nil || len(probe.Data) < 3 {
				t.Fatalf("accepted genesis %+v from a reply without its fields", g)
			}
		}
		_, _ = parseFork("/f", data)
		_, _ = parseValidator("/v", data)
		e := apiError("POST", "/p", 400, data)
		for _, m := range append([]string{e.Message}, failureMessages(e)...) {
			if len(m) > 600 || !utf8.ValidString(m) || strings.ContainsAny(m, "\n\r\x1b\x00") {
				t.Fatalf("unclean message %q", m)
			}
		}
	})
}

func failureMessages(e *APIError) []string {
	var out []string
	for _, f := range e.Failures {
		out = append(out, f.Message)
	}
	return out
}
