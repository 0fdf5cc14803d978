package bitcoin

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

func encodeSegwit(t *testing.T, hrp string, version byte, program []byte, v bech32.Version) string {
	t.Helper()
	conv, err := bech32.ConvertBits(program, 8, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte{version}, conv...)
	var s string
	if v == bech32.VersionM {
		s, err = bech32.EncodeM(hrp, data)
	} else {
		s, err = bech32.Encode(hrp, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseAddress(t *testing.T) {
	prog32 := make([]byte, 32)
	prog32[0] = 7
	tests := []struct {
		name string
		in   string
		net  *Network
		want error // nil = valid
		kind string
	}{
		{"mainnet p2pkh", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Mainnet, nil, "P2PKH"},
		{"mainnet p2sh", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Mainnet, nil, "P2SH"},
		{"mainnet p2wpkh", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Mainnet, nil, "P2WPKH"},
		{"mainnet p2tr bip350", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", Mainnet, nil, "P2TR"},
		{"testnet p2wpkh", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", Testnet3, nil, "P2WPKH"},
		{"testnet4 shares tb", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", Testnet4, nil, "P2WPKH"},
		{"signet shares tb", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", Signet, nil, "P2WPKH"},
		{"regtest p2tr", encodeSegwit(t, "bcrt", 1, prog32, bech32.VersionM), Regtest, nil, "P2TR"},
		{"testnet addr on mainnet", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", Mainnet, ErrWrongNetwork, ""},
		{"mainnet addr on regtest", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Regtest, ErrWrongNetwork, ""},
		{"mainnet p2pkh on testnet", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", Testnet3, ErrWrongNetwork, ""},
		{"v1 with bech32 (bip350)", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", Mainnet, ErrBech32Variant, ""},
		{"v0 with bech32m (bip350)", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", Mainnet, ErrBech32Variant, ""},
		{"v1 regtest with bech32", encodeSegwit(t, "bcrt", 1, prog32, bech32.Version0), Regtest, ErrBech32Variant, ""},
		{"bech32 bad checksum", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", Mainnet, ErrBadChecksum, ""},
		{"bech32m bad checksum", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj2", Mainnet, ErrBadChecksum, ""},
		{"base58 bad checksum", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", Mainnet, ErrBadChecksum, ""},
		{"empty", "", Mainnet, ErrInvalidAddress, ""},
		{"garbage", "hello world", Mainnet, ErrInvalidAddress, ""},
		{"too long", string(make([]byte, 91)), Mainnet, ErrInvalidAddress, ""},
		{"ethereum address", "0x52908400098527886E0F7030069857D2E4169EE7", Mainnet, ErrInvalidAddress, ""},
		{"p2tr wrong program length", encodeSegwit(t, "bc", 1, make([]byte, 31), bech32.VersionM), Mainnet, ErrInvalidAddress, ""},
		{"v0 wrong program length", encodeSegwit(t, "bc", 0, make([]byte, 21), bech32.Version0), Mainnet, ErrInvalidAddress, ""},
		{"mixed case", "bc1Qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Mainnet, ErrInvalidAddress, ""},
		{"upper case", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", Mainnet, nil, "P2WPKH"},
		{"mainnet p2sh on testnet4", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", Testnet4, ErrWrongNetwork, ""},
		{"testnet p2pkh on testnet4", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Testnet4, nil, "P2PKH"},
		{"regtest p2tr on testnet4", encodeSegwit(t, "bcrt", 1, prog32, bech32.VersionM), Testnet4, ErrWrongNetwork, ""},
		{"mainnet p2tr on signet", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", Signet, ErrWrongNetwork, ""},
		{"witness v2 unsupported", encodeSegwit(t, "bc", 2, prog32, bech32.VersionM), Mainnet, ErrInvalidAddress, ""},
		{"witness v17", encodeSegwit(t, "bc", 17, prog32, bech32.VersionM), Mainnet, ErrInvalidAddress, ""},
		{"unknown hrp", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Mainnet, ErrInvalidAddress, ""},
		{"unknown base58 version", "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", Mainnet, ErrInvalidAddress, ""},
	}
	sentinels := []error{ErrInvalidAddress, ErrBadChecksum, ErrWrongNetwork, ErrBech32Variant, ErrNotTaproot}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAddress(tc.in, tc.net)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				// Each kind of bad input has its own error, never two at once.
				for _, other := range sentinels {
					if other != tc.want && errors.Is(err, other) {
						t.Fatalf("%v also matches %v", err, other)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if k := addressKind(a); k != tc.kind {
				t.Fatalf("kind %s, want %s", k, tc.kind)
			}
		})
	}
}

// TestWrongNetworkNamesEveryNetwork: base58 version 0x6f is used by four networks, so the error must
// not claim the address is testnet3's.
func TestWrongNetworkNamesEveryNetwork(t *testing.T) {
	_, err := ParseAddress("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Mainnet)
	if !errors.Is(err, ErrWrongNetwork) || !strings.Contains(err.Error(), "testnet3/testnet4/signet/regtest") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseAddress("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", Regtest)
	if !errors.Is(err, ErrWrongNetwork) || !strings.Contains(err.Error(), "testnet3/testnet4/signet") {
		t.Fatalf("got %v", err)
	}
}

func TestParseTaprootAddressRefusesOtherKinds(t *testing.T) {
	for _, s := range []string{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"} {
		if _, err := ParseTaprootAddress(s, Mainnet); !errors.Is(err, ErrNotTaproot) {
			t.Errorf("%s: got %v, want ErrNotTaproot", s, err)
		}
	}
}

func TestTaprootAddressAllNetworks(t *testing.T) {
	s := newKeySigner(t)
	hrps := map[string]string{"mainnet": "bc1p", "testnet3": "tb1p", "testnet4": "tb1p", "signet": "tb1p", "regtest": "bcrt1p"}
	for _, n := range Networks {
		a, err := TaprootAddress(s.xonly(), n)
		if err != nil {
			t.Fatal(err)
		}
		enc := a.EncodeAddress()
		if enc[:len(hrps[n.Name])] != hrps[n.Name] {
			t.Errorf("%s: %s", n.Name, enc)
		}
		back, err := ParseTaprootAddress(enc, n)
		if err != nil || back.EncodeAddress() != enc {
			t.Errorf("%s: round trip: %v", n.Name, err)
		}
		got, err := NetworkByName(n.Name)
		if err != nil || got != n {
			t.Errorf("NetworkByName(%s): %v", n.Name, err)
		}
	}
	if _, err := NetworkByName("litecoin"); !errors.Is(err, ErrUnknownNetwork) {
		t.Errorf("unknown network: %v", err)
	}
	if _, err := TaprootAddress(make([]byte, 31), Mainnet); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short key: %v", err)
	}
	// x = 0 is not on the curve (0³ + 7 = 7 is not a square mod p).
	if _, err := TaprootAddress(make([]byte, 32), Mainnet); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("off-curve key: %v", err)
	}
	if Testnet4.Params.Net == Testnet3.Params.Net || *Testnet4.Params.GenesisHash == *Testnet3.Params.GenesisHash {
		t.Error("testnet4 must differ from testnet3 in magic and genesis")
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
		"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bcrt1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range Networks {
			a, err := ParseAddress(s, n)
			if err != nil {
				continue
			}
			// Round trip: an accepted address re-encodes to an address that parses to the same script.
			again, err := ParseAddress(a.EncodeAddress(), n)
			if err != nil {
				t.Fatalf("re-encoded %q does not parse: %v", a.EncodeAddress(), err)
			}
			s1, err1 := payToAddr(a)
			s2, err2 := payToAddr(again)
			if (err1 == nil) != (err2 == nil) || string(s1) != string(s2) {
				t.Fatalf("script changed on round trip")
			}
			if _, ok := a.(*btcutil.AddressTaproot); ok && !a.IsForNet(n.Params) {
				t.Fatalf("accepted for the wrong network")
			}
		}
	})
}
