package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

type fakeHandler struct {
	got []byte
	err error
	res *wire.Response
}

func (f *fakeHandler) Handle(ctx context.Context, b []byte) (*wire.Response, error) {
	f.got = append([]byte(nil), b...)
	return f.res, f.err
}

func validBody(t testing.TB) []byte {
	b, err := json.Marshal(wire.SignedRequest{Request: []byte(`{"id":"x"}`), Signature: make([]byte, 64)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestServer(t testing.TB, h Handler) *Server {
	certDER, keyDER, err := GenerateCert(rand.Reader, "replica-2", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := LoadCert(certDER, keyDER)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Replica: 2, Handler: h, Cert: cert, Status: func() Status { return Status{Height: 7, Ready: true} }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t *testing.T, s *Server, body []byte) (int, wire.Response) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Routes().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/request", bytes.NewReader(body)))
	var r wire.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("response not JSON (%d): %q", rec.Code, rec.Body.String())
	}
	return rec.Code, r
}

func TestRequestPaths(t *testing.T) {
	h := &fakeHandler{res: &wire.Response{Partial: []byte{1, 2}}}
	s := newTestServer(t, h)
	body := validBody(t)
	code, r := post(t, s, body)
	if code != http.StatusOK || r.Replica != 2 || !bytes.Equal(r.Partial, []byte{1, 2}) || r.Error != "" {
		t.Fatalf("ok path: %d %+v", code, r)
	}
	if !bytes.Equal(h.got, body) {
		t.Fatalf("handler got different bytes")
	}

	h.res = &wire.Response{Error: "app: replayed request"}
	if code, r := post(t, s, body); code != http.StatusBadRequest || r.Error == "" || r.Replica != 2 {
		t.Fatalf("rejection in response: %d %+v", code, r)
	}
	h.res, h.err = &wire.Response{Error: "app: unauthorized"}, errors.New("engine: request rejected: app: unauthorized")
	if code, r := post(t, s, body); code != http.StatusBadRequest || r.Error != "app: unauthorized" {
		t.Fatalf("rejection with error: %d %+v", code, r)
	}
	h.res, h.err = &wire.Response{}, errors.New("store failure")
	if code, r := post(t, s, body); code != http.StatusInternalServerError || r.Error != "" || r.Replica != 2 {
		t.Fatalf("internal failure: %d %+v", code, r)
	}
	h.res, h.err = nil, nil
	if code, _ := post(t, s, body); code != http.StatusInternalServerError {
		t.Fatalf("nil response: %d", code)
	}

	h.got = nil
	for name, bad := range map[string][]byte{
		"not json":      []byte("hello"),
		"unknown field": []byte(`{"request":"eA==","signature":"` + strings.Repeat("A", 86) + `==","x":1}`),
		"short sig":     []byte(`{"request":"eA==","signature":"AAAA"}`),
		"no request":    []byte(`{"signature":"` + strings.Repeat("A", 86) + `=="}`),
		"trailing":      append(validBody(t), []byte(` {}`)...),
		"empty":         nil,
	} {
		if code, r := post(t, s, bad); code != http.StatusBadRequest || !strings.Contains(r.Error, "malformed") {
			t.Errorf("%s: %d %+v", name, code, r)
		}
	}
	big := bytes.Repeat([]byte(" "), wire.MaxRequestBytes+1)
	if code, _ := post(t, s, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d", code)
	}
	if h.got != nil {
		t.Fatalf("malformed request reached the handler")
	}
}

func TestTLSPinnedAndStatus(t *testing.T) {
	h := &fakeHandler{res: &wire.Response{}}
	s := newTestServer(t, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	url := "https://" + ln.Addr().String()
	pinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: PinnedClientConfig(s.cfg.Cert.Certificate[0])}}
	resp, err := pinned.Get(url + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &st); err != nil || st.Replica != 2 || st.Height != 7 || !st.Ready {
		t.Fatalf("status %q: %v", b, err)
	}
	// A client pinning another certificate refuses the connection.
	other, _, err := GenerateCert(rand.Reader, "other", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	wrong := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: PinnedClientConfig(other)}}
	if _, err := wrong.Get(url + "/v1/status"); err == nil {
		t.Fatal("connection accepted with the wrong pin")
	}
	// Plain HTTP is not served.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/v1/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain http served")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// FuzzRequest drives the request decoding path with arbitrary bodies: no
// panic, always a JSON answer, and the handler only sees well-formed
// signed requests.
func FuzzRequest(f *testing.F) {
	h := &fakeHandler{res: &wire.Response{}}
	s := newTestServer(f, h)
	routes := s.Routes()
	f.Add(validBody(f))
	f.Add([]byte(`{"request":null,"signature":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h.got = nil
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/request", bytes.NewReader(body)))
		var r wire.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("non-JSON answer %q", rec.Body.String())
		}
		if h.got != nil {
			var sr wire.SignedRequest
			if err := json.Unmarshal(h.got, &sr); err != nil || len(sr.Signature) != 64 || len(sr.Request) == 0 {
				t.Fatalf("handler reached with malformed body")
			}
		}
	})
}

// blockingHandler waits for its context, like a request waiting for a block.
type blockingHandler struct{ started chan struct{} }

func (b blockingHandler) Handle(ctx context.Context, _ []byte) (*wire.Response, error) {
	close(b.started)
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestShutdownCancelsInFlight(t *testing.T) {
	h := blockingHandler{started: make(chan struct{})}
	s := newTestServer(t, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: PinnedClientConfig(s.cfg.Cert.Certificate[0])}}
	codes := make(chan int, 1)
	go func() {
		resp, err := cl.Post("https://"+ln.Addr().String()+"/v1/request", "application/json", bytes.NewReader(validBody(t)))
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a request in flight: %v", err)
	}
	if code := <-codes; code != http.StatusServiceUnavailable {
		t.Fatalf("in-flight request got %d, want 503", code)
	}
}

// TestShutdownClosesFreshConnections: a connection that was opened (TCP and
// TLS) but never carried a request — what Go's transport leaves behind for
// an abandoned hedge — does not hold the shutdown (http.Server would wait 5 s
// for it).
func TestShutdownClosesFreshConnections(t *testing.T) {
	s := newTestServer(t, &fakeHandler{res: &wire.Response{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	for i := 0; i < 3; i++ {
		c, err := tls.Dial("tcp", ln.Addr().String(), PinnedClientConfig(s.cfg.Cert.Certificate[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with fresh connections: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
