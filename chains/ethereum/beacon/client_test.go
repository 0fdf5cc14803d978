package beacon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/chains/ethereum"
)

// ---- A tiny subset of JSON Schema, enough for the beacon-API types used here.

type schema interface {
	check(v any, at string) error
}

type objSchema map[string]schema // all properties required, no others

type strSchema struct{ re *regexp.Regexp }

type arrSchema struct {
	items    schema
	minItems int
}

type boolSchema struct{}

func (s objSchema) check(v any, at string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want object", at)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, known := s[k]; !known {
			return fmt.Errorf("%s: unexpected property %q", at, k)
		}
	}
	req := make([]string, 0, len(s))
	for k := range s {
		req = append(req, k)
	}
	sort.Strings(req)
	for _, k := range req {
		val, present := m[k]
		if !present {
			return fmt.Errorf("%s: missing required property %q", at, k)
		}
		if err := s[k].check(val, at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

func (s strSchema) check(v any, at string) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s: want string", at)
	}
	if !s.re.MatchString(str) {
		return fmt.Errorf("%s: %q does not match %s", at, str, s.re)
	}
	return nil
}

func (s arrSchema) check(v any, at string) error {
	a, ok := v.([]any)
	if !ok {
		return fmt.Errorf("%s: want array", at)
	}
	if len(a) < s.minItems {
		return fmt.Errorf("%s: want at least %d items", at, s.minItems)
	}
	for i, it := range a {
		if err := s.items.check(it, fmt.Sprintf("%s[%d]", at, i)); err != nil {
			return err
		}
	}
	return nil
}

func (boolSchema) check(v any, at string) error {
	if _, ok := v.(bool); !ok {
		return fmt.Errorf("%s: want boolean", at)
	}
	return nil
}

// Primitive types of beacon-APIs types/primitive.yaml.
var (
	uint64S    = strSchema{regexp.MustCompile(`^(0|[1-9][0-9]{0,19})$`)}
	pubkeyS    = strSchema{regexp.MustCompile(`^0x[a-fA-F0-9]{96}$`)}
	signatureS = strSchema{regexp.MustCompile(`^0x[a-fA-F0-9]{192}$`)}
	addressS   = strSchema{regexp.MustCompile(`^0x[a-fA-F0-9]{40}$`)}

	// Phase0.SignedVoluntaryExit
	signedVoluntaryExitS = objSchema{
		"message":   objSchema{"epoch": uint64S, "validator_index": uint64S},
		"signature": signatureS,
	}
	// Capella.SignedBLSToExecutionChange
	signedBLSChangeS = objSchema{
		"message": objSchema{
			"validator_index":      uint64S,
			"from_bls_pubkey":      pubkeyS,
			"to_execution_address": addressS,
		},
		"signature": signatureS,
	}
)

// ---- The fake node.

type fakeValidator struct {
	index   uint64
	pubkey  ethereum.Pubkey
	creds   ethereum.Credentials
	balance uint64
}

type fakeNode struct {
	net        ethereum.Network
	mu         sync.Mutex
	validators map[uint64]fakeValidator
	exits      []ethereum.SignedVoluntaryExit
	changes    []ethereum.SignedBLSToExecutionChange
	delay      time.Duration // before answering
}

var ethDST = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// Hoodi domains from eth-consensus-constants.yaml ("computed:"), so that the
// fake node does not reuse the package's own domain code.
var (
	hoodiExitDomain      = mustHex32("0400000072bbc3705de0766b1ea9cfd60f0a5cc5f2dca3b942b222e8320b035b")
	hoodiBLSChangeDomain = mustHex32("0a0000005df5c106c7012ba11eb22b4aeff26718b26c8ccba50eb27260f7d1ca")
)

func mustHex32(s string) (out [32]byte) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("bad test constant")
	}
	copy(out[:], b)
	return out
}

func h(parts ...[]byte) [32]byte { return sha256.Sum256(bytes.Join(parts, nil)) }

func chunk(b []byte) []byte {
	c := make([]byte, 32)
	copy(c, b)
	return c
}

func le64(v uint64) []byte { return chunk(binary.LittleEndian.AppendUint64(nil, v)) }

// exitSigningRoot and changeSigningRoot hash the containers by hand (SSZ
// merkleization written out), then SigningData with the fixed domain.
func exitSigningRoot(e ethereum.VoluntaryExit) ethereum.Root {
	obj := h(le64(uint64(e.Epoch)), le64(uint64(e.ValidatorIndex)))
	return h(obj[:], hoodiExitDomain[:])
}

func changeSigningRoot(c ethereum.BLSToExecutionChange) ethereum.Root {
	pk := h(c.FromBLSPubkey[:32], chunk(c.FromBLSPubkey[32:]))
	left := h(le64(uint64(c.ValidatorIndex)), pk[:])
	right := h(chunk(c.ToExecutionAddress[:]), make([]byte, 32))
	obj := h(left[:], right[:])
	return h(obj[:], hoodiBLSChangeDomain[:])
}

func blstVerify(pub ethereum.Pubkey, root ethereum.Root, sig ethereum.Signature) bool {
	pk := new(blst.P1Affine).Uncompress(pub[:])
	s := new(blst.P2Affine).Uncompress(sig[:])
	return pk != nil && s != nil && s.Verify(true, pk, true, root[:], ethDST)
}

func writeErr(w http.ResponseWriter, code int, msg string, failures ...Failure) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{"code": code, "message": msg}
	if failures != nil {
		body["failures"] = failures
	}
	_ = json.NewEncoder(w).Encode(body)
}

func writeData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"execution_optimistic": false, "finalized": true, "data": data})
}

// readBody decodes a JSON request body and validates it against s.
func readBody(w http.ResponseWriter, r *http.Request, s schema) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		writeErr(w, 415, "unsupported content type "+ct)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeErr(w, 400, "cannot read body")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		writeErr(w, 400, "Invalid JSON: "+err.Error())
		return nil, false
	}
	if err := s.check(v, "body"); err != nil {
		writeErr(w, 400, "Invalid request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n.delay > 0 {
		select {
		case <-time.After(n.delay):
		case <-r.Context().Done():
			return
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/eth/v1/beacon/pool/voluntary_exits":
		body, ok := readBody(w, r, signedVoluntaryExitS)
		if !ok {
			return
		}
		var e ethereum.SignedVoluntaryExit
		if err := json.Unmarshal(body, &e); err != nil {
			writeErr(w, 400, "Invalid JSON: "+err.Error())
			return
		}
		v, known := n.validators[uint64(e.Message.ValidatorIndex)]
		if !known || !blstVerify(v.pubkey, exitSigningRoot(e.Message), e.Signature) {
			writeErr(w, 400, "Invalid voluntary exit, it will never pass validation so it's rejected")
			return
		}
		n.exits = append(n.exits, e)
	case r.Method == http.MethodPost && p == "/eth/v1/beacon/pool/bls_to_execution_changes":
		body, ok := readBody(w, r, arrSchema{items: signedBLSChangeS, minItems: 1})
		if !ok {
			return
		}
		var cs []ethereum.SignedBLSToExecutionChange
		if err := json.Unmarshal(body, &cs); err != nil {
			writeErr(w, 400, "Invalid JSON: "+err.Error())
			return
		}
		var failures []Failure
		for i, c := range cs {
			v, known := n.validators[uint64(c.Message.ValidatorIndex)]
			h := sha256.Sum256(c.Message.FromBLSPubkey[:])
			switch {
			case !known:
				failures = append(failures, Failure{i, "unknown validator"})
			case v.creds[0] != 0 || !bytes.Equal(v.creds[1:], h[1:]):
				failures = append(failures, Failure{i, "invalid BLS to execution change: withdrawal credentials do not match"})
			case !blstVerify(c.Message.FromBLSPubkey, changeSigningRoot(c.Message), c.Signature):
				failures = append(failures, Failure{i, "invalid BLS to execution change: invalid signature"})
			}
		}
		if failures != nil {
			writeErr(w, 400, "some BLS to execution changes failed validation", failures...)
			return
		}
		n.changes = append(n.changes, cs...)
	case r.Method == http.MethodGet && p == "/eth/v1/beacon/genesis":
		writeData(w, map[string]string{
			"genesis_time":            "1742213400",
			"genesis_validators_root": n.net.GenesisValidatorsRoot.String(),
			"genesis_fork_version":    n.net.GenesisForkVersion.String(),
		})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/eth/v1/beacon/states/"):
		parts := strings.Split(strings.TrimPrefix(p, "/eth/v1/beacon/states/"), "/")
		switch {
		case len(parts) == 2 && parts[1] == "fork":
			writeData(w, map[string]string{
				"previous_version": "0x50000910", "current_version": "0x60000910", "epoch": "2048",
			})
		case len(parts) == 3 && parts[1] == "validators":
			for _, v := range n.validators {
				if fmt.Sprint(v.index) == parts[2] || strings.EqualFold(v.pubkey.String(), parts[2]) {
					writeData(w, map[string]any{
						"index": fmt.Sprint(v.index), "balance": fmt.Sprint(v.balance), "status": "active_ongoing",
						"validator": map[string]any{
							"pubkey": v.pubkey.String(), "withdrawal_credentials": v.creds.String(),
							"effective_balance": "32000000000", "slashed": false,
							"activation_eligibility_epoch": "0", "activation_epoch": "0",
							"exit_epoch": "18446744073709551615", "withdrawable_epoch": "18446744073709551615",
						},
					})
					return
				}
			}
			writeErr(w, 404, "Validator not found")
		default:
			writeErr(w, 404, "Route not found")
		}
	default:
		writeErr(w, 404, "Route not found")
	}
}

// ---- Keys and signing for the tests (blst, independent of the package).

type testKey struct {
	sk  *blst.SecretKey
	pub ethereum.Pubkey
}

func newTestKey(seed byte) testKey {
	sk := blst.KeyGen(bytes.Repeat([]byte{seed}, 32))
	var pub ethereum.Pubkey
	copy(pub[:], new(blst.P1Affine).From(sk).Compress())
	return testKey{sk: sk, pub: pub}
}

// blstSigner implements ethereum.Signer with blst keys.
type blstSigner map[string]testKey

func (s blstSigner) SignBLS(_ context.Context, keyID string, root [32]byte) ([]byte, error) {
	k, ok := s[keyID]
	if !ok {
		return nil, errors.New("unknown key")
	}
	return new(blst.P2Affine).Sign(k.sk, root[:], ethDST).Compress(), nil
}

type fixture struct {
	node      *fakeNode
	srv       *httptest.Server
	client    *Client
	net       ethereum.Network
	signer    blstSigner
	validator testKey // validator 7, 0x00 credentials of withdrawal
	withdraw  testKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	net, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{net: net, validator: newTestKey(1), withdraw: newTestKey(2)}
	f.signer = blstSigner{"v7": f.validator, "w7": f.withdraw, "other": newTestKey(3)}
	f.node = &fakeNode{net: net, validators: map[uint64]fakeValidator{
		7: {index: 7, pubkey: f.validator.pub, creds: ethereum.BLSCredentials(f.withdraw.pub), balance: 32001234567},
	}}
	f.srv = httptest.NewServer(f.node) // listens on 127.0.0.1
	t.Cleanup(f.srv.Close)
	f.client, err = New(f.srv.URL, WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSubmitVoluntaryExit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.client.CheckNetwork(ctx, f.net); err != nil {
		t.Fatal(err)
	}
	exit, err := ethereum.SignVoluntaryExit(ctx, f.signer, f.net, "v7", f.validator.pub, ethereum.VoluntaryExit{Epoch: 2048, ValidatorIndex: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.SubmitVoluntaryExit(ctx, exit); err != nil {
		t.Fatal(err)
	}
	if len(f.node.exits) != 1 || f.node.exits[0] != exit {
		t.Fatalf("node stored %v", f.node.exits)
	}

	// An exit signed for another network is rejected by the node; its
	// message reaches the caller.
	mainnet, _ := ethereum.NetworkByName("mainnet")
	wrong, err := ethereum.SignVoluntaryExit(ctx, f.signer, mainnet, "v7", f.validator.pub, ethereum.VoluntaryExit{Epoch: 2048, ValidatorIndex: 7})
	if err != nil {
		t.Fatal(err)
	}
	err = f.client.SubmitVoluntaryExit(ctx, wrong)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, ErrNode) {
		t.Fatalf("err = %v", err)
	}
	if apiErr.StatusCode != 400 || apiErr.Code != 400 || !strings.Contains(apiErr.Message, "Invalid voluntary exit") {
		t.Errorf("APIError = %+v", apiErr)
	}
	if !strings.Contains(err.Error(), "it will never pass validation") {
		t.Errorf("message not surfaced: %v", err)
	}
}

func TestSubmitBLSToExecutionChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v, err := f.client.Validator(ctx, "head", "7")
	if err != nil {
		t.Fatal(err)
	}
	if v.Index != 7 || v.Pubkey != f.validator.pub || v.Balance != 32001234567 || v.Status != "active_ongoing" || v.ExitEpoch != 1<<64-1 {
		t.Errorf("validator = %+v", v)
	}
	byKey, err := f.client.Validator(ctx, "finalized", f.validator.pub.String())
	if err != nil || byKey != v {
		t.Errorf("by pubkey: %+v, %v", byKey, err)
	}
	to, _ := ethereum.ParseExecutionAddress("0x0f51bb10119727a7e5ea3538074fb341f56b09ad")
	change := ethereum.BLSToExecutionChange{ValidatorIndex: 7, FromBLSPubkey: f.withdraw.pub, ToExecutionAddress: to}
	sc, err := ethereum.SignBLSToExecutionChange(ctx, f.signer, f.net, "w7", change, v.WithdrawalCredentials)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.SubmitBLSToExecutionChanges(ctx, []ethereum.SignedBLSToExecutionChange{sc}); err != nil {
		t.Fatal(err)
	}
	if len(f.node.changes) != 1 || f.node.changes[0] != sc {
		t.Fatalf("node stored %v", f.node.changes)
	}

	// Second element signed by the wrong key: the node names index 1.
	bad := sc
	other := f.signer["other"]
	copy(bad.Signature[:], new(blst.P2Affine).Sign(other.sk, make([]byte, 32), ethDST).Compress())
	err = f.client.SubmitBLSToExecutionChanges(ctx, []ethereum.SignedBLSToExecutionChange{sc, bad})
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v", err)
	}
	if apiErr.Code != 400 || len(apiErr.Failures) != 1 || apiErr.Failures[0].Index != 1 ||
		!strings.Contains(apiErr.Failures[0].Message, "invalid signature") {
		t.Errorf("APIError = %+v", apiErr)
	}
	if err := f.client.SubmitBLSToExecutionChanges(ctx, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty: %v", err)
	}
}

// TestFakeNodeSchema makes sure the fake node really validates bodies, so
// that the client tests above mean something.
func TestFakeNodeSchema(t *testing.T) {
	f := newFixture(t)
	sig := "0x" + strings.Repeat("ab", 96)
	post := func(path, body string) (int, string) {
		resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for name, body := range map[string]string{
		"number epoch":   `{"message":{"epoch":1,"validator_index":"7"},"signature":"` + sig + `"}`,
		"missing index":  `{"message":{"epoch":"1"},"signature":"` + sig + `"}`,
		"short sig":      `{"message":{"epoch":"1","validator_index":"7"},"signature":"0xabcd"}`,
		"no 0x":          `{"message":{"epoch":"1","validator_index":"7"},"signature":"` + sig[2:] + `"}`,
		"array":          `[{"message":{"epoch":"1","validator_index":"7"},"signature":"` + sig + `"}]`,
		"extra property": `{"message":{"epoch":"1","validator_index":"7","slot":"1"},"signature":"` + sig + `"}`,
	} {
		code, resp := post("/eth/v1/beacon/pool/voluntary_exits", body)
		if code != 400 || !strings.Contains(resp, `"code":400`) {
			t.Errorf("%s: %d %s", name, code, resp)
		}
	}
	pk := "0x" + strings.Repeat("a1", 48)
	addr := "0x0f51bb10119727a7e5ea3538074fb341f56b09ad"
	change := `{"message":{"validator_index":"7","from_bls_pubkey":"` + pk + `","to_execution_address":"` + addr + `"},"signature":"` + sig + `"}`
	for name, body := range map[string]string{
		"object not array": change,
		"empty array":      `[]`,
		"number index":     `[` + strings.Replace(change, `"validator_index":"7"`, `"validator_index":7`, 1) + `]`,
		"negative index":   `[` + strings.Replace(change, `"validator_index":"7"`, `"validator_index":"-7"`, 1) + `]`,
		"short pubkey":     `[` + strings.Replace(change, pk, pk[:len(pk)-2], 1) + `]`,
		"long address":     `[` + strings.Replace(change, addr, addr+"00", 1) + `]`,
		"missing address":  `[` + strings.Replace(change, `,"to_execution_address":"`+addr+`"`, ``, 1) + `]`,
		"missing message":  `[{"signature":"` + sig + `"}]`,
		"null element":     `[null]`,
		"extra property":   `[` + strings.Replace(change, `"signature"`, `"extra":"1","signature"`, 1) + `]`,
		"bad signature":    `[` + strings.Replace(change, sig, sig[:len(sig)-1]+"g", 1) + `]`,
	} {
		if body == change && name != "object not array" {
			t.Fatalf("%s: replacement did not apply", name)
		}
		code, resp := post("/eth/v1/beacon/pool/bls_to_execution_changes", body)
		if code != 400 || !strings.Contains(resp, "Invalid") {
			t.Errorf("change %s: %d %s", name, code, resp)
		}
	}
	// A body that passes the schema reaches the signature check (and fails
	// it), so the schema does not reject well-formed input.
	code, resp := post("/eth/v1/beacon/pool/bls_to_execution_changes", `[`+change+`]`)
	if code != 400 || !strings.Contains(resp, "failures") {
		t.Errorf("well-formed change: %d %s", code, resp)
	}
	// Wrong content type.
	r, err := http.Post(f.srv.URL+"/eth/v1/beacon/pool/voluntary_exits", "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 415 {
		t.Errorf("text/plain body: %d", r.StatusCode)
	}
}

// TestErrorsHideURLSecrets: a base URL may carry credentials or an API token
// in its path; neither appears in an error.
func TestErrorsHideURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	closedURL := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(strings.Replace(closedURL, "http://", "http://user:s3cret@", 1) + "/t0ken")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Genesis(context.Background())
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
		t.Errorf("error reveals the URL: %v", err)
	}
	if !strings.Contains(err.Error(), "/eth/v1/beacon/genesis") {
		t.Errorf("error does not name the API path: %v", err)
	}
	for _, u := range []string{"http://user:s3cret@host/t0ken?a=b", "ftp://user:s3cret@host/t0ken", "http://user:s3cret@host/t0ken#x", "http://[::1/t0ken"} {
		_, err := New(u)
		if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}

func TestReads(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.client.Genesis(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.Time != 1742213400 || g.ValidatorsRoot != f.net.GenesisValidatorsRoot || g.GenesisForkVersion != f.net.GenesisForkVersion {
		t.Errorf("genesis = %+v", g)
	}
	fk, err := f.client.Fork(ctx, "head")
	if err != nil {
		t.Fatal(err)
	}
	if fk.CurrentVersion != (ethereum.Version{0x60, 0, 0x09, 0x10}) || fk.Epoch != 2048 {
		t.Errorf("fork = %+v", fk)
	}
	_, err = f.client.Validator(ctx, "head", "8")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Message != "Validator not found" {
		t.Errorf("unknown validator: %v", err)
	}
	for _, id := range []string{"", "-1", "0x12", "7/../../genesis", "latest"} {
		if _, err := f.client.Validator(ctx, "head", id); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("validator id %q: %v", id, err)
		}
		if _, err := f.client.Fork(ctx, id); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("state id %q: %v", id, err)
		}
	}
	mainnet, _ := ethereum.NetworkByName("mainnet")
	if err := f.client.CheckNetwork(ctx, mainnet); !errors.Is(err, ethereum.ErrInvalidNetwork) {
		t.Errorf("CheckNetwork(mainnet) on hoodi: %v", err)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	f := newFixture(t)
	f.node.delay = 2 * time.Second
	c, err := New(f.srv.URL, WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Genesis(context.Background()); err == nil {
		t.Fatal("no timeout")
	}
	if time.Since(start) > time.Second {
		t.Errorf("timeout took %v", time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.client.Genesis(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
}

func TestBadResponses(t *testing.T) {
	cases := map[string]struct {
		status int
		body   string
		want   error
		msg    string
	}{
		"plain 500":       {500, "internal error\n\x1b[31mboom", ErrNode, "internal error  [31mboom"},
		"empty 503":       {503, "", ErrNode, "Service Unavailable"},
		"missing field":   {200, `{"data":{"genesis_time":"1","genesis_fork_version":"0x00000000"}}`, ErrBadResponse, ""},
		"number time":     {200, `{"data":{"genesis_time":1,"genesis_validators_root":"0x` + strings.Repeat("00", 32) + `","genesis_fork_version":"0x00000000"}}`, ErrBadResponse, ""},
		"short root":      {200, `{"data":{"genesis_time":"1","genesis_validators_root":"0x00","genesis_fork_version":"0x00000000"}}`, ErrBadResponse, ""},
		"not json":        {200, `<html>`, ErrBadResponse, ""},
		"huge":            {200, `{"data":"` + strings.Repeat("a", maxResponse) + `"}`, ErrBadResponse, ""},
		"error no fields": {400, `{"code":400}`, ErrNode, `{"code":400}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			defer srv.Close()
			cl, err := New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Genesis(context.Background())
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var apiErr *APIError
			if c.msg != "" && (!errors.As(err, &apiErr) || apiErr.Message != c.msg) {
				t.Errorf("message = %q", apiErr.Message)
			}
		})
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:5052", "ftp://x", "http://", "http://x/?a=b", "::"} {
		if _, err := New(u); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: %v", u, err)
		}
	}
	c, err := New("http://127.0.0.1:5052/prefix/")
	if err != nil || c.base.Path != "/prefix" {
		t.Errorf("prefix: %v %v", c, err)
	}
}

func TestTimeoutNeverUnbounded(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithTimeout(0)}, {WithHTTPClient(&http.Client{})}, {WithHTTPClient(nil)}} {
		c, err := New("http://127.0.0.1:1", opts...)
		if err != nil {
			t.Fatal(err)
		}
		if c.hc.Timeout != DefaultTimeout {
			t.Errorf("timeout %v", c.hc.Timeout)
		}
	}
	c, _ := New("http://127.0.0.1:1", WithHTTPClient(&http.Client{Timeout: time.Second}))
	if c.hc.Timeout != time.Second {
		t.Errorf("kept timeout %v", c.hc.Timeout)
	}
}
