package hd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidPath is returned by [ParsePath] for text that is not a path of
// unhardened indices.
var ErrInvalidPath = errors.New("hd: invalid derivation path")

// MaxPathLen bounds the number of indices [ParsePath] accepts. A wallet
// uses 2 (branch/index); BIP-32 allows 255 levels.
const MaxPathLen = 16

// ParsePath parses a derivation path relative to the root: decimal
// unhardened indices separated by "/", such as "0/17" (receive address 17)
// or "1/3" (change address 3); the empty string is the root. A leading
// "m/" (or "m" alone) is accepted as the root's name. Hardened markers
// (', h, H), indices ≥ 2^31, leading zeros, signs, empty components and
// more than [MaxPathLen] indices are refused with [ErrInvalidPath], so
// every path has exactly one text ([FormatPath]).
func ParsePath(s string) ([]uint32, error) {
	if s == "m" {
		return []uint32{}, nil
	}
	s = strings.TrimPrefix(s, "m/")
	if s == "" {
		return []uint32{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) > MaxPathLen {
		return nil, fmt.Errorf("%w: %d indices, at most %d", ErrInvalidPath, len(parts), MaxPathLen)
	}
	path := make([]uint32, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 10 || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("%w: component %d %q", ErrInvalidPath, i, p)
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil || uint32(v) >= HardenedOffset {
			return nil, fmt.Errorf("%w: component %d %q is not an unhardened index", ErrInvalidPath, i, p)
		}
		path[i] = uint32(v)
	}
	return path, nil
}

// FormatPath writes path as [ParsePath] reads it, without the "m/" prefix
// ("0/17"; "" for the root).
func FormatPath(path []uint32) string {
	var b strings.Builder
	for i, v := range path {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}
