package home

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// TestParseReplicaConfigThreshold: replica.json's t follows
// dkg.CheckThreshold (f ≤ t, t+1 ≤ n−2f).
func TestParseReplicaConfigThreshold(t *testing.T) {
	for _, tc := range []struct {
		n, t int
		ok   bool
	}{{1, 0, true}, {4, 0, false}, {4, 1, true}, {4, 2, false}, {7, 1, false}, {7, 2, true}, {10, 3, true}, {10, 4, false}} {
		b := fmt.Sprintf(`{"index":1,"n":%d,"t":%d,"chain_id":"c","p2p_listen":"tcp://127.0.0.1:1","api_listen":"127.0.0.1:2","api_url":"https://127.0.0.1:2"}`, tc.n, tc.t)
		_, err := ParseReplicaConfig([]byte(b))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("n=%d t=%d: %v, want ok=%v", tc.n, tc.t, err, tc.ok)
		}
	}
}

// FuzzParseReplicaConfig: the replica.json decoder never panics, and what
// it accepts re-encodes to a configuration it accepts again, unchanged.
func FuzzParseReplicaConfig(f *testing.F) {
	f.Add([]byte(`{"index":1,"n":4,"t":1,"chain_id":"c","p2p_listen":"tcp://127.0.0.1:1","peers":["a@b:1"],"api_listen":"127.0.0.1:2","api_url":"https://127.0.0.1:2"}`))
	f.Add([]byte(`{"index":0}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseReplicaConfig(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		enc, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseReplicaConfig(enc)
		if err != nil {
			t.Fatalf("re-encoded config rejected: %v", err)
		}
		enc2, _ := json.Marshal(c2)
		if !bytes.Equal(enc, enc2) {
			t.Fatal("round trip changed the config")
		}
	})
}
