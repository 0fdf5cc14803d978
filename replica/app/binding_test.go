package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// A request names its cluster and, for operations whose answers are sealed,
// a reply key; a replica transaction is signed for one cluster. Anything for
// another cluster is refused in CheckTx and in the block alike, and the
// committed result records the request's hash.
func TestClusterAndRequestBinding(t *testing.T) {
	tn, a, c := newStartedChain(t)
	exp := time.Now().Add(time.Minute).Unix()

	build := func(cluster string, reply []byte, op string, body any) *wire.SignedRequest {
		b, _ := json.Marshal(body)
		r := wire.Request{ID: "00112233445566778899aabbccddeeff", Client: "admin", Op: op, Expires: exp, Cluster: cluster, Reply: reply, Body: b}
		rb, _ := json.Marshal(r)
		return &wire.SignedRequest{Request: rb, Signature: ed25519.Sign(tn.AdminKey, append([]byte(wire.RequestContext), rb...))}
	}
	gen := wire.KeyGenBody{KeyID: "k", Scheme: wire.SchemeBLS}
	for name, tc := range map[string]struct {
		sr   *wire.SignedRequest
		want error
	}{
		"another cluster":       {build("vhsm-other", nil, wire.OpKeyGen, gen), ErrWrongCluster},
		"no cluster":            {build("", nil, wire.OpKeyGen, gen), ErrWrongCluster},
		"sign without reply":    {build(testCluster, nil, wire.OpSign, wire.SignBody{KeyID: "k"}), ErrMalformed},
		"sign with short reply": {build(testCluster, make([]byte, 31), wire.OpSign, wire.SignBody{KeyID: "k"}), ErrMalformed},
	} {
		if err := a.Precheck(txOf(t, tc.sr)); codeOf(err) != codeOf(tc.want) {
			t.Errorf("%s: precheck %v, want %v", name, err, tc.want)
		}
		if r := c.block(txOf(t, tc.sr)); r[0].Code != codeOf(tc.want) {
			t.Errorf("%s: block code %d (%s), want %v", name, r[0].Code, r[0].Log, tc.want)
		}
		if _, _, err := a.VerifyRequest(tc.sr, time.Now().Unix()); codeOf(err) != codeOf(tc.want) {
			t.Errorf("%s: VerifyRequest %v, want %v", name, err, tc.want)
		}
	}

	// The committed result binds the request's exact bytes.
	pub, _, _ := ed25519.GenerateKey(nil)
	ok := build(testCluster, nil, wire.OpRegisterClient, wire.RegisterClientBody{ClientID: "bob", PublicKey: pub})
	if r := c.block(txOf(t, ok)); r[0].Code != 0 {
		t.Fatalf("register: %s", r[0].Log)
	}
	res, err := a.Result("admin", "00112233445566778899aabbccddeeff")
	if err != nil || res == nil {
		t.Fatal(res, err)
	}
	h := wire.RequestHash(ok.Request)
	if !bytes.Equal(res.Request, h[:]) {
		t.Fatalf("result binds %x, want %x", res.Request, h)
	}

	// A replica transaction signed for another cluster does not verify.
	vote := (&dkg.TimeoutVote{Sender: 2, Phase: dkg.PhaseDealing}).Marshal()
	other, _ := SignReplicaTx("vhsm-other", 2, tn.SignKeys[1], DKGPayload{Session: "bls-0", Message: vote})
	if err := a.Precheck(other); codeOf(err) != codeOf(ErrBadSignature) {
		t.Fatalf("replica tx for another cluster: %v", err)
	}

	// A genesis without a cluster id, or a chain id other than the
	// cluster's, is refused.
	g := tn.G
	g.Cluster = ""
	if _, err := New(t.TempDir(), g, nil); err == nil {
		t.Fatal("genesis without a cluster id accepted")
	}
}
