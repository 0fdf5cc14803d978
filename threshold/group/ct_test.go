package group

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// order returns the group order of g as a big.Int (test reference only).
func order(g Group) *big.Int {
	if g.Name() == "secp256k1" {
		return secp256k1.S256().N
	}
	return new(big.Int).SetBytes(blsOrderBytes[:])
}

func TestCtLessMatchesCompare(t *testing.T) {
	for n := 1; n <= 33; n++ {
		for range 200 {
			a, b := make([]byte, n), make([]byte, n)
			rand.Read(a)
			copy(b, a)
			// Differ in one random byte (or not at all), so that long
			// equal prefixes and ties are exercised, not just the top byte.
			if k := int(a[0]) % (n + 1); k < n {
				rand.Read(b[k : k+1])
			}
			want := 0
			if bytes.Compare(a, b) < 0 {
				want = 1
			}
			if got := ctLess(a, b); got != want {
				t.Fatalf("ctLess(%x, %x) = %d", a, b, got)
			}
		}
	}
	for _, tc := range []struct {
		a, b []byte
		want int
	}{
		{[]byte{0}, []byte{0}, 0},
		{[]byte{0}, []byte{1}, 1},
		{[]byte{0xff, 0x00}, []byte{0x00, 0xff}, 0},
		{[]byte{0x00, 0xff}, []byte{0x01, 0x00}, 1},
		{[]byte{0xff, 0xff}, []byte{0xff, 0xff}, 0},
		{[]byte{0xff, 0xfe}, []byte{0xff, 0xff}, 1},
	} {
		if got := ctLess(tc.a, tc.b); got != tc.want {
			t.Errorf("ctLess(%x, %x) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// DecodeScalar at the boundaries of both groups: 0, 1, q−2 and q−1 decode
// (to what they say), q, q+1 and 2^256−1 do not, 2^255 and 2q−1 only where
// they are below q and fit in 32 bytes, and every other length is refused.
func TestDecodeScalarBoundaries(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			q := order(g)
			one := big.NewInt(1)
			for _, tc := range []struct {
				name string
				v    *big.Int
				want Scalar // the value it must decode to, if below q
			}{
				{"0", big.NewInt(0), g.Zero()},
				{"1", one, g.ScalarFromUint64(1)},
				{"q-2", new(big.Int).Sub(q, big.NewInt(2)), g.ScalarFromUint64(2).Neg()},
				{"q-1", new(big.Int).Sub(q, one), g.ScalarFromUint64(1).Neg()},
				{"q", q, nil},
				{"q+1", new(big.Int).Add(q, one), nil},
				{"2^255", new(big.Int).Lsh(one, 255), nil},
				{"2q-1", new(big.Int).Sub(new(big.Int).Lsh(q, 1), one), nil},
				{"2^256-1", new(big.Int).Sub(new(big.Int).Lsh(one, 256), one), nil},
			} {
				if tc.v.BitLen() > 256 {
					continue // 2q−1 for secp256k1: no 32-byte encoding
				}
				b := tc.v.FillBytes(make([]byte, 32))
				s, err := g.DecodeScalar(b)
				if tc.v.Cmp(q) >= 0 {
					if !errors.Is(err, ErrInvalidScalar) {
						t.Errorf("%s accepted: %v", tc.name, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(s.Bytes(), b) || (tc.want != nil && !s.Equal(tc.want)) {
					t.Errorf("%s: %v", tc.name, err)
				}
			}
			for _, n := range []int{0, 31, 33, 64} {
				if _, err := g.DecodeScalar(make([]byte, n)); !errors.Is(err, ErrInvalidScalar) {
					t.Errorf("length %d accepted: %v", n, err)
				}
			}
		})
	}
}

// fromWide is v mod q for every length up to 64 bytes, against math/big,
// including the largest inputs and exact multiples of q.
func TestFromWideMatchesBig(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			q := order(g)
			wr := g.(wideReducer)
			var inputs [][]byte
			for n := 0; n <= 64; n++ {
				b := make([]byte, n)
				rand.Read(b)
				inputs = append(inputs, b, bytes.Repeat([]byte{0xff}, n))
			}
			for _, k := range []int64{1, 2, 3, 1 << 40} {
				m := new(big.Int).Mul(q, big.NewInt(k))
				inputs = append(inputs, m.FillBytes(make([]byte, 64)),
					new(big.Int).Sub(m, big.NewInt(1)).FillBytes(make([]byte, 64)))
			}
			for _, b := range inputs {
				want := new(big.Int).Mod(new(big.Int).SetBytes(b), q).FillBytes(make([]byte, 32))
				if got := wr.fromWide(b).Bytes(); !bytes.Equal(got, want) {
					t.Fatalf("fromWide(%x) = %x, want %x", b, got, want)
				}
			}
		})
	}
}

// HashToScalar is RFC 9380 hash_to_field (L = 48) with the reduction done
// by the constant-time fromWide: it equals the math/big reduction.
func TestHashToScalarMatchesReference(t *testing.T) {
	for _, g := range groups() {
		q := order(g)
		for _, msg := range []string{"", "abc", "vhsm"} {
			u, err := expandMessageXMD([]byte("vhsm-test"), 48, []byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			want := new(big.Int).Mod(new(big.Int).SetBytes(u), q).FillBytes(make([]byte, 32))
			if got := g.HashToScalar([]byte("vhsm-test"), []byte(msg)).Bytes(); !bytes.Equal(got, want) {
				t.Errorf("%s %q: %x, want %x", g.Name(), msg, got, want)
			}
		}
	}
}
