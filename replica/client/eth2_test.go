package client

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/wire"
)

// TestSplitInterchange checks that a file too large for one import request
// is split into valid interchange files of at most maxImportChunk bytes
// whose merge equals the merge of the whole file: the same records under a
// complete policy, the same bounds under Minimal.
func TestSplitInterchange(t *testing.T) {
	gvr := "0x" + strings.Repeat("0a", 32)
	var b strings.Builder
	fmt.Fprintf(&b, `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"%s"},"data":[`, gvr)
	for v := 0; v < 40; v++ {
		if v > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"pubkey":"0x%02x%s","signed_blocks":[`, v, strings.Repeat("b1", 47))
		for i := 0; i < 150; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"slot":"%d","signing_root":"0x%064x"}`, 10*i+v, i)
		}
		b.WriteString(`],"signed_attestations":[`)
		for i := 0; i < 300; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"source_epoch":"%d","target_epoch":"%d"}`, i, i+1)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	file := []byte(b.String())
	f, err := slashing.ParseInterchange(file)
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := splitInterchange(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("a %d-byte file gave %d chunk(s)", len(file), len(chunks))
	}
	root := [32]byte(f.GenesisValidatorsRoot)
	for _, p := range []slashing.Policy{slashing.Minimal, slashing.Complete(slashing.MaxKeep)} {
		whole, _ := slashing.NewDB(p)
		if err := whole.Import(root, file); err != nil {
			t.Fatal(err)
		}
		parts, _ := slashing.NewDB(p)
		for i, c := range chunks {
			if len(c) > maxImportChunk {
				t.Fatalf("chunk %d: %d bytes", i, len(c))
			}
			if err := parts.Import(root, c); err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
		}
		// Under Minimal a part's maxima may be kept as a watermark rather
		// than a record: the same bounds, so compare the minimal form.
		mode := slashing.ExportComplete
		if p.Minify {
			mode = slashing.ExportMinimal
		}
		a, _ := whole.Export(root, mode)
		c, _ := parts.Export(root, mode)
		if !bytes.Equal(a, c) {
			t.Fatalf("policy %+v: the chunks merge to another state than the file", p)
		}
	}
	// A small file is one request, unchanged in meaning.
	small, _ := slashing.ParseInterchange([]byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr + `"},"data":[]}`))
	if chunks, err := splitInterchange(small); err != nil || len(chunks) != 1 {
		t.Fatalf("empty file: %d chunks, %v", len(chunks), err)
	}
}

// TestExportSlashingProtectionLiar: a replica that substitutes its own
// interchange file (one that would let an attestation through elsewhere)
// is outvoted and named; the file returned is the one t+1 replicas sent.
func TestExportSlashingProtectionLiar(t *testing.T) {
	gvr := "0x" + strings.Repeat("ab", 32)
	pk := "0x" + strings.Repeat("cd", 48)
	honest := []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr + `"},"data":[{"pubkey":"` + pk + `","signed_blocks":[{"slot":"77"}],"signed_attestations":[{"source_epoch":"5","target_epoch":"6"}]}]}`)
	forged := bytes.Replace(honest, []byte(`"target_epoch":"6"`), []byte(`"target_epoch":"1"`), 1)
	fc := newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		if req.Op != wire.OpSlashingExport {
			return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
		}
		file := honest
		if replica == 2 {
			file = forged
		}
		return fakeReply{resp: &wire.Response{Replica: replica, Interchange: file}}
	})
	var culprits []Culprit
	c := fc.client(WithCulpritHandler(func(_ string, cs []Culprit) { culprits = append(culprits, cs...) }))
	var root [32]byte
	for i := range root {
		root[i] = 0xab
	}
	for k := 0; k < 5; k++ {
		got, err := c.ExportSlashingProtection(context.Background(), root, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, honest) {
			t.Fatalf("export returned %s", got)
		}
	}
	for _, cu := range culprits {
		if cu != (Culprit{2, ReasonDisagreement}) {
			t.Fatalf("culprits %+v", culprits)
		}
	}
}
