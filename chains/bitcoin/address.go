package bitcoin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/txscript"
)

// maxAddressLen bounds address input before any decoding (BIP-173 limits segwit addresses to 90).
const maxAddressLen = 90

// ParseInternalKey parses a 32-byte BIP-340 x-only public key (the group key of a threshold key).
func ParseInternalKey(xonly []byte) (*btcec.PublicKey, error) {
	if len(xonly) != schnorr.PubKeyBytesLen {
		return nil, fmt.Errorf("%w: length %d, want 32", ErrInvalidKey, len(xonly))
	}
	pk, err := schnorr.ParsePubKey(xonly)
	if err != nil {
		return nil, fmt.Errorf("%w: not on the curve", ErrInvalidKey)
	}
	return pk, nil
}

// TaprootOutputKey returns the BIP-341 output key Q = P + H_TapTweak(P‖root)·G for the internal key P
// (x-only; its even-Y lift is used). An empty merkleRoot gives the BIP-86 key-path-only tweak
// H_TapTweak(P).
func TaprootOutputKey(internal *btcec.PublicKey, merkleRoot []byte) *btcec.PublicKey {
	// BIP-341 taproot_tweak_pubkey: t = hash_TapTweak(P || h), Q = lift_x(P) + t·G.
	return txscript.ComputeTaprootOutputKey(internal, merkleRoot)
}

// TaprootAddress returns the P2TR (bech32m) address of the BIP-86 key-path-only output for the x-only
// internal key on net.
func TaprootAddress(internalXOnly []byte, net *Network) (*btcutil.AddressTaproot, error) {
	p, err := ParseInternalKey(internalXOnly)
	if err != nil {
		return nil, err
	}
	q := TaprootOutputKey(p, nil)
	addr, err := btcutil.NewAddressTaproot(schnorr.SerializePubKey(q), net.Params)
	if err != nil {
		return nil, fmt.Errorf("taproot address: %w", err)
	}
	return addr, nil
}

// ParseAddress decodes a P2PKH, P2SH, P2WPKH, P2WSH or P2TR address valid on net. Errors wrap
// [ErrInvalidAddress], [ErrBadChecksum], [ErrWrongNetwork] or [ErrBech32Variant] and say what was
// found. Witness versions 2 to 16 (valid BIP-350 strings with no defined output type yet) are refused
// with [ErrInvalidAddress] ("unsupported witness version"), as btcutil cannot represent them.
func ParseAddress(s string, net *Network) (btcutil.Address, error) {
	if len(s) == 0 || len(s) > maxAddressLen {
		return nil, fmt.Errorf("%w: length %d", ErrInvalidAddress, len(s))
	}
	if hrp, ok := segwitHRP(s); ok {
		return parseSegwit(s, hrp, net)
	}
	return parseBase58(s, net)
}

// ParseTaprootAddress is [ParseAddress] restricted to P2TR; any other valid address type is refused
// with [ErrNotTaproot] naming the type.
func ParseTaprootAddress(s string, net *Network) (*btcutil.AddressTaproot, error) {
	a, err := ParseAddress(s, net)
	if err != nil {
		return nil, err
	}
	tr, ok := a.(*btcutil.AddressTaproot)
	if !ok {
		return nil, fmt.Errorf("%w: found %s", ErrNotTaproot, addressKind(a))
	}
	return tr, nil
}

// segwitHRP reports whether s looks like a bech32 string with a known segwit HRP, and returns that HRP.
func segwitHRP(s string) (string, bool) {
	low := strings.ToLower(s)
	i := strings.LastIndexByte(low, '1')
	if i < 1 {
		return "", false
	}
	hrp := low[:i]
	for _, n := range Networks {
		if hrp == n.Params.Bech32HRPSegwit {
			return hrp, true
		}
	}
	return "", false
}

func parseSegwit(s, hrp string, net *Network) (btcutil.Address, error) {
	gotHRP, data, variant, err := bech32.DecodeGeneric(s)
	if err != nil {
		var cs bech32.ErrInvalidChecksum
		if errors.As(err, &cs) {
			return nil, fmt.Errorf("%w: bech32 checksum does not verify", ErrBadChecksum)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	if gotHRP != net.Params.Bech32HRPSegwit {
		return nil, fmt.Errorf("%w: hrp %q is %s, wallet is on %s", ErrWrongNetwork, gotHRP, networksForHRP(gotHRP), net.Name)
	}
	if len(data) < 1 {
		return nil, fmt.Errorf("%w: empty witness program", ErrInvalidAddress)
	}
	version := data[0]
	if version > 16 {
		return nil, fmt.Errorf("%w: witness version %d", ErrInvalidAddress, version)
	}
	// BIP-350: witness version 0 uses bech32, versions 1 to 16 use bech32m.
	switch {
	case version == 0 && variant != bech32.Version0:
		return nil, fmt.Errorf("%w: witness v0 encoded with bech32m (must be bech32)", ErrBech32Variant)
	case version != 0 && variant != bech32.VersionM:
		return nil, fmt.Errorf("%w: witness v%d encoded with bech32 (must be bech32m)", ErrBech32Variant, version)
	}
	a, err := btcutil.DecodeAddress(s, net.Params)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	return a, nil
}

func parseBase58(s string, net *Network) (btcutil.Address, error) {
	payload, version, err := base58.CheckDecode(s)
	switch {
	case errors.Is(err, base58.ErrChecksum):
		return nil, fmt.Errorf("%w: base58check checksum does not verify", ErrBadChecksum)
	case err != nil:
		return nil, fmt.Errorf("%w: not bech32 with a known prefix nor base58check", ErrInvalidAddress)
	}
	if len(payload) != 20 {
		return nil, fmt.Errorf("%w: base58 payload of %d bytes", ErrInvalidAddress, len(payload))
	}
	if version != net.Params.PubKeyHashAddrID && version != net.Params.ScriptHashAddrID {
		// 0x6f/0xc4 are shared by testnet3, testnet4, signet and regtest: name them all.
		var names []string
		for _, n := range Networks {
			if version == n.Params.PubKeyHashAddrID || version == n.Params.ScriptHashAddrID {
				names = append(names, n.Name)
			}
		}
		if len(names) > 0 {
			return nil, fmt.Errorf("%w: base58 version 0x%02x is %s, wallet is on %s", ErrWrongNetwork, version, strings.Join(names, "/"), net.Name)
		}
		return nil, fmt.Errorf("%w: unknown base58 version 0x%02x", ErrInvalidAddress, version)
	}
	a, err := btcutil.DecodeAddress(s, net.Params)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	return a, nil
}

// networksForHRP names the networks using a segwit HRP ("tb" is shared by testnet3, testnet4, signet).
func networksForHRP(hrp string) string {
	var names []string
	for _, n := range Networks {
		if n.Params.Bech32HRPSegwit == hrp {
			names = append(names, n.Name)
		}
	}
	return strings.Join(names, "/")
}

func addressKind(a btcutil.Address) string {
	switch a.(type) {
	case *btcutil.AddressPubKeyHash:
		return "P2PKH"
	case *btcutil.AddressScriptHash:
		return "P2SH"
	case *btcutil.AddressWitnessPubKeyHash:
		return "P2WPKH"
	case *btcutil.AddressWitnessScriptHash:
		return "P2WSH"
	case *btcutil.AddressTaproot:
		return "P2TR"
	default:
		return fmt.Sprintf("%T", a)
	}
}

// payToAddr returns the output script paying a.
func payToAddr(a btcutil.Address) ([]byte, error) { return txscript.PayToAddrScript(a) }
