package slashing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const (
	pk1  = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
	pk2  = "0xb89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5bac16a89108b6b6a1fe3695d1a874a0b"
	gvr0 = "0x0000000000000000000000000000000000000000000000000000000000000000"
	r1   = "0x0000000000000000000000000000000000000000000000000000000000000001"
)

// file builds an interchange file; entries are raw JSON objects.
func file(gvr string, entries ...string) []byte {
	return []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr + `"},"data":[` + strings.Join(entries, ",") + `]}`)
}

func TestImportRefusesMalformed(t *testing.T) {
	good := `{"pubkey":"` + pk1 + `","signed_blocks":[{"slot":"1"}],"signed_attestations":[{"source_epoch":"0","target_epoch":"1"}]}`
	cases := map[string][]byte{
		"not json":         []byte(`{`),
		"trailing":         append(file(gvr0, good), []byte(` {}`)...),
		"unknown field":    []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr0 + `"},"data":[],"extra":1}`),
		"no metadata":      []byte(`{"data":[]}`),
		"no data":          []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr0 + `"}}`),
		"null data":        []byte(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr0 + `"},"data":null}`),
		"version 4":        bytes.Replace(file(gvr0), []byte(`"5"`), []byte(`"4"`), 1),
		"version number":   bytes.Replace(file(gvr0), []byte(`"5"`), []byte(`5`), 1),
		"short gvr":        file("0x00"),
		"gvr no 0x":        file("00" + gvr0[2:]),
		"no pubkey":        file(gvr0, `{"signed_blocks":[],"signed_attestations":[]}`),
		"short pubkey":     file(gvr0, `{"pubkey":"0xa99a","signed_blocks":[],"signed_attestations":[]}`),
		"no blocks":        file(gvr0, `{"pubkey":"`+pk1+`","signed_attestations":[]}`),
		"no attestations":  file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[]}`),
		"null entry":       file(gvr0, `null`),
		"slot number":      file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":1}],"signed_attestations":[]}`),
		"slot missing":     file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"signing_root":"`+r1+`"}],"signed_attestations":[]}`),
		"slot leading 0":   file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"01"}],"signed_attestations":[]}`),
		"slot negative":    file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"-1"}],"signed_attestations":[]}`),
		"slot overflow":    file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"18446744073709551616"}],"signed_attestations":[]}`),
		"slot empty":       file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":""}],"signed_attestations":[]}`),
		"root short":       file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"1","signing_root":"0x01"}],"signed_attestations":[]}`),
		"root not hex":     file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"1","signing_root":"0x`+strings.Repeat("zz", 32)+`"}],"signed_attestations":[]}`),
		"no target":        file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[],"signed_attestations":[{"source_epoch":"1"}]}`),
		"source hex":       file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[],"signed_attestations":[{"source_epoch":"0x1","target_epoch":"2"}]}`),
		"block extra":      file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"1","proposer":"2"}],"signed_attestations":[]}`),
		"good then broken": file(gvr0, good, `{"pubkey":"`+pk2+`","signed_blocks":[{"slot":"x"}],"signed_attestations":[]}`),
	}
	for name, data := range cases {
		db, _ := NewDB(Minimal)
		err := db.Import(Root{}, data)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
		if len(db.Validators()) != 0 {
			t.Errorf("%s: a refused import changed the DB", name)
		}
	}
	db, _ := NewDB(Minimal)
	if err := db.Import(Root{1}, file(gvr0, good)); !errors.Is(err, ErrGenesisMismatch) {
		t.Fatalf("other chain: %v", err)
	}
	if err := db.Import(Root{}, file(gvr0, good)); err != nil {
		t.Fatalf("good file: %v", err)
	}
}

func TestImportMerge(t *testing.T) {
	var gvr Root
	pub := mustPubkey(t, pk1)
	for _, p := range []Policy{Minimal, Complete(16)} {
		db, _ := NewDB(p)
		// Signed here first: slot 30 with root 1, attestation 3→4.
		if err := db.RecordBlock(pub, gvr, 30, root(1)); err != nil {
			t.Fatal(err)
		}
		// An import with lower data keeps the higher watermark (EIP-3076
		// "Advice for Minimal Databases").
		if err := db.Import(gvr, file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"4"},{"slot":"20"}],"signed_attestations":[{"source_epoch":"5","target_epoch":"9"}]}`)); err != nil {
			t.Fatal(err)
		}
		if err := db.CheckBlock(pub, gvr, 30, root(1)); err != nil {
			t.Errorf("keep %d: re-sign of the block signed here: %v", p.Keep, err)
		}
		if err := db.CheckBlock(pub, gvr, 31, root(1)); err != nil {
			t.Errorf("keep %d: next block: %v", p.Keep, err)
		}
		if err := db.CheckBlock(pub, gvr, 4, root(1)); err == nil {
			t.Errorf("keep %d: imported slot 4 allowed", p.Keep)
		}
		if err := db.CheckAttestation(pub, gvr, 4, 10, root(1)); err == nil {
			t.Errorf("keep %d: source below the imported source allowed", p.Keep)
		}
		if err := db.CheckAttestation(pub, gvr, 5, 9, root(1)); err == nil {
			t.Errorf("keep %d: imported target re-signed without a root", p.Keep)
		}
		if err := db.CheckAttestation(pub, gvr, 5, 10, root(1)); err != nil {
			t.Errorf("keep %d: next attestation: %v", p.Keep, err)
		}
	}
}

func TestExportFormat(t *testing.T) {
	db, _ := NewDB(Complete(2))
	var gvr Root
	pub := mustPubkey(t, pk1)
	for _, s := range []uint64{1, 2, 3} {
		if err := db.RecordBlock(pub, gvr, s, root(byte(s))); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordAttestation(pub, gvr, 0, 1, root(7)); err != nil {
		t.Fatal(err)
	}
	// Another chain is not exported.
	if err := db.RecordBlock(pub, Root{9}, 100, root(1)); err != nil {
		t.Fatal(err)
	}
	complete, err := db.Export(gvr, ExportComplete)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr0 + `"},"data":[{"pubkey":"` + pk1 + `",` +
		`"signed_blocks":[{"slot":"1"},{"slot":"2","signing_root":"0x02` + strings.Repeat("00", 31) + `"},{"slot":"3","signing_root":"0x03` + strings.Repeat("00", 31) + `"}],` +
		`"signed_attestations":[{"source_epoch":"0","target_epoch":"1","signing_root":"0x07` + strings.Repeat("00", 31) + `"}]}]}`
	if string(complete) != want {
		t.Fatalf("complete export\n got %s\nwant %s", complete, want)
	}
	minimal, err := db.Export(gvr, ExportMinimal)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + gvr0 + `"},"data":[{"pubkey":"` + pk1 + `",` +
		`"signed_blocks":[{"slot":"3"}],"signed_attestations":[{"source_epoch":"0","target_epoch":"1"}]}]}`
	if string(minimal) != want {
		t.Fatalf("minimal export\n got %s\nwant %s", minimal, want)
	}
	empty, _ := NewDB(Minimal)
	out, _ := empty.Export(gvr, ExportMinimal)
	if !strings.HasSuffix(string(out), `"data":[]}`) {
		t.Fatalf("empty export %s", out)
	}
	if _, err := db.Export(gvr, 0); err == nil {
		t.Fatal("unknown export mode accepted")
	}
}

// FuzzParseInterchange: whatever parses marshals to a file that parses to
// the same value and marshals to the same bytes.
func FuzzParseInterchange(f *testing.F) {
	f.Add(file(gvr0, `{"pubkey":"`+pk1+`","signed_blocks":[{"slot":"1","signing_root":"`+r1+`"}],"signed_attestations":[{"source_epoch":"0","target_epoch":"1"}]}`))
	f.Add(file(gvr0))
	f.Fuzz(func(t *testing.T, b []byte) {
		ic, err := ParseInterchange(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		out, err := ic.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		ic2, err := ParseInterchange(out)
		if err != nil {
			t.Fatalf("own output refused: %v", err)
		}
		out2, _ := ic2.MarshalJSON()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		db, _ := NewDB(Complete(4))
		_ = db.Import(ic.GenesisValidatorsRoot, b)
	})
}
