package client

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors. Errors returned by the client wrap one of these (test
// with errors.Is) and never contain a key, share, nonce or plaintext.
var (
	// ErrConfig reports an invalid or unreadable configuration.
	ErrConfig = errors.New("client: invalid configuration")
	// ErrInvalidArgument reports a bad argument (identifier, scheme, sizes).
	ErrInvalidArgument = errors.New("client: invalid argument")
	// ErrNoQuorum reports that fewer than t+1 replicas gave a valid answer
	// before the deadline; the concrete error is a [*QuorumError].
	ErrNoQuorum = errors.New("client: not enough valid replica answers")
	// ErrRejected reports that at least t+1 replicas rejected the request
	// with the same reason; the concrete error is a [*RejectedError].
	ErrRejected = errors.New("client: request rejected")
	// ErrScheme reports a key of a different scheme than the operation needs.
	ErrScheme = errors.New("client: wrong key scheme")
	// ErrInvalidKey reports key data agreed by t+1 replicas that is
	// nevertheless malformed or inconsistent (public key vs commitment).
	ErrInvalidKey = errors.New("client: invalid key data")
	// ErrInvalidResult reports a combined result that does not verify
	// although every partial did; it indicates a bug, never a bad replica.
	ErrInvalidResult = errors.New("client: combined result does not verify")
	// ErrDecrypt reports a ciphertext that does not decrypt (malformed,
	// forged, or not made under this key).
	ErrDecrypt = errors.New("client: decryption failed")
)

// Reasons a replica is named a culprit.
const (
	ReasonInvalidPartial = "invalid partial"             // partial fails verification against public data
	ReasonDisagreement   = "disagrees with t+1 replicas" // public data differs from what t+1 replicas report
	ReasonMalformed      = "malformed response"          // undecodable, wrong replica index, missing fields
)

// Culprit names a replica that answered with something provably wrong.
type Culprit struct {
	Replica int    // 1-based replica index
	Reason  string // one of the Reason* constants
}

func (c Culprit) String() string { return fmt.Sprintf("replica %d: %s", c.Replica, c.Reason) }

// QuorumError is returned when fewer than t+1 valid answers arrived: the
// deadline passed, the context ended, or too many replicas failed.
type QuorumError struct {
	Op         string      // the wire operation
	Needed     int         // t+1
	Total      int         // n
	Answered   int         // replicas that answered at all (any HTTP response)
	Valid      int         // answers that verified
	TimedOut   bool        // the deadline or the caller's context ended the wait
	Failures   []int       // replicas that could not be reached or failed without a reason
	Rejections []Rejection // rejections given by fewer than t+1 replicas each
	Culprits   []Culprit   // replicas whose answers were provably wrong
}

// Rejection is one rejection reason and the replicas that gave it.
type Rejection struct {
	Reason   string
	Replicas []int
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %s: %d of %d replicas answered, %d valid, %d needed", e.Op, e.Answered, e.Total, e.Valid, e.Needed)
	if e.TimedOut {
		b.WriteString(" (timed out)")
	}
	if len(e.Failures) > 0 {
		fmt.Fprintf(&b, "; unreachable or failing: %v", e.Failures)
	}
	for _, rj := range e.Rejections {
		fmt.Fprintf(&b, "; rejected by %v: %s", rj.Replicas, rj.Reason)
	}
	if len(e.Culprits) > 0 {
		b.WriteString("; culprits: ")
		for i, c := range e.Culprits {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.String())
		}
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrNoQuorum) hold.
func (e *QuorumError) Unwrap() error { return ErrNoQuorum }

// RejectedError is returned when at least t+1 replicas rejected the request
// with the same reason (unauthorized, unknown key, duplicate key id, ...).
type RejectedError struct {
	Op       string
	Reason   string // the replicas' error text, sanitized
	Replicas []int
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("client: %s rejected by replicas %v: %s", e.Op, e.Replicas, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// sortCulprits orders culprits by replica for stable reports.
func sortCulprits(cs []Culprit) []Culprit {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Replica < cs[j].Replica })
	return cs
}

// sanitize makes a replica-supplied string safe to show: printable ASCII,
// bounded length.
func sanitize(s string) string {
	const max = 200
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r > 0x7e {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
