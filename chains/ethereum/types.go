package ethereum

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Fixed-size byte types of the consensus specs (phase0 "Custom types"). Their
// text form is the beacon-API form: "0x" followed by lower-case hex digits;
// parsing accepts upper- or lower-case digits and requires the prefix and the
// exact length (beacon-APIs types/primitive.yaml patterns).
type (
	// Pubkey is a compressed BLS12-381 G1 public key (BLSPubkey, 48 bytes).
	Pubkey [48]byte
	// Signature is a compressed BLS12-381 G2 signature (BLSSignature, 96 bytes).
	Signature [96]byte
	// Root is a 32-byte SSZ hash_tree_root or signing root (Root, Bytes32).
	Root [32]byte
	// Version is a 4-byte fork version (Version).
	Version [4]byte
	// DomainType is a 4-byte signature domain type (DomainType).
	DomainType [4]byte
	// Domain is a 32-byte signature domain (Domain).
	Domain [32]byte
	// ExecutionAddress is a 20-byte execution-layer address.
	ExecutionAddress [20]byte
	// Credentials are a validator's 32-byte withdrawal credentials.
	Credentials [32]byte
)

// Uint64 is a consensus uint64 (Epoch, ValidatorIndex, Gwei). The beacon API
// encodes it as a JSON string of decimal digits; parsing accepts only the
// canonical form (no sign, no leading zeros, no spaces) and values that fit.
type Uint64 uint64

// decodeHexFixed decodes s into dst. With prefix the string must start with
// "0x" (or "0X"); without it, a "0x" prefix is optional.
func decodeHexFixed(dst []byte, s string, prefixRequired bool) error {
	body := s
	if len(body) >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		body = body[2:]
	} else if prefixRequired {
		return fmt.Errorf("%w: missing 0x prefix", ErrInvalidHex)
	}
	if len(body) != 2*len(dst) {
		return fmt.Errorf("%w: want %d hex digits, got %d", ErrInvalidHex, 2*len(dst), len(body))
	}
	if _, err := hex.Decode(dst, []byte(body)); err != nil {
		return fmt.Errorf("%w: bad digit", ErrInvalidHex)
	}
	return nil
}

func encodeHex0x(b []byte) []byte {
	out := make([]byte, 2+2*len(b))
	out[0], out[1] = '0', 'x'
	hex.Encode(out[2:], b)
	return out
}

// String returns the 0x-prefixed hex form.
func (p Pubkey) String() string { return string(encodeHex0x(p[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (p Pubkey) MarshalText() ([]byte, error) { return encodeHex0x(p[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler]; it checks only the hex
// form, not that the bytes are a curve point (see [Pubkey.Validate]).
func (p *Pubkey) UnmarshalText(b []byte) error { return decodeHexFixed(p[:], string(b), true) }

// String returns the 0x-prefixed hex form.
func (s Signature) String() string { return string(encodeHex0x(s[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (s Signature) MarshalText() ([]byte, error) { return encodeHex0x(s[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] (hex form only).
func (s *Signature) UnmarshalText(b []byte) error { return decodeHexFixed(s[:], string(b), true) }

// String returns the 0x-prefixed hex form.
func (r Root) String() string { return string(encodeHex0x(r[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (r Root) MarshalText() ([]byte, error) { return encodeHex0x(r[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (r *Root) UnmarshalText(b []byte) error { return decodeHexFixed(r[:], string(b), true) }

// String returns the 0x-prefixed hex form.
func (v Version) String() string { return string(encodeHex0x(v[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (v Version) MarshalText() ([]byte, error) { return encodeHex0x(v[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (v *Version) UnmarshalText(b []byte) error { return decodeHexFixed(v[:], string(b), true) }

// String returns the 0x-prefixed hex form.
func (d DomainType) String() string { return string(encodeHex0x(d[:])) }

// String returns the 0x-prefixed hex form.
func (d Domain) String() string { return string(encodeHex0x(d[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (d Domain) MarshalText() ([]byte, error) { return encodeHex0x(d[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (d *Domain) UnmarshalText(b []byte) error { return decodeHexFixed(d[:], string(b), true) }

// String returns the 0x-prefixed hex form (lower case, no EIP-55 checksum),
// the beacon API's form. See [ExecutionAddress.Checksum] for display.
func (a ExecutionAddress) String() string { return string(encodeHex0x(a[:])) }

// Checksum returns the EIP-55 mixed-case checksum form (go-ethereum
// common.Address.Hex), the form to show a person.
func (a ExecutionAddress) Checksum() string { return common.Address(a).Hex() }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (a ExecutionAddress) MarshalText() ([]byte, error) { return encodeHex0x(a[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with
// [ParseExecutionAddress]: mixed case must carry a valid EIP-55 checksum.
func (a *ExecutionAddress) UnmarshalText(b []byte) error {
	v, err := ParseExecutionAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// String returns the 0x-prefixed hex form.
func (c Credentials) String() string { return string(encodeHex0x(c[:])) }

// MarshalText implements [encoding.TextMarshaler] (0x-prefixed hex).
func (c Credentials) MarshalText() ([]byte, error) { return encodeHex0x(c[:]), nil }

// UnmarshalText implements [encoding.TextUnmarshaler].
func (c *Credentials) UnmarshalText(b []byte) error { return decodeHexFixed(c[:], string(b), true) }

// ParsePubkey parses a 0x-prefixed hex public key and validates it as a curve
// point ([Pubkey.Validate]).
func ParsePubkey(s string) (Pubkey, error) {
	var p Pubkey
	if err := p.UnmarshalText([]byte(s)); err != nil {
		return Pubkey{}, err
	}
	if err := p.Validate(); err != nil {
		return Pubkey{}, err
	}
	return p, nil
}

// ParseExecutionAddress parses an execution-layer address: "0x" and 40 hex
// digits. It is the one parser of execution addresses in vhsm (withdrawal
// addresses of 0x01/0x02 credentials, BLS-to-execution changes, network
// files, API bodies and CLI flags all come through it). EIP-55: digits all
// in lower case or all in upper case carry no checksum and are accepted;
// mixed case is a checksum and must equal the address's EIP-55 form
// (go-ethereum common.Address.Hex), else the error wraps
// [ErrAddressChecksum] — a typo in a checksummed address is caught rather
// than sending withdrawals to an address no one controls.
func ParseExecutionAddress(s string) (ExecutionAddress, error) {
	var a ExecutionAddress
	if err := decodeHexFixed(a[:], s, true); err != nil {
		return ExecutionAddress{}, err
	}
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) {
		// EIP-55: the checksum is the case of the letters; compare with the
		// canonical checksummed form.
		if want := a.Checksum(); body != want[2:] {
			return ExecutionAddress{}, fmt.Errorf("%w: %s (the checksummed form of these digits is %s)", ErrAddressChecksum, s, want)
		}
	}
	return a, nil
}

// ParseRoot parses a 0x-prefixed 32-byte hex root.
func ParseRoot(s string) (Root, error) {
	var r Root
	err := r.UnmarshalText([]byte(s))
	return r, err
}

// ParseUint64 parses a canonical decimal uint64: "0" or a non-zero digit
// followed by at most 19 digits, within range.
func ParseUint64(s string) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%w: length %d", ErrInvalidUint64, len(s))
	}
	if s[0] == '0' && len(s) > 1 {
		return 0, fmt.Errorf("%w: leading zero", ErrInvalidUint64)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: non-digit", ErrInvalidUint64)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: out of range", ErrInvalidUint64)
	}
	return v, nil
}

// String returns the decimal form.
func (u Uint64) String() string { return strconv.FormatUint(uint64(u), 10) }

// MarshalText implements [encoding.TextMarshaler]: JSON encodes it as a
// decimal string, as the beacon API requires.
func (u Uint64) MarshalText() ([]byte, error) { return strconv.AppendUint(nil, uint64(u), 10), nil }

// UnmarshalText implements [encoding.TextUnmarshaler]. A JSON number (not a
// string) is rejected by encoding/json before reaching it.
func (u *Uint64) UnmarshalText(b []byte) error {
	v, err := ParseUint64(string(b))
	if err != nil {
		return err
	}
	*u = Uint64(v)
	return nil
}

// maxPayloadJSON bounds exit and change documents.
const maxPayloadJSON = 1 << 20

// decodeStrict decodes one JSON value into v, rejecting unknown fields,
// object keys other than keys (exact case), duplicate keys and trailing data.
func decodeStrict(data []byte, v any, keys map[string]bool) error {
	if len(data) > maxPayloadJSON {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalidJSON, maxPayloadJSON)
	}
	if err := checkJSONKeys(data, keys); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrInvalidJSON)
	}
	return nil
}

// checkJSONKeys rejects an object key anywhere in data that is not exactly
// one of keys, or that occurs twice in one object. encoding/json alone would
// match keys case-insensitively ("PUBKEY" for "pubkey") and keep the last of
// duplicate keys, so a document that other parsers read differently (or
// reject) would pass. Syntax errors are reported too.
func checkJSONKeys(data []byte, keys map[string]bool) error {
	type frame struct {
		object  bool
		wantKey bool
		seen    map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return fmt.Errorf("%w: unexpected end of input", ErrInvalidJSON)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			k, _ := tok.(string) // the decoder only yields string keys here
			if !keys[k] {
				return fmt.Errorf("%w: unknown field %q", ErrInvalidJSON, truncate(k, 40))
			}
			if top.seen[k] {
				return fmt.Errorf("%w: duplicate field %q", ErrInvalidJSON, k)
			}
			top.seen[k] = true
			top.wantKey = false
			continue
		}
		if top != nil && top.object {
			top.wantKey = true // tok is this key's value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, seen: make(map[string]bool)})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// truncate bounds an input-controlled string quoted in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// keySet builds the set of allowed JSON keys of a payload.
func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
