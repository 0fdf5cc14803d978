package wallet

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/eth2"
)

type fakeEth2HSM struct {
	calls []string
	err   error
	sig   []byte
}

func (f *fakeEth2HSM) SignEth2(_ context.Context, keyID string, req []byte) ([]byte, error) {
	f.calls = append(f.calls, keyID+" "+string(req))
	return f.sig, f.err
}

// errTestSlashable is a slashing refusal as the HSM client reports it.
var errTestSlashable = fmt.Errorf("sign eth2: %w", client.ErrSlashable)

func TestRemoteSigner(t *testing.T) {
	ctx := context.Background()
	s, clk := storeOnly(t)
	insert := func(id, kind, keyID string, pub []byte) {
		t.Helper()
		if _, err := s.st.q().exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES (?, ?, 'hoodi', ?, ?, '', '', '', 0, NULL, 0)`,
			id, kind, keyID, hex.EncodeToString(pub)); err != nil {
			t.Fatal(err)
		}
	}
	pk1, pk2, pk3 := bytes.Repeat([]byte{1}, 48), bytes.Repeat([]byte{2}, 48), bytes.Repeat([]byte{3}, 48)
	insert("w_1", KindValidator, "vw-1", pk1)
	insert("w_2", KindValidator, "vw-2", pk2)
	insert("w_b", KindBitcoin, "vw-b", bytes.Repeat([]byte{9}, 32)) // not a validator
	insert("w_c", KindValidator, "vw-c", []byte{1, 2, 3})           // corrupt: skipped

	hsm := &fakeEth2HSM{sig: bytes.Repeat([]byte{0xaa}, 96)}
	if _, err := s.NewRemoteSigner(nil); err == nil {
		t.Fatal("nil HSM accepted")
	}
	rs, err := s.NewRemoteSigner(hsm)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rs.PublicKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("%d keys, %v", len(keys), err)
	}
	sig, err := rs.Sign(ctx, [48]byte(pk2), []byte(`{"type":"X"}`))
	if err != nil || sig != [96]byte(hsm.sig) || hsm.calls[0] != `vw-2 {"type":"X"}` {
		t.Fatalf("sign: %v %v", err, hsm.calls)
	}
	// Unknown key: ErrNotFound, the HSM is not asked.
	if _, err := rs.Sign(ctx, [48]byte(pk3), nil); !errors.Is(err, ErrNotFound) || len(hsm.calls) != 1 {
		t.Fatalf("unknown key: %v", err)
	}
	// A validator created later is found once the refresh interval passed.
	insert("w_3", KindValidator, "vw-3", pk3)
	clk.t = clk.t.Add(2 * time.Second)
	if _, err := rs.Sign(ctx, [48]byte(pk3), nil); err != nil || !strings.HasPrefix(hsm.calls[1], "vw-3") {
		t.Fatalf("new validator: %v", err)
	}
	// HSM refusals.
	hsm.err = errTestSlashable
	if _, err := rs.Sign(ctx, [48]byte(pk1), nil); !errors.Is(err, ErrSlashable) {
		t.Fatalf("slashable: %v", err)
	}
	hsm.err = errors.New("boom")
	if _, err := rs.Sign(ctx, [48]byte(pk1), nil); err == nil || errors.Is(err, ErrSlashable) {
		t.Fatalf("other error: %v", err)
	}
	hsm.err, hsm.sig = nil, []byte{1}
	if _, err := rs.Sign(ctx, [48]byte(pk1), nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("short signature: %v", err)
	}
}

// TestRemoteSignerRegistrationForkVersion: a VALIDATOR_REGISTRATION without
// a genesis fork version is signed with the validator's network's (hoodi
// here), not mainnet's; other bodies go to the HSM byte for byte.
func TestRemoteSignerRegistrationForkVersion(t *testing.T) {
	ctx := context.Background()
	s, _ := storeOnly(t)
	hoodi, err := ethereum.NetworkByName("hoodi")
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Ethereum = map[string]ethereum.Network{"hoodi": hoodi}
	pub := bytes.Repeat([]byte{7}, 48)
	if _, err := s.st.q().exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES ('w_1', ?, 'hoodi', 'vw-1', ?, '', '', '', 0, NULL, 0)`,
		KindValidator, hex.EncodeToString(pub)); err != nil {
		t.Fatal(err)
	}
	hsm := &fakeEth2HSM{sig: bytes.Repeat([]byte{0xaa}, 96)}
	rs, _ := s.NewRemoteSigner(hsm)
	reg := `{"type":"VALIDATOR_REGISTRATION","validator_registration":{"fee_recipient":"0x` + strings.Repeat("11", 20) +
		`","gas_limit":"30000000","timestamp":"1700000000","pubkey":"0x` + hex.EncodeToString(pub) + `"}}`
	if _, err := rs.Sign(ctx, [48]byte(pub), []byte(reg)); err != nil {
		t.Fatal(err)
	}
	sent := strings.TrimPrefix(hsm.calls[0], "vw-1 ")
	r, err := eth2.Parse([]byte(sent))
	if err != nil || r.GenesisForkVersion != [4]byte{0x10, 0, 9, 0x10} {
		t.Fatalf("sent %s (%v)", sent, err)
	}
	for _, body := range []string{
		strings.Replace(reg, `"type"`, `"genesis_fork_version":"0x00000000","type"`, 1), // explicit: kept
		`{"type":"RANDAO_REVEAL"}`, // other types: untouched
		`not json`,
	} {
		if _, err := rs.Sign(ctx, [48]byte(pub), []byte(body)); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimPrefix(hsm.calls[len(hsm.calls)-1], "vw-1 "); got != body {
			t.Fatalf("body changed: %s -> %s", body, got)
		}
	}
	// A validator on a network the service does not know is refused.
	s.cfg.Ethereum = nil
	if _, err := rs.Sign(ctx, [48]byte(pub), []byte(reg)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown network: %v", err)
	}
}

// TestRemoteSignerSlashingRefusal: the HSM client's slashing refusal is
// recognised anywhere in an error chain, and nothing else is.
func TestRemoteSignerSlashingRefusal(t *testing.T) {
	ctx := context.Background()
	s, _ := storeOnly(t)
	pub := bytes.Repeat([]byte{5}, 48)
	if _, err := s.st.q().exec(ctx, `INSERT INTO wallets (`+walletCols+`) VALUES ('w_1', ?, 'hoodi', 'vw-1', ?, '', '', '', 0, NULL, 0)`,
		KindValidator, hex.EncodeToString(pub)); err != nil {
		t.Fatal(err)
	}
	sentinel := client.ErrSlashable
	other := errors.New("client: sign rejected by replicas [1 2]: slashable attestation: surrounds (source 1, target 9)")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sentinel, true},
		{fmt.Errorf("sign eth2: %w", sentinel), true},
		{fmt.Errorf("sign eth2: %w: %w", sentinel, other), true},
		{errors.Join(errors.New("x"), fmt.Errorf("y: %w", sentinel)), true},
		{other, false},
		{fmt.Errorf("wrapped: %w", other), false},
		{errors.New("prefix " + client.ErrSlashable.Error()), false},
	} {
		rs, err := s.NewRemoteSigner(&fakeEth2HSM{err: c.err})
		if err != nil {
			t.Fatal(err)
		}
		_, err = rs.Sign(ctx, [48]byte(pub), []byte(`{"type":"X"}`))
		if got := errors.Is(err, ErrSlashable); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
