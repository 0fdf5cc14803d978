package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// legacyReplicaTx is a replica transaction as written before the binary
// envelope: a JSON [wire.Tx] whose payload is a JSON [DKGPayload].
func legacyReplicaTx(t testing.TB, cluster string, me int, key ed25519.PrivateKey, kind string, p DKGPayload) []byte {
	t.Helper()
	payload, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rt := &wire.ReplicaTx{Replica: me, Kind: kind, Payload: payload}
	rt.Signature = ed25519.Sign(key, replicaTxMessage(cluster, me, kind, payload))
	b, err := json.Marshal(wire.Tx{Replica: rt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnvelopeRoundTrip: a signed binary replica transaction decodes to the
// fields it was built from, its signature is over replicaTxMessage of the
// binary payload, and re-encoding gives the same bytes.
func TestEnvelopeRoundTrip(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	msg := (&dkg.TimeoutVote{Sender: 3, Phase: dkg.PhaseDealing}).Marshal()
	for _, kind := range []string{"dkg", RepairKind} {
		tx, err := signReplica("c1", 3, key, kind, DKGPayload{Session: "schnorr-7", Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		if tx[0] != replicaTxMagic {
			t.Fatalf("first byte %#x", tx[0])
		}
		w, err := DecodeTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		rt := w.Replica
		if w.Client != nil || rt == nil || rt.Replica != 3 || rt.Kind != kind {
			t.Fatalf("decoded %+v", w)
		}
		p, err := DecodePayload(rt.Payload)
		if err != nil || p.Session != "schnorr-7" || !bytes.Equal(p.Message, msg) {
			t.Fatalf("payload %+v %v", p, err)
		}
		if !ed25519.Verify(pub, replicaTxMessage("c1", 3, kind, rt.Payload), rt.Signature) {
			t.Fatal("signature is not over the logical fields")
		}
		if ed25519.Verify(pub, replicaTxMessage("c2", 3, kind, rt.Payload), rt.Signature) {
			t.Fatal("signature not bound to the cluster")
		}
		kb, _ := kindByte(kind)
		if !bytes.Equal(encodeEnvelope(rt, kb), tx) {
			t.Fatal("re-encoding differs")
		}
	}
	if _, err := signReplica("c1", 3, key, "other", DKGPayload{Session: "s", Message: msg}); err == nil {
		t.Fatal("unknown kind encoded")
	}
	if _, err := signReplica("c1", 3, key, "dkg", DKGPayload{Session: "", Message: msg}); err == nil {
		t.Fatal("empty session encoded")
	}
}

// TestEnvelopeStrict: trailing bytes, truncation, lengths that disagree,
// unknown kinds, empty sessions or messages and a JSON payload inside the
// binary envelope are refused as malformed.
func TestEnvelopeStrict(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	msg := (&dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseDealing}).Marshal()
	good, err := signReplica("c", 1, key, "dkg", DKGPayload{Session: "bls-0", Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	setLen := func(b []byte, n uint32) []byte { binary.BigEndian.PutUint32(b[4:8], n); return b }
	payloadLen := uint32(len(good) - envelopeHeaderLen - ed25519.SignatureSize)
	jsonPayload, _ := json.Marshal(DKGPayload{Session: "bls-0", Message: msg})
	cases := map[string][]byte{
		"trailing byte":        append(bytes.Clone(good), 0),
		"truncated signature":  good[:len(good)-1],
		"header only":          good[:envelopeHeaderLen],
		"magic only":           good[:1],
		"payload length +1":    mut(func(b []byte) []byte { return setLen(b, payloadLen+1) }),
		"payload length -1":    mut(func(b []byte) []byte { return setLen(b, payloadLen-1) }),
		"payload length huge":  mut(func(b []byte) []byte { return setLen(b, 0xffffffff) }),
		"kind 0":               mut(func(b []byte) []byte { b[3] = 0; return b }),
		"kind 3":               mut(func(b []byte) []byte { b[3] = 3; return b }),
		"payload format":       mut(func(b []byte) []byte { b[envelopeHeaderLen] = '{'; return b }),
		"session length 0":     mut(func(b []byte) []byte { b[envelopeHeaderLen+1] = 0; return b }),
		"session past the end": mut(func(b []byte) []byte { b[envelopeHeaderLen+1] = 255; return b }),
		"empty message": func() []byte {
			p := []byte{binaryPayloadFormat, 1, 's'}
			return encodeEnvelope(&wire.ReplicaTx{Replica: 1, Payload: p, Signature: make([]byte, 64)}, 1)
		}(),
		"json payload": encodeEnvelope(&wire.ReplicaTx{Replica: 1, Payload: jsonPayload, Signature: make([]byte, 64)}, 1),
	}
	for name, tx := range cases {
		if _, err := DecodeTx(tx); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeTx(good); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyReplicaTxReplays: replica transactions in the JSON envelope
// written before the binary one are still taken (a restarting replica
// replays its blocks), beside binary ones, into the same transcript; a
// binary transaction with a bad signature is refused.
func TestLegacyReplicaTxReplays(t *testing.T) {
	tn, a, c := newStartedChain(t)
	const name = "bls-0"
	vote := func(j int) DKGPayload {
		return DKGPayload{Session: name, Message: (&dkg.TimeoutVote{Sender: j, Phase: dkg.PhaseDealing}).Marshal()}
	}
	old := legacyReplicaTx(t, testCluster, 1, tn.SignKeys[0], "dkg", vote(1))
	if old[0] != '{' {
		t.Fatal("legacy transaction is not JSON")
	}
	bin, err := SignReplicaTx(testCluster, 2, tn.SignKeys[1], vote(2))
	if err != nil {
		t.Fatal(err)
	}
	c.taken(old, bin)
	tr, err := a.Transcript(name, 0)
	if err != nil || len(tr) != 2 || tr[0].Sender != 1 || tr[1].Sender != 2 {
		t.Fatalf("transcript %+v %v", tr, err)
	}
	if tail, err := a.Transcript(name, 1); err != nil || len(tail) != 1 || tail[0].Sender != 2 {
		t.Fatalf("transcript from 1: %+v %v", tail, err)
	}
	if tail, err := a.Transcript(name, 5); err != nil || len(tail) != 0 {
		t.Fatalf("transcript from 5: %+v %v", tail, err)
	}
	forged, err := SignReplicaTx(testCluster, 3, tn.SignKeys[3], vote(3)) // signed with replica 4's key
	if err != nil {
		t.Fatal(err)
	}
	c.refused(name, forged, ErrBadSignature, "replica 3")
}

// TestReplicaSigMemo: a replica transaction's signature is verified once
// (CheckTx, then FinalizeBlock hit the memo), and a wrong signature is
// never remembered: it is refused every time, also after the right one was
// accepted for the same message.
func TestReplicaSigMemo(t *testing.T) {
	tn, a, c := newStartedChain(t)
	p := DKGPayload{Session: "bls-0", Message: (&dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseDealing}).Marshal()}
	good, err := SignReplicaTx(testCluster, 1, tn.SignKeys[0], p)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)-10] ^= 1
	check := func(tx []byte) uint32 {
		r, _ := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
		return r.Code
	}
	remembered := func() int {
		a.sigs.mu.Lock()
		defer a.sigs.mu.Unlock()
		return len(a.sigs.m)
	}
	for range 2 {
		if code := check(bad); code != codeOf(ErrBadSignature) {
			t.Fatalf("bad signature: code %d", code)
		}
	}
	if n := remembered(); n != 0 {
		t.Fatalf("%d signatures remembered after failures", n)
	}
	if code := check(good); code != 0 {
		t.Fatalf("good signature: code %d", code)
	}
	if n := remembered(); n != 1 {
		t.Fatalf("%d signatures remembered, want 1", n)
	}
	if code := check(bad); code != codeOf(ErrBadSignature) {
		t.Fatalf("bad signature after the good one: code %d", code)
	}
	c.taken(good)
	if n := remembered(); n != 1 {
		t.Fatalf("FinalizeBlock verified again: %d signatures remembered", n)
	}
}

// FuzzReplicaEnvelope: whatever DecodeTx accepts in the binary envelope encodes
// back to the same bytes, and its payload decodes.
func FuzzReplicaEnvelope(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	msg := (&dkg.TimeoutVote{Sender: 1, Phase: dkg.PhaseDealing}).Marshal()
	for _, kind := range []string{"dkg", RepairKind} {
		tx, err := signReplica("c", 1, key, kind, DKGPayload{Session: "nonce-12", Message: msg})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tx)
	}
	f.Add([]byte{replicaTxMagic})
	f.Add(legacyReplicaTx(f, "c", 1, key, "dkg", DKGPayload{Session: "nonce-12", Message: msg}))
	f.Fuzz(func(t *testing.T, tx []byte) {
		w, err := DecodeTx(tx)
		if err != nil || len(tx) == 0 || tx[0] != replicaTxMagic {
			return
		}
		rt := w.Replica
		kb, ok := kindByte(rt.Kind)
		if !ok {
			t.Fatalf("decoded kind %q", rt.Kind)
		}
		if !bytes.Equal(encodeEnvelope(rt, kb), tx) {
			t.Fatal("round trip differs")
		}
		p, err := DecodePayload(rt.Payload)
		if err != nil {
			t.Fatal(err)
		}
		again, err := encodePayload(p)
		if err != nil || !bytes.Equal(again, rt.Payload) {
			t.Fatalf("payload round trip: %v", err)
		}
	})
}
