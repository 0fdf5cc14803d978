package bitcoin

import (
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// DescriptorChecksum returns the 8-character BIP-380 checksum of an output descriptor given without
// "#checksum" (BIP-380 descsum_create; the one implementation is [hd.DescriptorChecksum]). A character
// outside the BIP-380 character set is an error wrapping [ErrInvalidRequest].
func DescriptorChecksum(desc string) (string, error) {
	cs, err := hd.DescriptorChecksum(desc)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return cs, nil
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
