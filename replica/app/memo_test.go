package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// TestRequestMemo: a request that verified is remembered and answered
// again without a new check only while its client has the key it verified
// with; failures, another cluster or another signature are never answered
// from the memo; the caller's copy is its own; the memo is bounded.
func TestRequestMemo(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	clients := map[string]*ClientInfo{"alice": {ID: "alice", PublicKey: pub}}
	lookups := 0
	lookup := func(id string) (*ClientInfo, error) { lookups++; return clients[id], nil }
	var reqs memo
	sr := signed(t, priv, "alice", wire.OpKeyList, 1<<40, struct{}{})
	want, _, err := verifyRequest(sr, testCluster, lookup, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // miss, then hit
		got, c, err := verifyRequest(sr, testCluster, lookup, nil, &reqs)
		if err != nil || c.ID != "alice" || !equalRequests(got, want) {
			t.Fatalf("pass %d: %v", i, err)
		}
		got.Op = "changed"
		got.Body[0] = 'X'
	}
	if reqs.len() != 1 {
		t.Fatalf("%d requests remembered, want 1", reqs.len())
	}
	if got, _, _ := verifyRequest(sr, testCluster, lookup, nil, &reqs); got.Op != wire.OpKeyList {
		t.Fatal("a caller changed the remembered request")
	}
	// Failures: not answered from the memo, not remembered.
	bad := &wire.SignedRequest{Request: sr.Request, Signature: bytes.Clone(sr.Signature)}
	bad.Signature[3] ^= 1
	other := signed(t, priv2, "alice", wire.OpKeyList, 1<<40, struct{}{}) // signed with a key alice does not have
	for range 2 {
		if _, _, err := verifyRequest(bad, testCluster, lookup, nil, &reqs); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("altered signature: %v", err)
		}
		if _, _, err := verifyRequest(other, testCluster, lookup, nil, &reqs); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("foreign key: %v", err)
		}
		if _, _, err := verifyRequest(sr, "another", lookup, nil, &reqs); !errors.Is(err, ErrWrongCluster) {
			t.Fatalf("other cluster: %v", err)
		}
	}
	if reqs.len() != 1 {
		t.Fatalf("failures remembered: %d entries", reqs.len())
	}
	// The client's key changes: the remembered success no longer holds.
	clients["alice"] = &ClientInfo{ID: "alice", PublicKey: pub2}
	if _, _, err := verifyRequest(sr, testCluster, lookup, nil, &reqs); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("request of a replaced key: %v", err)
	}
	delete(clients, "alice")
	if _, _, err := verifyRequest(sr, testCluster, lookup, nil, &reqs); !errors.Is(err, ErrUnknownClient) {
		t.Fatalf("request of a removed client: %v", err)
	}
	clients["alice"] = &ClientInfo{ID: "alice", PublicKey: pub}
	lookups = 0
	if _, _, err := verifyRequest(sr, testCluster, lookup, nil, &reqs); err != nil || lookups != 1 {
		t.Fatalf("hit after the key came back: %v, %d lookups", err, lookups)
	}
	// Bounded.
	for i := range maxMemoEntries + 5 {
		reqs.put(digest{byte(i), byte(i >> 8), 1}, i)
	}
	if reqs.len() != maxMemoEntries {
		t.Fatalf("memo grew to %d", reqs.len())
	}
}

func equalRequests(a, b *wire.Request) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// testAttestation is a remote-signing ATTESTATION request (real parser).
func testAttestation(source, target int) []byte {
	return []byte(fmt.Sprintf(`{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"0x%s"},"attestation":{"slot":"%d","index":"0","beacon_block_root":"0x%s","source":{"epoch":"%d","root":"0x%s"},"target":{"epoch":"%d","root":"0x%s"}}}`,
		strings.Repeat("01", 32), 32*target, strings.Repeat("02", 32), source, strings.Repeat("03", 32), target, strings.Repeat("04", 32)))
}

// TestEth2Memo: the remembered parse is the parse, a caller's copy is its
// own, and a request that does not parse is not remembered.
func TestEth2Memo(t *testing.T) {
	var c memo
	req := testAttestation(3, 4)
	want, err := decodeEth2(req)
	if err != nil || want.Slashable == nil {
		t.Fatalf("parse: %v", err)
	}
	for i := range 2 {
		got, err := decodeEth2Memo(&c, req)
		if err != nil || got.Root != want.Root || *got.Slashable != *want.Slashable {
			t.Fatalf("pass %d: %v", i, err)
		}
		got.Slashable.TargetEpoch = 99
		got.Root[0] ^= 1
	}
	for range 2 {
		if _, err := decodeEth2Memo(&c, req[:len(req)-1]); !errors.Is(err, ErrEth2Request) {
			t.Fatalf("truncated request: %v", err)
		}
	}
	if c.len() != 1 {
		t.Fatalf("%d parses remembered, want 1", c.len())
	}
}

// TestMemoDeterministic: two replicas of one genesis finalize the same
// block of eth2.sign requests (an attestation, a double vote, a surround
// vote, a bad signature, an unparsable request) with identical results,
// one after prechecking every transaction twice (memos warm), the other
// with empty memos.
func TestMemoDeterministic(t *testing.T) {
	tn := newTestNet(t, 4, smallPools())
	var apps [2]*App
	var chains [2]*chain
	for i := range apps {
		a, err := New(t.TempDir(), tn.G, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		apps[i], chains[i] = a, startChain(t, a)
		chains[i].block()
		putValidatorKey(t, a, "val", "admin", append([]byte{0xb1}, make([]byte, 47)...), wire.UsageEth2Validator)
	}
	exp := chains[0].now.Unix() + 60
	sign := func(req []byte) *wire.SignedRequest {
		return signed(t, tn.AdminKey, "admin", wire.OpEth2Sign, exp, wire.Eth2SignBody{KeyID: "val", Request: req})
	}
	forged := sign(testAttestation(1, 2))
	forged.Signature[0] ^= 1
	txs := [][]byte{
		txOf(t, sign(testAttestation(3, 4))),
		txOf(t, sign(testAttestation(2, 4))), // double vote
		txOf(t, sign(testAttestation(2, 5))), // surrounds 3→4
		txOf(t, forged),
		txOf(t, sign([]byte(`{"type":"ATTESTATION"}`))),
		txOf(t, sign(testAttestation(4, 5))),
	}
	for range 2 {
		for _, tx := range txs {
			apps[0].Precheck(tx)
		}
	}
	if apps[0].reqs.len() == 0 || apps[0].eth2s.len() == 0 || apps[0].txs.len() == 0 || apps[1].reqs.len() != 0 || apps[1].eth2s.len() != 0 || apps[1].txs.len() != 0 {
		t.Fatalf("memos: warm %d/%d, cold %d/%d", apps[0].reqs.len(), apps[0].eth2s.len(), apps[1].reqs.len(), apps[1].eth2s.len())
	}
	r0, r1 := chains[0].block(txs...), chains[1].block(txs...)
	var codes []uint32
	for i := range txs {
		if r0[i].Code != r1[i].Code || r0[i].Log != r1[i].Log || !bytes.Equal(r0[i].Data, r1[i].Data) {
			t.Fatalf("tx %d: warm %d %q, cold %d %q", i, r0[i].Code, r0[i].Log, r1[i].Code, r1[i].Log)
		}
		codes = append(codes, r0[i].Code)
	}
	if codes[0] != 0 || codes[1] != codeOf(ErrSlashable) || codes[2] != codeOf(ErrSlashable) || codes[3] != codeOf(ErrBadSignature) || codes[4] != codeOf(ErrEth2Request) || codes[5] != 0 {
		t.Fatalf("codes %v", codes)
	}
	if slashState(t, apps[0]) != slashState(t, apps[1]) {
		t.Fatal("slashing states differ")
	}
}

// TestTxMemo: a decoded client transaction is remembered and handed out as
// a copy; malformed transactions and replica transactions are not
// remembered, and are refused every time.
func TestTxMemo(t *testing.T) {
	tn, a, _ := newStartedChain(t)
	tx := txOf(t, signed(t, tn.AdminKey, "admin", wire.OpKeyList, 1<<40, struct{}{}))
	want, err := DecodeTx(tx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := a.decodeTx(tx)
		if err != nil || !bytes.Equal(got.Client.Request, want.Client.Request) || !bytes.Equal(got.Client.Signature, want.Client.Signature) {
			t.Fatalf("pass %d: %v", i, err)
		}
		got.Client.Request[0] ^= 1
		got.Client.Signature[0] ^= 1
	}
	if a.txs.len() != 1 {
		t.Fatalf("%d transactions remembered, want 1", a.txs.len())
	}
	rtx, err := SignReplicaTx(testCluster, 1, tn.SignKeys[0], DKGPayload{Session: "s", Message: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{tx[:len(tx)-1], []byte(`{"client":null}`), rtx} {
		for range 2 {
			a.decodeTx(b)
		}
		if _, err := a.decodeTx(tx[:len(tx)-1]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated transaction: %v", err)
		}
	}
	if a.txs.len() != 1 {
		t.Fatalf("%d transactions remembered after malformed and replica ones", a.txs.len())
	}
}
