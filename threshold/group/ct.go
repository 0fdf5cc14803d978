package group

// ctLess returns 1 if the big-endian integer a is below the big-endian
// integer b of the same length, and 0 otherwise, in time that depends only
// on the length. It computes a − b byte by byte from the least significant
// end and returns the final borrow, as a constant-time comparison must (no
// early exit at the first differing byte, unlike bytes.Compare or
// math/big); it is how [Group.DecodeScalar] checks a share or a key
// against the group order. It panics if the lengths differ (a programming
// error: both lengths are public constants).
func ctLess(a, b []byte) int {
	if len(a) != len(b) {
		panic("group: ctLess on operands of different lengths")
	}
	var borrow uint32
	for i := len(a) - 1; i >= 0; i-- {
		// A negative difference wraps to 0xffffffxx, whose bit 8 is set;
		// a non-negative one is at most 255.
		d := uint32(a[i]) - uint32(b[i]) - borrow
		borrow = (d >> 8) & 1
	}
	return int(borrow)
}
