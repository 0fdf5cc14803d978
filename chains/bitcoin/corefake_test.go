package bitcoin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// fakeCore is a JSON-RPC server that behaves like Bitcoin Core (v25 to v28) as strictly as this
// package's calls can tell. There is no bitcoind on this machine or in CI, so the Core path is tested
// against it. What it copies, and from where in bitcoin/bitcoin:
//
//   - HTTP (src/httprpc.cpp): POST only (405 otherwise); basic auth, 401 with an empty body and a
//     WWW-Authenticate header when missing or wrong; a JSON-RPC 1.0 reply {"result","error","id"}, HTTP
//     200 on success, and on error HTTP 500, or 404 for -32601 (method not found), 400 for -32600.
//   - Wallet routing (src/wallet/rpc/util.cpp GetWalletForJSONRPCRequest): wallet methods act on the
//     wallet named by the URL-decoded path after /wallet/; -18 "Requested wallet does not exist or is
//     not loaded" if it is not loaded; on "/" with several wallets loaded, -19 "Wallet file not
//     specified". A second wallet ("operator") is always loaded, so a wallet call on "/" fails.
//   - Arguments (src/rpc/util.cpp RPCHelpMan): a wrong number of positional arguments is -1 with the
//     help text; a wrong type is -3 "Wrong type passed"; null stands for an omitted optional argument.
//     Each method's argument list is copied from its RPCHelpMan below.
//   - Wallet lifecycle (src/wallet/rpc/wallet.cpp, util.cpp HandleWalletError): createwallet on an
//     existing wallet is -4 "... Database already exists."; loadwallet of a loaded wallet is -35
//     "Wallet \"x\" is already loaded.", of a missing one -18 "... Path does not exist.".
//   - importdescriptors (src/wallet/rpc/backup.cpp): a missing or non-"now"/number timestamp fails the
//     whole call with -3; per request, a missing or wrong checksum, or a watch-only descriptor into a
//     wallet with private keys, gives {"success":false,"error":{code,message}}.
//   - listunspent (src/wallet/rpc/coins.cpp), estimatesmartfee (src/rpc/fees.cpp: conf_target 1..1008,
//     else -8; "feerate" only without "errors"), gettransaction, getrawtransaction without -txindex
//     (-5 for a transaction not in the mempool), getblockheader, sendrawtransaction, getnetworkinfo:
//     the answer shapes of their RPCResult help, amounts as JSON numbers with eight decimals
//     (ValueFromAmount).
//
// Violations of the protocol by the client are recorded in violations (and answered with Core's error).
type fakeCore struct {
	mu         sync.Mutex
	subversion string
	wallets    map[string]*fakeWallet // on disk
	loaded     map[string]bool
	chain      map[string][]fakeCoin // by address: the wallet lists those of imported addresses
	feerate    string                // estimatesmartfee's feerate text; "" = no estimate
	mempool    map[string]bool       // txids getrawtransaction knows (no -txindex: mempool only)
	rawBlock   map[string]string     // txid → block hash, for getrawtransaction as with -txindex
	walletTxs  map[string]fakeWalletTx
	blocks     map[string]int64 // block hash → height
	reject     *RPCError        // sendrawtransaction's answer, when set
	failCreate *RPCError        // createwallet's answer, when set
	calls      []string         // "method path"
	violations []string
	imports    []string // "address timestamp" of every importdescriptors request accepted
}

type fakeWallet struct {
	privateKeys, descriptors, blank, loadOnStartup bool
	watched                                        map[string]bool // addresses imported with addr()
}

type fakeCoin struct {
	txid   string
	vout   uint32
	amount string // JSON number text, as Core writes it
	conf   int64
	script string // hex; defaults to the address's script
}

type fakeWalletTx struct {
	conf      int64
	blockhash string
	height    int64
}

func newFakeCore() *fakeCore {
	return &fakeCore{
		subversion: "/Satoshi:27.0.0/",
		wallets:    map[string]*fakeWallet{"operator": {privateKeys: true, descriptors: true}},
		loaded:     map[string]bool{"operator": true},
		chain:      map[string][]fakeCoin{},
		mempool:    map[string]bool{},
		walletTxs:  map[string]fakeWalletTx{},
		blocks:     map[string]int64{},
	}
}

// callList returns the calls so far and forgets them.
func (f *fakeCore) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeCore) violated() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

// restart unloads every wallet but those marked load_on_startup (and "operator"), like a node restart.
func (f *fakeCore) restart(keepStartup bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loaded = map[string]bool{"operator": true}
	for name, w := range f.wallets {
		if keepStartup && w.loadOnStartup {
			f.loaded[name] = true
		}
	}
}

// argument types of RPCHelpMan arguments
const (
	tStr  = 1 << iota // JSON string
	tNum              // JSON number
	tInt              // JSON number that is an integer
	tBool             // true/false
	tArr              // array
	tObj              // object
)

type fakeArg struct {
	name     string
	types    int
	required bool
}

type fakeMethod struct {
	wallet bool // acts on a wallet (GetWalletForJSONRPCRequest)
	args   []fakeArg
}

// fakeMethods are the RPCHelpMan argument lists of the calls the package makes.
var fakeMethods = map[string]fakeMethod{
	"getnetworkinfo": {},
	"createwallet": {args: []fakeArg{{"wallet_name", tStr, true}, {"disable_private_keys", tBool, false},
		{"blank", tBool, false}, {"passphrase", tStr, false}, {"avoid_reuse", tBool, false},
		{"descriptors", tBool, false}, {"load_on_startup", tBool, false}, {"external_signer", tBool, false}}},
	"loadwallet":        {args: []fakeArg{{"filename", tStr, true}, {"load_on_startup", tBool, false}}},
	"getwalletinfo":     {wallet: true},
	"importdescriptors": {wallet: true, args: []fakeArg{{"requests", tArr, true}}},
	"listunspent": {wallet: true, args: []fakeArg{{"minconf", tInt, false}, {"maxconf", tInt, false},
		{"addresses", tArr, false}, {"include_unsafe", tBool, false}, {"query_options", tObj, false}}},
	"gettransaction": {wallet: true, args: []fakeArg{{"txid", tStr, true}, {"include_watchonly", tBool, false},
		{"verbose", tBool, false}}},
	"estimatesmartfee": {args: []fakeArg{{"conf_target", tInt, true}, {"estimate_mode", tStr, false}}},
	"sendrawtransaction": {args: []fakeArg{{"hexstring", tStr, true}, {"maxfeerate", tNum | tStr, false},
		{"maxburnamount", tNum | tStr, false}}},
	"getrawtransaction": {args: []fakeArg{{"txid", tStr, true}, {"verbosity", tInt | tBool, false}, {"blockhash", tStr, false}}},
	"getblockheader":    {args: []fakeArg{{"blockhash", tStr, true}, {"verbose", tBool, false}}},
	"gettxout":          {args: []fakeArg{{"txid", tStr, true}, {"n", tInt, true}, {"include_mempool", tBool, false}}},
}

func jsonType(raw json.RawMessage) int {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return 0
	}
	switch s[0] {
	case '"':
		return tStr
	case 't', 'f':
		return tBool
	case '[':
		return tArr
	case '{':
		return tObj
	case 'n':
		return 0
	}
	if _, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return tNum | tInt
	}
	return tNum
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte("JSONRPC server handles only POST requests"))
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
		ID     json.RawMessage   `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeCore(w, nil, &RPCError{Code: -32700, Message: "Parse error"}, nil)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req.Method+" "+r.URL.Path)
	res, rerr := f.handle(r.URL.Path, req.Method, req.Params)
	if rerr != nil && (rerr.Code == -1 && strings.HasPrefix(rerr.Message, req.Method+" ") || rerr.Code == -3 || rerr.Code == -32601) {
		f.violations = append(f.violations, fmt.Sprintf("%s %s: %s", req.Method, r.URL.Path, rerr.Message))
	}
	writeCore(w, res, rerr, req.ID)
}

func writeCore(w http.ResponseWriter, res any, rerr *RPCError, id json.RawMessage) {
	if id == nil {
		id = json.RawMessage("null")
	}
	out := map[string]any{"result": res, "error": nil, "id": id}
	status := http.StatusOK
	if rerr != nil {
		out["result"] = nil
		out["error"] = map[string]any{"code": rerr.Code, "message": rerr.Message}
		switch rerr.Code {
		case -32600:
			status = http.StatusBadRequest
		case -32601:
			status = http.StatusNotFound
		default:
			status = http.StatusInternalServerError
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func rpcErr(code int, format string, a ...any) *RPCError {
	return &RPCError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// handle runs one call; f.mu is held.
func (f *fakeCore) handle(path, method string, params []json.RawMessage) (any, *RPCError) {
	m, ok := fakeMethods[method]
	if !ok {
		return nil, rpcErr(-32601, "Method not found")
	}
	var walletName string
	isWalletPath := strings.HasPrefix(path, "/wallet/")
	if isWalletPath {
		n, err := url.PathUnescape(strings.TrimPrefix(path, "/wallet/"))
		if err != nil {
			return nil, rpcErr(-32600, "bad path")
		}
		walletName = n
	} else if path != "/" {
		return nil, rpcErr(-32601, "no handler for %s", path) // Core: HTTP 404 from the http server
	}
	if len(params) > len(m.args) || len(params) < countRequired(m.args) { // RPCHelpMan::IsValidNumArgs
		return nil, rpcErr(-1, "%s ...\n(help text: wrong number of arguments)", method)
	}
	for i, a := range m.args {
		if i >= len(params) || jsonType(params[i]) == 0 {
			if a.required {
				return nil, rpcErr(-1, "%s ...\n(help text: missing %s)", method, a.name)
			}
			continue
		}
		if jsonType(params[i])&a.types == 0 {
			return nil, rpcErr(-3, "Wrong type passed:\n{\n    \"Position %d (%s)\": \"JSON value of type %s is not of expected type\"\n}", i+1, a.name, params[i])
		}
	}
	var wl *fakeWallet
	if m.wallet {
		switch {
		case isWalletPath && !f.loaded[walletName]:
			return nil, rpcErr(-18, "Requested wallet does not exist or is not loaded")
		case isWalletPath:
			wl = f.wallets[walletName]
		case len(f.loaded) == 0:
			return nil, rpcErr(-18, "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)")
		case len(f.loaded) > 1:
			return nil, rpcErr(-19, "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).")
		default:
			for n := range f.loaded {
				walletName, wl = n, f.wallets[n]
			}
		}
	}
	str := func(i int) string {
		var s string
		if i < len(params) {
			_ = json.Unmarshal(params[i], &s)
		}
		return s
	}
	flag := func(i int, def bool) bool {
		b := def
		if i < len(params) && jsonType(params[i]) != 0 {
			_ = json.Unmarshal(params[i], &b)
		}
		return b
	}
	switch method {
	case "getnetworkinfo":
		return map[string]any{"version": 270000, "subversion": f.subversion, "protocolversion": 70016,
			"localservices": "0000000000000c09", "localservicesnames": []string{"NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"},
			"localrelay": true, "timeoffset": 0, "networkactive": true, "connections": 0, "connections_in": 0,
			"connections_out": 0, "networks": []any{}, "relayfee": json.RawMessage("0.00001000"),
			"incrementalfee": json.RawMessage("0.00001000"), "localaddresses": []any{}, "warnings": ""}, nil
	case "createwallet":
		name := str(0)
		if f.failCreate != nil {
			return nil, f.failCreate
		}
		if f.wallets[name] != nil {
			return nil, rpcErr(-4, "Wallet file verification failed. Failed to create database path '/home/bitcoin/.bitcoin/regtest/wallets/%s'. Database already exists.", name)
		}
		f.wallets[name] = &fakeWallet{privateKeys: !flag(1, false), blank: flag(2, false), descriptors: flag(5, true),
			loadOnStartup: flag(6, false), watched: map[string]bool{}}
		f.loaded[name] = true
		return map[string]any{"name": name}, nil
	case "loadwallet":
		name := str(0)
		if f.loaded[name] {
			return nil, rpcErr(-35, "Wallet \"%s\" is already loaded.", name)
		}
		if f.wallets[name] == nil {
			return nil, rpcErr(-18, "Wallet file verification failed. Failed to load database path '/home/bitcoin/.bitcoin/regtest/wallets/%s'. Path does not exist.", name)
		}
		f.loaded[name] = true
		return map[string]any{"name": name}, nil
	case "getwalletinfo":
		return map[string]any{"walletname": walletName, "walletversion": 169900, "format": "sqlite",
			"balance": json.RawMessage("0.00000000"), "unconfirmed_balance": json.RawMessage("0.00000000"),
			"immature_balance": json.RawMessage("0.00000000"), "txcount": 0, "keypoolsize": 0,
			"paytxfee": json.RawMessage("0.00000000"), "private_keys_enabled": wl.privateKeys, "avoid_reuse": false,
			"scanning": false, "descriptors": wl.descriptors, "external_signer": false, "blank": wl.blank}, nil
	case "importdescriptors":
		return f.importDescriptors(wl, params[0])
	case "listunspent":
		return f.listUnspent(wl, params)
	case "gettransaction":
		tx, ok := f.walletTxs[str(0)]
		if !ok {
			return nil, rpcErr(-5, "Invalid or non-wallet transaction id")
		}
		res := map[string]any{"amount": json.RawMessage("0.00000000"), "confirmations": tx.conf, "txid": str(0),
			"wtxid": str(0), "walletconflicts": []any{}, "mempoolconflicts": []any{}, "time": 1700000000,
			"timereceived": 1700000000, "bip125-replaceable": "no", "details": []any{}, "hex": "00"}
		if tx.conf > 0 {
			res["blockhash"], res["blockheight"], res["blockindex"], res["blocktime"] = tx.blockhash, tx.height, 1, 1700000000
		}
		return res, nil
	case "estimatesmartfee":
		var target int
		_ = json.Unmarshal(params[0], &target)
		if target < 1 || target > 1008 {
			return nil, rpcErr(-8, "Invalid conf_target, must be between 1 and 1008")
		}
		if f.feerate == "" {
			return map[string]any{"errors": []string{"Insufficient data or no feerate found"}, "blocks": 0}, nil
		}
		return map[string]any{"feerate": json.RawMessage(f.feerate), "blocks": max(target, 2)}, nil
	case "getrawtransaction":
		txid := str(0)
		if len(txid) != 64 {
			return nil, rpcErr(-8, "txid must be of length 64 (not %d, for '%s')", len(txid), txid)
		}
		if !f.mempool[txid] {
			return nil, rpcErr(-5, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.")
		}
		res := map[string]any{"txid": txid, "hash": txid, "version": 2, "size": 94, "vsize": 94, "weight": 376,
			"locktime": 0, "hex": "00", "vin": []any{map[string]any{"txid": strings.Repeat("01", 32), "vout": 0,
				"scriptSig": map[string]any{"asm": "", "hex": ""}, "txinwitness": []string{strings.Repeat("aa", 64)}, "sequence": 4294967293}},
			"vout": []any{map[string]any{"value": json.RawMessage("0.00001000"), "n": 0, "scriptPubKey": map[string]any{
				"asm": "1 " + strings.Repeat("bb", 32), "desc": "rawtr(...)", "hex": "5120" + strings.Repeat("bb", 32),
				"address": "bcrt1p...", "type": "witness_v1_taproot"}}}}
		if bh, ok := f.rawBlock[txid]; ok {
			res["blockhash"], res["confirmations"], res["time"], res["blocktime"] = bh, 3, 1700000000, 1700000000
		}
		return res, nil
	case "getblockheader":
		h, ok := f.blocks[str(0)]
		if !ok {
			return nil, rpcErr(-5, "Block not found")
		}
		return map[string]any{"hash": str(0), "confirmations": 1, "height": h, "version": 536870912,
			"versionHex": "20000000", "merkleroot": strings.Repeat("00", 32), "time": 1700000000,
			"mediantime": 1700000000, "nonce": 0, "bits": "207fffff", "difficulty": json.RawMessage("4.656542373906925e-10"),
			"chainwork": strings.Repeat("0", 62) + "02", "nTx": 1}, nil
	case "gettxout":
		// src/rpc/blockchain.cpp gettxout: null (JSON) when the output is unknown or spent.
		var n uint32
		_ = json.Unmarshal(params[1], &n)
		for a, coins := range f.chain {
			for _, c := range coins {
				if c.txid != str(0) || c.vout != n || (c.conf == 0 && !flag(2, true)) {
					continue
				}
				spk := c.script
				if spk == "" {
					ad, _ := btcutil.DecodeAddress(a, Regtest.Params)
					script, _ := payToAddr(ad)
					spk = hex.EncodeToString(script)
				}
				return map[string]any{"bestblock": strings.Repeat("00", 32), "confirmations": c.conf,
					"value": json.RawMessage(c.amount), "scriptPubKey": map[string]any{"asm": "", "desc": "addr(" + a + ")",
						"hex": spk, "address": a, "type": "witness_v1_taproot"}, "coinbase": false}, nil
			}
		}
		return nil, nil
	case "sendrawtransaction":
		b, err := hex.DecodeString(str(0))
		var tx wire.MsgTx
		if err != nil || tx.Deserialize(bytes.NewReader(b)) != nil {
			return nil, rpcErr(-22, "TX decode failed. Make sure the tx has at least one input.")
		}
		if f.reject != nil {
			return nil, f.reject
		}
		f.mempool[tx.TxHash().String()] = true
		return tx.TxHash().String(), nil
	}
	return nil, rpcErr(-32601, "Method not found")
}

func countRequired(args []fakeArg) int {
	n := 0
	for _, a := range args {
		if a.required {
			n++
		}
	}
	return n
}

// importDescriptors follows ProcessDescriptorImport for addr() descriptors.
func (f *fakeCore) importDescriptors(wl *fakeWallet, raw json.RawMessage) (any, *RPCError) {
	var reqs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &reqs); err != nil {
		return nil, rpcErr(-3, "Wrong type passed: requests must be an array of objects")
	}
	var out []any
	for _, rq := range reqs {
		for k := range rq {
			if !slices.Contains([]string{"desc", "active", "range", "next_index", "timestamp", "internal", "label"}, k) {
				return nil, rpcErr(-3, "Unexpected key %s", k)
			}
		}
		ts, ok := rq["timestamp"]
		if !ok {
			return nil, rpcErr(-3, "Missing required timestamp field for key")
		}
		var stamp string
		switch jsonType(ts) {
		case tNum | tInt:
			stamp = string(ts)
		case tStr:
			if string(ts) != `"now"` {
				return nil, rpcErr(-3, "Expected number or \"now\" timestamp value for key. got type string")
			}
			stamp = "now"
		default:
			return nil, rpcErr(-3, "Expected number or \"now\" timestamp value for key. got type %s", ts)
		}
		var desc string
		if err := json.Unmarshal(rq["desc"], &desc); err != nil {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -8, "message": "Descriptor not found."}})
			continue
		}
		body, sum, hasSum := strings.Cut(desc, "#")
		if !hasSum {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -5, "message": "Missing checksum"}})
			continue
		}
		if !descsumCheck(desc) {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -5,
				"message": fmt.Sprintf("Provided checksum '%s' does not match computed checksum", sum)}})
			continue
		}
		if strings.HasPrefix(body, "tr(") {
			// Ranged BIP-386 tr(KEY/…/*) (hddesc_test.go): derived independently with hdkeychain.
			addrs, rerr := fakeTrAddresses(body, rq["range"])
			if rerr != nil {
				out = append(out, map[string]any{"success": false, "error": map[string]any{"code": rerr.Code, "message": rerr.Message}})
				continue
			}
			if wl.privateKeys {
				out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -4,
					"message": "Cannot import descriptor without private keys to a wallet with private keys enabled"}})
				continue
			}
			for _, a := range addrs {
				wl.watched[a] = true
			}
			f.imports = append(f.imports, body+" "+stamp)
			out = append(out, map[string]any{"success": true})
			continue
		}
		a, ok := strings.CutPrefix(body, "addr(")
		a, ok2 := strings.CutSuffix(a, ")")
		if !ok || !ok2 {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -5, "message": "fake: only addr() and tr() descriptors"}})
			continue
		}
		if _, err := btcutil.DecodeAddress(a, Regtest.Params); err != nil {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -5, "message": "addr(): Address is not valid"}})
			continue
		}
		if wl.privateKeys {
			out = append(out, map[string]any{"success": false, "error": map[string]any{"code": -4,
				"message": "Cannot import descriptor without private keys to a wallet with private keys enabled"}})
			continue
		}
		wl.watched[a] = true
		f.imports = append(f.imports, a+" "+stamp)
		out = append(out, map[string]any{"success": true})
	}
	return out, nil
}

// descsumCheck is BIP-380 descsum_check, written separately from the package's descsum_create so
// that the fake checks the client's checksums independently.
func descsumCheck(s string) bool {
	if len(s) < 9 || s[len(s)-9] != '#' {
		return false
	}
	var symbols []byte
	var groups []int
	for _, c := range []byte(s[:len(s)-9]) {
		v := strings.IndexByte(descInputCharset, c)
		if v < 0 {
			return false
		}
		symbols = append(symbols, byte(v&31))
		groups = append(groups, v>>5)
		if len(groups) == 3 {
			symbols = append(symbols, byte(groups[0]*9+groups[1]*3+groups[2]))
			groups = nil
		}
	}
	if len(groups) == 1 {
		symbols = append(symbols, byte(groups[0]))
	} else if len(groups) == 2 {
		symbols = append(symbols, byte(groups[0]*3+groups[1]))
	}
	for _, c := range []byte(s[len(s)-8:]) {
		v := strings.IndexByte(descChecksumCharset, c)
		if v < 0 {
			return false
		}
		symbols = append(symbols, byte(v))
	}
	gen := []uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}
	chk := uint64(1)
	for _, v := range symbols {
		top := chk >> 35
		chk = (chk&0x7ffffffff)<<5 ^ uint64(v)
		for i := range gen {
			if top>>i&1 != 0 {
				chk ^= gen[i]
			}
		}
	}
	return chk == 1
}

// listUnspent follows listunspent: addresses must be valid and distinct; only outputs of addresses
// the wallet watches, with minconf ≤ confirmations ≤ maxconf.
func (f *fakeCore) listUnspent(wl *fakeWallet, params []json.RawMessage) (any, *RPCError) {
	minconf, maxconf := int64(1), int64(9999999)
	if len(params) > 0 && jsonType(params[0]) != 0 {
		_ = json.Unmarshal(params[0], &minconf)
	}
	if len(params) > 1 && jsonType(params[1]) != 0 {
		_ = json.Unmarshal(params[1], &maxconf)
	}
	var addrs []string
	if len(params) > 2 && jsonType(params[2]) != 0 {
		if err := json.Unmarshal(params[2], &addrs); err != nil {
			return nil, rpcErr(-3, "addresses: expected strings")
		}
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if _, err := btcutil.DecodeAddress(a, Regtest.Params); err != nil {
			return nil, rpcErr(-5, "Invalid Bitcoin address: %s", a)
		}
		if seen[a] {
			return nil, rpcErr(-8, "Invalid parameter, duplicated address: %s", a)
		}
		seen[a] = true
	}
	out := []any{}
	for a := range wl.watched {
		if len(addrs) > 0 && !seen[a] {
			continue
		}
		ad, _ := btcutil.DecodeAddress(a, Regtest.Params)
		script, _ := payToAddr(ad)
		desc, _ := AddrDescriptor(ad)
		for _, c := range f.chain[a] {
			if c.conf < minconf || c.conf > maxconf {
				continue
			}
			spk := c.script
			if spk == "" {
				spk = hex.EncodeToString(script)
			}
			e := map[string]any{"txid": c.txid, "vout": c.vout, "address": a, "label": "", "scriptPubKey": spk,
				"amount": json.RawMessage(c.amount), "confirmations": c.conf, "spendable": false, "solvable": false,
				"parent_descs": []string{desc}, "safe": c.conf > 0}
			if c.conf == 0 {
				e["ancestorcount"], e["ancestorsize"], e["ancestorfees"] = 1, 153, 15300
			}
			out = append(out, e)
		}
	}
	return out, nil
}
