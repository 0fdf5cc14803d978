package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/cluster"
)

// runJSON runs the CLI in-process with --json and decodes its stdout, which
// must be exactly one JSON object.
func runJSON(t *testing.T, cfgPath string, args ...string) (map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	full := append([]string{"--config", cfgPath, "--json"}, args...)
	if err := run(ctx, full, &stdout, &stderr); err != nil {
		if stdout.Len() != 0 {
			t.Fatalf("vhsm %v failed but printed %q", args, stdout.String())
		}
		return nil, err
	}
	return decodeOne(t, stdout.Bytes()), nil
}

// decodeOne decodes exactly one JSON object from b (trailing newline only).
func decodeOne(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("stdout %q is not a JSON object: %v", b, err)
	}
	if dec.More() || !bytes.HasSuffix(b, []byte("\n")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("stdout %q is not exactly one JSON object line", b)
	}
	return obj
}

// wantFields checks obj has exactly the given fields.
func wantFields(t *testing.T, obj map[string]any, fields ...string) {
	t.Helper()
	var got []string
	for k := range obj {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(fields)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v (object %v)", got, want, obj)
	}
}

// wantHex checks obj[field] is a hex string of n bytes and returns it.
func wantHex(t *testing.T, obj map[string]any, field string, n int) string {
	t.Helper()
	s, ok := obj[field].(string)
	if !ok {
		t.Fatalf("%s = %v is not a string", field, obj[field])
	}
	b, err := hex.DecodeString(s)
	if err != nil || (n > 0 && len(b) != n) {
		t.Fatalf("%s = %q is not %d bytes of hex", field, s, n)
	}
	return s
}

// startTestCluster starts a real in-process 4-replica cluster with pools
// small enough for the genesis DKG to deal only what a CLI test uses, and
// waits until it can generate keys. Under -short the test is skipped.
func startTestCluster(t *testing.T, pools *app.PoolConfig) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	cl := cluster.StartInProcess(t, filepath.Join(t.TempDir(), "net"), 4, cluster.Options{Pools: pools})
	if err := cl.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	return cl
}
