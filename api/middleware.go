package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vhsm/vhsm/wallet"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyToken
)

func requestIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// tokenFrom returns the authenticated token of the request.
func tokenFrom(ctx context.Context) (wallet.Token, bool) {
	t, ok := ctx.Value(keyToken).(wallet.Token)
	return t, ok
}

// requestID gives every request a random id, returned in X-Request-Id and
// in problem documents, and used in log lines.
func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// routePattern is the matched chi route ("/v1/wallets/{id}"), or
// "unmatched": a bounded label set for metrics and logs.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" && p != "/*" {
			return p
		}
	}
	return "unmatched"
}

// observe counts requests by route, method and status and records their
// latency.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := routePattern(r)
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other"
		}
		s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(sw.status)).Inc()
		s.metrics.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// recoverer turns a panic into a 500 problem. There should be none: the
// fuzz test looks for them.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.panics.Inc()
				s.log.Error("handler_panic", "route", routePattern(r), "request_id", requestIDFrom(r.Context()),
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeProblem(w, r, newProblem(ProblemInternal, "internal error; the request id is in the server log"), nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders marks API answers as not cacheable and not sniffable.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" || r.URL.Path == "/healthz" || r.URL.Path == "/openapi.json" {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// maxTokenLen bounds the bearer secret read from the header.
const maxTokenLen = 256

// clientAddr is the request's remote IP (no port), used to limit failed
// authentications.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate requires a valid bearer token, then applies the token's
// rate limit.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := "addr:" + clientAddr(r)
		if wait, ok := s.fails.peek(addr); !ok {
			s.rateLimited(w, r, wait)
			return
		}
		secret, ok := bearer(r)
		if !ok {
			s.fails.take(addr)
			s.unauthorized(w, r, "missing or malformed Authorization header; send Authorization: Bearer <token>")
			return
		}
		tok, err := s.w.Authenticate(r.Context(), secret)
		if err != nil {
			p, _ := problemOf(err)
			if p.Status == http.StatusUnauthorized || p.Status == http.StatusBadRequest || p.Status == http.StatusNotFound || p.Status == http.StatusForbidden {
				s.fails.take(addr)
				s.unauthorized(w, r, "the token is unknown, revoked or expired")
				return
			}
			s.fail(w, r, err)
			return
		}
		if wait, ok := s.limits.take("tok:" + tok.ID); !ok {
			s.rateLimited(w, r, wait)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyToken, tok)))
	})
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(tok) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= 0x20 || tok[i] > 0x7e {
			return "", false
		}
	}
	return tok, true
}

func (s *server) unauthorized(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vhsm"`)
	writeProblem(w, r, newProblem(ProblemUnauthorized, detail), nil)
}

func (s *server) rateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.metrics.rateLimited.Inc()
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, r, newProblem(ProblemRateLimited, fmt.Sprintf("rate limit exceeded; retry in %d s", secs)), nil)
}

// scope authenticates the request (see authenticate) and requires its
// token to hold scope (or a larger one).
func (s *server) scope(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := tokenFrom(r.Context())
			if !ok {
				s.unauthorized(w, r, "missing token")
				return
			}
			if !wallet.HasScope(tok, scope) {
				writeProblem(w, r, newProblem(ProblemForbidden, "this token lacks the "+scope+" scope"), nil)
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}

// limiter is a set of token buckets by key, bounded in size: idle full
// buckets are dropped first when it grows past maxBuckets.
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

const maxBuckets = 10000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: make(map[string]*bucket)}
}

// refill returns key's bucket brought up to date (mu held).
func (l *limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
		return b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	return b
}

// evict drops buckets that have refilled completely (they carry no state);
// if none has, it drops everything rather than grow without bound.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// take consumes one token of key's bucket; when none is left it reports
// how long until one is.
func (l *limiter) take(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// peek reports whether key's bucket has a token, without consuming it.
func (l *limiter) peek(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// contextWithTimeout bounds a handler's work below the request's context.
func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}
