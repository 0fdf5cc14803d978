package wallet

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on free-text fields and keys.
const (
	MaxLabelLen          = 100   // characters
	MaxNoteLen           = 500   // characters
	MaxIdempotencyKeyLen = 255   // bytes, printable ASCII
	MaxOutputs           = 100   // outputs per send
	MaxPSBTLen           = 1e6   // bytes of base64
	DefaultFeeTarget     = 6     // blocks, when the fee rate is estimated
	maxSatoshi           = 21e14 // 21 million BTC
)

// checkText validates a label or note: valid UTF-8, at most max
// characters, no control characters except (for notes) newline and tab.
func checkText(field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("%w: %s is %d characters long (at most %d)", ErrInvalid, field, n, max)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, field)
		}
	}
	return nil
}

// checkIdempotencyKey validates an Idempotency-Key (empty means none).
func checkIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: idempotency key is longer than %d bytes", ErrInvalid, MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return fmt.Errorf("%w: idempotency key must be printable ASCII without spaces", ErrInvalid)
		}
	}
	if strings.HasPrefix(k, incomingKeyPrefix) {
		// Incoming payments are stored under "in:<txid>"; a client key of
		// that form would hide (or collide with) one.
		return fmt.Errorf("%w: idempotency keys starting with %q are reserved", ErrInvalid, incomingKeyPrefix)
	}
	return nil
}

// incomingKeyPrefix starts the idempotency key of a recorded incoming
// payment.
const incomingKeyPrefix = "in:"

// checkID validates an identifier of the form prefix + hexLen hex digits
// before it reaches the database; anything else is simply not found.
func checkID(kind, prefix, id string, hexLen int) error {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != hexLen {
		return fmt.Errorf("%w: no %s %q", ErrNotFound, kind, truncate(id, 40))
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: no %s %q", ErrNotFound, kind, truncate(id, 40))
		}
	}
	return nil
}

// truncate shortens s (for error messages) at a rune boundary and strips
// non-printable runes.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
