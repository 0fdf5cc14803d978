package bitcoin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestDescriptorChecksum checks DescriptorChecksum against checksums published elsewhere: the BIP-380
// test vector, the BIP-393 vector that its authors computed with the BIP-380 reference code, and addr()
// descriptors as Bitcoin Core prints them in getrawtransaction/decodescript/listunspent answers quoted
// in public documentation and client libraries.
func TestDescriptorChecksum(t *testing.T) {
	for _, v := range []string{
		"raw(deadbeef)#89f8spxm", // BIP-380 "Valid checksum"
		"wpkh([deadbeef/84h/0h/0h]xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL/0/*)#kf3v6fpx", // BIP-393
		"addr(bcrt1qd28npep0s8frcm3y7dxqajkcy2m40eysrkawj9)#mcfu834t",
		"addr(bcrt1qnh264a38uxuh9kmlx2gdmsn5ku4cdvrv4hr559)#x8caxavd",
		"addr(bcrt1q9mc2hc2f6x2lsxh7xnuu3fdjj628hvjatzgxcr)#vgfdsvvs",
		"addr(2NEgeCdxfyXSUB8D2TDez9WTC5YV3LJxE9i)#957866pd",
		"addr(bcrt1qmwef6jf68fcgsnxwgxecmnjjse6ccqt0vmfe6m)#cxppp4j9",
		"addr(bcrt1pfeesnyr2tx)#swxgse0y",
		"addr(bcrt1p2h6sf5l0yrjqerkj4nwqlq3t4sq5n22u5xnwxe5rs4prqnp5rf5stv6kjy)#xgrz8vnd",
	} {
		desc, want, _ := strings.Cut(v, "#")
		got, err := DescriptorChecksum(desc)
		if err != nil || got != want {
			t.Errorf("checksum(%s) = %q, %v; want %q", desc, got, err, want)
		}
		if !descsumCheck(v) {
			t.Errorf("descsum_check(%s) = false", v)
		}
	}
	// BIP-380 invalid vectors: the checker refuses them.
	for _, v := range []string{"raw(deadbeef)", "raw(deadbeef)#", "raw(deadbeef)#89f8spxmx", "raw(deadbeef)#89f8spx",
		"raw(deedbeef)#89f8spxm", "raw(deedbeef)##9f8spxm", "raw(Ü)#00000000"} {
		if descsumCheck(v) {
			t.Errorf("descsum_check(%s) = true", v)
		}
	}
	if _, err := DescriptorChecksum("raw(Ü)"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("non-ASCII descriptor: %v", err)
	}
	if _, err := DescriptorChecksum("raw(\n)"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("newline in descriptor: %v", err)
	}
	tw := newTestWallet(t)
	d, err := AddrDescriptor(tw.w.Address())
	if err != nil || d != "addr("+tw.w.Address().EncodeAddress()+")#"+d[len(d)-8:] || !descsumCheck(d) {
		t.Fatalf("AddrDescriptor = %q, %v", d, err)
	}
}

// TestParseBTCAmount converts Core's amount texts exactly, including values that float64 would get
// wrong by a satoshi.
func TestParseBTCAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0.00000001", 1}, {"0.29000000", 29_000_000}, {"0.29", 29_000_000}, {"1.15000000", 115_000_000},
		{"50.00000000", 5_000_000_000}, {"20999999.99999999", 2_099_999_999_999_999}, {"21000000.00000000", btcutil.MaxSatoshi},
		{"0", 0}, {"0.0", 0}, {"12", 1_200_000_000}, {" 0.1 ", 10_000_000},
	} {
		got, err := parseBTCAmount([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("parse %q = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	// The float path this replaces: 0.29 BTC truncates to 28999999 sat.
	if f := 0.29; int64(f*1e8) != 28_999_999 {
		t.Fatalf("float64 no longer loses the satoshi; pick another example")
	}
	for _, in := range []string{"", "-1.00000000", "-0", "1e-8", "1E2", "0.000000001", "21000000.00000001", "100000000",
		"1.", ".5", "01.0", "0x10", `"1.0"`, "null", "1.0.0", "+1", "NaN", "1 2", "0.1234567a"} {
		if v, err := parseBTCAmount([]byte(in)); err == nil {
			t.Errorf("parse %q accepted as %d", in, v)
		}
	}
}

func newCoreRPC(t *testing.T, srvURL string, mod func(*RPCConfig)) *RPC {
	t.Helper()
	cfg := RPCConfig{URL: srvURL, User: "u", Pass: "p", Timeout: 5 * time.Second, Retry: fastRetry(2)}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRPC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkNoViolations(t *testing.T, f *fakeCore) {
	t.Helper()
	if v := f.violated(); len(v) > 0 {
		t.Fatalf("protocol violations: %q", v)
	}
}

// TestCoreDetection tells Bitcoin Core from btcd, caches the answer, and does not cache a failure.
func TestCoreDetection(t *testing.T) {
	ctx := context.Background()
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, nil)
	for range 3 {
		if k, err := r.Kind(ctx); err != nil || k != NodeCore {
			t.Fatalf("kind = %v, %v", k, err)
		}
	}
	if c := f.callList(); !slices.Equal(c, []string{"getnetworkinfo /"}) {
		t.Fatalf("calls %q, want one getnetworkinfo", c)
	}
	// Knots identifies itself as Satoshi plus its own tag.
	f.subversion = "/Satoshi:27.1.0/Knots:20240801/"
	if k, err := newCoreRPC(t, srv, nil).Kind(ctx); err != nil || k != NodeCore {
		t.Fatalf("knots: %v %v", k, err)
	}
	f.subversion = "/SomethingElse:1.0/"
	if _, err := newCoreRPC(t, srv, nil).Kind(ctx); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "RPCConfig.Node") {
		t.Fatalf("unknown node: %v", err)
	}
	// An explicit kind asks nothing.
	f.callList()
	if k, err := newCoreRPC(t, srv, func(c *RPCConfig) { c.Node = NodeCore }).Kind(ctx); err != nil || k != NodeCore {
		t.Fatalf("explicit: %v %v", k, err)
	}
	if c := f.callList(); len(c) != 0 {
		t.Fatalf("explicit kind made calls %q", c)
	}

	// btcd v0.24.2 answers getnetworkinfo with -1 "Command unimplemented" (HTTP 200).
	var mu sync.Mutex
	answer := &RPCError{Code: -1, Message: "Command unimplemented"}
	btcd := startFakeHandler(t, &fakeNode{handle: func(method string, _ []json.RawMessage) (any, *RPCError) {
		mu.Lock()
		defer mu.Unlock()
		if method == "getnetworkinfo" {
			return nil, answer
		}
		return nil, &RPCError{Code: -32601, Message: "Method not found"}
	}})
	if k, err := newCoreRPC(t, btcd, nil).Kind(ctx); err != nil || k != NodeBtcd {
		t.Fatalf("btcd: %v %v", k, err)
	}
	// A node still starting (-28) is an error, not a verdict; the next call detects again.
	mu.Lock()
	answer = &RPCError{Code: -28, Message: "Loading block index…"}
	mu.Unlock()
	r = newCoreRPC(t, btcd, nil)
	if _, err := r.Kind(ctx); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("warmup: %v", err)
	}
	mu.Lock()
	answer = &RPCError{Code: -32603, Message: "limited user not authorized for this method"}
	mu.Unlock()
	if k, err := r.Kind(ctx); err != nil || k != NodeBtcd {
		t.Fatalf("after warmup: %v %v", k, err)
	}
	if _, err := NewRPC(RPCConfig{URL: srv, Node: NodeKind(7)}); !errors.Is(err, ErrBackend) {
		t.Fatalf("bad node kind: %v", err)
	}
	for _, name := range []string{"a/b", "..", "x\x00y", "\xff"} {
		if _, err := NewRPC(RPCConfig{URL: srv, Wallet: name}); !errors.Is(err, ErrBackend) {
			t.Fatalf("wallet name %q accepted: %v", name, err)
		}
	}
	checkNoViolations(t, f)
}

// TestCoreWallet walks the wallet's life: the first RPC creates it (watch-only, blank, descriptors,
// load on startup), imports the address once and lists its outputs; a second RPC after a node restart
// loads it; a third finds it already loaded; a node that unloads it meanwhile is recovered from.
func TestCoreWallet(t *testing.T) {
	ctx := context.Background()
	tw := newTestWallet(t)
	addr := tw.w.Address()
	f := newFakeCore()
	f.chain[addr.EncodeAddress()] = []fakeCoin{
		{txid: strings.Repeat("22", 32), vout: 1, amount: "0.29000000", conf: 6},
		{txid: strings.Repeat("11", 32), vout: 0, amount: "20999999.99999999", conf: 120},
		{txid: strings.Repeat("33", 32), vout: 2, amount: "0.00000001", conf: 0},
	}
	srv := startFakeHandler(t, f)
	r1 := newCoreRPC(t, srv, nil)

	utxos, err := r1.UTXOs(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"getnetworkinfo /", "loadwallet /", "createwallet /", "getwalletinfo /wallet/vhsm-watch",
		"importdescriptors /wallet/vhsm-watch", "listunspent /wallet/vhsm-watch"}
	if c := f.callList(); !slices.Equal(c, wantCalls) {
		t.Fatalf("first use: calls\n%q\nwant\n%q", c, wantCalls)
	}
	w := f.wallets[DefaultCoreWallet]
	if w == nil || w.privateKeys || !w.blank || !w.descriptors || !w.loadOnStartup {
		t.Fatalf("wallet created as %+v", w)
	}
	want := []UTXO{
		{OutPoint: wire.OutPoint{Hash: hashOf(t, strings.Repeat("11", 32)), Index: 0}, Value: 2_099_999_999_999_999, Confirmations: 120},
		{OutPoint: wire.OutPoint{Hash: hashOf(t, strings.Repeat("22", 32)), Index: 1}, Value: 29_000_000, Confirmations: 6},
		{OutPoint: wire.OutPoint{Hash: hashOf(t, strings.Repeat("33", 32)), Index: 2}, Value: 1, Confirmations: 0},
	}
	sortUTXOs(want)
	if len(utxos) != len(want) {
		t.Fatalf("%d utxos, want %d", len(utxos), len(want))
	}
	for i := range want {
		want[i].PkScript = tw.w.PkScript()
		if u := utxos[i]; u.OutPoint != want[i].OutPoint || u.Value != want[i].Value || u.Confirmations != want[i].Confirmations ||
			u.Coinbase || string(u.PkScript) != string(want[i].PkScript) {
			t.Fatalf("utxo %d = %+v, want %+v", i, u, want[i])
		}
	}
	// Listing again imports nothing.
	if _, err := r1.UTXOs(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if c := f.callList(); !slices.Equal(c, []string{"listunspent /wallet/vhsm-watch"}) {
		t.Fatalf("second listing: calls %q", c)
	}
	if len(f.imports) != 1 || f.imports[0] != addr.EncodeAddress()+" now" {
		t.Fatalf("imports %q", f.imports)
	}
	// The wallet's outputs are spendable by the wallet: coin selection takes them.
	if _, err := tw.w.BuildSpend(SpendRequest{UTXOs: utxos, Outputs: []Output{{Address: addr, Value: 10_000}}, FeeRate: SatPerVByte(2)}); err != nil {
		t.Fatalf("build from core utxos: %v", err)
	}

	// Node restart: the wallet is not loaded; a new RPC loads it (it exists, so no createwallet).
	f.restart(false)
	r2 := newCoreRPC(t, srv, nil)
	if _, err := r2.UTXOs(ctx, addr); err != nil {
		t.Fatal(err)
	}
	wantCalls = []string{"getnetworkinfo /", "loadwallet /", "getwalletinfo /wallet/vhsm-watch",
		"importdescriptors /wallet/vhsm-watch", "listunspent /wallet/vhsm-watch"}
	if c := f.callList(); !slices.Equal(c, wantCalls) {
		t.Fatalf("second RPC: calls\n%q\nwant\n%q", c, wantCalls)
	}
	// Already loaded (-35) is fine.
	r3 := newCoreRPC(t, srv, func(c *RPCConfig) { c.Node = NodeCore })
	if us, err := r3.UTXOs(ctx, addr); err != nil || len(us) != 3 {
		t.Fatalf("already loaded: %d %v", len(us), err)
	}
	if c := f.callList(); !slices.Equal(c, wantCalls[1:]) {
		t.Fatalf("third RPC: calls %q", c)
	}
	// The node unloads the wallet under a running RPC: listunspent's -18 leads to one reload.
	f.restart(false)
	if us, err := r3.UTXOs(ctx, addr); err != nil || len(us) != 3 {
		t.Fatalf("after unload: %d %v", len(us), err)
	}
	wantCalls = []string{"listunspent /wallet/vhsm-watch", "loadwallet /", "getwalletinfo /wallet/vhsm-watch", "listunspent /wallet/vhsm-watch"}
	if c := f.callList(); !slices.Equal(c, wantCalls) {
		t.Fatalf("reload: calls\n%q\nwant\n%q", c, wantCalls)
	}

	// An address with history is imported from a time: that rescans once; "now" after it does nothing.
	from := time.Unix(1_700_000_000, 0)
	if err := r3.ImportAddress(ctx, addr, from); err != nil {
		t.Fatal(err)
	}
	if err := r3.ImportAddress(ctx, addr, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := r3.ImportAddress(ctx, addr, from.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.imports); n != 4 || f.imports[3] != addr.EncodeAddress()+" 1700000000" {
		t.Fatalf("imports %q", f.imports)
	}
	// RescanFrom applies to UTXOs' import.
	other := otherAddrs(t)["p2wpkh"]
	r4 := newCoreRPC(t, srv, func(c *RPCConfig) { c.RescanFrom = from })
	if us, err := r4.UTXOs(ctx, other); err != nil || len(us) != 0 {
		t.Fatalf("fresh address: %v %v", us, err)
	}
	if last := f.imports[len(f.imports)-1]; last != other.EncodeAddress()+" 1700000000" {
		t.Fatalf("import with RescanFrom: %q", last)
	}
	// A configured wallet name with characters that need escaping reaches Core decoded.
	r5 := newCoreRPC(t, srv, func(c *RPCConfig) { c.Wallet = "vhsm watch #2" })
	if _, err := r5.UTXOs(ctx, addr); err != nil {
		t.Fatal(err)
	}
	if f.wallets["vhsm watch #2"] == nil || !f.wallets["vhsm watch #2"].watched[addr.EncodeAddress()] {
		t.Fatalf("escaped wallet name: wallets %v", f.wallets)
	}
	checkNoViolations(t, f)

	// btcd needs no import: ImportAddress asks nothing once the node is known.
	var btcdCalls []string
	var mu sync.Mutex
	btcd := startFakeHandler(t, &fakeNode{handle: func(method string, _ []json.RawMessage) (any, *RPCError) {
		mu.Lock()
		defer mu.Unlock()
		btcdCalls = append(btcdCalls, method)
		return nil, &RPCError{Code: -1, Message: "Command unimplemented"}
	}})
	if err := newCoreRPC(t, btcd, nil).ImportAddress(ctx, addr, from); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(btcdCalls, []string{"getnetworkinfo"}) {
		t.Fatalf("btcd import: calls %q", btcdCalls)
	}
}

func hashOf(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

// TestCoreWalletErrors: a wallet of the same name that is not watch-only, a wallet Core cannot create,
// concurrent first use, bad credentials, and malformed listunspent answers.
func TestCoreWalletErrors(t *testing.T) {
	ctx := context.Background()
	tw := newTestWallet(t)
	addr := tw.w.Address()
	f := newFakeCore()
	srv := startFakeHandler(t, f)

	// "operator" has private keys: vhsm refuses to use it and imports nothing into it.
	_, err := newCoreRPC(t, srv, func(c *RPCConfig) { c.Wallet = "operator" }).UTXOs(ctx, addr)
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "not a watch-only descriptor wallet") {
		t.Fatalf("wallet with keys: %v", err)
	}
	if len(f.imports) != 0 {
		t.Fatalf("imported into a wallet with keys: %q", f.imports)
	}
	// createwallet failing with -4 (and no wallet appearing) is reported with Core's code and message.
	f.failCreate = &RPCError{Code: -4, Message: "Compiled without sqlite support (required for descriptor wallets)"}
	_, err = newCoreRPC(t, srv, nil).UTXOs(ctx, addr)
	var re *RPCError
	if !errors.Is(err, ErrBackend) || !errors.As(err, &re) || re.Code != -4 || !strings.Contains(err.Error(), "createwallet: wallet error") {
		t.Fatalf("create failure: %v", err)
	}
	f.failCreate = nil

	// Concurrent first use of one RPC: one wallet setup, one import.
	f.callList()
	r := newCoreRPC(t, srv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.UTXOs(ctx, addr)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	count := map[string]int{}
	for _, c := range f.callList() {
		count[strings.Fields(c)[0]]++
	}
	if count["createwallet"] != 1 || count["importdescriptors"] != 1 || count["getwalletinfo"] != 1 || count["listunspent"] != 8 {
		t.Fatalf("concurrent first use: %v", count)
	}

	// Wrong credentials: HTTP 401, not retried, no secret in the error.
	bad := newCoreRPC(t, srv, func(c *RPCConfig) { c.Pass = "s3cret-wrong"; c.Node = NodeCore })
	if _, err := bad.UTXOs(ctx, addr); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad credentials: %v", err)
	}

	// Malformed listunspent entries are refused as a whole.
	script := fmt.Sprintf("%x", tw.w.PkScript())
	for name, coin := range map[string]fakeCoin{
		"exponent":      {txid: strings.Repeat("44", 32), amount: "1e-8", conf: 1},
		"negative":      {txid: strings.Repeat("44", 32), amount: "-0.00001000", conf: 1},
		"over supply":   {txid: strings.Repeat("44", 32), amount: "21000000.00000001", conf: 1},
		"nine decimals": {txid: strings.Repeat("44", 32), amount: "0.000000011", conf: 1},
		"other script":  {txid: strings.Repeat("44", 32), amount: "0.1", conf: 1, script: "0014" + strings.Repeat("00", 20)},
		"short txid":    {txid: "44", amount: "0.1", conf: 1},
		"negative conf": {txid: strings.Repeat("44", 32), amount: "0.1", conf: -1, script: script},
	} {
		f.mu.Lock()
		f.chain[addr.EncodeAddress()] = []fakeCoin{coin}
		f.mu.Unlock()
		if name == "negative conf" {
			// Core never lists these (depth < 0 is skipped), but a broken node might.
			items := []coreUnspent{{TxID: coin.txid, Vout: new(uint32), ScriptPubKey: script, Amount: json.RawMessage("0.1"), Confirmations: ptr(int64(-1))}}
			if _, err := parseCoreUnspent(items, tw.w.PkScript()); !errors.Is(err, ErrBackend) {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		if us, err := r.UTXOs(ctx, addr); !errors.Is(err, ErrBackend) {
			t.Fatalf("%s: accepted %+v (%v)", name, us, err)
		}
	}
	f.mu.Lock()
	f.chain[addr.EncodeAddress()] = []fakeCoin{{txid: strings.Repeat("44", 32), amount: "0.1", conf: 1}, {txid: strings.Repeat("44", 32), amount: "0.1", conf: 1}}
	f.mu.Unlock()
	if _, err := r.UTXOs(ctx, addr); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate outpoint: %v", err)
	}
	checkNoViolations(t, f)
}

func ptr[T any](v T) *T { return &v }

// TestCoreImportResults: importdescriptors reports per-request failures inside a successful call.
func TestCoreImportResults(t *testing.T) {
	ok, no := true, false
	if err := checkImport([]coreImportResult{{Success: &ok}}); err != nil {
		t.Fatal(err)
	}
	for name, res := range map[string][]coreImportResult{
		"empty":      nil,
		"two":        {{Success: &ok}, {Success: &ok}},
		"no success": {{}},
		"bare false": {{Success: &no}},
	} {
		if err := checkImport(res); !errors.Is(err, ErrBackend) {
			t.Errorf("%s: %v", name, err)
		}
	}
	res := []coreImportResult{{Success: &no}}
	res[0].Error = &struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{-5, "Provided checksum 'aaaaaaaa' does not match computed checksum 'bbbbbbbb'"}
	err := checkImport(res)
	var re *RPCError
	if !errors.As(err, &re) || re.Code != -5 || !strings.Contains(err.Error(), "invalid address or key") {
		t.Fatalf("import error: %v", err)
	}
}

// TestCoreFeeRate: estimatesmartfee's BTC/kvB becomes sat/kvB exactly; "errors" fall back; the target
// is capped at Core's 1008.
func TestCoreFeeRate(t *testing.T) {
	ctx := context.Background()
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, func(c *RPCConfig) { c.Fallback = 2500 })
	noFallback := newCoreRPC(t, srv, nil)

	for _, c := range []struct {
		feerate string
		want    FeeRate
	}{{"0.00012345", 12345}, {"0.00001000", 1000}, {"0.00000500", MinRelayFeeRate}, {"0.00142857", 142857}, {"1.00000000", 100_000_000}} {
		f.mu.Lock()
		f.feerate = c.feerate
		f.mu.Unlock()
		if got, err := noFallback.FeeRate(ctx, 6); err != nil || got != c.want {
			t.Errorf("feerate %s: %d %v, want %d", c.feerate, got, err, c.want)
		}
	}
	if got, err := noFallback.FeeRate(ctx, 5000); err != nil || got != 100_000_000 {
		t.Fatalf("target above 1008: %d %v", got, err)
	}
	// No estimate: Core's "errors" without "feerate".
	f.mu.Lock()
	f.feerate = ""
	f.mu.Unlock()
	if got, err := r.FeeRate(ctx, 6); err != nil || got != 2500 {
		t.Fatalf("fallback: %d %v", got, err)
	}
	if _, err := noFallback.FeeRate(ctx, 6); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "Insufficient data") {
		t.Fatalf("no estimate, no fallback: %v", err)
	}
	// Absurd or malformed rates.
	for _, fr := range []string{"1.00000001", "0.00000000", "1e-5", "-0.0001"} {
		f.mu.Lock()
		f.feerate = fr
		f.mu.Unlock()
		got, err := noFallback.FeeRate(ctx, 6)
		if err == nil {
			t.Errorf("feerate %s accepted as %d", fr, got)
		}
	}
	if _, err := r.FeeRate(ctx, 0); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("target 0: %v", err)
	}
	checkNoViolations(t, f)
}

// TestCoreBroadcastAndStatus: sendrawtransaction's reject reason; status of a mempool transaction from
// getrawtransaction, of a confirmed one from the wallet (no -txindex), of an unknown one.
func TestCoreBroadcastAndStatus(t *testing.T) {
	ctx := context.Background()
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, nil)
	tx := fuzzTx()

	f.reject = &RPCError{Code: -26, Message: "min relay fee not met, 0 < 110"}
	_, err := r.Broadcast(ctx, tx)
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Code != -26 || rej.Reason != "min relay fee not met, 0 < 110" {
		t.Fatalf("reject: %v", err)
	}
	f.reject = nil
	if h, err := r.Broadcast(ctx, tx); err != nil || h != tx.TxHash() {
		t.Fatalf("broadcast: %v %v", h, err)
	}
	if st, err := r.TxStatus(ctx, tx.TxHash()); err != nil || st.Confirmed {
		t.Fatalf("mempool status: %+v %v", st, err)
	}
	// Mined: no longer in the mempool, Core has no -txindex. Without a vhsm wallet on the node the
	// transaction is unknown, and TxStatus does not create a wallet to find out.
	bh := strings.Repeat("5a", 32)
	f.mu.Lock()
	delete(f.mempool, tx.TxHash().String())
	f.walletTxs[tx.TxHash().String()] = fakeWalletTx{conf: 3, blockhash: bh, height: 204}
	f.mu.Unlock()
	f.callList()
	if _, err := r.TxStatus(ctx, tx.TxHash()); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "-txindex") {
		t.Fatalf("no wallet: %v", err)
	}
	noWallet := []string{"getrawtransaction /", "getnetworkinfo /", "gettransaction /wallet/vhsm-watch", "loadwallet /"}
	if c := f.callList(); !slices.Equal(c, noWallet) {
		t.Fatalf("no wallet: calls %q", c)
	}
	// With the wallet on disk but not loaded (node restarted), it is loaded and asked.
	if _, err := r.UTXOs(ctx, newTestWallet(t).w.Address()); err != nil {
		t.Fatal(err)
	}
	f.restart(false)
	f.callList()
	st, err := r.TxStatus(ctx, tx.TxHash())
	if err != nil || !st.Confirmed || st.BlockHeight != 204 || st.Confirmations != 3 || st.BlockHash != hashOf(t, bh) {
		t.Fatalf("confirmed status: %+v %v", st, err)
	}
	wantCalls := []string{"getrawtransaction /", "gettransaction /wallet/vhsm-watch", "loadwallet /", "gettransaction /wallet/vhsm-watch"}
	if c := f.callList(); !slices.Equal(c, wantCalls) {
		t.Fatalf("wallet status: calls %q", c)
	}
	// Conflicted, and unknown.
	f.mu.Lock()
	f.walletTxs[tx.TxHash().String()] = fakeWalletTx{conf: -2}
	f.mu.Unlock()
	if _, err := r.TxStatus(ctx, tx.TxHash()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("conflicted: %v", err)
	}
	if _, err := r.TxStatus(ctx, chainhash.Hash{9}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	// With -txindex getrawtransaction knows a confirmed transaction; getblockheader gives the height.
	f.mu.Lock()
	f.mempool[tx.TxHash().String()] = true
	f.rawBlock = map[string]string{tx.TxHash().String(): bh}
	f.blocks[bh] = 204
	f.mu.Unlock()
	f.callList()
	st, err = r.TxStatus(ctx, tx.TxHash())
	if err != nil || !st.Confirmed || st.BlockHeight != 204 || st.Confirmations != 3 || st.BlockHash != hashOf(t, bh) {
		t.Fatalf("txindex status: %+v %v", st, err)
	}
	if c := f.callList(); !slices.Equal(c, []string{"getrawtransaction /", "getblockheader /"}) {
		t.Fatalf("txindex status: calls %q", c)
	}
	checkNoViolations(t, f)
}

// TestCoreTxStatusParse checks gettransaction's answer.
func TestCoreTxStatusParse(t *testing.T) {
	good := strings.Repeat("ab", 32)
	for _, c := range []struct {
		tx   coreWalletTx
		ok   bool
		conf bool
	}{
		{coreWalletTx{Confirmations: ptr(int64(0))}, true, false},
		{coreWalletTx{Confirmations: ptr(int64(2)), BlockHash: good, BlockHeight: ptr(int64(7))}, true, true},
		{coreWalletTx{}, false, false},
		{coreWalletTx{Confirmations: ptr(int64(2)), BlockHash: "zz", BlockHeight: ptr(int64(7))}, false, false},
		{coreWalletTx{Confirmations: ptr(int64(2)), BlockHash: good}, false, false},
		{coreWalletTx{Confirmations: ptr(int64(2)), BlockHash: good, BlockHeight: ptr(int64(-1))}, false, false},
		{coreWalletTx{Confirmations: ptr(int64(-1))}, false, false},
	} {
		st, err := coreTxStatus(c.tx)
		if (err == nil) != c.ok || st.Confirmed != c.conf {
			t.Errorf("%+v: %+v %v", c.tx, st, err)
		}
	}
}

// TestCoreErrorHints: Core's codes are explained, and the RPCError stays reachable.
func TestCoreErrorHints(t *testing.T) {
	for code, want := range map[int]string{-4: "wallet error", -18: "wallet not found", -35: "already loaded",
		-8: "invalid parameter", -28: "starting", -32601: "disablewallet", -99: "refused"} {
		err := coreError("loadwallet", &RPCError{Code: code, Message: "m"})
		var re *RPCError
		if !errors.Is(err, ErrBackend) || !errors.As(err, &re) || re.Code != code || !strings.Contains(err.Error(), want) {
			t.Errorf("code %d: %v", code, err)
		}
	}
	if err := coreError("x", context.Canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("non-RPC error: %v", err)
	}
	if NodeCore.String() != "bitcoind" || NodeBtcd.String() != "btcd" || NodeAuto.String() != "auto" || NodeKind(9).String() != "NodeKind(9)" {
		t.Fatal("NodeKind strings")
	}
}

// TestFakeCoreIsStrict shows that the fake refuses what Bitcoin Core refuses, so that the tests above
// would catch a client that got a method, a parameter or the wallet endpoint wrong.
func TestFakeCoreIsStrict(t *testing.T) {
	ctx := context.Background()
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, func(c *RPCConfig) { c.Retry = Retry{Attempts: 1} })
	tw := newTestWallet(t)
	a := tw.w.Address().EncodeAddress()
	code := func(err error) int {
		var re *RPCError
		if !errors.As(err, &re) {
			t.Fatalf("not an RPC error: %v", err)
		}
		return re.Code
	}
	// Wallet call on "/" while two wallets are loaded (Core: -19).
	if err := r.Call(ctx, "createwallet", []any{"w2", true, true, nil, false, true, true}, nil); err != nil {
		t.Fatal(err)
	}
	if c := code(r.Call(ctx, "listunspent", []any{0, 9999999, []string{a}}, nil)); c != -19 {
		t.Fatalf("wallet call on /: %d", c)
	}
	w2 := strings.TrimRight(srv, "/") + "/wallet/w2"
	for _, c := range []struct {
		endpoint, method string
		params           []any
		want             int
	}{
		{w2, "listunspent", []any{"0", 9999999, []string{a}}, -3},                              // minconf as a string
		{w2, "listunspent", []any{0.5, 9999999, []string{a}}, -3},                              // not an integer
		{w2, "listunspent", []any{0, 9999999, []string{"bc1qxyz"}}, -5},                        // invalid address
		{w2, "listunspent", []any{0, 9999999, []string{a, a}}, -8},                             // duplicated address
		{w2, "listunspent", []any{0, 1, []string{a}, true, nil, 1}, -1},                        // too many arguments
		{srv, "createwallet", []any{}, -1},                                                     // missing wallet_name
		{srv, "createwallet", []any{"w3", "yes"}, -3},                                          // bool as string
		{srv, "createwallet", []any{"w2", true}, -4},                                           // exists
		{srv, "loadwallet", []any{"w2"}, -35},                                                  // loaded
		{srv, "loadwallet", []any{"nope"}, -18},                                                // missing
		{srv + "/wallet/nope", "getwalletinfo", nil, -18},                                      // not loaded
		{srv, "estimatesmartfee", []any{0}, -8},                                                // target range
		{srv, "estimatesmartfee", []any{1009}, -8},                                             // target range
		{srv, "estimatefee", []any{6}, -32601},                                                 // btcd-only method
		{srv, "searchrawtransactions", []any{a}, -32601},                                       // btcd-only method
		{w2, "importdescriptors", []any{[]any{map[string]any{"desc": "addr(" + a + ")"}}}, -3}, // no timestamp
		{w2, "importdescriptors", []any{[]any{map[string]any{"desc": "x", "timestamp": "then"}}}, -3},
		{srv, "getrawtransaction", []any{"ab", 1}, -8},
	} {
		if got := code(r.call(ctx, c.endpoint, c.method, c.params, nil)); got != c.want {
			t.Errorf("%s %v: code %d, want %d", c.method, c.params, got, c.want)
		}
	}
	// importdescriptors: per-request failures inside a successful call.
	for desc, want := range map[string]string{
		"addr(" + a + ")":             "Missing checksum",
		"addr(" + a + ")#aaaaaaaa":    "does not match",
		"raw(deadbeef)#89f8spxm":      "only addr()",
		"addr(bc1qxyz)#" + "qqqqqqqq": "does not match",
	} {
		var res []coreImportResult
		if err := r.call(ctx, w2, "importdescriptors", []any{[]any{map[string]any{"desc": desc, "timestamp": "now"}}}, &res); err != nil {
			t.Fatal(err)
		}
		if err := checkImport(res); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("import %s: %v", desc, err)
		}
	}
	// HTTP: Core answers an error with HTTP 500 (404 for an unknown method) and a JSON body.
	for method, status := range map[string]int{"loadwallet": http.StatusInternalServerError, "nosuchmethod": http.StatusNotFound} {
		body := strings.NewReader(`{"jsonrpc":"1.0","id":1,"method":"` + method + `","params":["nope"]}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv, body)
		req.SetBasicAuth("u", "p")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("%s: HTTP %d, want %d", method, resp.StatusCode, status)
		}
	}
	if v := f.violated(); len(v) < 8 {
		t.Fatalf("violations not recorded: %q", v)
	}
}

// TestCoreTxOutAndFeeEstimate: gettxout's exact amount and script, null for an unknown output (or a
// mempool one when not asked for); estimatesmartfee without data gives the fallback marked as such.
func TestCoreTxOutAndFeeEstimate(t *testing.T) {
	ctx := context.Background()
	f := newFakeCore()
	srv := startFakeHandler(t, f)
	r := newCoreRPC(t, srv, func(c *RPCConfig) { c.Fallback = 2500 })
	tw := newTestWallet(t)
	txid := strings.Repeat("5a", 32)
	f.mu.Lock()
	f.chain[tw.w.Address().EncodeAddress()] = []fakeCoin{{txid: txid, vout: 1, amount: "0.12345678", conf: 2}}
	f.mu.Unlock()
	h, _ := chainhash.NewHashFromStr(txid)
	o, err := r.TxOut(ctx, wire.OutPoint{Hash: *h, Index: 1})
	if err != nil || o.Value != 12_345_678 || !bytes.Equal(o.PkScript, tw.w.PkScript()) {
		t.Fatalf("gettxout: %+v %v", o, err)
	}
	if _, err := r.TxOut(ctx, wire.OutPoint{Hash: *h, Index: 0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown output: %v", err)
	}
	est, err := r.FeeEstimate(ctx, 6)
	if err != nil || !est.Fallback || est.Rate != 2500 {
		t.Fatalf("no data: %+v %v", est, err)
	}
	f.mu.Lock()
	f.feerate = "0.00012345"
	f.mu.Unlock()
	if est, err := r.FeeEstimate(ctx, 6); err != nil || est.Fallback || est.Rate != 12345 {
		t.Fatalf("estimate: %+v %v", est, err)
	}
	checkNoViolations(t, f)
}
