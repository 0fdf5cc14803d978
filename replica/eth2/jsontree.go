package eth2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// A strict reader of JSON request bodies. The body is first read into a tree
// (objects as maps, numbers as json.Number) refusing duplicate keys, trailing
// data and excessive nesting; typed decoders then walk the tree through *obj,
// which records the first error (with the JSON path) and refuses unknown keys.
//
// Keys are matched in snake_case; camelCase spellings of the same key
// (previousVersion, signingRoot, ...) are accepted as aliases because the
// specification's own examples use them. A body that spells one key both ways
// is refused as a duplicate.

const maxJSONDepth = 32

// snakeKey maps a camelCase key to snake_case ("eth1Data" → "eth1_data").
func snakeKey(k string) string {
	if strings.IndexFunc(k, func(r rune) bool { return r >= 'A' && r <= 'Z' }) < 0 {
		return k
	}
	var b strings.Builder
	for i, r := range k {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// parseTree reads one JSON value and nothing else.
func parseTree(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %v", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("invalid JSON object key")
				}
				nk := snakeKey(k)
				if _, dup := m[nk]; dup {
					return nil, fmt.Errorf("duplicate key %q", truncate(k, 64))
				}
				v, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m[nk] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			return m, nil
		case '[':
			var l []any
			for dec.More() {
				v, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			if l == nil {
				l = []any{}
			}
			return l, nil
		}
		return nil, errors.New("invalid JSON")
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// dec collects the first decoding error.
type dec struct{ err error }

func (d *dec) fail(path, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

// obj is a JSON object being decoded.
type obj struct {
	d    *dec
	path string
	m    map[string]any
	used map[string]bool
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// asObj views v as an object; a missing or non-object value records an error
// and yields an empty object so decoding can continue without panics.
func (d *dec) asObj(path string, v any) *obj {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "must be a JSON object")
		m = map[string]any{}
	}
	return &obj{d: d, path: path, m: m, used: map[string]bool{}}
}

func (o *obj) has(key string) bool {
	v, ok := o.m[key]
	return ok && v != nil
}

// get returns the value of a required key.
func (o *obj) get(key string) (any, bool) {
	o.used[key] = true
	v, ok := o.m[key]
	if !ok || v == nil {
		o.d.fail(join(o.path, key), "required field missing")
		return nil, false
	}
	return v, true
}

// done refuses any key that no decoder asked for.
func (o *obj) done() {
	if o.d.err != nil {
		return
	}
	for k := range o.m {
		if !o.used[k] {
			o.d.fail(join(o.path, k), "unknown field")
			return
		}
	}
}

func (o *obj) obj(key string) *obj {
	v, _ := o.get(key)
	return o.d.asObj(join(o.path, key), v)
}

func (o *obj) str(key string) string {
	v, ok := o.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		o.d.fail(join(o.path, key), "must be a string")
	}
	return s
}

// u64 reads a uint64: a decimal string (the spec's form) or a JSON integer.
func (o *obj) u64(key string) uint64 {
	v, ok := o.get(key)
	if !ok {
		return 0
	}
	return o.d.u64(join(o.path, key), v)
}

// decimal returns v as a string of 1 to maxDigits decimal digits (a JSON
// string or number), or ok false.
func decimal(v any, maxDigits int) (s string, ok bool) {
	switch t := v.(type) {
	case string:
		s = t
	case json.Number:
		s = string(t)
	default:
		return "", false
	}
	if s == "" || len(s) > maxDigits || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "", false
	}
	return s, true
}

func (d *dec) u64(path string, v any) uint64 {
	s, ok := decimal(v, 20)
	if !ok {
		d.fail(path, "must be a decimal uint64 string")
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.fail(path, "out of uint64 range")
		return 0
	}
	return n
}

// u256 reads a uint256 given as a decimal string; it returns it little-endian.
func (o *obj) u256(key string) [32]byte {
	var out [32]byte
	v, ok := o.get(key)
	if !ok {
		return out
	}
	path := join(o.path, key)
	s, ok := decimal(v, 78)
	if !ok {
		o.d.fail(path, "must be a decimal uint256 string")
		return out
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.BitLen() > 256 {
		o.d.fail(path, "out of uint256 range")
		return out
	}
	be := n.FillBytes(make([]byte, 32))
	for i := range 32 {
		out[i] = be[31-i]
	}
	return out
}

// hexBytes decodes a 0x-prefixed hex string.
func (d *dec) hexBytes(path string, v any, max int) []byte {
	s, ok := v.(string)
	if !ok {
		d.fail(path, "must be a 0x-prefixed hex string")
		return nil
	}
	if len(s) < 2 || (s[:2] != "0x" && s[:2] != "0X") {
		d.fail(path, "must be a 0x-prefixed hex string")
		return nil
	}
	h := s[2:]
	if len(h)%2 != 0 {
		d.fail(path, "odd number of hex digits")
		return nil
	}
	if len(h)/2 > max {
		d.fail(path, "longer than %d bytes", max)
		return nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		d.fail(path, "invalid hex")
		return nil
	}
	return b
}

// fixed reads a 0x-hex value of exactly n bytes into dst.
func (o *obj) fixed(key string, dst []byte) {
	v, ok := o.get(key)
	if !ok {
		return
	}
	o.d.fixed(join(o.path, key), v, dst)
}

func (d *dec) fixed(path string, v any, dst []byte) {
	b := d.hexBytes(path, v, len(dst))
	if b == nil && d.err != nil {
		return
	}
	if len(b) != len(dst) {
		d.fail(path, "must be %d bytes, got %d", len(dst), len(b))
		return
	}
	copy(dst, b)
}

func (o *obj) b32(key string) (r [32]byte) { o.fixed(key, r[:]); return }
func (o *obj) b48(key string) (r [48]byte) { o.fixed(key, r[:]); return }
func (o *obj) b96(key string) (r [96]byte) { o.fixed(key, r[:]); return }
func (o *obj) b20(key string) (r [20]byte) { o.fixed(key, r[:]); return }
func (o *obj) b4(key string) (r [4]byte)   { o.fixed(key, r[:]); return }

// varBytes reads a 0x-hex value of at most max bytes.
func (o *obj) varBytes(key string, max int) []byte {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	b := o.d.hexBytes(join(o.path, key), v, max)
	if b == nil {
		b = []byte{}
	}
	return b
}

// bitlist reads an SSZ-serialized Bitlist[max] (0x-hex, with its delimiter bit).
func (o *obj) bitlist(key string, max uint64) Bitlist {
	b := o.varBytes(key, int(max/8+1))
	if o.d.err != nil {
		return nil
	}
	path := join(o.path, key)
	if len(b) == 0 || b[len(b)-1] == 0 {
		o.d.fail(path, "bitlist has no delimiter bit")
		return nil
	}
	bl := Bitlist(b)
	if bl.bitLen() > max {
		o.d.fail(path, "bitlist longer than %d bits", max)
		return nil
	}
	return bl
}

// bitvector reads an SSZ Bitvector[n] (n a multiple of 8) as n/8 bytes.
func (o *obj) bitvector(key string, n int) []byte {
	dst := make([]byte, n/8)
	o.fixed(key, dst)
	return dst
}

// list reads a JSON array of at most max elements.
func (o *obj) list(key string, max uint64) []any {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	path := join(o.path, key)
	l, ok := v.([]any)
	if !ok {
		o.d.fail(path, "must be a JSON array")
		return nil
	}
	if uint64(len(l)) > max {
		o.d.fail(path, "more than %d elements", max)
		return nil
	}
	return l
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
