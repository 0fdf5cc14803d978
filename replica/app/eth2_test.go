package app

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/app/slashing/slashingtest"
	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/replica/wire"
	bolt "go.etcd.io/bbolt"
)

// testSlashable is the stand-in typed request of the conformance test: the
// interchange cases give slots, epochs and signing roots, not beacon
// objects, so the test replaces replica/eth2's parser (App.eth2Decode, set
// only here) by one reading them directly. Everything else is the
// production path: admission, authorization, the validator-key rule, the
// slashing history in the state, the committed result.
type testSlashable struct {
	Block  bool   `json:"block"`
	Slot   uint64 `json:"slot"`
	Source uint64 `json:"source"`
	Target uint64 `json:"target"`
	Root   string `json:"root"`
	GVR    string `json:"gvr"`
}

func decodeTestSlashable(request []byte) (*eth2Typed, error) {
	var s testSlashable
	if err := json.Unmarshal(request, &s); err != nil {
		return nil, ErrEth2Request
	}
	t := &eth2Typed{Slashable: &eth2.Slashable{Kind: eth2.KindAttestation, SourceEpoch: s.Source, TargetEpoch: s.Target}}
	if s.Block {
		t.Slashable = &eth2.Slashable{Kind: eth2.KindBlock, Slot: s.Slot}
	}
	if err := hexInto(s.Root, t.Root[:]); err != nil {
		return nil, ErrEth2Request
	}
	if err := hexInto(s.GVR, t.Slashable.GenesisValidatorsRoot[:]); err != nil {
		return nil, ErrEth2Request
	}
	return t, nil
}

func hexInto(s string, dst []byte) error {
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != len(dst) {
		return errors.New("bad hex")
	}
	copy(dst, b)
	return nil
}

// putValidatorKey stores a validator key record with the given public key
// directly in the committed state (app tests run no DKG).
func putValidatorKey(t testing.TB, a *App, id, owner string, pub []byte, usage string) {
	t.Helper()
	k := KeyRecord{Info: wire.KeyInfo{KeyID: id, Scheme: wire.SchemeBLS, Owner: owner, PublicKey: pub, Usage: usage}}
	b, _ := json.Marshal(k)
	err := a.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketState).Put([]byte(pKey+id), b) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestInterchangeThroughStateMachine runs every EIP-3076 interchange case
// (slashing/testdata/eip3076, the eth-clients tests, and every *.json in
// $VHSM_INTERCHANGE_TESTS) through FinalizeBlock: each import is an
// eth2.slashing.import transaction of the admin, each block and attestation
// an eth2.sign transaction with a validator key holding the case's pubkey,
// all of one step in one block (so staged, uncommitted history is
// checked too). Each must succeed or fail exactly as the case says: under
// the state machine's policy (slashing.Minimal) against should_succeed,
// and under a complete policy against should_succeed_complete where a case
// has it. A refusal is ErrSlashable and names the conflicting record.
// After each case, both exports parse.
func TestInterchangeThroughStateMachine(t *testing.T) {
	files := slashingtest.Load(t, filepath.Join("slashing", "testdata", "eip3076"))
	modes := []struct {
		name     string
		policy   slashing.Policy
		complete bool
	}{
		{"minimal", slashing.Minimal, false},
		{"complete", slashing.Complete(slashing.MaxKeep), true},
	}
	passed := map[string]int{}
	for _, f := range files {
		for _, m := range modes {
			if t.Run(m.name+"/"+filepath.Base(f.Path), func(t *testing.T) { runCaseInApp(t, &f.Case, m.policy, m.complete) }) {
				passed[m.name]++
			}
		}
	}
	t.Logf("cases: %d; passed through the state machine: minimal %d, complete %d", len(files), passed["minimal"], passed["complete"])
}

func runCaseInApp(t *testing.T, c *slashingtest.Case, p slashing.Policy, complete bool) {
	tn, a, ch := newStartedChain(t)
	a.slashPolicy, a.eth2Decode = p, decodeTestSlashable
	exp := ch.now.Unix() + 300
	gvr := make([]byte, 32)
	if err := hexInto(c.GVR, gvr); err != nil {
		t.Fatalf("case gvr %q", c.GVR)
	}
	keys := map[string]string{} // pubkey hex → key id
	keyOf := func(pub string) string {
		if id, ok := keys[pub]; ok {
			return id
		}
		b := make([]byte, 48)
		if err := hexInto(pub, b); err != nil {
			t.Fatalf("pubkey %q", pub)
		}
		id := "v" + strconv.Itoa(len(keys))
		putValidatorKey(t, a, id, "admin", b, wire.UsageEth2Validator)
		keys[pub] = id
		return id
	}
	want := func(min bool, comp *bool) bool {
		if complete && comp != nil {
			return *comp
		}
		return min
	}
	for i, s := range c.Steps {
		r := ch.block(txOf(t, signed(t, tn.AdminKey, "admin", wire.OpSlashingImport, exp, wire.SlashingImportBody{GenesisValidatorsRoot: gvr, Interchange: s.Interchange})))
		if (r[0].Code == 0) != s.ShouldSucceed {
			t.Fatalf("step %d: import: code %d (%s), want success %v", i, r[0].Code, r[0].Log, s.ShouldSucceed)
		}
		if r[0].Code != 0 {
			if r[0].Code != codeOf(ErrInterchange) {
				t.Errorf("step %d: import refused with code %d (%s), want ErrInterchange", i, r[0].Code, r[0].Log)
			}
			continue
		}
		var txs [][]byte
		var wants []bool
		var what []string
		for _, b := range s.Blocks {
			id := keyOf(b.Pubkey)
			slot, _ := strconv.ParseUint(b.Slot, 10, 64)
			req, _ := json.Marshal(testSlashable{Block: true, Slot: slot, Root: b.SigningRoot, GVR: c.GVR})
			txs = append(txs, txOf(t, signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: id, Request: req})))
			wants = append(wants, want(b.ShouldSucceed, b.ShouldSucceedComplete))
			what = append(what, "block at slot "+b.Slot)
		}
		for _, at := range s.Attestations {
			id := keyOf(at.Pubkey)
			src, _ := strconv.ParseUint(at.Source, 10, 64)
			tgt, _ := strconv.ParseUint(at.Target, 10, 64)
			req, _ := json.Marshal(testSlashable{Source: src, Target: tgt, Root: at.SigningRoot, GVR: c.GVR})
			txs = append(txs, txOf(t, signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: id, Request: req})))
			wants = append(wants, want(at.ShouldSucceed, at.ShouldSucceedComplete))
			what = append(what, "attestation "+at.Source+"→"+at.Target)
		}
		if len(txs) == 0 {
			continue
		}
		r = ch.block(txs...)
		for k := range txs {
			ok := r[k].Code == 0
			if ok != wants[k] {
				t.Errorf("step %d %s: code %d (%s), want success %v", i, what[k], r[k].Code, r[k].Log, wants[k])
				continue
			}
			var res Result
			if err := json.Unmarshal(r[k].Data, &res); err != nil {
				t.Fatalf("result: %v", err)
			}
			if ok && (res.Eth2 == nil || len(res.Eth2.SigningRoot) != 32) {
				t.Errorf("step %d %s: success without the signing root in the result", i, what[k])
			}
			if !ok && (r[k].Code != codeOf(ErrSlashable) || !strings.Contains(res.Error, "slashing: refused")) {
				t.Errorf("step %d %s: refusal %d %q is not a slashing conflict", i, what[k], r[k].Code, res.Error)
			}
		}
	}
	for _, minimal := range []bool{false, true} {
		r := ch.block(txOf(t, signed(t, tn.AdminKey, "admin", wire.OpSlashingExport, exp, wire.SlashingExportBody{GenesisValidatorsRoot: gvr, Minimal: minimal})))
		var res Result
		if r[0].Code != 0 || json.Unmarshal(r[0].Data, &res) != nil {
			t.Fatalf("export (minimal %v): %s", minimal, r[0].Log)
		}
		if _, err := slashing.ParseInterchange(res.Interchange); err != nil {
			t.Fatalf("export (minimal %v) does not parse: %v", minimal, err)
		}
	}
}

// eth2Chain is a started chain whose app decodes typed requests with
// decodeTestSlashable, a request expiry for it, and a second client "bob"
// (its key returned) registered by the admin.
func eth2Chain(t *testing.T) (*testNet, *App, *chain, int64, ed25519.PrivateKey) {
	t.Helper()
	tn, a, ch := newStartedChain(t)
	a.eth2Decode = decodeTestSlashable
	exp := ch.now.Unix() + 300
	bobPub, bob, _ := ed25519.GenerateKey(nil)
	if r := ch.block(txOf(t, signed(t, tn.AdminKey, "admin", wire.OpRegisterClient, exp, wire.RegisterClientBody{ClientID: "bob", PublicKey: bobPub}))); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	return tn, a, ch, exp, bob
}

// TestEth2SlashingRules drives the ordered eth2.sign through FinalizeBlock:
// a double vote, a surround, a second block at a slot are refused — also
// within one block — while exact re-signs and a chain with another genesis
// validators root are independent; only validator keys of the client sign;
// import and export are admin only; export is complete then minimal and
// round-trips.
func TestEth2SlashingRules(t *testing.T) {
	tn, a, ch, exp, bob := eth2Chain(t)
	pub := make([]byte, 48)
	pub[0] = 0xa1
	putValidatorKey(t, a, "val", "admin", pub, wire.UsageEth2Validator)
	putValidatorKey(t, a, "plain", "admin", append([]byte{0xa2}, make([]byte, 47)...), "")
	gvrA, gvrB := "0x"+strings.Repeat("0a", 32), "0x"+strings.Repeat("0b", 32)
	att := func(key string, src, tgt uint64, root byte, gvr string) []byte {
		req, _ := json.Marshal(testSlashable{Source: src, Target: tgt, Root: "0x" + strings.Repeat(hex.EncodeToString([]byte{root}), 32), GVR: gvr})
		return txOf(t, signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: key, Request: req}))
	}
	blk := func(slot uint64, root byte) []byte {
		req, _ := json.Marshal(testSlashable{Block: true, Slot: slot, Root: "0x" + strings.Repeat(hex.EncodeToString([]byte{root}), 32), GVR: gvrA})
		return txOf(t, signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: req}))
	}
	type step struct {
		name string
		tx   []byte
		want error
	}
	for _, s := range []step{
		{"first attestation", att("val", 1, 2, 1, gvrA), nil},
		{"exact re-sign", att("val", 1, 2, 1, gvrA), nil},
		{"double vote", att("val", 1, 2, 2, gvrA), ErrSlashable},
		{"surrounding vote", att("val", 0, 3, 3, gvrA), ErrSlashable},
		{"other chain", att("val", 1, 2, 2, gvrB), nil},
		{"next attestation", att("val", 2, 3, 4, gvrA), nil},
		{"not a validator key", att("plain", 5, 6, 1, gvrA), ErrValidatorKey},
		{"unknown key", att("nope", 5, 6, 1, gvrA), ErrUnknownKey},
		{"block", blk(10, 1), nil},
		{"second block at the slot", blk(10, 2), ErrSlashable},
		{"lower block", blk(9, 3), ErrSlashable},
		{"bob may not use the key", txOf(t, signed(t, bob, "bob", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: []byte(`{"block":true,"slot":11}`)})), ErrUnauthorized},
		{"malformed typed request", txOf(t, signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: []byte(`[1]`)})), ErrEth2Request},
		{"bob may not import", txOf(t, signed(t, bob, "bob", wire.OpSlashingImport, exp, wire.SlashingImportBody{GenesisValidatorsRoot: make([]byte, 32), Interchange: []byte(`{}`)})), ErrUnauthorized},
		{"bob may not export", txOf(t, signed(t, bob, "bob", wire.OpSlashingExport, exp, wire.SlashingExportBody{GenesisValidatorsRoot: make([]byte, 32)})), ErrUnauthorized},
		{"usage on a schnorr key", txOf(t, signed(t, tn.AdminKey, "admin", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "s", Scheme: wire.SchemeSchnorr, Usage: wire.UsageEth2Validator})), ErrBadBody},
		{"unknown usage", txOf(t, signed(t, tn.AdminKey, "admin", wire.OpKeyGen, exp, wire.KeyGenBody{KeyID: "s", Scheme: wire.SchemeBLS, Usage: "miner"})), ErrBadBody},
		{"bob may not mark admin's key", txOf(t, signed(t, bob, "bob", wire.OpKeyValidator, exp, wire.KeyRefBody{KeyID: "plain"})), ErrUnauthorized},
	} {
		r := ch.block(s.tx)
		if got := r[0].Code; got != codeOf(s.want) {
			t.Errorf("%s: code %d (%s), want %v", s.name, got, r[0].Log, s.want)
		}
		var res Result
		if err := json.Unmarshal(r[0].Data, &res); s.want == ErrSlashable && (err != nil || !strings.Contains(res.Error, "(signed ")) {
			t.Errorf("%s: refusal %q does not name the conflicting record", s.name, res.Error)
		}
	}
	// A conflicting pair in one block: the first in log order wins.
	r := ch.block(att("val", 3, 4, 7, gvrA), att("val", 3, 4, 8, gvrA))
	if r[0].Code != 0 || r[1].Code != codeOf(ErrSlashable) {
		t.Fatalf("pair in one block: codes %d %d (%s)", r[0].Code, r[1].Code, r[1].Log)
	}
	// Marking is one-way and makes the key typed-only.
	if r := ch.block(txOf(t, signed(t, tn.AdminKey, "admin", wire.OpKeyValidator, exp, wire.KeyRefBody{KeyID: "plain"}))); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	if k, _ := a.Key("plain"); !IsValidatorKey(k) {
		t.Fatal("key not marked")
	}
	// Export, then import the export into a fresh chain: it refuses what
	// this one refuses.
	gvr := make([]byte, 32)
	hexInto(gvrA, gvr)
	r = ch.block(txOf(t, signed(t, tn.AdminKey, "admin", wire.OpSlashingExport, exp, wire.SlashingExportBody{GenesisValidatorsRoot: gvr})))
	var res Result
	if r[0].Code != 0 || json.Unmarshal(r[0].Data, &res) != nil {
		t.Fatal(r[0].Log)
	}
	tn2, a2, ch2 := newStartedChain(t)
	a2.eth2Decode = decodeTestSlashable
	putValidatorKey(t, a2, "val", "admin", pub, wire.UsageEth2Validator)
	if r := ch2.block(txOf(t, signed(t, tn2.AdminKey, "admin", wire.OpSlashingImport, exp, wire.SlashingImportBody{GenesisValidatorsRoot: make([]byte, 32), Interchange: res.Interchange}))); r[0].Code != codeOf(ErrInterchange) {
		t.Fatalf("import for another chain: code %d (%s)", r[0].Code, r[0].Log)
	}
	if r := ch2.block(txOf(t, signed(t, tn2.AdminKey, "admin", wire.OpSlashingImport, exp, wire.SlashingImportBody{GenesisValidatorsRoot: gvr, Interchange: res.Interchange}))); r[0].Code != 0 {
		t.Fatalf("import of the export: %s", r[0].Log)
	}
	req, _ := json.Marshal(testSlashable{Source: 3, Target: 4, Root: "0x" + strings.Repeat("09", 32), GVR: gvrA})
	if r := ch2.block(txOf(t, signed(t, tn2.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: req}))); r[0].Code != codeOf(ErrSlashable) {
		t.Fatalf("double vote after import: code %d (%s)", r[0].Code, r[0].Log)
	}
}

// FuzzEth2Ops feeds arbitrary bodies of the validator-key operations
// (eth2.sign with replica/eth2's real parser, eth2.batch, the interchange
// import and export, keys.validator), signed by the admin, through CheckTx and
// FinalizeBlock: no panic, a refusal is a classified code (never a storage
// failure), and a refused request changes no slashing history.
func FuzzEth2Ops(f *testing.F) {
	tn := newTestNet(f, 4, smallPools())
	a, err := New(f.TempDir(), tn.G, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer a.Close()
	c := startChain(f, a)
	c.block()
	pub := append([]byte{0xb1}, make([]byte, 47)...)
	putValidatorKey(f, a, "val", "admin", pub, wire.UsageEth2Validator)
	att := `{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"0x` + strings.Repeat("01", 32) + `"},"attestation":{"slot":"1","index":"0","beacon_block_root":"0x` + strings.Repeat("02", 32) + `","source":{"epoch":"0","root":"0x` + strings.Repeat("03", 32) + `"},"target":{"epoch":"1","root":"0x` + strings.Repeat("04", 32) + `"}}}`
	f.Add(uint8(0), []byte(`{"key_id":"val","request":`+att+`}`))
	f.Add(uint8(0), []byte(`{"key_id":"val","request":{"type":"BLOCK_V2"}}`))
	f.Add(uint8(1), []byte(`{"genesis_validators_root":"`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`","interchange":{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x`+strings.Repeat("00", 32)+`"},"data":[{"pubkey":"0x`+hex.EncodeToString(pub)+`","signed_blocks":[{"slot":"9"}]}]}}`))
	f.Add(uint8(2), []byte(`{"genesis_validators_root":"`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`","minimal":true}`))
	f.Add(uint8(3), []byte(`{"key_id":"val"}`))
	f.Add(uint8(4), []byte(`{"items":[{"id":"`+strings.Repeat("ab", 16)+`","op":"eth2.sign","body":{"key_id":"val","request":`+att+`}},{"id":"`+strings.Repeat("cd", 16)+`","op":"eth2.sign","body":{"key_id":"val","request":`+att+`}}]}`))
	f.Add(uint8(5), []byte(`{"items":[{"id":"`+strings.Repeat("ab", 16)+`","op":"keys.gen","body":{"key_id":"k","scheme":"bls"}},{"id":"`+strings.Repeat("cd", 16)+`","op":"keys.gen","body":{"key_id":"k","scheme":"schnorr"}}]}`))
	ops := []string{wire.OpEth2Sign, wire.OpSlashingImport, wire.OpSlashingExport, wire.OpKeyValidator, wire.OpEth2Batch, wire.OpKeyGenBatch}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		if !json.Valid(body) {
			return // the request encoder needs JSON; non-JSON bodies are FuzzCheckTx's
		}
		tx := txOf(t, signed(t, tn.AdminKey, "admin", ops[int(op)%len(ops)], c.now.Unix()+60, json.RawMessage(body)))
		if _, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx}); err != nil {
			t.Fatal(err)
		}
		c.t = t
		before := slashState(t, a)
		r := c.block(tx)
		if r[0].Code == 255 {
			t.Fatalf("unclassified refusal: %s", r[0].Log)
		}
		if r[0].Code != 0 && slashState(t, a) != before {
			t.Fatalf("refused request (code %d) changed the slashing state", r[0].Code)
		}
	})
}

// slashState is the committed slashing-protection state, as one string.
func slashState(t *testing.T, a *App) string {
	var b strings.Builder
	if err := scan(a.db, pSlash, func(k, v []byte) error {
		b.Write(k)
		b.Write(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
