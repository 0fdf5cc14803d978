package ethereum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSignVoluntaryExit(t *testing.T) {
	keys := lighthouseValidatorKeys(t)
	signer := newLocalSigner(t)
	pub := signer.add(t, "v0", keys[0].signing)
	for _, name := range NetworkNames() {
		net, _ := NetworkByName(name)
		exit := VoluntaryExit{Epoch: 194048, ValidatorIndex: 1234567}
		se, err := SignVoluntaryExit(context.Background(), signer, net, "v0", pub, exit)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Independent: reference SSZ with EIP-7044 domain, verified by blst.
		objRoot := refContainer(refUint64(194048), refUint64(1234567))
		domain := refDomain([]byte{4, 0, 0, 0}, net.CapellaForkVersion[:], net.GenesisValidatorsRoot[:])
		if !blstVerify(t, pub, refSigningRoot(objRoot, domain), se.Signature) {
			t.Errorf("%s: blst rejects the exit", name)
		}
		// A phase0-style domain (genesis fork version) must not verify: the
		// exit has to carry the EIP-7044 domain.
		oldDomain := refDomain([]byte{4, 0, 0, 0}, net.GenesisForkVersion[:], net.GenesisValidatorsRoot[:])
		if blstVerify(t, pub, refSigningRoot(objRoot, oldDomain), se.Signature) {
			t.Errorf("%s: exit verifies under the genesis-fork domain", name)
		}
		if err := se.Verify(net, pub); err != nil {
			t.Errorf("%s: %v", name, err)
		}

		js, err := json.Marshal(se)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`{"message":{"epoch":"194048","validator_index":"1234567"},"signature":"%s"}`, se.Signature)
		if string(js) != want {
			t.Errorf("JSON\n got %s\nwant %s", js, want)
		}
		back, err := ParseSignedVoluntaryExit(js)
		if err != nil || back != se {
			t.Errorf("round trip: %v", err)
		}
	}
	// Cross-network: a mainnet exit does not verify on hoodi.
	mainnet, _ := NetworkByName("mainnet")
	hoodi, _ := NetworkByName("hoodi")
	se, _ := SignVoluntaryExit(context.Background(), signer, mainnet, "v0", pub, VoluntaryExit{Epoch: 1, ValidatorIndex: 2})
	if err := se.Verify(hoodi, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("cross-network verify: %v", err)
	}
	// A bad HSM answer is an error.
	testKey(t, signer, "other", 3)
	if _, err := SignVoluntaryExit(context.Background(), &badSigner{inner: signer, wrongID: "other"}, mainnet, "v0", pub, VoluntaryExit{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
}

func TestParseSignedVoluntaryExitRejects(t *testing.T) {
	sig := "0x" + strings.Repeat("ab", 96)
	good := `{"message":{"epoch":"1","validator_index":"2"},"signature":"` + sig + `"}`
	if _, err := ParseSignedVoluntaryExit([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{
		"number epoch":   strings.Replace(good, `"epoch":"1"`, `"epoch":1`, 1),
		"leading zero":   strings.Replace(good, `"epoch":"1"`, `"epoch":"01"`, 1),
		"missing index":  strings.Replace(good, `,"validator_index":"2"`, ``, 1),
		"missing sig":    `{"message":{"epoch":"1","validator_index":"2"}}`,
		"no 0x":          strings.Replace(good, sig, sig[2:], 1),
		"short sig":      strings.Replace(good, sig, sig[:len(sig)-2], 1),
		"unknown field":  strings.Replace(good, `"epoch"`, `"slot":"1","epoch"`, 1),
		"null":           `null`,
		"null message":   `{"message":null,"signature":"` + sig + `"}`,
		"array":          `[` + good + `]`,
		"trailing":       good + `{}`,
		"overflow epoch": strings.Replace(good, `"epoch":"1"`, `"epoch":"18446744073709551616"`, 1),
		"upper-case key": strings.Replace(good, `"epoch"`, `"EPOCH"`, 1),
		"mixed-case key": strings.Replace(good, `"signature"`, `"Signature"`, 1),
		"duplicate key":  strings.Replace(good, `"epoch":"1"`, `"epoch":"1","epoch":"9"`, 1),
		"duplicate msg":  strings.Replace(good, `{"message":`, `{"message":{"epoch":"5","validator_index":"5"},"message":`, 1),
	} {
		if _, err := ParseSignedVoluntaryExit([]byte(c)); !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrInvalidHex) && !errors.Is(err, ErrInvalidUint64) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzParseSignedVoluntaryExit(f *testing.F) {
	f.Add([]byte(`{"message":{"epoch":"1","validator_index":"2"},"signature":"0x` + strings.Repeat("ab", 96) + `"}`))
	f.Add([]byte(`{"message":{"epoch":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseSignedVoluntaryExit(data)
		if err != nil {
			return
		}
		js, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSignedVoluntaryExit(js)
		if err != nil || back != e {
			t.Fatalf("round trip: %v", err)
		}
		mainnet, _ := NetworkByName("mainnet")
		_ = e.Verify(mainnet, Pubkey{}) // must not panic
	})
}

func TestSignObjectRootGeneric(t *testing.T) {
	signer := newLocalSigner(t)
	pub := testKey(t, signer, "k", 5)
	var obj Root
	copy(obj[:], "an arbitrary SSZ object root....")
	domain := ComputeDomain(DomainApplicationMask, Version{1, 2, 3, 4}, Root{9})
	root, sig, err := SignObjectRoot(context.Background(), signer, "k", pub, obj, domain)
	if err != nil {
		t.Fatal(err)
	}
	if Root(refSigningRoot(obj, domain)) != root {
		t.Error("signing root differs from reference")
	}
	if !blstVerify(t, pub, root, sig) {
		t.Error("blst rejects")
	}
	if _, err := SignSigningRoot(context.Background(), signer, "k", Pubkey{}, root); !errors.Is(err, ErrInvalidPubkey) {
		t.Errorf("zero pubkey: %v", err)
	}
}

func TestParseSignedVoluntaryExits(t *testing.T) {
	sig := `"0x` + strings.Repeat("ab", 96) + `"`
	good := `[{"message":{"epoch":"1","validator_index":"2"},"signature":` + sig + `},{"message":{"epoch":"1","validator_index":"3"},"signature":` + sig + `}]`
	es, err := ParseSignedVoluntaryExits([]byte(good))
	if err != nil || len(es) != 2 || es[1].Message.ValidatorIndex != 3 {
		t.Fatalf("%+v %v", es, err)
	}
	for _, bad := range []string{`[]`, `{}`, `[null]`, `[{"message":{"epoch":"1"},"signature":` + sig + `}]`,
		`[{"message":{"epoch":"1","validator_index":"2"},"signature":` + sig + `,"extra":1}]`,
		`[{"message":{"epoch":"1","validator_index":"2","Epoch":"1"},"signature":` + sig + `}]`,
		good[:len(good)-1]} {
		if _, err := ParseSignedVoluntaryExits([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseSignedVoluntaryExits(f *testing.F) {
	f.Add([]byte(`[{"message":{"epoch":"1","validator_index":"2"},"signature":"0x` + strings.Repeat("ab", 96) + `"}]`))
	f.Add([]byte(`[{"message":{"epoch":1}},null]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := ParseSignedVoluntaryExits(data)
		if err != nil {
			return
		}
		js, err := json.Marshal(es)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSignedVoluntaryExits(js)
		if err != nil || len(back) != len(es) || back[0] != es[0] {
			t.Fatalf("round trip: %v", err)
		}
	})
}
