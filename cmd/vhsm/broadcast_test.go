package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/bitcoin/btcdtest"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/beacon"
	"github.com/vhsm/vhsm/threshold/group"
)

// runBroadcast runs `vhsm [--json] args...` in-process with the broadcast
// command attached (until the lead adds it to the root) and stdin as given.
func runBroadcast(t *testing.T, stdin string, jsonOut bool, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr}
	root := c.rootCmd()
	if cmd, _, err := root.Find([]string{"broadcast"}); err != nil || cmd == root {
		root.AddCommand(c.broadcastCmd())
	}
	if jsonOut {
		args = append([]string{"--json"}, args...)
	}
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && stdout.Len() != 0 {
		t.Fatalf("vhsm %v failed (%v) but printed %q", args, err, stdout.String())
	}
	return stdout.String(), err
}

// btcKey is a test-only single secp256k1 key paying to P2WPKH. The HSM never
// holds a whole key; this stands in for it so that broadcast can be tested.
type btcKey struct {
	priv *btcec.PrivateKey
	addr *btcutil.AddressWitnessPubKeyHash
}

func newBTCKey(t *testing.T, net *bitcoin.Network) *btcKey {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	priv, _ := btcec.PrivKeyFromBytes(b[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(priv.PubKey().SerializeCompressed()), net.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &btcKey{priv: priv, addr: addr}
}

func (k *btcKey) pkScript(t *testing.T) []byte {
	t.Helper()
	s, err := txscript.PayToAddrScript(k.addr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// spend signs a one-input, one-output P2WPKH spend of prev (worth prevOut)
// to dest paying fee sats; corrupt flips a bit of the ECDSA signature. It
// returns the signed transaction and a finalized PSBT of it (with the
// witness UTXO, so that a local check can verify the script).
func (k *btcKey) spend(t *testing.T, prev wire.OutPoint, prevOut *wire.TxOut, dest []byte, fee int64, corrupt bool) (*wire.MsgTx, *psbt.Packet) {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&prev, nil, nil))
	tx.AddTxOut(wire.NewTxOut(prevOut.Value-fee, dest))
	pkt, err := psbt.NewFromUnsignedTx(tx.Copy())
	if err != nil {
		t.Fatal(err)
	}
	fetcher := txscript.NewCannedPrevOutputFetcher(prevOut.PkScript, prevOut.Value)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	wit, err := txscript.WitnessSignature(tx, hashes, 0, prevOut.Value, prevOut.PkScript, txscript.SigHashAll, k.priv, true)
	if err != nil {
		t.Fatal(err)
	}
	if corrupt {
		wit[0][10] ^= 0x01 // inside the DER-encoded r: still well-formed, no longer valid
	}
	tx.TxIn[0].Witness = wit
	var w bytes.Buffer
	if err := psbt.WriteTxWitness(&w, wit); err != nil {
		t.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = prevOut
	pkt.Inputs[0].FinalScriptWitness = w.Bytes()
	return tx, pkt
}

func txHex(t *testing.T, tx *wire.MsgTx) string {
	t.Helper()
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b.Bytes())
}

func psbtB64(t *testing.T, p *psbt.Packet) string {
	t.Helper()
	s, err := p.B64Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeJSONLine(t *testing.T, out string, v any) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout %q is not exactly one line", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
}

// fakeSpend is a signed spend of a made-up P2WPKH output (no chain needed).
func fakeSpend(t *testing.T, corrupt bool) (*wire.MsgTx, *psbt.Packet) {
	t.Helper()
	k := newBTCKey(t, bitcoin.Testnet4)
	prev := wire.OutPoint{Hash: chainhash.HashH([]byte("prev")), Index: 1}
	return k.spend(t, prev, wire.NewTxOut(100_000, k.pkScript(t)), k.pkScript(t), 500, corrupt)
}

// TestBroadcastRegtest drives a real btcd: --check asks testmempoolaccept
// and does not broadcast; broadcast puts the tx in the mempool; a corrupted
// signature is refused with btcd's reason; a wrong --network is refused
// before sending.
func TestBroadcastRegtest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key := newBTCKey(t, bitcoin.Regtest)
	node := btcdtest.Start(t, key.addr.EncodeAddress())
	// Segwit (and Taproot) activate through BIP-9 on btcd's regtest.
	if err := node.WaitTaproot(ctx, 1200); err != nil {
		t.Fatalf("soft fork activation: %v", err)
	}
	if _, err := node.Generate(ctx, 101); err != nil {
		t.Fatal(err)
	}
	coinbase := func(height int64) (wire.OutPoint, *wire.TxOut) {
		h, err := node.Client.GetBlockHash(height)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := node.Client.GetBlock(h)
		if err != nil {
			t.Fatal(err)
		}
		cb := blk.Transactions[0]
		return wire.OutPoint{Hash: cb.TxHash(), Index: 0}, cb.TxOut[0]
	}
	rpcArgs := []string{"--network", "regtest", "--rpc", node.RPCURL, "--rpc-user", node.User, "--rpc-pass", node.Pass}
	btc := func(extra ...string) []string {
		return append(append([]string{"broadcast", "btc"}, rpcArgs...), extra...)
	}
	inMempool := func(txid chainhash.Hash) bool {
		ids, err := node.Client.GetRawMempool()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if *id == txid {
				return true
			}
		}
		return false
	}

	op, out := coinbase(1)
	tx, pkt := key.spend(t, op, out, key.pkScript(t), 2_000, false)

	// --check: the node's testmempoolaccept says allowed; nothing is sent.
	got, err := runBroadcast(t, "", true, btc("--check", txHex(t, tx))...)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var res btcResult
	decodeJSONLine(t, got, &res)
	want := btcResult{Txid: tx.TxHash().String(), Network: "regtest", Input: "raw", Checked: true, CheckedBy: "node", Allowed: true}
	if res != want {
		t.Fatalf("check result %+v, want %+v", res, want)
	}
	if inMempool(tx.TxHash()) {
		t.Fatal("--check broadcast the transaction")
	}

	// Broadcast the finalized PSBT (base64, through stdin).
	got, err = runBroadcast(t, psbtB64(t, pkt)+"\n", true, btc("-")...)
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	res = btcResult{}
	decodeJSONLine(t, got, &res)
	want = btcResult{Txid: tx.TxHash().String(), Network: "regtest", Input: "psbt", Allowed: true, Broadcast: true}
	if res != want {
		t.Fatalf("broadcast result %+v, want %+v", res, want)
	}
	if !inMempool(tx.TxHash()) {
		t.Fatal("broadcast transaction is not in the mempool")
	}

	// A corrupted signature: the node's check and its broadcast both refuse
	// with btcd's reason, and nothing reaches the mempool.
	op2, out2 := coinbase(2)
	bad, _ := key.spend(t, op2, out2, key.pkScript(t), 2_000, true)
	_, err = runBroadcast(t, "", false, btc("--check", txHex(t, bad))...)
	if !errors.Is(err, errCheckFailed) || !strings.Contains(err.Error(), "node") || !strings.Contains(strings.ToLower(err.Error()), "signature") {
		t.Fatalf("check of a bad signature: %v", err)
	}
	t.Logf("check of a corrupted signature: %v", err)
	// The password from the environment, as documented for --rpc-pass.
	t.Setenv(rpcPassEnv, node.Pass)
	_, err = runBroadcast(t, "", false, "broadcast", "btc", "--network", "regtest", "--rpc", node.RPCURL, "--rpc-user", node.User, txHex(t, bad))
	var re *bitcoin.RejectError
	if !errors.As(err, &re) || !strings.Contains(strings.ToLower(re.Reason), "signature") {
		t.Fatalf("broadcast of a bad signature: %v, want a RejectError with btcd's reason", err)
	}
	t.Logf("broadcast of a corrupted signature: %v", err)
	if inMempool(bad.TxHash()) {
		t.Fatal("a badly signed transaction reached the mempool")
	}

	// Wrong network: btcd is on regtest.
	good2, _ := key.spend(t, op2, out2, key.pkScript(t), 2_000, false)
	args := []string{"broadcast", "btc", "--network", "testnet4", "--rpc", node.RPCURL, "--rpc-user", node.User, "--rpc-pass", node.Pass, txHex(t, good2)}
	if _, err := runBroadcast(t, "", false, args...); !errors.Is(err, bitcoin.ErrOtherNetwork) {
		t.Fatalf("wrong network: %v", err)
	}
	if inMempool(good2.TxHash()) {
		t.Fatal("transaction sent to a node of the wrong network")
	}
}

// esploraServer is an Esplora API on loopback with strict paths: GET
// /api/block-height/0 answers genesis; POST /api/tx accepts the hex of a
// transaction and answers its txid, or 400 with reject when non-empty.
type esploraServer struct {
	*httptest.Server
	posts   atomic.Int32
	genesis *chainhash.Hash
	reject  string
}

func newEsploraServer(t *testing.T, genesis *chainhash.Hash) *esploraServer {
	t.Helper()
	s := &esploraServer{genesis: genesis}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/block-height/0":
			fmt.Fprint(w, s.genesis.String())
		case r.Method == http.MethodPost && r.URL.Path == "/api/tx":
			s.posts.Add(1)
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			raw, herr := hex.DecodeString(string(body))
			var tx wire.MsgTx
			if err != nil || herr != nil || tx.Deserialize(bytes.NewReader(raw)) != nil {
				http.Error(w, "sendrawtransaction RPC error: TX decode failed", http.StatusBadRequest)
				return
			}
			if s.reject != "" {
				http.Error(w, s.reject, http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, tx.TxHash().String())
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestBroadcastEsplora(t *testing.T) {
	tx, pkt := fakeSpend(t, false)
	srv := newEsploraServer(t, bitcoin.Testnet4.Params.GenesisHash)
	base := []string{"broadcast", "btc", "--network", "testnet4", "--esplora", srv.URL + "/api"}

	// --check on Esplora is local; with the PSBT's witness UTXO the script is verified.
	got, err := runBroadcast(t, "", true, append(base, "--check", psbtB64(t, pkt))...)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var res btcResult
	decodeJSONLine(t, got, &res)
	url := "https://mempool.space/testnet4/tx/" + tx.TxHash().String()
	want := btcResult{Txid: tx.TxHash().String(), ExplorerURL: url, Network: "testnet4", Input: "psbt", Checked: true, CheckedBy: "local", Allowed: true}
	if res != want {
		t.Fatalf("check %+v, want %+v", res, want)
	}
	if srv.posts.Load() != 0 {
		t.Fatal("--check posted the transaction")
	}
	_, badPkt := fakeSpend(t, true)
	if _, err := runBroadcast(t, "", false, append(base, "--check", psbtB64(t, badPkt))...); !errors.Is(err, errCheckFailed) || !strings.Contains(err.Error(), "input 0") {
		t.Fatalf("local check of a corrupted signature: %v", err)
	}

	// Broadcast from a file, human output.
	file := filepath.Join(t.TempDir(), "tx.hex")
	if err := os.WriteFile(file, []byte(txHex(t, tx)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = runBroadcast(t, "", false, append(base, "@"+file)...)
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	if got != "txid "+tx.TxHash().String()+"\n"+url+"\n" {
		t.Fatalf("human output %q", got)
	}
	if srv.posts.Load() != 1 {
		t.Fatalf("%d posts, want 1", srv.posts.Load())
	}

	// Rejection: the server's reason is surfaced.
	srv.reject = "sendrawtransaction RPC error: {\"code\":-26,\"message\":\"min relay fee not met\"}"
	_, err = runBroadcast(t, "", false, append(base, txHex(t, tx))...)
	var re *bitcoin.RejectError
	if !errors.As(err, &re) || re.Code != http.StatusBadRequest || !strings.Contains(re.Reason, "min relay fee not met") {
		t.Fatalf("rejection: %v", err)
	}
	srv.reject = ""

	// Wrong network: the server is on testnet4, --network signet; nothing is posted.
	posts := srv.posts.Load()
	signet := []string{"broadcast", "btc", "--network", "signet", "--esplora", srv.URL + "/api", txHex(t, tx)}
	if _, err := runBroadcast(t, "", false, signet...); !errors.Is(err, bitcoin.ErrOtherNetwork) {
		t.Fatalf("wrong network: %v", err)
	}
	if srv.posts.Load() != posts {
		t.Fatal("transaction posted to a server of the wrong network")
	}
}

// closedPortURL returns an http URL of a loopback port nobody listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

func TestBroadcastUnreachable(t *testing.T) {
	tx, _ := fakeSpend(t, false)
	u := closedPortURL(t)
	for name, args := range map[string][]string{
		"esplora": {"broadcast", "btc", "--network", "testnet4", "--esplora", u, txHex(t, tx)},
		"rpc":     {"broadcast", "btc", "--network", "regtest", "--rpc", u, "--check", txHex(t, tx)},
	} {
		_, err := runBroadcast(t, "", true, args...)
		if !errors.Is(err, bitcoin.ErrBackend) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v, want an unreachable-endpoint error", name, err)
		}
	}
	_, err := runBroadcast(t, "", true, "broadcast", "eth", "--beacon", u, `{"message":{"epoch":"1","validator_index":"2"},"signature":"0x`+strings.Repeat("00", 96)+`"}`)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("eth: %v, want an unreachable-endpoint error", err)
	}
}

func TestBroadcastBTCMalformed(t *testing.T) {
	tx, pkt := fakeSpend(t, false)
	raw := txHex(t, tx)
	unfinal, err := psbt.NewFromUnsignedTx(pkt.UnsignedTx.Copy())
	if err != nil {
		t.Fatal(err)
	}
	// Signed but not finalized: the signature sits in a partial-signature field.
	partial, err := psbt.NewFromUnsignedTx(pkt.UnsignedTx.Copy())
	if err != nil {
		t.Fatal(err)
	}
	wit := tx.TxIn[0].Witness
	partial.Inputs[0].WitnessUtxo = pkt.Inputs[0].WitnessUtxo
	partial.Inputs[0].PartialSigs = []*psbt.PartialSig{{PubKey: wit[1], Signature: wit[0]}}
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "  ", errBroadcastInput},
		{"not hex", "zz", errBroadcastInput},
		{"odd hex", raw[:len(raw)-1], errBroadcastInput},
		{"truncated", raw[:len(raw)-2], errBroadcastInput},
		{"trailing bytes", raw + "00", errBroadcastInput},
		{"bad base64 psbt", "cHNidP8B!!", errBroadcastInput},
		{"unsigned psbt", psbtB64(t, unfinal), errNotFinalized},
		{"partially signed psbt", psbtB64(t, partial), errNotFinalized},
	} {
		if _, err := decodeBTCInput([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := decodeBTCInput([]byte(psbtB64(t, partial))); err == nil || !strings.Contains(err.Error(), "not finalized (run a finalizer)") {
		t.Errorf("partially signed psbt: %v", err)
	}
	// The unsigned PSBT error says why; the command fails before any network use.
	_, err = runBroadcast(t, "", true, "broadcast", "btc", "--network", "testnet4", "--esplora", closedPortURL(t), psbtB64(t, unfinal))
	if !errors.Is(err, errNotFinalized) || !strings.Contains(err.Error(), "input 0: no signature") {
		t.Fatalf("unsigned psbt: %v", err)
	}
	// Hex-encoded and binary PSBTs are recognised too.
	var bin bytes.Buffer
	if err := pkt.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"hex": []byte(hex.EncodeToString(bin.Bytes())), "binary": bin.Bytes()} {
		got, err := decodeBTCInput(in)
		if err != nil || got.kind != "psbt" || got.tx.TxHash() != tx.TxHash() || got.prevOuts == nil {
			t.Errorf("%s psbt: %+v %v", name, got, err)
		}
	}
	// Flag errors.
	if _, err := runBroadcast(t, "", true, "broadcast", "btc", raw); err == nil {
		t.Error("missing --network accepted")
	}
	if _, err := runBroadcast(t, "", true, "broadcast", "btc", "--network", "regtest", raw); err == nil || !strings.Contains(err.Error(), "--rpc") {
		t.Errorf("regtest without endpoint: %v", err)
	}
	if _, err := runBroadcast(t, "", true, "broadcast", "btc", "--network", "nonet", raw); !errors.Is(err, bitcoin.ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
}

func TestLocalCheck(t *testing.T) {
	tx, pkt := fakeSpend(t, false)
	in, err := decodeBTCInput([]byte(psbtB64(t, pkt)))
	if err != nil {
		t.Fatal(err)
	}
	if r := localCheck(in); r != "" {
		t.Fatalf("valid spend refused: %s", r)
	}
	mutate := func(f func(*btcInput)) *btcInput {
		c := &btcInput{kind: in.kind, tx: in.tx.Copy(), prevOuts: append([]*wire.TxOut(nil), in.prevOuts...)}
		f(c)
		return c
	}
	for name, bad := range map[string]*btcInput{
		"no outputs":      mutate(func(c *btcInput) { c.tx.TxOut = nil }),
		"no inputs":       mutate(func(c *btcInput) { c.tx.TxIn = nil; c.prevOuts = nil }),
		"negative value":  mutate(func(c *btcInput) { c.tx.TxOut[0].Value = -1 }),
		"too large value": mutate(func(c *btcInput) { c.tx.TxOut[0].Value = btcutil.MaxSatoshi + 1 }),
		"duplicate input": mutate(func(c *btcInput) { c.tx.TxIn = append(c.tx.TxIn, c.tx.TxIn[0]); c.prevOuts = nil }),
		"no witness":      mutate(func(c *btcInput) { c.tx.TxIn[0].Witness = nil }),
		"overspend":       mutate(func(c *btcInput) { c.tx.TxOut[0].Value = 100_001 }),
		"wrong amount":    mutate(func(c *btcInput) { c.prevOuts[0] = wire.NewTxOut(100_001, c.prevOuts[0].PkScript) }),
	} {
		if r := localCheck(bad); r == "" {
			t.Errorf("%s: allowed", name)
		}
	}
	// A raw transaction (no prevouts) passes the structural checks only.
	raw := &btcInput{kind: "raw", tx: tx}
	if r := localCheck(raw); r != "" {
		t.Fatalf("raw tx refused: %s", r)
	}
	if localCheckName(raw) != "local-sanity" || localCheckName(in) != "local" {
		t.Fatal("local check names do not say whether scripts were verified")
	}
	// Through the command: a raw transaction on Esplora gets the sanity check only.
	srv := newEsploraServer(t, bitcoin.Testnet4.Params.GenesisHash)
	got, err := runBroadcast(t, "", true, "broadcast", "btc", "--network", "testnet4", "--esplora", srv.URL+"/api", "--check", txHex(t, tx))
	if err != nil {
		t.Fatal(err)
	}
	var res btcResult
	decodeJSONLine(t, got, &res)
	if !res.Checked || !res.Allowed || res.CheckedBy != "local-sanity" || res.Broadcast {
		t.Fatalf("raw check %+v", res)
	}
}

// beaconServer is a beacon node on loopback: GET genesis answers net's,
// POST pool endpoints validate their body with the ethereum parsers and
// record it; reject, when set, is answered as a 400 ErrorMessage.
type beaconServer struct {
	*httptest.Server
	posts  atomic.Int32
	last   atomic.Value // []byte
	reject string
	keys   map[string]ethereum.Pubkey      // validator index → public key
	creds  map[string]ethereum.Credentials // validator index → withdrawal credentials (default zero)
}

func newBeaconServer(t *testing.T, net ethereum.Network) *beaconServer {
	t.Helper()
	s := &beaconServer{keys: map[string]ethereum.Pubkey{}, creds: map[string]ethereum.Credentials{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var perr error
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/eth/v1/beacon/genesis":
			fmt.Fprintf(w, `{"data":{"genesis_time":"1","genesis_validators_root":"%s","genesis_fork_version":"%s"}}`,
				net.GenesisValidatorsRoot, net.GenesisForkVersion)
			return
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/eth/v1/beacon/states/head/validators/"):
			id := strings.TrimPrefix(r.URL.Path, "/eth/v1/beacon/states/head/validators/")
			pub, ok := s.keys[id]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"code":404,"message":"Validator not found"}`)
				return
			}
			fmt.Fprintf(w, `{"data":{"index":"7","balance":"32000000000","status":"active_ongoing","validator":{"pubkey":"%s",`+
				`"withdrawal_credentials":"%s","effective_balance":"32000000000","slashed":false,"activation_eligibility_epoch":"0",`+
				`"activation_epoch":"0","exit_epoch":"18446744073709551615","withdrawable_epoch":"18446744073709551615"}}}`, pub, s.creds[id])
			return
		case r.Method == http.MethodPost && r.URL.Path == "/eth/v1/beacon/pool/voluntary_exits":
			_, perr = ethereum.ParseSignedVoluntaryExit(body)
		case r.Method == http.MethodPost && r.URL.Path == "/eth/v1/beacon/pool/bls_to_execution_changes":
			_, perr = ethereum.ParseSignedBLSToExecutionChanges(body)
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		s.posts.Add(1)
		if perr != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":400,"message":"malformed body"}`)
			return
		}
		s.last.Store(body)
		if s.reject != "" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, s.reject)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// signedChange returns a BLS-to-execution change for validator index signed
// under net with a fresh test key (the HSM never holds one; this stands in).
func signedChange(t *testing.T, net ethereum.Network, index uint64) ethereum.SignedBLSToExecutionChange {
	t.Helper()
	group.InitBLS()
	var sk bls.SecretKey
	sk.SetByCSPRNG()
	var pub ethereum.Pubkey
	copy(pub[:], sk.GetPublicKey().Serialize())
	var to ethereum.ExecutionAddress
	to[19] = 0x42
	msg := ethereum.BLSToExecutionChange{ValidatorIndex: ethereum.Uint64(index), FromBLSPubkey: pub, ToExecutionAddress: to}
	root := ethereum.ComputeSigningRoot(msg.HashTreeRoot(), net.BLSToExecutionChangeDomain())
	var sig ethereum.Signature
	copy(sig[:], sk.SignByte(root[:]).Serialize())
	return ethereum.SignedBLSToExecutionChange{Message: msg, Signature: sig}
}

// signedExit returns a voluntary exit of validator index at epoch signed
// under net's EIP-7044 domain with a fresh test key, and that key.
func signedExit(t *testing.T, net ethereum.Network, index, epoch uint64) ([]byte, ethereum.Pubkey) {
	t.Helper()
	group.InitBLS()
	var sk bls.SecretKey
	sk.SetByCSPRNG()
	var pub ethereum.Pubkey
	copy(pub[:], sk.GetPublicKey().Serialize())
	msg := ethereum.VoluntaryExit{Epoch: ethereum.Uint64(epoch), ValidatorIndex: ethereum.Uint64(index)}
	root := ethereum.ComputeSigningRoot(msg.HashTreeRoot(), net.VoluntaryExitDomain())
	var sig ethereum.Signature
	copy(sig[:], sk.SignByte(root[:]).Serialize())
	b, err := json.Marshal(ethereum.SignedVoluntaryExit{Message: msg, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return b, pub
}

func TestBroadcastETHVerifiedExit(t *testing.T) {
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	srv := newBeaconServer(t, hoodi)
	exit, pub := signedExit(t, hoodi, 7, 200)
	srv.keys["7"] = pub
	got, err := runBroadcast(t, "", true, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(exit))
	if err != nil {
		t.Fatalf("exit: %v", err)
	}
	var res ethResult
	decodeJSONLine(t, got, &res)
	if res.Submitted != "voluntary_exit" || res.ValidatorIndex == nil || *res.ValidatorIndex != 7 || res.Network != "hoodi" {
		t.Fatalf("result %+v", res)
	}
	if sent, _ := srv.last.Load().([]byte); !bytes.Equal(sent, exit) {
		t.Fatalf("node received %s, want %s", sent, exit)
	}
	// Another validator's key, and an unknown validator: refused before sending.
	posts := srv.posts.Load()
	_, other := signedExit(t, hoodi, 7, 200)
	srv.keys["7"] = other
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(exit)); !errors.Is(err, ethereum.ErrBadSignature) {
		t.Fatalf("exit under another key: %v", err)
	}
	delete(srv.keys, "7")
	var ae *beacon.APIError
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(exit)); !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Fatalf("unknown validator: %v", err)
	}
	if srv.posts.Load() != posts {
		t.Fatal("posted an exit that does not verify")
	}
}

func TestBroadcastETH(t *testing.T) {
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	srv := newBeaconServer(t, hoodi)
	exit := fmt.Sprintf(`{"message":{"epoch":"100","validator_index":"7"},"signature":"0x%s"}`, strings.Repeat("ab", 96))

	got, err := runBroadcast(t, exit, true, "broadcast", "eth", "--beacon", srv.URL, "-")
	if err != nil {
		t.Fatalf("exit: %v", err)
	}
	var res ethResult
	decodeJSONLine(t, got, &res)
	if res.Submitted != "voluntary_exit" || res.ValidatorIndex == nil || *res.ValidatorIndex != 7 || res.ValidatorIndices != nil {
		t.Fatalf("exit result %+v", res)
	}
	sent, _ := srv.last.Load().([]byte)
	if ex, err := ethereum.ParseSignedVoluntaryExit(sent); err != nil || ex.Message.Epoch != 100 || ex.Message.ValidatorIndex != 7 {
		t.Fatalf("node received %s (%v)", sent, err)
	}

	changes := []ethereum.SignedBLSToExecutionChange{signedChange(t, hoodi, 3), signedChange(t, hoodi, 9)}
	body, err := json.Marshal(changes)
	if err != nil {
		t.Fatal(err)
	}
	got, err = runBroadcast(t, "", true, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(body))
	if err != nil {
		t.Fatalf("changes: %v", err)
	}
	res = ethResult{}
	decodeJSONLine(t, got, &res)
	if res.Submitted != "bls_to_execution_changes" || len(res.ValidatorIndices) != 2 || res.ValidatorIndices[0] != 3 || res.ValidatorIndices[1] != 9 || res.Network != "hoodi" {
		t.Fatalf("changes result %+v", res)
	}
	if sent, _ := srv.last.Load().([]byte); !bytes.Equal(sent, body) {
		t.Fatalf("node received %s, want %s", sent, body)
	}

	// One change as an object is a list of one.
	one, _ := json.Marshal(changes[0])
	if got, err = runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, string(one)); err != nil || !strings.Contains(got, "[3]") {
		t.Fatalf("single change: %q %v", got, err)
	}

	// Signed for another network: refused before sending.
	posts := srv.posts.Load()
	sepolia, _ := ethereum.NetworkByName("sepolia")
	foreign, _ := json.Marshal([]ethereum.SignedBLSToExecutionChange{signedChange(t, sepolia, 3)})
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(foreign)); !errors.Is(err, ethereum.ErrBadSignature) {
		t.Fatalf("change signed for sepolia: %v", err)
	}
	// The node is on hoodi, not sepolia.
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "sepolia", string(foreign)); !errors.Is(err, ethereum.ErrInvalidNetwork) {
		t.Fatalf("wrong node network: %v", err)
	}
	if srv.posts.Load() != posts {
		t.Fatal("posted despite a network mismatch")
	}

	// The node's 400 reason is surfaced, with the failing index.
	srv.reject = `{"code":400,"message":"some changes failed","failures":[{"index":1,"message":"validator 9 has 0x01 credentials"}]}`
	_, err = runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, string(body))
	var ae *beacon.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(err.Error(), "[1] validator 9 has 0x01 credentials") {
		t.Fatalf("node rejection: %v", err)
	}
	srv.reject = `{"code":400,"message":"Invalid voluntary exit: validator not active long enough"}`
	if _, err = runBroadcast(t, exit, false, "broadcast", "eth", "--beacon", srv.URL, "-"); err == nil || !strings.Contains(err.Error(), "not active long enough") {
		t.Fatalf("exit rejection: %v", err)
	}

	// Malformed input and flags.
	for _, in := range []string{"", "null", "[]", `{"message":{}}`, `{"message":{"epoch":"1","validator_index":"2"},"signature":"0x00"}`, "[{}]", "0xdeadbeef"} {
		if _, err := decodeETHInput([]byte(in)); !errors.Is(err, errBroadcastInput) {
			t.Errorf("%q: %v", in, err)
		}
	}
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", exit); err == nil || !strings.Contains(err.Error(), "--beacon") {
		t.Errorf("missing --beacon: %v", err)
	}
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "nonet", exit); !errors.Is(err, ethereum.ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
}

// FuzzDecodeBroadcastInput feeds arbitrary bytes to both input decoders:
// neither may panic, and a decoded raw transaction re-serializes to exactly
// the input (so nothing is silently dropped or altered).
func FuzzDecodeBroadcastInput(f *testing.F) {
	f.Add([]byte("0100000000010000000000"))
	f.Add([]byte("cHNidP8BAAoCAAAAAAAAAAAAAA=="))
	f.Add([]byte("psbt\xff\x01\x00"))
	f.Add([]byte(`{"message":{"epoch":"1","validator_index":"2"},"signature":"0x` + strings.Repeat("00", 96) + `"}`))
	f.Add([]byte(`[{"message":{"epoch":"1","validator_index":"2"},"signature":"0x` + strings.Repeat("00", 96) + `"}]`))
	f.Add([]byte(`[{"message":{"validator_index":"1","from_bls_pubkey":"0x00","to_execution_address":"0x00"},"signature":"0x00"}]`))
	f.Add([]byte(`{"message":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("a1", 48) + `","to_execution_address":"0x` + strings.Repeat("42", 20) +
		`"},"signature":"0x` + strings.Repeat("ab", 96) + `","metadata":{"network_name":"hoodi","genesis_validators_root":"0x` + strings.Repeat("21", 32) + `","deposit_cli_version":"1.2.0"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if in, err := decodeBTCInput(data); err == nil {
			if in.kind == "raw" {
				raw, herr := hex.DecodeString(strings.TrimSpace(string(data)))
				var b bytes.Buffer
				if herr != nil || in.tx.Serialize(&b) != nil || !bytes.Equal(b.Bytes(), raw) {
					t.Fatalf("raw transaction does not round-trip")
				}
			}
			_ = localCheck(in)
		}
		if in, err := decodeETHInput(data); err == nil {
			kinds := 0
			for _, k := range []bool{in.exit != nil, len(in.exits) > 0, len(in.changes) > 0} {
				if k {
					kinds++
				}
			}
			if kinds != 1 || in.changes == nil && in.meta != nil {
				t.Fatalf("decoded to %d kinds, or an exit with change-file metadata", kinds)
			}
		}
	})
}

func TestCheckRPCURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:18443", "http://[::1]:8332", "http://localhost:8332", "https://node.example:8332"} {
		if err := checkRPCURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://node.example:8332", "http://10.0.0.5:8332"} {
		if err := checkRPCURL(u); err == nil {
			t.Errorf("%s: cleartext credentials to a remote host accepted", u)
		}
	}
	_, err := runBroadcast(t, "", true, "broadcast", "btc", "--network", "testnet4", "--rpc", "http://10.0.0.5:8332", "00")
	if err == nil || !strings.Contains(err.Error(), "cleartext") {
		t.Fatalf("command with a cleartext remote rpc: %v", err)
	}
}

// customNetworkFile writes a custom consensus network file "devnet-<id>"
// (fork versions and genesis validators root derived from id) and returns
// its path and the network it loads as.
func customNetworkFile(t *testing.T, id byte) (string, ethereum.Network) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "net.yaml")
	cfg := fmt.Sprintf("CONFIG_NAME: devnet-%d\nGENESIS_FORK_VERSION: 0x100009%02x\nCAPELLA_FORK_VERSION: 0x400009%02x\n"+
		"GENESIS_VALIDATORS_ROOT: 0x%s\nDEPOSIT_CONTRACT_ADDRESS: 0x%s\nDEPOSIT_CHAIN_ID: %d\n",
		id, id, id, strings.Repeat(fmt.Sprintf("%02x", 0x50+id), 32), strings.Repeat("42", 20), id)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	net, err := ethereum.LoadNetworkConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, net
}

// TestBroadcastETHCustomNetwork: --network-config checks the node and the
// exit against a custom network file; the same exit is refused against a
// node of another network, and the two network flags are exclusive.
func TestBroadcastETHCustomNetwork(t *testing.T) {
	path, custom := customNetworkFile(t, 9)
	srv := newBeaconServer(t, custom)
	exit, pub := signedExit(t, custom, 3, 10)
	srv.keys["3"] = pub
	got, err := runBroadcast(t, "", true, "broadcast", "eth", "--beacon", srv.URL, "--network-config", path, string(exit))
	if err != nil {
		t.Fatalf("exit on the custom network: %v", err)
	}
	var res ethResult
	decodeJSONLine(t, got, &res)
	if res.Submitted != "voluntary_exit" || res.Network != "devnet-9" {
		t.Fatalf("result %+v", res)
	}

	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	other := newBeaconServer(t, hoodi)
	other.keys["3"] = pub
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", other.URL, "--network-config", path, string(exit)); err == nil {
		t.Fatal("sent to a node of another network")
	}
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", "--network-config", path, string(exit)); err == nil {
		t.Fatal("--network and --network-config together were accepted")
	}
	if n := other.posts.Load(); n != 0 {
		t.Fatalf("%d posts to the wrong network's node", n)
	}
}

// depositCLIFile writes changes as the deposit CLI's
// bls_to_execution_change-*.json: the beacon-API entries, each with a
// metadata object naming network name and genesis validators root.
func depositCLIFile(t *testing.T, name string, root ethereum.Root, changes ...ethereum.SignedBLSToExecutionChange) string {
	t.Helper()
	var entries []string
	for _, ch := range changes {
		b, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, strings.TrimSuffix(string(b), "}")+
			fmt.Sprintf(`,"metadata":{"network_name":%q,"genesis_validators_root":"%s","deposit_cli_version":"1.2.0"}}`, name, root))
	}
	return "[\n  " + strings.Join(entries, ",\n  ") + "\n]\n"
}

// TestBroadcastETHDepositCLIFile: a deposit CLI change file is submitted as
// the beacon-API body (metadata stripped); its metadata selects or must
// match the network, and the signatures are verified against it.
func TestBroadcastETHDepositCLIFile(t *testing.T) {
	hoodi, _ := ethereum.NetworkByName("hoodi")
	sepolia, _ := ethereum.NetworkByName("sepolia")
	srv := newBeaconServer(t, hoodi)
	changes := []ethereum.SignedBLSToExecutionChange{signedChange(t, hoodi, 5), signedChange(t, hoodi, 6)}
	plain, _ := json.Marshal(changes)
	file := filepath.Join(t.TempDir(), "bls_to_execution_change-1700000000.json")
	if err := os.WriteFile(file, []byte(depositCLIFile(t, "hoodi", hoodi.GenesisValidatorsRoot, changes...)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{nil, {"--network", "hoodi"}} {
		args := append([]string{"broadcast", "eth", "--beacon", srv.URL}, flags...)
		got, err := runBroadcast(t, "", true, append(args, "@"+file)...)
		if err != nil {
			t.Fatalf("flags %v: %v", flags, err)
		}
		var res ethResult
		decodeJSONLine(t, got, &res)
		if res.Network != "hoodi" || len(res.ValidatorIndices) != 2 {
			t.Fatalf("flags %v: result %+v", flags, res)
		}
		if sent, _ := srv.last.Load().([]byte); !bytes.Equal(sent, plain) {
			t.Fatalf("node received %s, want %s", sent, plain)
		}
	}

	posts := srv.posts.Load()
	refused := func(what string, want error, data string, flags ...string) {
		t.Helper()
		args := append(append([]string{"broadcast", "eth", "--beacon", srv.URL}, flags...), data)
		if _, err := runBroadcast(t, "", false, args...); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	refused("file for hoodi, --network sepolia", ethereum.ErrInvalidNetwork, "@"+file, "--network", "sepolia")
	refused("name and root disagree", ethereum.ErrInvalidNetwork, depositCLIFile(t, "mainnet", hoodi.GenesisValidatorsRoot, changes...))
	refused("signed for sepolia, file says hoodi", ethereum.ErrBadSignature, depositCLIFile(t, "hoodi", hoodi.GenesisValidatorsRoot, signedChange(t, sepolia, 5)))
	refused("file for sepolia, node on hoodi", ethereum.ErrInvalidNetwork, depositCLIFile(t, "sepolia", sepolia.GenesisValidatorsRoot, signedChange(t, sepolia, 5)))
	_, custom := customNetworkFile(t, 4)
	refused("unknown network, node on hoodi", ethereum.ErrInvalidNetwork, depositCLIFile(t, custom.Name, custom.GenesisValidatorsRoot, signedChange(t, custom, 5)))
	if n := srv.posts.Load(); n != posts {
		t.Fatalf("%d refused files were posted", n-posts)
	}

	// A network that is not built in: the node's, when its genesis
	// validators root is the file's; its fork version signs the changes.
	devnet := newBeaconServer(t, custom)
	got, err := runBroadcast(t, "", true, "broadcast", "eth", "--beacon", devnet.URL,
		depositCLIFile(t, custom.Name, custom.GenesisValidatorsRoot, signedChange(t, custom, 8)))
	if err != nil {
		t.Fatal(err)
	}
	var res ethResult
	decodeJSONLine(t, got, &res)
	if res.Network != custom.Name || len(res.ValidatorIndices) != 1 || res.ValidatorIndices[0] != 8 {
		t.Fatalf("custom network result %+v", res)
	}
	wrongFork := custom
	wrongFork.GenesisForkVersion[3] ^= 1
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", devnet.URL,
		depositCLIFile(t, custom.Name, custom.GenesisValidatorsRoot, signedChange(t, wrongFork, 8))); !errors.Is(err, ethereum.ErrBadSignature) {
		t.Fatalf("custom network, signed under another fork version: %v", err)
	}
}

// TestBroadcastETHExitList: a JSON array of exits (the file `vhsm eth
// exits` and POST /v1/validators/exits write) is verified in full, then
// submitted one by one; one bad signature sends none.
func TestBroadcastETHExitList(t *testing.T) {
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	srv := newBeaconServer(t, hoodi)
	var list []json.RawMessage
	for _, idx := range []uint64{4, 5, 6} {
		ex, pub := signedExit(t, hoodi, idx, 300)
		srv.keys[strconv.FormatUint(idx, 10)] = pub
		list = append(list, ex)
	}
	file, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	in, err := decodeETHInput(file)
	if err != nil || len(in.exits) != 3 || in.exit != nil || in.changes != nil {
		t.Fatalf("decode: %+v %v", in, err)
	}
	posts := srv.posts.Load()
	got, err := runBroadcast(t, "", true, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(file))
	if err != nil {
		t.Fatalf("exits: %v", err)
	}
	var res ethResult
	decodeJSONLine(t, got, &res)
	if res.Submitted != "voluntary_exits" || fmt.Sprint(res.ValidatorIndices) != "[4 5 6]" || srv.posts.Load() != posts+3 {
		t.Fatalf("result %+v, %d posts", res, srv.posts.Load()-posts)
	}
	if sent, _ := srv.last.Load().([]byte); !bytes.Equal(sent, list[2]) {
		t.Fatalf("last post %s, want %s", sent, list[2])
	}
	// Substitute: validators 4 and 5 swap signatures; truncate: a cut file.
	var swapped []ethereum.SignedVoluntaryExit
	if err := json.Unmarshal(file, &swapped); err != nil {
		t.Fatal(err)
	}
	swapped[0].Signature, swapped[1].Signature = swapped[1].Signature, swapped[0].Signature
	sw, _ := json.Marshal(swapped)
	posts = srv.posts.Load()
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(sw)); !errors.Is(err, ethereum.ErrBadSignature) {
		t.Fatalf("swapped signatures: %v", err)
	}
	if _, err := decodeETHInput(file[:len(file)-2]); !errors.Is(err, errBroadcastInput) {
		t.Fatalf("truncated file: %v", err)
	}
	if srv.posts.Load() != posts {
		t.Fatal("posted a substituted exit")
	}
	// Validator 5's key is another: nothing is sent.
	_, other := signedExit(t, hoodi, 5, 300)
	srv.keys["5"] = other
	posts = srv.posts.Load()
	if _, err := runBroadcast(t, "", false, "broadcast", "eth", "--beacon", srv.URL, "--network", "hoodi", string(file)); !errors.Is(err, ethereum.ErrBadSignature) || !strings.Contains(err.Error(), "validator 5") {
		t.Fatalf("bad exit in the list: %v", err)
	}
	if srv.posts.Load() != posts {
		t.Fatal("posted exits from a list with a bad signature")
	}
	for _, bad := range []string{`[{"message":{"epoch":"1"},"signature":"0x00"}]`, `[{"message":{"epoch":"1","validator_index":"2"}}]`} {
		if _, err := decodeETHInput([]byte(bad)); !errors.Is(err, errBroadcastInput) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
