package remotesigner

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vhsm/vhsm/replica/eth2"
)

// Errors a Signer returns; the handler maps them onto the specification's
// status codes.
var (
	// ErrUnknownKey: no validator key with that public key (404).
	ErrUnknownKey = errors.New("remotesigner: unknown validator key")
	// ErrSlashable: slashing protection refused the request (412).
	ErrSlashable = errors.New("remotesigner: refused by slashing protection")
)

// Signer signs typed requests with validator keys.
type Signer interface {
	// PublicKeys lists the validator public keys the signer holds.
	PublicKeys(ctx context.Context) ([][48]byte, error)
	// Sign signs one typed request body (the spec's JSON, already
	// validated by eth2.Parse) with the validator key whose public key is
	// pubkey. Errors: ErrUnknownKey → 404, ErrSlashable (errors.Is) → 412.
	Sign(ctx context.Context, pubkey [48]byte, body []byte) ([96]byte, error)
}

// Paths of the remote-signing API v1.1.0 (and Web3Signer's /upcheck).
const (
	PathUpcheck    = "/upcheck"
	PathPublicKeys = "/api/v1/eth2/publicKeys"
	PathSign       = "/api/v1/eth2/sign/"
)

// clientKey carries the authenticated client's access in a request context.
type clientKey struct{}

// withClient returns ctx for a request from client c (nil: unrestricted).
func withClient(ctx context.Context, c *Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// Handler serves the remote-signing API. Access restricts which validator
// keys each TLS client may see and use; the client is taken from the
// request's client certificate (see Access.Identify). A nil Access means
// unrestricted access — only for a loopback listener (Listen enforces this).
type Handler struct {
	Signer Signer
	Access *Access
	Logger *slog.Logger

	largeOnce sync.Once
	large     chan struct{} // slots for bodies above smallBody
}

// Bodies up to smallBody (attestations, headers, everything but full
// blocks) are read at once; at most largeBodies larger ones (full blocks
// with execution payloads) are read and decoded at a time, bounding the
// memory and CPU one authenticated client can tie up.
const (
	smallBody   = 1 << 20
	largeBodies = 2
)

// readBody reads the request body (at most eth2.MaxBodySize bytes);
// release frees the large-body slot it may hold.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	h.largeOnce.Do(func() { h.large = make(chan struct{}, largeBodies) })
	src := http.MaxBytesReader(w, r.Body, eth2.MaxBodySize)
	body, err := io.ReadAll(io.LimitReader(src, smallBody+1))
	if err != nil || len(body) <= smallBody {
		return body, func() {}, err
	}
	select {
	case h.large <- struct{}{}:
	case <-r.Context().Done():
		return nil, func() {}, r.Context().Err()
	}
	release := func() { <-h.large }
	rest, err := io.ReadAll(src)
	return append(body, rest...), release, err
}

// ServeHTTP routes the three endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client, ok := h.client(r)
	if !ok {
		// Unreachable behind Listen's TLS configuration (the handshake
		// already refuses unknown certificates); a defence in depth for
		// handlers mounted elsewhere.
		writeError(w, http.StatusForbidden, "client certificate not authorised")
		return
	}
	switch {
	case r.URL.Path == PathUpcheck:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "OK")
	case r.URL.Path == PathPublicKeys:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		h.publicKeys(w, r, client)
	case strings.HasPrefix(r.URL.Path, PathSign):
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		h.sign(w, r, client, strings.TrimPrefix(r.URL.Path, PathSign))
	default:
		writeError(w, http.StatusNotFound, "no such endpoint")
	}
}

func (h *Handler) client(r *http.Request) (*Client, bool) {
	if h.Access == nil {
		return nil, true
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false
	}
	c := h.Access.Identify(r.TLS.PeerCertificates)
	return c, c != nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) publicKeys(w http.ResponseWriter, r *http.Request, c *Client) {
	keys, err := h.Signer.PublicKeys(r.Context())
	if err != nil {
		h.logger().Error("remote signer: listing public keys failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error listing public keys")
		return
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if c.allows(k) {
			out = append(out, "0x"+hex.EncodeToString(k[:]))
		}
	}
	sort.Strings(out)
	writeJSON(w, http.StatusOK, out)
}

// parsePubkey reads a 0x-prefixed 48-byte hex identifier.
func parsePubkey(s string) ([48]byte, error) {
	var pk [48]byte
	if len(s) != 2+96 || (s[:2] != "0x" && s[:2] != "0X") {
		return pk, errors.New("identifier must be a 0x-prefixed 48-byte hex BLS public key")
	}
	if _, err := hex.Decode(pk[:], []byte(s[2:])); err != nil {
		return pk, errors.New("identifier must be a 0x-prefixed 48-byte hex BLS public key")
	}
	return pk, nil
}

func (h *Handler) sign(w http.ResponseWriter, r *http.Request, c *Client, ident string) {
	pk, err := parsePubkey(ident)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !c.allows(pk) {
		// Not this client's key: indistinguishable from an unknown key.
		writeError(w, http.StatusNotFound, "public key not found")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusBadRequest, "request body must be application/json")
			return
		}
	}
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("request body larger than %d bytes", eth2.MaxBodySize))
			return
		}
		writeError(w, http.StatusBadRequest, "could not read request body")
		return
	}
	req, err := eth2.Parse(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// The replicas compute the root again; here it only refuses a body whose
	// signingRoot disagrees with its content before anything is ordered.
	if _, err := req.SigningRoot(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sig, err := h.Signer.Sign(r.Context(), pk, body)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownKey):
		writeError(w, http.StatusNotFound, "public key not found")
		return
	case errors.Is(err, ErrSlashable):
		h.logger().Warn("remote signer: slashing protection refused a request", "type", req.Type, "err", err)
		writeError(w, http.StatusPreconditionFailed, err.Error())
		return
	default:
		h.logger().Error("remote signer: signing failed", "type", req.Type, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error while signing")
		return
	}
	hexSig := "0x" + hex.EncodeToString(sig[:])
	if wantsText(r.Header.Values("Accept")) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, hexSig)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"signature": hexSig})
}

// wantsText reports whether the Accept header prefers text/plain over
// application/json. Without an Accept header, or when both are equally
// acceptable, the answer is JSON (the specification's first content type).
func wantsText(accept []string) bool {
	qJSON, qText := -1.0, -1.0
	any := false
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			any = true
			q := 1.0
			if s, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v <= 1 {
					q = v
				}
			}
			switch mt {
			case "application/json":
				qJSON = max(qJSON, q)
			case "text/plain":
				qText = max(qText, q)
			case "*/*", "application/*":
				if qJSON < 0 {
					qJSON = q * 0.999 // a wildcard ranks below an explicit type
				}
				if mt == "*/*" && qText < 0 {
					qText = q * 0.998
				}
			case "text/*":
				if qText < 0 {
					qText = q * 0.999
				}
			}
		}
	}
	if !any {
		return false
	}
	return qText > 0 && qText > qJSON
}

// errorBody is the error response body: the beacon-API error shape.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Code: code, Message: msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"code":500,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(b)
}
