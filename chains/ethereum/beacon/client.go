// Package beacon is a small client of the Ethereum Beacon Node API
// (ethereum/beacon-APIs): it submits signed voluntary exits and
// BLS-to-execution changes and reads the genesis, fork and validator data a
// signer needs. Every call has a timeout and honours its context; a node's
// error reply is returned as an [*APIError] carrying the node's own message.
package beacon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vhsm/vhsm/chains/ethereum"
)

// Sentinel errors.
var (
	// ErrNode reports an error reply from the node; see [APIError].
	ErrNode = errors.New("beacon: node returned an error")
	// ErrBadResponse reports a reply that does not match the beacon-API schema.
	ErrBadResponse = errors.New("beacon: malformed response")
	// ErrInvalidArgument reports a bad base URL, state id or validator id.
	ErrInvalidArgument = errors.New("beacon: invalid argument")
)

// APIError is a non-2xx reply. Code and Message come from the node's
// ErrorMessage / IndexedErrorMessage body when it has one; otherwise Message
// holds the start of the raw body.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Code       int       // "code" of the body, 0 if absent
	Message    string    // "message" of the body (or raw text)
	Failures   []Failure // IndexedErrorMessage "failures", by request index
}

// Failure is one entry of an IndexedErrorMessage: which element of the
// submitted array failed, and why.
type Failure struct {
	Index   int    `json:"index"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "beacon: %s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Message)
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "; [%d] %s", f.Index, f.Message)
	}
	return b.String()
}

// Unwrap returns [ErrNode].
func (e *APIError) Unwrap() error { return ErrNode }

// DefaultTimeout bounds each request unless [WithTimeout] says otherwise.
const DefaultTimeout = 15 * time.Second

// maxResponse bounds a response body.
const maxResponse = 1 << 20

// Client talks to one beacon node. It is safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// Option configures a [Client].
type Option func(*Client)

// WithHTTPClient uses a copy of hc (transport, TLS); its Timeout is kept
// unless WithTimeout follows, and a zero Timeout becomes [DefaultTimeout].
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.hc = &cp
		}
	}
}

// WithTimeout sets the per-request timeout; zero or negative means
// [DefaultTimeout] (a request is never unbounded).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.hc.Timeout = d } }

// New returns a client of the node at baseURL (http or https, e.g.
// "http://127.0.0.1:5052").
func New(baseURL string, opts ...Option) (*Client, error) {
	// Errors describe the problem without quoting the URL, which may carry
	// credentials or an API token.
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: base URL does not parse", ErrInvalidArgument)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: base URL must be http(s)://host[:port][/path] without query or fragment", ErrInvalidArgument)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, hc: &http.Client{Timeout: DefaultTimeout}}
	for _, o := range opts {
		o(c)
	}
	if c.hc.Timeout <= 0 {
		c.hc.Timeout = DefaultTimeout
	}
	return c, nil
}

// SubmitVoluntaryExit posts one SignedVoluntaryExit
// (POST /eth/v1/beacon/pool/voluntary_exits, submitPoolVoluntaryExit).
func (c *Client) SubmitVoluntaryExit(ctx context.Context, exit ethereum.SignedVoluntaryExit) error {
	return c.post(ctx, "/eth/v1/beacon/pool/voluntary_exits", exit)
}

// SubmitBLSToExecutionChanges posts SignedBLSToExecutionChanges
// (POST /eth/v1/beacon/pool/bls_to_execution_changes,
// submitPoolBLSToExecutionChange). On a 400 the [APIError] lists the
// failing indices.
func (c *Client) SubmitBLSToExecutionChanges(ctx context.Context, changes []ethereum.SignedBLSToExecutionChange) error {
	if len(changes) == 0 {
		return fmt.Errorf("%w: no changes", ErrInvalidArgument)
	}
	return c.post(ctx, "/eth/v1/beacon/pool/bls_to_execution_changes", changes)
}

// Genesis is the data of GET /eth/v1/beacon/genesis.
type Genesis struct {
	Time               uint64
	ValidatorsRoot     ethereum.Root
	GenesisForkVersion ethereum.Version
}

// Genesis reads the node's genesis (getGenesis).
func (c *Client) Genesis(ctx context.Context) (Genesis, error) {
	const path = "/eth/v1/beacon/genesis"
	data, err := c.get(ctx, path)
	if err != nil {
		return Genesis{}, err
	}
	return parseGenesis(path, data)
}

func parseGenesis(path string, data []byte) (Genesis, error) {
	var r struct {
		Data *struct {
			Time    *ethereum.Uint64  `json:"genesis_time"`
			Root    *ethereum.Root    `json:"genesis_validators_root"`
			Version *ethereum.Version `json:"genesis_fork_version"`
		} `json:"data"`
	}
	if err := decode(path, data, &r); err != nil {
		return Genesis{}, err
	}
	if r.Data == nil || r.Data.Time == nil || r.Data.Root == nil || r.Data.Version == nil {
		return Genesis{}, fmt.Errorf("%w: %s: missing field", ErrBadResponse, path)
	}
	return Genesis{Time: uint64(*r.Data.Time), ValidatorsRoot: *r.Data.Root, GenesisForkVersion: *r.Data.Version}, nil
}

// CheckNetwork compares the node's genesis with net, so that nothing signed
// for one network is submitted to another.
func (c *Client) CheckNetwork(ctx context.Context, net ethereum.Network) error {
	g, err := c.Genesis(ctx)
	if err != nil {
		return err
	}
	if g.ValidatorsRoot != net.GenesisValidatorsRoot || g.GenesisForkVersion != net.GenesisForkVersion {
		return fmt.Errorf("%w: node is on genesis %s / fork %s, not %s", ethereum.ErrInvalidNetwork, g.ValidatorsRoot, g.GenesisForkVersion, net.Name)
	}
	return nil
}

// Fork is the data of GET /eth/v1/beacon/states/{state_id}/fork.
type Fork struct {
	PreviousVersion ethereum.Version
	CurrentVersion  ethereum.Version
	Epoch           uint64
}

// Fork reads the fork of a state (getStateFork). stateID is "head",
// "genesis", "finalized", "justified", a slot number or a 0x state root.
func (c *Client) Fork(ctx context.Context, stateID string) (Fork, error) {
	if err := checkStateID(stateID); err != nil {
		return Fork{}, err
	}
	path := "/eth/v1/beacon/states/" + url.PathEscape(stateID) + "/fork"
	data, err := c.get(ctx, path)
	if err != nil {
		return Fork{}, err
	}
	return parseFork(path, data)
}

func parseFork(path string, data []byte) (Fork, error) {
	var r struct {
		Data *struct {
			Previous *ethereum.Version `json:"previous_version"`
			Current  *ethereum.Version `json:"current_version"`
			Epoch    *ethereum.Uint64  `json:"epoch"`
		} `json:"data"`
	}
	if err := decode(path, data, &r); err != nil {
		return Fork{}, err
	}
	if r.Data == nil || r.Data.Previous == nil || r.Data.Current == nil || r.Data.Epoch == nil {
		return Fork{}, fmt.Errorf("%w: %s: missing field", ErrBadResponse, path)
	}
	return Fork{PreviousVersion: *r.Data.Previous, CurrentVersion: *r.Data.Current, Epoch: uint64(*r.Data.Epoch)}, nil
}

// Validator is the data of GET /eth/v1/beacon/states/{state_id}/validators/{validator_id}.
type Validator struct {
	Index                      uint64
	Balance                    uint64 // Gwei
	Status                     string // e.g. "active_ongoing"
	Pubkey                     ethereum.Pubkey
	WithdrawalCredentials      ethereum.Credentials
	EffectiveBalance           uint64
	Slashed                    bool
	ActivationEligibilityEpoch uint64
	ActivationEpoch            uint64
	ExitEpoch                  uint64
	WithdrawableEpoch          uint64
}

// Validator reads one validator (getStateValidator). validatorID is a
// decimal index or a 0x public key.
func (c *Client) Validator(ctx context.Context, stateID, validatorID string) (Validator, error) {
	if err := checkStateID(stateID); err != nil {
		return Validator{}, err
	}
	if !isUint(validatorID) && !isHex(validatorID, 48) {
		return Validator{}, fmt.Errorf("%w: validator id %q", ErrInvalidArgument, validatorID)
	}
	path := "/eth/v1/beacon/states/" + url.PathEscape(stateID) + "/validators/" + url.PathEscape(validatorID)
	data, err := c.get(ctx, path)
	if err != nil {
		return Validator{}, err
	}
	return parseValidator(path, data)
}

func parseValidator(path string, data []byte) (Validator, error) {
	type validatorJSON struct {
		Pubkey                     *ethereum.Pubkey      `json:"pubkey"`
		WithdrawalCredentials      *ethereum.Credentials `json:"withdrawal_credentials"`
		EffectiveBalance           *ethereum.Uint64      `json:"effective_balance"`
		Slashed                    *bool                 `json:"slashed"`
		ActivationEligibilityEpoch *ethereum.Uint64      `json:"activation_eligibility_epoch"`
		ActivationEpoch            *ethereum.Uint64      `json:"activation_epoch"`
		ExitEpoch                  *ethereum.Uint64      `json:"exit_epoch"`
		WithdrawableEpoch          *ethereum.Uint64      `json:"withdrawable_epoch"`
	}
	var r struct {
		Data *struct {
			Index     *ethereum.Uint64 `json:"index"`
			Balance   *ethereum.Uint64 `json:"balance"`
			Status    *string          `json:"status"`
			Validator *validatorJSON   `json:"validator"`
		} `json:"data"`
	}
	if err := decode(path, data, &r); err != nil {
		return Validator{}, err
	}
	d := r.Data
	if d == nil || d.Index == nil || d.Balance == nil || d.Status == nil || d.Validator == nil {
		return Validator{}, fmt.Errorf("%w: %s: missing field", ErrBadResponse, path)
	}
	v := d.Validator
	if v.Pubkey == nil || v.WithdrawalCredentials == nil || v.EffectiveBalance == nil || v.Slashed == nil ||
		v.ActivationEligibilityEpoch == nil || v.ActivationEpoch == nil || v.ExitEpoch == nil || v.WithdrawableEpoch == nil {
		return Validator{}, fmt.Errorf("%w: %s: missing validator field", ErrBadResponse, path)
	}
	return Validator{
		Index: uint64(*d.Index), Balance: uint64(*d.Balance), Status: *d.Status,
		Pubkey: *v.Pubkey, WithdrawalCredentials: *v.WithdrawalCredentials,
		EffectiveBalance: uint64(*v.EffectiveBalance), Slashed: *v.Slashed,
		ActivationEligibilityEpoch: uint64(*v.ActivationEligibilityEpoch), ActivationEpoch: uint64(*v.ActivationEpoch),
		ExitEpoch: uint64(*v.ExitEpoch), WithdrawableEpoch: uint64(*v.WithdrawableEpoch),
	}, nil
}

func checkStateID(id string) error {
	switch id {
	case "head", "genesis", "finalized", "justified":
		return nil
	}
	if isUint(id) || isHex(id, 32) {
		return nil
	}
	return fmt.Errorf("%w: state id %q", ErrInvalidArgument, id)
}

func isUint(s string) bool {
	_, err := ethereum.ParseUint64(s)
	return err == nil
}

func isHex(s string, n int) bool {
	if len(s) != 2+2*n || s[:2] != "0x" {
		return false
	}
	for _, c := range s[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (c *Client) post(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	_, err = c.do(ctx, http.MethodPost, path, b)
	return err
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// decode unmarshals a successful response body.
func decode(path string, data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadResponse, path, err)
	}
	return nil
}

// do sends one request and returns the body of a 2xx reply; any other
// status is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawPath = ""
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL, whose base may hold an API
		// token (in its path) or credentials; name only the API path.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("beacon: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("beacon: %s %s: read body: %w", method, path, err)
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("%w: %s %s: body larger than %d bytes", ErrBadResponse, method, path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(method, path, resp.StatusCode, data)
	}
	return data, nil
}

// apiError builds an APIError from an ErrorMessage / IndexedErrorMessage
// body, falling back to (a printable prefix of) the raw body.
func apiError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, StatusCode: status}
	var m struct {
		Code     *int      `json:"code"`
		Message  *string   `json:"message"`
		Failures []Failure `json:"failures"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != nil {
		if m.Code != nil {
			e.Code = *m.Code
		}
		e.Message = clean(*m.Message)
		for _, f := range m.Failures {
			e.Failures = append(e.Failures, Failure{Index: f.Index, Message: clean(f.Message)})
		}
		return e
	}
	e.Message = clean(string(body))
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// clean bounds a node-supplied string and drops control characters, so that
// a hostile node cannot flood or forge log lines.
func clean(s string) string {
	const maxLen = 512
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLen {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
