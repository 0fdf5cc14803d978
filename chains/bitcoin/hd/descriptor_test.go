package hd

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
)

// TestDescriptorChecksum: BIP-380's valid test vector and the BIP-393 descriptor its authors checksummed
// with the BIP-380 reference code; characters outside the set are refused. (chains/bitcoin tests the
// same function against addr() checksums printed by Bitcoin Core and an independent descsum_check.)
func TestDescriptorChecksum(t *testing.T) {
	for _, v := range []string{
		"raw(deadbeef)#89f8spxm",
		"wpkh([deadbeef/84h/0h/0h]xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL/0/*)#kf3v6fpx",
	} {
		desc, want, _ := strings.Cut(v, "#")
		got, err := DescriptorChecksum(desc)
		if err != nil || got != want {
			t.Errorf("checksum(%s) = %q, %v; want %q", desc, got, err, want)
		}
		if d, err := WithChecksum(desc); err != nil || d != v {
			t.Errorf("WithChecksum(%s) = %q, %v", desc, d, err)
		}
	}
	for _, d := range []string{"raw(Ü)", "raw(\n)", "raw(\x00)"} {
		if _, err := DescriptorChecksum(d); !errors.Is(err, ErrInvalidDescriptor) {
			t.Errorf("%q: %v", d, err)
		}
	}
}

// TestDescriptor: tr([fp]xpub/0/*) and tr([fp]xpub/1/*) with the root's fingerprint, the network's
// version bytes and a checksum; refused for non-roots and hardened branches.
func TestDescriptor(t *testing.T) {
	_, _, root := randomRoot(t)
	fp := root.Fingerprint()
	re := regexp.MustCompile(`^tr\(\[([0-9a-f]{8})\]([1-9A-HJ-NP-Za-km-z]{111})/([01])/\*\)#([a-z0-9]{8})$`)
	for _, net := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params} {
		xpub, err := root.String(net)
		if err != nil {
			t.Fatal(err)
		}
		for _, branch := range []uint32{ReceiveBranch, ChangeBranch} {
			d, err := Descriptor(root, branch, net)
			if err != nil {
				t.Fatal(err)
			}
			m := re.FindStringSubmatch(d)
			if m == nil || m[1] != hex.EncodeToString(fp[:]) || m[2] != xpub || m[3] != fmt.Sprint(branch) {
				t.Fatalf("descriptor %s", d)
			}
			body, cs, _ := strings.Cut(d, "#")
			if want, err := DescriptorChecksum(body); err != nil || cs != want {
				t.Fatalf("checksum %s, want %s (%v)", cs, want, err)
			}
		}
	}
	child, err := root.Child(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Descriptor(child, 0, &chaincfg.MainNetParams); !errors.Is(err, ErrDepth) {
		t.Errorf("non-root: %v", err)
	}
	if _, err := Descriptor(root, HardenedOffset, &chaincfg.MainNetParams); !errors.Is(err, ErrHardened) {
		t.Errorf("hardened branch: %v", err)
	}
	if _, err := Descriptor(root, 0, nil); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("nil network: %v", err)
	}
}
