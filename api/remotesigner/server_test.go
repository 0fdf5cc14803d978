package remotesigner

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"
	blst "github.com/supranational/blst/bindings/go"
	"gopkg.in/yaml.v3"

	"github.com/vhsm/vhsm/replica/eth2"
)

// The specification (testdata/, a copy of ethereum/remote-signing-api
// v1.1.0) is loaded with kin-openapi; every exchange in these tests is
// validated against it.
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile("testdata/remote-signing-oapi.yaml")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "/"}} // route any host
	return legacyrouter.NewRouter(doc)
})

// validateExchange checks the request (when the server accepted it) and the
// response against the specification: the route must exist, the status must
// be listed and a 200 body must match its schema and content type.
func validateExchange(method, path string, reqHeader http.Header, reqBody []byte, status int, respHeader http.Header, respBody []byte) error {
	router, err := specRouter()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(reqBody))
	req.Header = reqHeader.Clone()
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("not in the specification: %w", err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if status == http.StatusOK && method == http.MethodPost {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return fmt.Errorf("accepted request does not match the specification: %w", err)
		}
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: respHeader, Body: io.NopCloser(bytes.NewReader(respBody)), Options: opts,
	})
}

type exchange struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request through client to base and validates the exchange.
func do(t *testing.T, client *http.Client, base, method, path string, hdr http.Header, body []byte) exchange {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if path != PathUpcheck {
		if err := validateExchange(method, path, req.Header, body, resp.StatusCode, resp.Header, rb); err != nil {
			t.Errorf("%s %s → %d: %v\nbody: %.400s", method, path, resp.StatusCode, err, rb)
		}
	}
	return exchange{resp.StatusCode, resp.Header, rb}
}

func pkHex(pk [48]byte) string { return "0x" + hex.EncodeToString(pk[:]) }

var ethDST = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// blstVerify verifies with supranational/blst (independent of herumi).
func blstVerify(pk [48]byte, msg [32]byte, sig []byte) bool {
	p := new(blst.P1Affine).Uncompress(pk[:])
	s := new(blst.P2Affine).Uncompress(sig)
	return p != nil && s != nil && s.Verify(true, p, true, msg[:], ethDST)
}

// specExamples returns the specification's sign request examples as JSON.
func specExamples(t testing.TB) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/signing/paths/sign.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]struct {
						Value map[string]any `yaml:"value"`
					} `yaml:"examples"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"post"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, ex := range doc.Post.RequestBody.Content["application/json"].Examples {
		b, _ := json.Marshal(ex.Value)
		out[name] = b
	}
	if len(out) < 14 {
		t.Fatalf("only %d examples", len(out))
	}
	return out
}

// TestSpecExamplesSigned: every example request of the specification is
// signed (or, for the two minimal-preset examples, refused with 400), and
// every signature verifies with blst over the root eth2 computes.
func TestSpecExamplesSigned(t *testing.T) {
	for name, body := range specExamples(t) {
		t.Run(name, func(t *testing.T) {
			f := newFakeSigner(1)
			srv := httptest.NewServer(&Handler{Signer: f})
			defer srv.Close()
			pk := f.order[0]
			if name == "VALIDATOR_REGISTRATION" {
				// Signed on a network with genesis fork version
				// 0x00000001; with mainnet's, the example's own
				// signingRoot disagrees and the request is refused.
				x := do(t, srv.Client(), srv.URL, "POST", PathSign+pkHex(pk), nil, body)
				if x.status != http.StatusBadRequest || !strings.Contains(string(x.body), "signingRoot") {
					t.Fatalf("mismatching signingRoot: %d %s", x.status, x.body)
				}
				var m map[string]any
				json.Unmarshal(body, &m)
				m["genesis_fork_version"] = "0x00000001"
				body, _ = json.Marshal(m)
			}
			for _, accept := range []string{"", "application/json", "text/plain"} {
				hdr := http.Header{}
				if accept != "" {
					hdr.Set("Accept", accept)
				}
				if accept != "" {
					// Fresh signer state: the same block example twice
					// would be a slashable double proposal.
					f.lastSlot, f.lastTarget = map[[48]byte]uint64{}, map[[48]byte]uint64{}
				}
				x := do(t, srv.Client(), srv.URL, "POST", PathSign+pkHex(pk), hdr, body)
				if strings.Contains(name, "ALTAIR") || name == "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF" {
					// Minimal-preset bitvectors: refused by the mainnet decoder.
					if x.status != http.StatusBadRequest {
						t.Fatalf("minimal-preset example: %d %s", x.status, x.body)
					}
					return
				}
				if x.status != http.StatusOK {
					t.Fatalf("status %d: %s", x.status, x.body)
				}
				var sigHex string
				if accept == "text/plain" {
					if !strings.HasPrefix(x.header.Get("Content-Type"), "text/plain") {
						t.Fatalf("content type %q", x.header.Get("Content-Type"))
					}
					sigHex = string(x.body)
				} else {
					var resp struct{ Signature string }
					if err := json.Unmarshal(x.body, &resp); err != nil || x.header.Get("Content-Type") != "application/json" {
						t.Fatalf("json response %q %v", x.body, err)
					}
					sigHex = resp.Signature
				}
				sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
				if err != nil || len(sig) != 96 || !strings.HasPrefix(sigHex, "0x") {
					t.Fatalf("signature %q", sigHex)
				}
				r, _ := eth2.Parse(body)
				root, _ := r.SigningRoot()
				if !blstVerify(pk, root, sig) {
					t.Fatal("signature does not verify (blst) over the computed signing root")
				}
			}
		})
	}
}

const fiJSON = `"fork_info":{"fork":{"previous_version":"0x00000001","current_version":"0x00000001","epoch":"1"},"genesis_validators_root":"0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"}`

func attestation(source, target int) []byte {
	return []byte(fmt.Sprintf(`{"type":"ATTESTATION",%s,"attestation":{"slot":"%d","index":"0",`+
		`"beacon_block_root":"0xb2eedb01adbd02c828d5eec09b4c70cbba12ffffba525ebf48aca33028e8ad89",`+
		`"source":{"epoch":"%d","root":"0x0000000000000000000000000000000000000000000000000000000000000000"},`+
		`"target":{"epoch":"%d","root":"0xb2eedb01adbd02c828d5eec09b4c70cbba12ffffba525ebf48aca33028e8ad89"}}}`,
		fiJSON, target*32, source, target))
}

// TestErrors: every error path answers with a status the specification lists
// (validated), and the signer is not reached for a malformed request.
func TestErrors(t *testing.T) {
	f := newFakeSigner(2)
	srv := httptest.NewServer(&Handler{Signer: f})
	defer srv.Close()
	c := srv.Client()
	pk := pkHex(f.order[0])
	unknown := "0x" + strings.Repeat("ab", 48)
	good := attestation(1, 2)
	cases := []struct {
		name   string
		path   string
		hdr    http.Header
		body   []byte
		status int
		msg    string
	}{
		{"malformed json", PathSign + pk, nil, []byte(`{"type":`), 400, "end of JSON"},
		{"empty body", PathSign + pk, nil, []byte{}, 400, "bad signing request"},
		{"unknown type", PathSign + pk, nil, []byte(`{"type":"NOT_A_TYPE",` + fiJSON + `}`), 400, "unknown signing request type"},
		{"missing field", PathSign + pk, nil, bytes.Replace(good, []byte(`"index":"0",`), nil, 1), 400, "attestation.index: required field missing"},
		{"unknown field", PathSign + pk, nil, bytes.Replace(good, []byte(`"index":"0"`), []byte(`"index":"0","x":"1"`), 1), 400, "attestation.x: unknown field"},
		{"short root", PathSign + pk, nil, bytes.Replace(good, []byte(`"beacon_block_root":"0xb2`), []byte(`"beacon_block_root":"0x`), 1), 400, "must be 32 bytes"},
		{"signingRoot mismatch", PathSign + pk, nil, bytes.Replace(good, []byte(`"type"`), []byte(`"signingRoot":"0x`+strings.Repeat("00", 32)+`","type"`), 1), 400, "signingRoot"},
		{"wrong content type", PathSign + pk, http.Header{"Content-Type": {"text/plain"}}, good, 400, "application/json"},
		{"bad identifier", PathSign + "0x1234", nil, good, 400, "identifier"},
		{"identifier without 0x", PathSign + strings.TrimPrefix(pk, "0x"), nil, good, 400, "identifier"},
		{"unknown key", PathSign + unknown, nil, good, 404, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.calls
			x := do(t, c, srv.URL, "POST", tc.path, tc.hdr, tc.body)
			if x.status != tc.status || !strings.Contains(string(x.body), tc.msg) {
				t.Fatalf("got %d %s, want %d containing %q", x.status, x.body, tc.status, tc.msg)
			}
			var e errorBody
			if json.Unmarshal(x.body, &e) != nil || e.Code != tc.status {
				t.Fatalf("error body %s", x.body)
			}
			if tc.status == 400 && f.calls != before {
				t.Fatal("a malformed request reached the signer")
			}
		})
	}
	// Slashing protection → 412, with the refusal's message; the first
	// attestation is signed.
	if x := do(t, c, srv.URL, "POST", PathSign+pk, nil, good); x.status != 200 {
		t.Fatalf("first attestation: %d %s", x.status, x.body)
	}
	x := do(t, c, srv.URL, "POST", PathSign+pk, nil, attestation(1, 2))
	if x.status != http.StatusPreconditionFailed || !strings.Contains(string(x.body), "not above signed target") {
		t.Fatalf("double vote: %d %s", x.status, x.body)
	}
	// The other key is independent.
	if x := do(t, c, srv.URL, "POST", PathSign+pkHex(f.order[1]), nil, good); x.status != 200 {
		t.Fatalf("second key: %d %s", x.status, x.body)
	}
	// Internal errors → 500 without the error's text.
	f.fail = errors.New("secret-detail-xyz")
	x = do(t, c, srv.URL, "POST", PathSign+pk, nil, attestation(5, 9))
	if x.status != 500 || strings.Contains(string(x.body), "secret-detail") {
		t.Fatalf("internal error: %d %s", x.status, x.body)
	}
	f.fail = fmt.Errorf("replica said: %w", ErrUnknownKey)
	if x := do(t, c, srv.URL, "POST", PathSign+pk, nil, attestation(5, 9)); x.status != 404 {
		t.Fatalf("wrapped unknown key: %d", x.status)
	}
	f.fail = nil
	// Wrong methods and paths.
	req, _ := http.NewRequest("GET", srv.URL+PathSign+pk, nil)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET sign: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}

// TestPublicKeysAndUpcheck.
func TestPublicKeysAndUpcheck(t *testing.T) {
	f := newFakeSigner(3)
	srv := httptest.NewServer(&Handler{Signer: f})
	defer srv.Close()
	x := do(t, srv.Client(), srv.URL, "GET", PathPublicKeys, nil, nil)
	var keys []string
	if err := json.Unmarshal(x.body, &keys); err != nil || x.status != 200 || len(keys) != 3 {
		t.Fatalf("%d %s", x.status, x.body)
	}
	for _, k := range keys {
		pk, err := parsePubkey(k)
		if err != nil || f.keys[pk] == nil || k != strings.ToLower(k) {
			t.Fatalf("key %s", k)
		}
	}
	x = do(t, srv.Client(), srv.URL, "GET", PathUpcheck, nil, nil)
	if x.status != 200 || string(x.body) != "OK" {
		t.Fatalf("upcheck %d %q", x.status, x.body)
	}
}

// TestSpecValidationCatchesDrift: the contract check fails on responses the
// specification does not allow, so passing it means something.
func TestSpecValidationCatchesDrift(t *testing.T) {
	pk := "0x" + strings.Repeat("ab", 48)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := validateExchange("POST", PathSign+pk, h, attestation(1, 2), 401, h, []byte(`{}`)); err == nil {
		t.Fatal("undocumented status accepted")
	}
	if err := validateExchange("GET", PathPublicKeys, h, nil, 200, h, []byte(`{"keys":[]}`)); err == nil {
		t.Fatal("object instead of array accepted")
	}
	if err := validateExchange("GET", "/api/v1/eth2/other", h, nil, 200, h, []byte(`[]`)); err == nil {
		t.Fatal("undocumented path accepted")
	}
}

func TestWantsText(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "application/json": false, "text/plain": true, "*/*": false, "text/*": true,
		"text/plain, application/json": false, "text/plain;q=1, application/json;q=0.5": true,
		"application/json;q=0.1, text/plain": true, "image/png": false, "text/plain;q=0": false,
	} {
		var h []string
		if accept != "" {
			h = []string{accept}
		}
		if got := wantsText(h); got != want {
			t.Errorf("Accept %q: text=%v, want %v", accept, got, want)
		}
	}
}

// TestLargeBodies: a body above eth2.MaxBodySize is refused with 400; a
// large valid one (a full block) is read through the large-body slots and
// signed, and the slots are released.
func TestLargeBodies(t *testing.T) {
	f := newFakeSigner(1)
	h := &Handler{Signer: f}
	srv := httptest.NewServer(h)
	defer srv.Close()
	pk := pkHex(f.order[0])
	huge := append([]byte(`{"type":"ATTESTATION","x":"`), bytes.Repeat([]byte("a"), eth2.MaxBodySize)...)
	huge = append(huge, `"}`...)
	x := do(t, srv.Client(), srv.URL, "POST", PathSign+pk, nil, huge)
	if x.status != 400 || !strings.Contains(string(x.body), "larger than") {
		t.Fatalf("oversized body: %d %.200s", x.status, x.body)
	}
	// A full Bellatrix block padded past smallBody with transactions.
	ex := specExamples(t)["BLOCK_V2 (PHASE 0)"]
	var m map[string]any
	json.Unmarshal(ex, &m)
	delete(m, "signingRoot")
	bb := m["beacon_block"].(map[string]any)
	bb["version"] = "BELLATRIX"
	body := bb["block"].(map[string]any)["body"].(map[string]any)
	body["sync_aggregate"] = map[string]any{"sync_committee_bits": "0x" + strings.Repeat("00", 64), "sync_committee_signature": "0x" + strings.Repeat("00", 96)}
	tx := "0x" + strings.Repeat("ab", 200_000)
	body["execution_payload"] = map[string]any{"parent_hash": "0x" + strings.Repeat("00", 32), "fee_recipient": "0x" + strings.Repeat("00", 20),
		"state_root": "0x" + strings.Repeat("00", 32), "receipts_root": "0x" + strings.Repeat("00", 32), "logs_bloom": "0x" + strings.Repeat("00", 256),
		"prev_randao": "0x" + strings.Repeat("00", 32), "block_number": "1", "gas_limit": "1", "gas_used": "1", "timestamp": "1",
		"extra_data": "0x", "base_fee_per_gas": "7", "block_hash": "0x" + strings.Repeat("00", 32), "transactions": []string{tx, tx, tx}}
	raw, _ := json.Marshal(m)
	if len(raw) <= smallBody {
		t.Fatalf("body only %d bytes", len(raw))
	}
	for i := 0; i < largeBodies+2; i++ {
		// A full post-Altair block is vhsm's extension (the specification
		// has block_header only from Bellatrix on), so this exchange is
		// not validated against the specification.
		f.lastSlot = map[[48]byte]uint64{}
		resp, err := srv.Client().Post(srv.URL+PathSign+pk, "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("large block %d: %d %.300s", i, resp.StatusCode, rb)
		}
	}
	if len(h.large) != 0 {
		t.Fatalf("%d large-body slots still held", len(h.large))
	}
}

// TestTruncatedAndSubstituted: every specification example cut short is
// refused with 400 before the signer; an example whose content was changed
// under its signingRoot is refused with 400 too.
func TestTruncatedAndSubstituted(t *testing.T) {
	f := newFakeSigner(1)
	srv := httptest.NewServer(&Handler{Signer: f})
	defer srv.Close()
	pk := pkHex(f.order[0])
	for name, body := range specExamples(t) {
		for _, cut := range []int{1, len(body) / 3, len(body) / 2, len(body) - 1} {
			x := do(t, srv.Client(), srv.URL, "POST", PathSign+pk, nil, body[:cut])
			if x.status != 400 {
				t.Fatalf("%s cut at %d: %d %s", name, cut, x.status, x.body)
			}
		}
		// Substitute one hex digit of the genesis validators root (or,
		// without fork_info, of the pubkey), keeping the signingRoot:
		// refused (the root no longer matches).
		i := bytes.Index(body, []byte(`"genesis_validators_root":"0x`))
		if i < 0 {
			i = bytes.Index(body, []byte(`"pubkey":"0x`))
		}
		if i < 0 {
			t.Fatalf("%s: nothing to substitute", name)
		}
		j := i + bytes.Index(body[i:], []byte(`"0x`)) + 3
		changed := append([]byte(nil), body...)
		if changed[j] == '0' {
			changed[j] = '1'
		} else {
			changed[j] = '0'
		}
		x := do(t, srv.Client(), srv.URL, "POST", PathSign+pk, nil, changed)
		if x.status != 400 {
			t.Fatalf("%s substituted: %d %s", name, x.status, x.body)
		}
	}
	if f.calls != 0 {
		t.Fatalf("%d refused requests reached the signer", f.calls)
	}
}
