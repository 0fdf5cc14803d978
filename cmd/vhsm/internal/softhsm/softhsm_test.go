package softhsm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// openToken opens a throw-away token on the real SoftHSM2, skipping the
// test only when the library is not installed.
func openToken(t *testing.T) *Token {
	t.Helper()
	if _, err := FindModule(); errors.Is(err, ErrNoModule) {
		skipWithoutSoftHSM(t)
	}
	tok, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tok.Close(); err != nil {
			t.Error(err)
		}
	})
	return tok
}

// TestSignVerify generates a persisted secp256k1 key on the token, signs a
// digest, checks the signature with btcec and rejects it for another
// digest and when tampered with.
func TestSignVerify(t *testing.T) {
	tok := openToken(t)
	k, err := tok.GenerateKey(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Public) != 65 || k.Public[0] != 0x04 {
		t.Fatalf("public key %x", k.Public)
	}
	hash := bytes.Repeat([]byte{7}, HashSize)
	sig, err := tok.Sign(0, k, hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(k, hash, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	other := bytes.Repeat([]byte{8}, HashSize)
	if err := Verify(k, other, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other digest: %v", err)
	}
	bad := bytes.Clone(sig)
	bad[40] ^= 1
	if err := Verify(k, hash, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered signature: %v", err)
	}
	if err := Verify(k, hash, sig[:63]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("short signature: %v", err)
	}
	// The key is on the token (persisted): its files are in the token
	// directory.
	var files int
	_ = filepath.WalkDir(tok.Dir(), func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() && filepath.Ext(d.Name()) == ".object" {
			files++
		}
		return nil
	})
	if files < 2 {
		t.Errorf("%d object files on the token, want the key pair persisted", files)
	}
}

// TestBench runs short bounded measurements of both operations and checks
// the counts, and that Close removes the token directory.
func TestBench(t *testing.T) {
	if _, err := FindModule(); errors.Is(err, ErrNoModule) {
		skipWithoutSoftHSM(t)
	}
	tok, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	dir := tok.Dir()
	ctx := context.Background()
	for _, sessions := range []int{1, 2} {
		r, err := tok.BenchSign(ctx, sessions, 5*time.Second, 40)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 40 || r.Errors != 0 || len(r.Latencies) != 40 || r.Sessions != sessions || r.OpsPerSec() <= 0 {
			t.Errorf("sign %d sessions: count %d errors %d (%v) ops/s %v", sessions, r.Count, r.Errors, r.FirstErr, r.OpsPerSec())
		}
	}
	r, err := tok.BenchKeygen(ctx, 5*time.Second, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 5 || r.Errors != 0 || r.Op != "keygen" {
		t.Errorf("keygen: %+v", r)
	}
	// Duration bound: a huge max stops after d.
	start := time.Now()
	r, err = tok.BenchSign(ctx, 1, 200*time.Millisecond, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second || r.Count == 0 {
		t.Errorf("200ms sign run took %v with %d signatures", el, r.Count)
	}
	if _, err := tok.BenchSign(ctx, 0, time.Second, 1); err == nil {
		t.Error("0 sessions accepted")
	}
	if _, err := tok.BenchKeygen(ctx, 0, 1); err == nil {
		t.Error("zero duration accepted")
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token directory %s left behind: %v", dir, err)
	}
	// A second token can be opened after the first is closed.
	tok2 := openToken(t)
	if tok2.Dir() == dir {
		t.Error("token directory reused")
	}
}

func TestOpenBadModule(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing.so")); err == nil {
		t.Fatal("missing module accepted")
	}
	// A file that is not a PKCS#11 library.
	p := filepath.Join(t.TempDir(), "not-a-library.so")
	if err := os.WriteFile(p, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil {
		t.Fatal("non-library accepted")
	}
	// The failure released the process-wide lock.
	if _, err := FindModule(); err == nil {
		openToken(t)
	}
}

// generator is the secp256k1 base point, SEC 1 uncompressed.
const generator = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"

func TestUnwrapECPoint(t *testing.T) {
	g, _ := hex.DecodeString(generator)
	if p, err := unwrapECPoint(append([]byte{0x04, 0x41}, g...)); err != nil || !bytes.Equal(p, g) {
		t.Errorf("generator: %x, %v", p, err)
	}
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      {0x04, 0x41, 0x04},
		"compressed": append([]byte{0x04, 0x21, 0x02}, make([]byte, 32)...),
		"off curve":  append([]byte{0x04, 0x41, 0x04}, make([]byte, 64)...),
	} {
		if _, err := unwrapECPoint(b); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// FuzzUnwrapECPoint: CKA_EC_POINT comes from the library; any bytes give a
// point or an error, never a panic, and an accepted point is 65 bytes.
func FuzzUnwrapECPoint(f *testing.F) {
	g, _ := hex.DecodeString(generator)
	f.Add(append([]byte{0x04, 0x41}, g...))
	f.Add([]byte{0x04, 0x41, 0x04})
	f.Add(append([]byte{0x04, 0x41, 0x04}, make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unwrapECPoint(b)
		if err == nil && len(p) != 65 {
			t.Fatalf("point of %d bytes", len(p))
		}
	})
}

// skipWithoutSoftHSM skips the calling test when SoftHSM2 is not installed,
// except under CI (CI set), where .ci/run installs it and a skip would hide
// a broken setup.
func skipWithoutSoftHSM(t *testing.T) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("SoftHSM2 not installed (looked in %v): .ci/run installs softhsm2, and CI must not pass by skipping", ModulePaths)
	}
	t.Skipf("SoftHSM2 not installed (apt-get install softhsm2; looked in %v)", ModulePaths)
}
