package ethereum

import (
	"errors"
	"strings"
	"testing"
)

// eip55Cases are the test cases of EIP-55 ("Test Cases", ethereum/EIPs
// EIPS/eip-55.md): all caps, all lower, and normal (checksummed) addresses.
var eip55Cases = []string{
	// All caps
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	// All lower
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
	// Normal
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
}

// TestParseExecutionAddressEIP55: every EIP-55 case parses, and a checksummed
// address parses in all-lower and all-upper case too; flipping the case of
// any one letter of a checksummed address is refused with
// ErrAddressChecksum, as the deposit CLI refuses it.
func TestParseExecutionAddressEIP55(t *testing.T) {
	for _, s := range eip55Cases {
		a, err := ParseExecutionAddress(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !strings.EqualFold(a.String(), s) || a.String() != strings.ToLower(s) {
			t.Errorf("%s: String %s", s, a)
		}
		mixed := s[2:] != strings.ToLower(s[2:]) && s[2:] != strings.ToUpper(s[2:])
		if mixed && a.Checksum() != s {
			t.Errorf("%s: Checksum %s", s, a.Checksum())
		}
		for _, form := range []string{"0x" + strings.ToLower(s[2:]), "0x" + strings.ToUpper(s[2:])} {
			if b, err := ParseExecutionAddress(form); err != nil || b != a {
				t.Errorf("%s: %v", form, err)
			}
		}
		if !mixed {
			continue
		}
		for i := 2; i < len(s); i++ {
			c := s[i]
			var flipped byte
			switch {
			case c >= 'a' && c <= 'f':
				flipped = c - 'a' + 'A'
			case c >= 'A' && c <= 'F':
				flipped = c - 'A' + 'a'
			default:
				continue
			}
			bad := s[:i] + string(flipped) + s[i+1:]
			if bad[2:] == strings.ToLower(bad[2:]) || bad[2:] == strings.ToUpper(bad[2:]) {
				continue // flipping the only letter of one case leaves no checksum
			}
			if _, err := ParseExecutionAddress(bad); !errors.Is(err, ErrAddressChecksum) {
				t.Errorf("%s: err = %v, want ErrAddressChecksum", bad, err)
			}
			// Every other path (JSON, text) goes through the same check.
			var a ExecutionAddress
			if err := a.UnmarshalText([]byte(bad)); !errors.Is(err, ErrAddressChecksum) {
				t.Errorf("UnmarshalText %s: %v", bad, err)
			}
		}
	}
	for _, bad := range []string{"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0xgaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"} {
		if _, err := ParseExecutionAddress(bad); !errors.Is(err, ErrInvalidHex) {
			t.Errorf("%q: err = %v, want ErrInvalidHex", bad, err)
		}
	}
}

// TestBLSChangeAddressChecksum: a BLS-to-execution change whose
// to_execution_address has a bad checksum is refused when parsed.
func TestBLSChangeAddressChecksum(t *testing.T) {
	good := `[{"message":{"validator_index":"1","from_bls_pubkey":"0x` + strings.Repeat("00", 48) +
		`","to_execution_address":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},"signature":"0x` + strings.Repeat("00", 96) + `"}]`
	bad := strings.Replace(good, "0x5aAeb", "0x5AAeb", 1)
	if _, _, err := ParseBLSToExecutionChangeFile([]byte(bad)); !errors.Is(err, ErrAddressChecksum) {
		t.Errorf("bad checksum: %v", err)
	}
	if _, _, err := ParseBLSToExecutionChangeFile([]byte(good)); errors.Is(err, ErrAddressChecksum) {
		t.Errorf("good checksum: %v", err)
	}
}
