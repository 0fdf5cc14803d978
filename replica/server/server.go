// Package server is a replica's HTTPS API: the one door through which
// clients reach the replica's engine.
//
//	POST /v1/request  body: JSON wire.SignedRequest (at most wire.MaxRequestBytes)
//	                  → 200 JSON wire.Response, or 4xx/5xx JSON wire.Response
//	                    with Error set when the request is rejected
//	GET  /v1/status   → 200 JSON Status
//
// The server checks only the transport shape of a request (size, strict JSON,
// a non-empty request and a 64-byte signature); authentication, replay,
// expiry and authorization are the engine's. The listener is TLS only, with
// the replica's self-signed certificate that clients pin, so partial results
// (DPRF evaluations in particular) travel encrypted.
package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// Errors returned by the server.
var (
	// ErrConfig is returned by New for an incomplete configuration.
	ErrConfig = errors.New("server: invalid configuration")
	// ErrMalformed is the rejection of a body that is not a well-formed
	// JSON wire.SignedRequest.
	ErrMalformed = errors.New("server: malformed request")
	// ErrTooLarge is the rejection of a body over wire.MaxRequestBytes.
	ErrTooLarge = errors.New("server: request too large")
)

// Handler executes one signed request end to end; replica/engine's Engine
// implements it. signedRequest is the exact JSON wire.SignedRequest body the
// client sent. A response with Error set is a rejection (4xx); an error
// without such a response is an internal failure (5xx, no rejection: the
// client counts the replica as unavailable).
type Handler interface {
	Handle(ctx context.Context, signedRequest []byte) (*wire.Response, error)
}

// StatusCoder may be implemented by errors returned with a rejection from
// Handler.Handle to choose its HTTP status (default 400 Bad Request).
type StatusCoder interface {
	HTTPStatus() int
}

// Status is the GET /v1/status answer.
type Status struct {
	Replica int    `json:"replica"`
	Height  int64  `json:"height"`
	Ready   bool   `json:"ready"`
	Error   string `json:"error,omitempty"`
	// OpenSessions counts the DKG sessions (pool refills) still running.
	OpenSessions int `json:"open_sessions"`
	// Pools is the number of available items per pool kind.
	Pools map[string]int `json:"pools,omitempty"`
}

// Config configures a Server.
type Config struct {
	// Replica is this replica's 1-based index, echoed in every response.
	Replica int
	// Handler executes requests.
	Handler Handler
	// Status reports the replica's state for GET /v1/status.
	Status func() Status
	// Cert is the replica's TLS certificate and key.
	Cert tls.Certificate
	// RequestTimeout bounds one request's handling (default 30s).
	RequestTimeout time.Duration
	// Log receives server errors (never request contents).
	Log *slog.Logger
}

// Server is the replica API server.
type Server struct {
	cfg        Config
	http       *http.Server
	base       context.Context    // parent of every request's context
	cancelBase context.CancelFunc // ends in-flight requests at Shutdown

	// fresh holds the connections that have not sent a request yet
	// (http.StateNew). http.Server.Shutdown counts such a connection as
	// idle only 5 s after it was accepted, so a client's dial that was
	// abandoned (a hedge whose answer was no longer needed: Go's transport
	// finishes the dial and parks the connection) would hold the shutdown
	// for that long. They carry no request, so Shutdown closes them.
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
}

// New builds a server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil || cfg.Status == nil || cfg.Replica < 1 || len(cfg.Cert.Certificate) == 0 {
		return nil, ErrConfig
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, fresh: make(map[net.Conn]struct{})}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.http = &http.Server{
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ConnState:         s.connState,
		Handler:           s.Routes(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cfg.Cert}},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Routes returns the API's handler (without TLS), for tests and embedding.
func (s *Server) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/request", s.handleRequest)
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	return mux
}

// Serve accepts TLS connections on ln until Shutdown; it returns nil after a
// clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, cancels the context of in-flight
// requests (they answer 503: a request waiting for a block would otherwise
// hold the shutdown) and waits for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancelBase()
	s.mu.Lock()
	for c := range s.fresh {
		_ = c.Close()
	}
	s.mu.Unlock()
	return s.http.Shutdown(ctx)
}

// connState tracks the connections that have not sent a request yet.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == http.StateNew {
		s.fresh[c] = struct{}{}
	} else {
		delete(s.fresh, c)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Status()
	st.Replica = s.cfg.Replica
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleRequest(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.reject(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	if err := checkSignedRequest(body); err != nil {
		s.reject(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.cfg.Handler.Handle(ctx, body)
	switch {
	case err != nil && ctx.Err() != nil:
		// Timed out or client gone: not a rejection of the request.
		s.fail(w, http.StatusServiceUnavailable)
	case resp != nil && resp.Error != "":
		code := http.StatusBadRequest
		var sc StatusCoder
		if errors.As(err, &sc) {
			code = sc.HTTPStatus()
		}
		resp.Replica = s.cfg.Replica
		writeJSON(w, code, resp)
	case err != nil:
		// An internal failure proves nothing about the request: answer
		// without a rejection so that clients count it as unavailable.
		s.cfg.Log.Error("request_failed", "err", err)
		s.fail(w, http.StatusInternalServerError)
	case resp == nil:
		s.cfg.Log.Error("handler_returned_nil_response")
		s.fail(w, http.StatusInternalServerError)
	default:
		resp.Replica = s.cfg.Replica
		writeJSON(w, http.StatusOK, resp)
	}
}

// fail answers an error status that is not a rejection.
func (s *Server) fail(w http.ResponseWriter, code int) {
	writeJSON(w, code, &wire.Response{Replica: s.cfg.Replica})
}

// readBody reads at most wire.MaxRequestBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrTooLarge
		}
		return nil, fmt.Errorf("%w: read body", ErrMalformed)
	}
	return body, nil
}

// checkSignedRequest checks that body is exactly one strict JSON
// wire.SignedRequest with a request and a 64-byte signature.
func checkSignedRequest(body []byte) error {
	if len(body) > wire.MaxRequestBytes {
		return ErrTooLarge
	}
	var sr wire.SignedRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return fmt.Errorf("%w: not a signed request", ErrMalformed)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if len(sr.Request) == 0 || len(sr.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: missing request or signature", ErrMalformed)
	}
	return nil
}

func (s *Server) reject(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, &wire.Response{Replica: s.cfg.Replica, Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"encode response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
