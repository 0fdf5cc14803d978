package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// TestRecoveryPolicyComposesWithHD is the contract the HD address code
// relies on: recoveryPolicy.output(child key of branch/index, branch, index)
// is exactly the output the ranged descriptor
// tr(ROOT/branch/*,and_v(v:pk(XPUB/branch/*),older(N))) derives at index,
// with the threshold children and the recovery children derived by btcd's
// hdkeychain.
func TestRecoveryPolicyComposesWithHD(t *testing.T) {
	net := bitcoin.Regtest
	rec, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{1}, 32), net.Params)
	recPub, _ := rec.Neuter()
	root, _ := hdkeychain.NewMaster(bytes.Repeat([]byte{2}, 32), net.Params)
	rootPub, _ := root.Neuter()
	rp, err := parseRecovery(&RecoveryRequest{XPub: recPub.String(), Older: 144}, net)
	if err != nil {
		t.Fatal(err)
	}
	for _, branch := range []uint32{0, 1} {
		desc, err := rp.descriptor(fmt.Sprintf("%s/%d/*", rootPub, branch), branch, 0, true, net)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(desc, fmt.Sprintf(",and_v(v:pk(%s/%d/*),older(144)))#", recPub, branch)) {
			t.Fatalf("descriptor %s", desc)
		}
		d, err := bitcoin.ParseRecoveryDescriptor(desc, net)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := rootPub.Derive(branch)
		for i := range uint32(5) {
			c, _ := b.Derive(i)
			k, _ := c.ECPubKey()
			out, err := rp.output(schnorr.SerializePubKey(k), branch, i)
			if err != nil {
				t.Fatal(err)
			}
			want, err := d.Output(i)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.PkScript, want.PkScript) || out.MerkleRoot != want.MerkleRoot {
				t.Fatalf("branch %d index %d: policy and descriptor differ", branch, i)
			}
		}
	}
	// A single-address wallet: branch 0, index 0 of the wallet's own key.
	k, _ := root.ECPubKey()
	hexKey := fmt.Sprintf("%x", schnorr.SerializePubKey(k))
	out, desc, err := rp.singleOutput(hexKey, net)
	if err != nil {
		t.Fatal(err)
	}
	d, err := bitcoin.ParseRecoveryDescriptor(desc, net)
	if err != nil || d.Ranged() {
		t.Fatalf("%s: %v", desc, err)
	}
	o, _ := d.Output(0)
	if !bytes.Equal(o.PkScript, out.PkScript) {
		t.Fatal("single output differs from its descriptor")
	}
	// Truncated or substituted recovery keys are refused.
	s := recPub.String()
	for _, bad := range []string{s[:len(s)-1], s[:len(s)-1] + "x", rec.String()} {
		if _, err := parseRecovery(&RecoveryRequest{XPub: bad, Older: 1}, net); !errors.Is(err, ErrInvalid) {
			t.Fatalf("accepted %q", bad[:12])
		}
	}
}
