package client

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// FuzzParseConfig: no input panics, and an accepted configuration survives
// an encode/parse round trip unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"client_id":"a","private_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","n":1,"t":0,"replicas":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"client_id":"a"} trailing`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := ParseConfig(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(cfg, cfg2) {
			t.Fatal("round trip changed the configuration")
		}
	})
}

// FuzzDecodeAnswer: no replica answer panics the client, and the three
// outcomes are exclusive; a success always carries the replica's own index.
func FuzzDecodeAnswer(f *testing.F) {
	good, _ := json.Marshal(wire.Response{Replica: 2, Partial: []byte{1}})
	f.Add(2, http.StatusOK, good)
	f.Add(2, http.StatusForbidden, []byte(`{"replica":2,"error":"no"}`))
	f.Add(2, http.StatusOK, []byte(`{"replica":3}`))
	f.Add(1, http.StatusInternalServerError, []byte(`oops`))
	f.Fuzz(func(t *testing.T, replica, status int, body []byte) {
		a := decodeAnswer(replica, status, body)
		n := 0
		if a.resp != nil {
			n++
			if a.resp.Replica != replica {
				t.Fatal("accepted an answer for another replica")
			}
			if status == http.StatusOK && a.resp.Error != "" {
				t.Fatal("accepted a success carrying an error")
			}
			if status != http.StatusOK && a.resp.Error == "" {
				t.Fatal("accepted an error status without a reason")
			}
		}
		if a.err != nil {
			n++
		}
		if a.bad {
			n++
		}
		if n != 1 {
			t.Fatalf("%d outcomes", n)
		}
	})
}
