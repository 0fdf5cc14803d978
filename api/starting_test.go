package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStarting: while the wallet service starts, /healthz is up, /readyz
// says not ready (without a token, without replica details) and every
// other route answers 503 unavailable with Retry-After.
func TestStarting(t *testing.T) {
	h := NewStarting(&fakeHSM{ready: 3})
	if code, _, body := call(t, h, "GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d %s", code, body)
	}
	code, hdr, body := call(t, h, "GET", "/readyz", "", nil)
	var rd struct {
		Type          string
		Ready         *bool
		Needed        int
		ReadyReplicas int `json:"ready_replicas"`
		Replicas      []map[string]any
	}
	if err := json.Unmarshal(body, &rd); err != nil || code != 503 || hdr.Get("Retry-After") == "" ||
		hdr.Get("Content-Type") != "application/problem+json" || !strings.HasSuffix(rd.Type, "unavailable") ||
		rd.Ready == nil || *rd.Ready || rd.Needed != 2 || rd.ReadyReplicas != 3 || len(rd.Replicas) != 4 {
		t.Fatalf("readyz while starting: %d %s", code, body)
	}
	for _, r := range rd.Replicas {
		if len(r) != 2 || r["replica"] == nil || r["ready"] == nil {
			t.Fatalf("replica detail beyond index and readiness: %v", r)
		}
	}
	for _, path := range []string{"/v1/wallets", "/metrics", "/", "/openapi.json"} {
		code, hdr, body := call(t, h, "GET", path, fakeRead, nil)
		if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "starting") {
			t.Fatalf("%s while starting: %d %s", path, code, body)
		}
	}
	if code, _, _ := call(t, h, "POST", "/v1/wallets", fakeAdmin, `{}`); code != 503 {
		t.Fatalf("POST while starting: %d", code)
	}
}
