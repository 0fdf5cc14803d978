package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/app"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// signedAt builds a signed request (JSON of a wire.SignedRequest) with the
// given expiry; a nil key leaves it unsigned.
func signedAt(t testing.TB, key ed25519.PrivateKey, client, op string, body any, expires int64) []byte {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	bb, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req := encodeRequest(t, wire.Request{ID: hex.EncodeToString(id), Client: client, Op: op, Expires: expires, Body: bb})
	sr := wire.SignedRequest{Request: req}
	if key != nil {
		sr.Signature = ed25519.Sign(key, append([]byte(wire.RequestContext), req...))
	}
	out, _ := json.Marshal(sr)
	return out
}

// txOfSigned wraps a signed request in the transaction envelope.
func txOfSigned(t *testing.T, sr []byte) []byte {
	t.Helper()
	var s wire.SignedRequest
	if err := json.Unmarshal(sr, &s); err != nil {
		t.Fatal(err)
	}
	tx, err := json.Marshal(wire.Tx{Client: &s})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// execResults waits until every app has executed tx and returns their
// results.
func (c *cluster) execResults(t testing.TB, tx []byte) []*abcitypes.ExecTxResult {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.resMu.Lock()
		r := c.results[string(tx)]
		c.resMu.Unlock()
		if len(r) == len(c.apps) {
			return r
		}
		select {
		case err := <-c.errs:
			c.errs <- err
			t.Fatalf("block builder stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not executed by every app after 15 s (%d of %d)", len(r), len(c.apps))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// genKey generates a key through every engine, retrying while the pool of
// its scheme is refilling.
func (c *cluster) genKey(t testing.TB, key ed25519.PrivateKey, client, id, scheme string) *wire.KeyInfo {
	t.Helper()
	for try := 0; ; try++ {
		resps, errs := c.all(request(t, key, client, wire.OpKeyGen, wire.KeyGenBody{KeyID: id, Scheme: scheme}))
		if errs[0] == nil || try == 200 || !strings.Contains(resps[0].Error, "pool empty") {
			for i, err := range errs {
				if err != nil {
					t.Fatalf("keys.gen %s at replica %d: %v", id, i+1, err)
				}
			}
			return resps[0].Key
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRejectionsEveryOp drives every request type into each of its
// rejection paths on Apps fed blocks directly (no network, no CometBFT):
// each ordered request is refused by CheckTx, by FinalizeBlock (the
// transaction is put in a block without passing CheckTx) at every replica,
// and by every engine; each read or DPRF request is refused by every
// engine. It also checks ownership and grants on the success paths, that an
// admin may disable any key, and that encryption and decryption are served
// while no block is being made.
func TestRejectionsEveryOp(t *testing.T) {
	c := newCluster(t, 4)
	c.waitReady(40 * time.Second)
	exp := func() int64 { return time.Now().Unix() + 60 }

	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	bobPub, bob, _ := ed25519.GenerateKey(rand.Reader)
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	c.mustAll(t, request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "bob", PublicKey: bobPub}))
	bk := c.genKey(t, alice, "alice", "b", wire.SchemeBLS)
	c.genKey(t, alice, "alice", "s", wire.SchemeSchnorr)
	yk := c.genKey(t, alice, "alice", "y", wire.SchemeSymmetric)
	c.genKey(t, alice, "alice", "d", wire.SchemeBLS)
	c.genKey(t, alice, "alice", "y2", wire.SchemeSymmetric)
	if bk.Owner != "alice" || yk.Owner != "alice" {
		t.Fatalf("owner of a generated key: %q %q", bk.Owner, yk.Owner)
	}

	encIn := func(keyID, encryptor string) []byte {
		p, err := dise.PrepareEncrypt(keyID, wire.EncryptorID(encryptor), []byte("plaintext"), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p.Input()
	}

	// One request of every type, valid for alice.
	bodies := []struct {
		op   string
		body any
	}{
		{wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "carol", PublicKey: alicePub}},
		{wire.OpKeyGen, wire.KeyGenBody{KeyID: "new", Scheme: wire.SchemeBLS}},
		{wire.OpKeyDisable, wire.KeyRefBody{KeyID: "b"}},
		{wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b", ClientID: "bob"}},
		{wire.OpSign, wire.SignBody{KeyID: "b", Message: []byte("m")}},
		{wire.OpKeyList, struct{}{}},
		{wire.OpKeyPub, wire.KeyRefBody{KeyID: "b"}},
		{wire.OpEncrypt, wire.EvalBody{KeyID: "y", Input: encIn("y", "alice")}},
		{wire.OpDecrypt, wire.EvalBody{KeyID: "y", Input: encIn("y", "alice")}},
	}
	ordered := map[string]bool{wire.OpRegisterClient: true, wire.OpKeyGen: true, wire.OpKeyDisable: true, wire.OpKeyGrant: true}

	type rejection struct {
		name string
		mk   func() []byte // a fresh request each call
		want error
	}
	// check runs one rejection through CheckTx and FinalizeBlock (ordered
	// requests) and through every engine.
	check := func(t *testing.T, r rejection, isOrdered bool) {
		if isOrdered {
			tx := txOfSigned(t, r.mk())
			ct, err := c.apps[0].CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx})
			if err != nil || ct.Code == 0 || !strings.Contains(ct.Log, r.want.Error()) {
				t.Errorf("CheckTx: code %d log %q, want %q", ct.Code, ct.Log, r.want)
			}
			if err := c.bus.BroadcastTx(context.Background(), tx); err != nil {
				t.Fatal(err)
			}
			for i, res := range c.execResults(t, tx) {
				if res.Code == 0 || !strings.Contains(res.Log, r.want.Error()) {
					t.Errorf("FinalizeBlock at replica %d: code %d log %q, want %q", i+1, res.Code, res.Log, r.want)
				}
			}
		}
		resps, errs := c.all(r.mk())
		for i := range errs {
			if !errors.Is(errs[i], ErrRejected) || resps[i] == nil || !strings.Contains(resps[i].Error, r.want.Error()) || resps[i].Partial != nil || resps[i].Key != nil {
				t.Errorf("engine %d: %v (%+v), want %q", i+1, errs[i], resps[i], r.want)
			}
		}
	}

	t.Run("authentication, every op", func(t *testing.T) {
		for _, b := range bodies {
			for _, r := range []rejection{
				{"unsigned", func() []byte { return signedAt(t, nil, "alice", b.op, b.body, exp()) }, app.ErrBadSignature},
				{"bad signature", func() []byte {
					sr := signedAt(t, alice, "alice", b.op, b.body, exp())
					var s wire.SignedRequest
					json.Unmarshal(sr, &s)
					s.Signature[7] ^= 0x20
					out, _ := json.Marshal(s)
					return out
				}, app.ErrBadSignature},
				{"signed by another key", func() []byte { return signedAt(t, mallory, "alice", b.op, b.body, exp()) }, app.ErrBadSignature},
				{"unknown client", func() []byte { return signedAt(t, mallory, "mallory", b.op, b.body, exp()) }, app.ErrUnknownClient},
				{"expired", func() []byte { return signedAt(t, alice, "alice", b.op, b.body, time.Now().Unix()-10) }, app.ErrExpired},
				{"expiry too far", func() []byte {
					return signedAt(t, alice, "alice", b.op, b.body, time.Now().Unix()+wire.MaxValidity+60)
				}, app.ErrTooFar},
			} {
				t.Run(b.op+"/"+r.name, func(t *testing.T) {
					t.Parallel()
					check(t, r, ordered[b.op])
				})
			}
		}
	})

	sign := func(key ed25519.PrivateKey, client, id string, msg []byte, tr *wire.TaprootOption) func() []byte {
		return func() []byte {
			return request(t, key, client, wire.OpSign, wire.SignBody{KeyID: id, Message: msg, Taproot: tr})
		}
	}
	eval := func(key ed25519.PrivateKey, client, op, id string, in []byte) func() []byte {
		return func() []byte { return request(t, key, client, op, wire.EvalBody{KeyID: id, Input: in}) }
	}
	t.Run("ordered", func(t *testing.T) {
		for _, r := range []rejection{
			{"register by a non-admin", func() []byte {
				return request(t, bob, "bob", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "eve", PublicKey: bobPub})
			}, app.ErrUnauthorized},
			{"register with a short key", func() []byte {
				return request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "eve", PublicKey: bobPub[:31]})
			}, app.ErrBadBody},
			{"register a bad id", func() []byte {
				return request(t, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "e/ve", PublicKey: bobPub})
			}, app.ErrBadBody},
			{"gen an existing id", func() []byte {
				return request(t, bob, "bob", wire.OpKeyGen, wire.KeyGenBody{KeyID: "b", Scheme: wire.SchemeBLS})
			}, app.ErrKeyExists},
			{"gen a bad scheme", func() []byte {
				return request(t, bob, "bob", wire.OpKeyGen, wire.KeyGenBody{KeyID: "x", Scheme: "rsa"})
			}, app.ErrBadScheme},
			{"gen a bad id", func() []byte {
				return request(t, bob, "bob", wire.OpKeyGen, wire.KeyGenBody{KeyID: "", Scheme: wire.SchemeBLS})
			}, app.ErrBadBody},
			{"disable by a non-owner", func() []byte { return request(t, bob, "bob", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "b"}) }, app.ErrUnauthorized},
			{"disable an unknown key", func() []byte { return request(t, alice, "alice", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "nope"}) }, app.ErrUnknownKey},
			{"grant by a non-owner", func() []byte {
				return request(t, bob, "bob", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b", ClientID: "bob"})
			}, app.ErrUnauthorized},
			{"grant by an admin who is not the owner", func() []byte {
				return request(t, c.admin, "admin", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b", ClientID: "bob"})
			}, app.ErrUnauthorized},
			{"grant to an unknown client", func() []byte {
				return request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "b", ClientID: "nobody"})
			}, app.ErrUnknownClient},
			{"grant an unknown key", func() []byte {
				return request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "nope", ClientID: "bob"})
			}, app.ErrUnknownKey},
			{"read op in the log", func() []byte { return request(t, alice, "alice", wire.OpKeyPub, wire.KeyRefBody{KeyID: "b"}) }, app.ErrBadOp},
			{"sign in the log", sign(alice, "alice", "b", []byte("m"), nil), app.ErrBadOp},
		} {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				if r.want == app.ErrBadOp { // an engine answers reads; only the app sees this
					tx := txOfSigned(t, r.mk())
					if ct, _ := c.apps[0].CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: tx}); !strings.Contains(ct.Log, r.want.Error()) {
						t.Errorf("CheckTx: %q", ct.Log)
					}
					c.bus.BroadcastTx(context.Background(), tx)
					for i, res := range c.execResults(t, tx) {
						if !strings.Contains(res.Log, r.want.Error()) {
							t.Errorf("FinalizeBlock at replica %d: %q", i+1, res.Log)
						}
					}
					return
				}
				check(t, r, true)
			})
		}
	})

	t.Run("sign", func(t *testing.T) {
		for _, r := range []rejection{
			{"sign by a client without a grant", sign(bob, "bob", "b", []byte("m"), nil), app.ErrUnauthorized},
			{"sign by an admin who is not the owner", sign(c.admin, "admin", "b", []byte("m"), nil), app.ErrUnauthorized},
			{"sign with an unknown key", sign(alice, "alice", "nope", []byte("m"), nil), app.ErrUnknownKey},
			{"sign with a symmetric key", sign(alice, "alice", "y", []byte("m"), nil), app.ErrBadScheme},
			{"taproot on a bls key", sign(alice, "alice", "b", []byte("m"), &wire.TaprootOption{}), app.ErrBadBody},
			{"bad merkle root", sign(alice, "alice", "s", []byte("m"), &wire.TaprootOption{MerkleRoot: []byte{1, 2, 3}}), app.ErrBadBody},
			{"schnorr without signers", sign(alice, "alice", "s", []byte("m"), nil), app.ErrBadBody},
			{"message too large", sign(alice, "alice", "b", make([]byte, wire.MaxMessageBytes+1), nil), app.ErrBadBody},
			{"nonces: zero", func() []byte { return request(t, alice, "alice", wire.OpNonces, wire.NoncesBody{Count: 0}) }, app.ErrBadBody},
			{"nonces: too many", func() []byte {
				return request(t, alice, "alice", wire.OpNonces, wire.NoncesBody{Count: wire.MaxNonces + 1})
			}, app.ErrBadBody},
		} {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				check(t, r, false)
			})
		}
	})

	t.Run("reads and DPRF", func(t *testing.T) {
		ct := func() []byte { // a ciphertext of alice under y
			p, err := dise.PrepareEncrypt("y", wire.EncryptorID("alice"), []byte("x"), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return p.Input()
		}()
		for _, r := range []rejection{
			{"pub by a client without a grant", func() []byte { return request(t, bob, "bob", wire.OpKeyPub, wire.KeyRefBody{KeyID: "b"}) }, app.ErrUnauthorized},
			{"pub of an unknown key", func() []byte { return request(t, alice, "alice", wire.OpKeyPub, wire.KeyRefBody{KeyID: "nope"}) }, app.ErrUnknownKey},
			{"pub with a malformed body", func() []byte { return request(t, alice, "alice", wire.OpKeyPub, []int{1}) }, app.ErrBadBody},
			{"encrypt by a client without a grant", eval(bob, "bob", wire.OpEncrypt, "y", encIn("y", "bob")), app.ErrUnauthorized},
			{"decrypt by a client without a grant", eval(bob, "bob", wire.OpDecrypt, "y", ct), app.ErrUnauthorized},
			{"encrypt with an unknown key", eval(alice, "alice", wire.OpEncrypt, "nope", encIn("nope", "alice")), app.ErrUnknownKey},
			{"encrypt with a bls key", eval(alice, "alice", wire.OpEncrypt, "b", encIn("b", "alice")), app.ErrBadScheme},
			{"decrypt with a schnorr key", eval(alice, "alice", wire.OpDecrypt, "s", encIn("s", "alice")), app.ErrBadScheme},
			{"encrypt as another encryptor", eval(alice, "alice", wire.OpEncrypt, "y", encIn("y", "bob")), app.ErrUnauthorized},
			{"decrypt naming a stranger", eval(alice, "alice", wire.OpDecrypt, "y", encIn("y", "mallory")), app.ErrUnauthorized},
			{"encrypt with a legacy input", eval(alice, "alice", wire.OpEncrypt, "y", dise.Input{Version: dise.InputVersionLegacy, KeyID: "y", Encryptor: wire.EncryptorID("alice")}.Bytes()), app.ErrUnauthorized},
			{"input for another key", eval(alice, "alice", wire.OpDecrypt, "y", encIn("y2", "alice")), app.ErrBadBody},
			{"malformed input", eval(alice, "alice", wire.OpDecrypt, "y", []byte("junk")), app.ErrBadBody},
			{"oversized input", eval(alice, "alice", wire.OpEncrypt, "y", make([]byte, wire.MaxMessageBytes+1)), app.ErrBadBody},
		} {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				check(t, r, false)
			})
		}
	})

	t.Run("grants and admin disable", func(t *testing.T) {
		// A grantee may use the key: sign (schnorr, with a nonce from the
		// pool), read it, and decrypt alice's ciphertexts.
		c.mustAll(t, request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "s", ClientID: "bob"}))
		c.mustAll(t, request(t, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "y", ClientID: "bob"}))
		c.signFROST(t, bob, "bob", "s", []byte("granted"), nil, []int{2, 4})
		// Alice's nonces are hers: bob cannot sign with them.
		resp, err := c.engines[0].Handle(context.Background(), request(t, alice, "alice", wire.OpNonces, wire.NoncesBody{Count: 1}))
		if err != nil {
			t.Fatal(err)
		}
		nc := resp.Commitments[0]
		other, _ := c.engines[1].Handle(context.Background(), request(t, bob, "bob", wire.OpNonces, wire.NoncesBody{Count: 1}))
		oc := other.Commitments[0]
		sr := request(t, bob, "bob", wire.OpSign, wire.SignBody{KeyID: "s", Message: []byte("m"), Signers: []wire.SignerCommitment{
			{Replica: 1, Nonce: nc.Nonce, Hiding: nc.Hiding, Binding: nc.Binding},
			{Replica: 2, Nonce: oc.Nonce, Hiding: oc.Hiding, Binding: oc.Binding}}})
		if r, err := c.engines[0].Handle(context.Background(), sr); err == nil || !strings.Contains(r.Error, "unknown or used nonce") || len(r.Sealed) != 0 {
			t.Fatalf("bob signed with alice's nonce: %+v %v", r, err)
		}
		list := c.mustAll(t, request(t, bob, "bob", wire.OpKeyList, struct{}{}))
		if len(list[0].Keys) != 2 {
			t.Fatalf("bob lists %d keys, want the 2 granted", len(list[0].Keys))
		}
		c.mustAll(t, eval(bob, "bob", wire.OpDecrypt, "y", encIn("y", "alice"))())
		// Encrypting still names bob himself as the encryptor.
		c.mustAll(t, eval(bob, "bob", wire.OpEncrypt, "y", encIn("y", "bob"))())

		// An admin may disable any client's key; a disabled key neither
		// signs nor evaluates the DPRF, for its owner or anyone.
		c.mustAll(t, request(t, c.admin, "admin", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "d"}))
		c.mustAll(t, request(t, c.admin, "admin", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "y2"}))
		if k, _ := c.apps[2].Key("d"); k == nil || !k.Info.Disabled {
			t.Fatalf("key d not disabled: %+v", k)
		}
		check(t, rejection{"sign with a disabled key", sign(alice, "alice", "d", []byte("m"), nil), app.ErrKeyDisabled}, false)
		check(t, rejection{"encrypt with a disabled key", eval(alice, "alice", wire.OpEncrypt, "y2", encIn("y2", "alice")), app.ErrKeyDisabled}, false)
	})

	t.Run("encrypt and decrypt need no block", func(t *testing.T) {
		com, err := vss.DecodeCommitment(group.BLS12381G1(), yk.Commitment)
		if err != nil {
			t.Fatal(err)
		}
		vks := map[int]group.Point{}
		for j := 1; j <= len(c.engines); j++ {
			vks[j] = com.Eval(j)
		}
		// Stop the block builder once the pending blocks are committed.
		c.paused.Store(true)
		defer c.paused.Store(false)
		time.Sleep(50 * time.Millisecond)
		heights := make([]int64, len(c.apps))
		for i, a := range c.apps {
			heights[i], _ = a.Committed()
		}
		plain := []byte("no block needed")
		p, err := dise.PrepareEncrypt("y", wire.EncryptorID("alice"), plain, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		combine := func(op string, x []byte) []byte {
			evals := map[int][]byte{}
			for _, r := range c.mustAll(t, request(t, alice, "alice", op, wire.EvalBody{KeyID: "y", Input: x})) {
				evals[r.Replica] = r.Partial
			}
			w, err := dise.CombineEvaluations(vks, c.g.T, x, evals)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		ciphertext, err := dise.FinishEncrypt(p, combine(wire.OpEncrypt, p.Input()))
		if err != nil {
			t.Fatal(err)
		}
		x, err := dise.ParseCiphertext(ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dise.FinishDecrypt(ciphertext, combine(wire.OpDecrypt, x))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypt: %v", err)
		}
		for i, a := range c.apps {
			if h, _ := a.Committed(); h != heights[i] {
				t.Fatalf("replica %d made a block (%d → %d) while the builder was paused", i+1, heights[i], h)
			}
		}
	})
}

// mustReqID returns the request id inside a signed request.
func mustReqID(t testing.TB, sr []byte) string {
	t.Helper()
	var s wire.SignedRequest
	var r wire.Request
	if err := json.Unmarshal(sr, &s); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(s.Request, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}
