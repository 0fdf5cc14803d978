package bitcoin

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
)

// BIP-380 "Checksum": the descriptor character set (its position in the string is the symbol value), the
// bech32 character set the checksum is written in, and the BCH code's generator.
const (
	descInputCharset    = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	descChecksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
)

var descGenerator = [5]uint64{0xf5dee51989, 0xa9fdca3312, 0x1bab10e32d, 0x3706b1677a, 0x644d626ffd}

// descPolymod is BIP-380 descsum_polymod over 5-bit symbols; the state is 40 bits.
func descPolymod(symbols []byte) uint64 {
	chk := uint64(1)
	for _, v := range symbols {
		top := chk >> 35
		chk = (chk&0x7ffffffff)<<5 ^ uint64(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= descGenerator[i]
			}
		}
	}
	return chk
}

// descExpand is BIP-380 descsum_expand: every character becomes its position within its group of 32
// (v & 31), and after every third character one more symbol carries the three group numbers (v >> 5)
// combined as g0*9 + g1*3 + g2; a trailing partial group is flushed the same way.
func descExpand(s string) ([]byte, error) {
	symbols := make([]byte, 0, len(s)+len(s)/3+1)
	groups := make([]byte, 0, 3)
	for i := 0; i < len(s); i++ {
		v := strings.IndexByte(descInputCharset, s[i])
		if v < 0 {
			return nil, fmt.Errorf("%w: descriptor character %d (%q) is outside the BIP-380 character set", ErrInvalidRequest, i, s[i])
		}
		symbols = append(symbols, byte(v&31))
		groups = append(groups, byte(v>>5))
		if len(groups) == 3 {
			symbols = append(symbols, groups[0]*9+groups[1]*3+groups[2])
			groups = groups[:0]
		}
	}
	switch len(groups) {
	case 1:
		symbols = append(symbols, groups[0])
	case 2:
		symbols = append(symbols, groups[0]*3+groups[1])
	}
	return symbols, nil
}

// DescriptorChecksum returns the 8-character BIP-380 checksum of an output descriptor given without
// "#checksum" (BIP-380 descsum_create). A character outside the BIP-380 character set is an error
// wrapping [ErrInvalidRequest].
func DescriptorChecksum(desc string) (string, error) {
	symbols, err := descExpand(desc)
	if err != nil {
		return "", err
	}
	// descsum_create: append eight zero symbols, then the checksum is polymod ^ 1, written as eight
	// 5-bit groups from the most significant.
	c := descPolymod(append(symbols, 0, 0, 0, 0, 0, 0, 0, 0)) ^ 1
	var out [8]byte
	for i := range 8 {
		out[i] = descChecksumCharset[(c>>(5*(7-i)))&31]
	}
	return string(out[:]), nil
}

// AddrDescriptor returns the BIP-385 descriptor "addr(ADDRESS)#checksum" watching a's output script.
func AddrDescriptor(a btcutil.Address) (string, error) {
	d := "addr(" + a.EncodeAddress() + ")"
	cs, err := DescriptorChecksum(d)
	if err != nil {
		return "", err
	}
	return d + "#" + cs, nil
}
