package group

import (
	"crypto/sha256"
	"errors"
)

// errXMDLength is returned when expand_message_xmd is asked for an output
// or DST length outside the bounds of RFC 9380 §5.3.1.
var errXMDLength = errors.New("group: expand_message_xmd length out of range")

// expandMessageXMD is RFC 9380 §5.3.1 expand_message_xmd with SHA-256: it
// expands the concatenation of msg into lenInBytes uniformly random-looking
// bytes, domain-separated by dst.
func expandMessageXMD(dst []byte, lenInBytes int, msg ...[]byte) ([]byte, error) {
	const bInBytes, rInBytes = sha256.Size, 64 // SHA-256 output and block size
	// Step 1: ell = ceil(len_in_bytes / b_in_bytes); ABORT if ell > 255,
	// len_in_bytes > 65535 or len(DST) > 255.
	ell := (lenInBytes + bInBytes - 1) / bInBytes
	if lenInBytes <= 0 || ell > 255 || lenInBytes > 65535 || len(dst) > 255 {
		return nil, errXMDLength
	}
	// Step 3: DST_prime = DST || I2OSP(len(DST), 1).
	dstPrime := append(append([]byte{}, dst...), byte(len(dst)))
	// Steps 4-7: msg_prime = Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime.
	h := sha256.New()
	h.Write(make([]byte, rInBytes))
	for _, m := range msg {
		h.Write(m)
	}
	h.Write([]byte{byte(lenInBytes >> 8), byte(lenInBytes), 0})
	h.Write(dstPrime)
	b0 := h.Sum(nil)
	// Step 8: b_1 = H(b_0 || I2OSP(1, 1) || DST_prime).
	h.Reset()
	h.Write(b0)
	h.Write([]byte{1})
	h.Write(dstPrime)
	bi := h.Sum(nil)
	out := make([]byte, 0, ell*bInBytes)
	out = append(out, bi...)
	// Steps 9-10: b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime).
	for i := 2; i <= ell; i++ {
		x := make([]byte, bInBytes)
		for j := range x {
			x[j] = b0[j] ^ bi[j]
		}
		h.Reset()
		h.Write(x)
		h.Write([]byte{byte(i)})
		h.Write(dstPrime)
		clear(x)
		clear(bi)
		bi = h.Sum(nil)
		out = append(out, bi...)
	}
	// The blocks may derive from a secret (HedgedNonce): drop them.
	clear(b0)
	clear(bi)
	// Step 12: uniform_bytes = substr(b_1 || ... || b_ell, 0, len_in_bytes).
	return out[:lenInBytes], nil
}
