package vss

import (
	"strconv"
	"strings"
)

// CulpritError reports the participants whose contributions to a threshold
// combination (partial signatures, DPRF evaluations) were invalid. It is
// the one culprit-naming error of threshold/schnorr, threshold/bls and
// threshold/dise, which alias it.
//
// Culprits is sorted and names each misbehaving participant once. Err is the
// failure of the whole operation, or nil when the operation succeeded despite
// the culprits: then the error is returned alongside a valid result, and a
// caller that only wants the result checks for a nil Err.
type CulpritError struct {
	// Scheme names the combining package ("schnorr", "bls", "dise").
	Scheme   string
	Culprits []int
	Err      error
}

func (e *CulpritError) Error() string {
	ids := make([]string, len(e.Culprits))
	for i, c := range e.Culprits {
		ids[i] = strconv.Itoa(c)
	}
	msg := e.Scheme + ": invalid contributions from replicas " + strings.Join(ids, ",")
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CulpritError) Unwrap() error { return e.Err }
