package engine

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
)

// FuzzHandleReusedIDs sends every request type (eth2.sign, ordered or not,
// eth2.batch and the slashing-protection operations included), with fuzzed bodies, under
// the ids of requests already answered (ordered sign, grant and disable
// requests, an unordered encrypt): every engine refuses each one as a
// reused id, never panics and never returns a partial or a key (issue 13,
// H2).
func FuzzHandleReusedIDs(f *testing.F) {
	if testing.Short() {
		f.Skip("runs a 4-engine cluster")
	}
	c := newCluster(f, 4)
	c.waitReady(60 * time.Second)
	alicePub, alice, _ := ed25519.GenerateKey(rand.Reader)
	c.mustAll(f, request(f, c.admin, "admin", wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "alice", PublicKey: alicePub}))
	c.genKey(f, alice, "alice", "fz-s", wire.SchemeSchnorr)
	c.genKey(f, alice, "alice", "fz-b", wire.SchemeBLS)
	c.genKey(f, alice, "alice", "fz-y", wire.SchemeSymmetric)
	c.genKey(f, alice, "alice", "fz-d", wire.SchemeBLS)
	p, err := dise.PrepareEncrypt("fz-y", wire.EncryptorID("alice"), []byte("m"), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	// The answered requests whose ids are reused, and the replicas that
	// answered each (an unordered request's id is known to the replicas it
	// was sent to; a FROST session goes to its signers only).
	all := []int{1, 2, 3, 4}
	type usedID struct {
		id       string
		replicas []int
	}
	used := []usedID{}
	for _, sr := range [][]byte{
		request(f, alice, "alice", wire.OpSign, wire.SignBody{KeyID: "fz-b", Message: []byte("bls")}),
		request(f, alice, "alice", wire.OpKeyGrant, wire.KeyGrantBody{KeyID: "fz-b", ClientID: "admin"}),
		request(f, alice, "alice", wire.OpKeyDisable, wire.KeyRefBody{KeyID: "fz-d"}),
		request(f, alice, "alice", wire.OpEncrypt, wire.EvalBody{KeyID: "fz-y", Input: p.Input()}),
	} {
		c.mustAll(f, sr)
		used = append(used, usedID{mustReqID(f, sr), all})
	}
	_, sr := c.signFROST(f, alice, "alice", "fz-s", make([]byte, 32), nil, []int{1, 3})
	used = append(used, usedID{mustReqID(f, sr), []int{1, 3}})
	ops := []string{wire.OpSign, wire.OpKeyGen, wire.OpKeyDisable, wire.OpKeyGrant, wire.OpRegisterClient, wire.OpEncrypt, wire.OpDecrypt,
		wire.OpEth2Sign, wire.OpKeyValidator, wire.OpSlashingImport, wire.OpSlashingExport, wire.OpEth2Batch, wire.OpKeyGenBatch}
	keys := []string{"fz-s", "fz-b", "fz-y", "fz-d", "nope"}
	for i := range used {
		for j := range ops {
			f.Add(uint8(i), uint8(j), uint8(j), []byte("message"))
		}
		// eth2.sign of an attestation (ordered) and of a RANDAO reveal.
		f.Add(uint8(i), uint8(7), uint8(1), []byte(`{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"0x`+strings.Repeat("01", 32)+`"},"attestation":{"slot":"1","index":"0","beacon_block_root":"0x`+strings.Repeat("02", 32)+`","source":{"epoch":"0","root":"0x`+strings.Repeat("03", 32)+`"},"target":{"epoch":"1","root":"0x`+strings.Repeat("04", 32)+`"}}}`))
		f.Add(uint8(i), uint8(11), uint8(1), []byte(`{"type":"ATTESTATION","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"0x`+strings.Repeat("01", 32)+`"},"attestation":{"slot":"1","index":"0","beacon_block_root":"0x`+strings.Repeat("02", 32)+`","source":{"epoch":"0","root":"0x`+strings.Repeat("03", 32)+`"},"target":{"epoch":"1","root":"0x`+strings.Repeat("04", 32)+`"}}}`))
		f.Add(uint8(i), uint8(7), uint8(1), []byte(`{"type":"RANDAO_REVEAL","fork_info":{"fork":{"previous_version":"0x00000000","current_version":"0x00000000","epoch":"0"},"genesis_validators_root":"0x`+strings.Repeat("01", 32)+`"},"randao_reveal":{"epoch":"3"}}`))
	}
	f.Fuzz(func(t *testing.T, which, op, key uint8, msg []byte) {
		u := used[int(which)%len(used)]
		id := u.id
		o := ops[int(op)%len(ops)]
		k := keys[int(key)%len(keys)]
		var body any
		switch o {
		case wire.OpSign:
			body = wire.SignBody{KeyID: k, Message: msg}
		case wire.OpKeyGen:
			body = wire.KeyGenBody{KeyID: k, Scheme: string(msg)}
		case wire.OpKeyDisable:
			body = wire.KeyRefBody{KeyID: k}
		case wire.OpKeyGrant:
			body = wire.KeyGrantBody{KeyID: k, ClientID: string(msg)}
		case wire.OpRegisterClient:
			body = wire.RegisterClientBody{ClientID: string(msg), PublicKey: alicePub}
		case wire.OpEth2Sign, wire.OpSlashingImport, wire.OpEth2Batch:
			typed := json.RawMessage(strconv.Quote(string(msg)))
			if json.Valid(msg) {
				typed = msg
			}
			switch o {
			case wire.OpEth2Sign:
				body = wire.Eth2SignBody{KeyID: k, Request: typed}
			case wire.OpEth2Batch:
				item, _ := json.Marshal(wire.Eth2SignBody{KeyID: k, Request: typed})
				body = wire.Eth2BatchBody{Items: []wire.BatchItem{{ID: strings.Repeat("5a", 16), Op: wire.OpEth2Sign, Body: item}}}
			default:
				body = wire.SlashingImportBody{GenesisValidatorsRoot: make([]byte, 32), Interchange: typed}
			}
		case wire.OpKeyValidator:
			body = wire.KeyRefBody{KeyID: k}
		case wire.OpKeyGenBatch:
			item, _ := json.Marshal(wire.KeyGenBody{KeyID: k, Scheme: string(msg)})
			body = wire.KeyGenBatchBody{Items: []wire.BatchItem{{ID: strings.Repeat("5b", 16), Op: wire.OpKeyGen, Body: item}}}
		case wire.OpSlashingExport:
			body = wire.SlashingExportBody{GenesisValidatorsRoot: msg}
		default:
			body = wire.EvalBody{KeyID: k, Input: msg}
		}
		b, _ := json.Marshal(body)
		sr := signedWithID(t, alice, "alice", id, o, b)
		resps, errs := c.all(sr)
		for i, r := range resps {
			if !slices.Contains(u.replicas, i+1) {
				continue
			}
			if errs[i] == nil || r == nil || len(r.Partial) != 0 || len(r.Sealed) != 0 || r.Key != nil {
				t.Fatalf("replica %d answered %s on a reused id: %+v, %v", i+1, o, r, errs[i])
			}
			if !strings.Contains(r.Error, "request id already used") {
				t.Fatalf("replica %d refused %s on a reused id with %q", i+1, o, r.Error)
			}
		}
	})
}

// signedWithID is signedAt with a chosen request id and raw body.
func signedWithID(t testing.TB, key ed25519.PrivateKey, client, id, op string, body []byte) []byte {
	t.Helper()
	req := encodeRequest(t, wire.Request{ID: id, Client: client, Op: op, Expires: time.Now().Unix() + 60, Body: body})
	out, _ := json.Marshal(wire.SignedRequest{Request: req, Signature: ed25519.Sign(key, append([]byte(wire.RequestContext), req...))})
	return out
}
