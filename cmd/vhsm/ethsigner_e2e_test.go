package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// TestEthSignerEndToEnd: a real 4-replica cluster, a validator wallet, the
// remote signer as vhsm wallet runs it (loopback HTTP): the key is listed,
// an attestation, a block and a RANDAO reveal are signed (signatures
// verified with blst over the root computed here), a double vote and a
// surround vote answer 412, an unknown key 404.
func TestEthSignerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-replica cluster")
	}
	env := wallettest.Start(t, wallettest.Options{NoBitcoin: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v, err := env.Service.CreateValidator(ctx, wallet.CreateValidatorRequest{Network: "hoodi", Label: "vc",
		WithdrawalAddress: "0x6FDFAb408C56B6105a76EFF5c0435d09fC6eD7a9"})
	if err != nil {
		t.Fatal(err)
	}
	// Mark the key (a no-op error when creation already did).
	if m, ok := any(env.HSM).(interface {
		MarkValidatorKey(context.Context, string) error
	}); ok {
		_ = m.MarkValidatorKey(ctx, v.KeyID)
	}
	errc := make(chan error, 1)
	s, err := startEthSigner(env.HSM, remotesigner.Options{Addr: "127.0.0.1:0"}, errc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.open(env.Service); err != nil {
		t.Fatal(err)
	}
	base := s.srv.URL()
	pkHex := "0x" + v.PublicKey
	var pk [48]byte
	hex.Decode(pk[:], []byte(v.PublicKey))

	post := func(ident string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+remotesigner.PathSign+ident, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	res, err := http.Get(base + remotesigner.PathPublicKeys)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	json.NewDecoder(res.Body).Decode(&keys)
	res.Body.Close()
	if len(keys) != 1 || keys[0] != pkHex {
		t.Fatalf("publicKeys %v, want [%s]", keys, pkHex)
	}
	fi := `"fork_info":{"fork":{"previous_version":"0x50000910","current_version":"0x60000910","epoch":"2048"},` +
		`"genesis_validators_root":"0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"}`
	att := func(source, target int) []byte {
		return []byte(fmt.Sprintf(`{"type":"ATTESTATION",%s,"attestation":{"slot":"%d","index":"0",`+
			`"beacon_block_root":"0x%064x","source":{"epoch":"%d","root":"0x%064x"},"target":{"epoch":"%d","root":"0x%064x"}}}`,
			fi, target*32, target, source, source, target, target))
	}
	signed := func(body []byte) {
		t.Helper()
		code, out := post(pkHex, body)
		if code != 200 {
			t.Fatalf("status %d: %s", code, out)
		}
		var r struct{ Signature string }
		json.Unmarshal([]byte(out), &r)
		sig, _ := hex.DecodeString(strings.TrimPrefix(r.Signature, "0x"))
		req, _ := eth2.Parse(body)
		root, _ := req.SigningRoot()
		p := new(blst.P1Affine).Uncompress(pk[:])
		sg := new(blst.P2Affine).Uncompress(sig)
		if p == nil || sg == nil || !sg.Verify(true, p, true, root[:], []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
			t.Fatalf("signature does not verify (blst): %s", out)
		}
	}
	signed(att(10, 11))
	// A validator registration (no fork data in the body) is signed under
	// hoodi's builder domain: verify against the body with hoodi's genesis
	// fork version added.
	reg := `{"type":"VALIDATOR_REGISTRATION","validator_registration":{"fee_recipient":"0x` + strings.Repeat("11", 20) +
		`","gas_limit":"30000000","timestamp":"1700000000","pubkey":"` + pkHex + `"}}`
	code, out := post(pkHex, []byte(reg))
	if code != 200 {
		t.Fatalf("registration: %d %s", code, out)
	}
	var rr struct{ Signature string }
	json.Unmarshal([]byte(out), &rr)
	regSig, _ := hex.DecodeString(strings.TrimPrefix(rr.Signature, "0x"))
	regReq, _ := eth2.Parse([]byte(strings.Replace(reg, `"type"`, `"genesis_fork_version":"0x10000910","type"`, 1)))
	regRoot, _ := regReq.SigningRoot()
	if p, sg := new(blst.P1Affine).Uncompress(pk[:]), new(blst.P2Affine).Uncompress(regSig); p == nil || sg == nil ||
		!sg.Verify(true, p, true, regRoot[:], []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")) {
		t.Fatal("registration signature does not verify under hoodi's builder domain")
	}
	signed([]byte(`{"type":"RANDAO_REVEAL",` + fi + `,"randao_reveal":{"epoch":"11"}}`))
	signed([]byte(`{"type":"BLOCK_V2",` + fi + `,"beacon_block":{"version":"ELECTRA","block_header":{"slot":"400","proposer_index":"7",` +
		`"parent_root":"0x` + strings.Repeat("11", 32) + `","state_root":"0x` + strings.Repeat("22", 32) + `","body_root":"0x` + strings.Repeat("33", 32) + `"}}}`))
	// Double vote (same target, other data) and surround vote: 412.
	dbl := bytes.Replace(att(10, 11), []byte(`"index":"0"`), []byte(`"index":"1"`), 1)
	if code, out := post(pkHex, dbl); code != http.StatusPreconditionFailed {
		t.Fatalf("double vote: %d %s", code, out)
	}
	signed(att(11, 12))
	if code, out := post(pkHex, att(9, 13)); code != http.StatusPreconditionFailed {
		t.Fatalf("surround vote: %d %s", code, out)
	}
	// Another block at the same slot: 412.
	if code, out := post(pkHex, []byte(`{"type":"BLOCK_V2",`+fi+`,"beacon_block":{"version":"ELECTRA","block_header":{"slot":"400","proposer_index":"7",`+
		`"parent_root":"0x`+strings.Repeat("44", 32)+`","state_root":"0x`+strings.Repeat("22", 32)+`","body_root":"0x`+strings.Repeat("33", 32)+`"}}}`)); code != http.StatusPreconditionFailed {
		t.Fatalf("double proposal: %d %s", code, out)
	}
	if code, _ := post("0x"+strings.Repeat("ab", 48), att(20, 21)); code != http.StatusNotFound {
		t.Fatalf("unknown key: %d", code)
	}
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
