package hd

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
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
			return nil, fmt.Errorf("%w: character %d (%q) is outside the BIP-380 character set", ErrInvalidDescriptor, i, s[i])
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
// wrapping [ErrInvalidDescriptor].
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

// WithChecksum returns desc + "#" + [DescriptorChecksum](desc).
func WithChecksum(desc string) (string, error) {
	cs, err := DescriptorChecksum(desc)
	if err != nil {
		return "", err
	}
	return desc + "#" + cs, nil
}

// Descriptor returns the BIP-386 descriptor of branch (ReceiveBranch or
// ChangeBranch, any unhardened index is accepted) under the root of a
// tree, with BIP-380 key origin and checksum:
//
//	tr([fingerprint]xpub/branch/*)#checksum
//
// where fingerprint is the root's own fingerprint (the root is the master
// of its tree, so the origin path is empty) and xpub the root serialised
// for net ([ExtendedKey.String]). This is how Bitcoin Core's
// listdescriptors prints such a key and what importdescriptors takes for a
// watch-only wallet; tr(KEY/branch/*) derives exactly the addresses
// root.Derive(branch, i).Address(net). root must be a root (depth 0):
// otherwise the origin would need the path from the master, and
// Descriptor returns ErrDepth.
func Descriptor(root *ExtendedKey, branch uint32, net *chaincfg.Params) (string, error) {
	if root.depth != 0 {
		return "", fmt.Errorf("descriptor: %w: depth %d is not a root", ErrDepth, root.depth)
	}
	if branch >= HardenedOffset {
		return "", fmt.Errorf("descriptor: %w", ErrHardened)
	}
	xpub, err := root.String(net)
	if err != nil {
		return "", fmt.Errorf("descriptor: %w", err)
	}
	fp := root.Fingerprint()
	// BIP-380 "Key origin identification": "[" 8 hex characters of the
	// fingerprint of the master key, followed by the derivation path "]".
	// BIP-386: tr(KEY) with KEY an xpub followed by /NUM/*.
	return WithChecksum(fmt.Sprintf("tr([%s]%s/%d/*)", hex.EncodeToString(fp[:]), xpub, branch))
}
