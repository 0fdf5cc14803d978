package bitcoin

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

var errFlaky = errors.New("flaky")

// TestRetryBackoff checks the retry policy itself: transient failures are retried with a backoff that
// doubles up to the ceiling, other errors are returned at once, and the caller gets the underlying
// error (not the transient marker).
func TestRetryBackoff(t *testing.T) {
	ctx := context.Background()

	// Three transient failures, then success: 4 calls, gaps of at least 20, 40 and 80 ms.
	var calls []time.Time
	op := func(fails int) func(context.Context) error {
		return func(context.Context) error {
			calls = append(calls, time.Now())
			if len(calls) <= fails {
				return &transientError{errFlaky}
			}
			return nil
		}
	}
	r := Retry{Attempts: 5, Initial: 20 * time.Millisecond, Max: time.Second}
	if err := r.do(ctx, op(3)); err != nil || len(calls) != 4 {
		t.Fatalf("err %v after %d calls, want success after 4", err, len(calls))
	}
	for i, want := range []time.Duration{20, 40, 80} {
		if gap := calls[i+1].Sub(calls[i]); gap < want*time.Millisecond {
			t.Errorf("backoff %d: %v, want at least %v ms", i, gap, want)
		}
	}

	// Exhausted: the last transient error comes back unwrapped from its marker.
	calls = nil
	err := Retry{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}.do(ctx, op(10))
	var te *transientError
	if !errors.Is(err, errFlaky) || errors.As(err, &te) || len(calls) != 3 {
		t.Fatalf("exhausted: %v after %d calls", err, len(calls))
	}

	// The ceiling holds: 8 attempts at 10 ms capped at 10 ms take ~70 ms, uncapped they would take
	// 10·(2⁷−1) = 1270 ms.
	calls = nil
	start := time.Now()
	_ = Retry{Attempts: 8, Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}.do(ctx, op(10))
	if d := time.Since(start); len(calls) != 8 || d > 800*time.Millisecond {
		t.Fatalf("capped backoff: %d calls in %v", len(calls), d)
	}

	// A non-transient error is not retried; zero attempts still makes one.
	n := 0
	err = Retry{Attempts: 5, Initial: time.Hour}.do(ctx, func(context.Context) error { n++; return ErrRejected })
	if !errors.Is(err, ErrRejected) || n != 1 {
		t.Fatalf("permanent error: %v after %d calls", err, n)
	}
	n = 0
	if err := (Retry{}).do(ctx, func(context.Context) error { n++; return &transientError{errFlaky} }); !errors.Is(err, errFlaky) || n != 1 {
		t.Fatalf("zero policy: %v after %d calls", err, n)
	}

	// Cancellation during a backoff ends the wait with the context's error.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = Retry{Attempts: 3, Initial: time.Hour, Max: time.Hour}.do(cctx, func(context.Context) error { return &transientError{errFlaky} })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errFlaky) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled backoff: %v", err)
	}
}

// TestRPCTimeout: a node that does not answer within the per-request timeout is a transient failure,
// retried, and then an ErrBackend — not a hang.
func TestRPCTimeout(t *testing.T) {
	var requests atomic.Int32
	url := startFakeHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(300 * time.Millisecond):
		}
	}))
	r, err := NewRPC(RPCConfig{URL: url, User: "u", Pass: "p", Timeout: 50 * time.Millisecond, Retry: fastRetry(2)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.FeeRate(context.Background(), 6); !errors.Is(err, ErrBackend) {
		t.Fatalf("got %v, want ErrBackend", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond { // unanswered, two attempts would take 600 ms
		t.Fatalf("timeout not enforced: %v", d)
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (the timeout is retried once)", n)
	}
}
