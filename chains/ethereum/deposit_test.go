package ethereum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Lighthouse deposit vectors (testdata/lighthouse-*.json, see
// /work/shared/vectors/SOURCES.md) were made by the deposit CLI from this
// mnemonic, with no BIP-39 passphrase, for validators 0 and 1.
const (
	lighthouseMnemonic = "test test test test test test test test test test test waste"
	lighthouseEth1Addr = "0x0f51bb10119727a7e5ea3538074fb341f56b09ad"
)

var depositVectors = []struct {
	file    string
	network string
	prefix  byte
	cli     string
}{
	{"lighthouse-mainnet_first_0_count_2_eth1_false-deposit_data-1715584092.json", "mainnet", 0x00, "2.7.0"},
	{"lighthouse-mainnet_first_0_count_2_eth1_true-deposit_data-1715584107.json", "mainnet", 0x01, "2.7.0"},
	{"lighthouse-mainnet_first_0_count_2_prefix_0x02_eth1_true-deposit_data-1785211397.json", "mainnet", 0x02, "1.3.0"},
	{"lighthouse-holesky_first_0_count_2_eth1_false-deposit_data-1715584114.json", "holesky", 0x00, "2.7.0"},
	{"lighthouse-hoodi_first_0_count_2_prefix_0x00_eth1_false-deposit_data-1785211412.json", "hoodi", 0x00, "1.3.0"},
	{"lighthouse-hoodi_first_0_count_2_prefix_0x01_eth1_true-deposit_data-1785211442.json", "hoodi", 0x01, "1.3.0"},
	{"lighthouse-hoodi_first_0_count_2_prefix_0x02_eth1_true-deposit_data-1785211449.json", "hoodi", 0x02, "1.3.0"},
}

// validatorKeys holds EIP-2334 keys of validator i: signing key
// m/12381/3600/i/0/0 and withdrawal key m/12381/3600/i/0.
type validatorKeys struct{ signing, withdrawal *big.Int }

var (
	lighthouseKeysOnce sync.Once
	lighthouseKeys     []validatorKeys
	lighthouseKeysErr  error
)

func lighthouseValidatorKeys(t *testing.T) []validatorKeys {
	t.Helper()
	lighthouseKeysOnce.Do(func() {
		seed := mnemonicSeed(lighthouseMnemonic, "")
		for i := 0; i < 2; i++ {
			s, err := derivePath(seed, fmt.Sprintf("m/12381/3600/%d/0/0", i))
			if err != nil {
				lighthouseKeysErr = err
				return
			}
			w, err := derivePath(seed, fmt.Sprintf("m/12381/3600/%d/0", i))
			if err != nil {
				lighthouseKeysErr = err
				return
			}
			lighthouseKeys = append(lighthouseKeys, validatorKeys{signing: s, withdrawal: w})
		}
	})
	if lighthouseKeysErr != nil {
		t.Fatal(lighthouseKeysErr)
	}
	return lighthouseKeys
}

// TestDepositKnownAnswer rebuilds every Lighthouse deposit file from the
// derived secret keys and requires byte-for-byte equality of the whole file,
// then checks every signature with blst on an independently computed signing
// root.
func TestDepositKnownAnswer(t *testing.T) {
	keys := lighthouseValidatorKeys(t)
	eth1, err := ParseExecutionAddress(lighthouseEth1Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range depositVectors {
		t.Run(v.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", v.file))
			if err != nil {
				t.Fatal(err)
			}
			net, err := NetworkByName(v.network)
			if err != nil {
				t.Fatal(err)
			}
			signer := newLocalSigner(t)
			var entries []DepositEntry
			for i, k := range keys {
				keyID := fmt.Sprintf("validator-%d", i)
				pub := signer.add(t, keyID, k.signing)
				var creds Credentials
				switch v.prefix {
				case 0x00:
					wpub := signer.add(t, keyID+"-withdrawal", k.withdrawal)
					creds = BLSCredentials(wpub)
				case 0x01:
					creds = ExecutionCredentials(eth1)
				case 0x02:
					creds = CompoundingCredentials(eth1)
				}
				e, err := BuildDeposit(context.Background(), signer, DepositRequest{
					Network: net, KeyID: keyID, Pubkey: pub, WithdrawalCredentials: creds,
					Amount: MaxEffectiveBalance, CLIVersion: v.cli,
				})
				if err != nil {
					t.Fatalf("validator %d: %v", i, err)
				}
				entries = append(entries, e)

				// Independent check: hand-built SSZ + blst.
				msgRoot := refContainer(refBytes(pub[:]), refBytes(creds[:]), refUint64(MaxEffectiveBalance))
				domain := refDomain([]byte{3, 0, 0, 0}, net.GenesisForkVersion[:], make([]byte, 32))
				if !blstVerify(t, pub, refSigningRoot(msgRoot, domain), e.Signature) {
					t.Errorf("validator %d: blst rejects the deposit signature", i)
				}
				dataRoot := refContainer(refBytes(pub[:]), refBytes(creds[:]), refUint64(MaxEffectiveBalance), refBytes(e.Signature[:]))
				if Root(dataRoot) != e.DepositDataRoot || Root(msgRoot) != e.DepositMessageRoot {
					t.Errorf("validator %d: roots differ from the reference SSZ", i)
				}
			}
			got, err := MarshalDepositFile(entries)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("deposit file differs\n got: %s\nwant: %s", got, want)
			}

			// The parser reads the vector back into the same entries, and they verify.
			parsed, err := ParseDepositFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if len(parsed) != len(entries) {
				t.Fatalf("parsed %d entries, want %d", len(parsed), len(entries))
			}
			for i := range parsed {
				if parsed[i] != entries[i] {
					t.Errorf("entry %d: parsed differs from built", i)
				}
				if err := parsed[i].Verify(net); err != nil {
					t.Errorf("entry %d: %v", i, err)
				}
			}
		})
	}
}

func testKey(t *testing.T, s *localSigner, keyID string, seed byte) Pubkey {
	t.Helper()
	sk := new(big.Int).SetBytes(bytes.Repeat([]byte{seed}, 31))
	return s.add(t, keyID, sk)
}

func TestDepositCompoundingAmounts(t *testing.T) {
	signer := newLocalSigner(t)
	pub := testKey(t, signer, "v", 7)
	net, _ := NetworkByName("hoodi")
	addr, _ := ParseExecutionAddress(lighthouseEth1Addr)
	comp := CompoundingCredentials(addr)
	for _, amount := range []uint64{MinDepositAmount, 1_500_000_001, 33 * GweiPerETH, MaxEffectiveBalanceElectra} {
		e, err := BuildDeposit(context.Background(), signer, DepositRequest{Network: net, KeyID: "v", Pubkey: pub, WithdrawalCredentials: comp, Amount: amount})
		if err != nil {
			t.Fatalf("amount %d: %v", amount, err)
		}
		if e.DepositCLIVersion != DefaultDepositCLIVersion {
			t.Errorf("cli version %q", e.DepositCLIVersion)
		}
		msgRoot := refContainer(refBytes(pub[:]), refBytes(comp[:]), refUint64(amount))
		domain := refDomain([]byte{3, 0, 0, 0}, net.GenesisForkVersion[:], make([]byte, 32))
		if !blstVerify(t, pub, refSigningRoot(msgRoot, domain), e.Signature) {
			t.Errorf("amount %d: blst rejects", amount)
		}
		b, _ := MarshalDepositFile([]DepositEntry{e})
		back, err := ParseDepositFile(b)
		if err != nil || len(back) != 1 || back[0] != e {
			t.Errorf("amount %d: round trip failed: %v", amount, err)
		}
	}
	bad := []struct {
		creds  Credentials
		amount uint64
	}{
		{comp, MinDepositAmount - 1},
		{comp, MaxEffectiveBalanceElectra + 1},
		{ExecutionCredentials(addr), 33 * GweiPerETH},
		{BLSCredentials(pub), MinDepositAmount},
	}
	for _, b := range bad {
		_, err := BuildDeposit(context.Background(), signer, DepositRequest{Network: net, KeyID: "v", Pubkey: pub, WithdrawalCredentials: b.creds, Amount: b.amount})
		if !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("creds 0x%02x amount %d: err = %v, want ErrInvalidAmount", b.creds[0], b.amount, err)
		}
	}
	if signer.calls != 4 {
		t.Errorf("signer called %d times, want 4 (no signing for rejected requests)", signer.calls)
	}
	var weird Credentials
	weird[0] = 0x03
	if _, err := BuildDeposit(context.Background(), signer, DepositRequest{Network: net, KeyID: "v", Pubkey: pub, WithdrawalCredentials: weird, Amount: MaxEffectiveBalance}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("prefix 0x03: %v", err)
	}
	padded := ExecutionCredentials(addr)
	padded[5] = 1
	if _, err := BuildDeposit(context.Background(), signer, DepositRequest{Network: net, KeyID: "v", Pubkey: pub, WithdrawalCredentials: padded, Amount: MaxEffectiveBalance}); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("non-zero padding: %v", err)
	}
}

// TestDepositBadSigner: a wrong, malformed or failing HSM answer is an
// error naming the key, never a deposit entry.
func TestDepositBadSigner(t *testing.T) {
	inner := newLocalSigner(t)
	pub := testKey(t, inner, "v", 7)
	testKey(t, inner, "other", 9)
	net, _ := NetworkByName("mainnet")
	addr, _ := ParseExecutionAddress(lighthouseEth1Addr)
	req := DepositRequest{Network: net, KeyID: "v", Pubkey: pub, WithdrawalCredentials: ExecutionCredentials(addr), Amount: MaxEffectiveBalance}

	var se *SignatureError
	_, err := BuildDeposit(context.Background(), &badSigner{inner: inner, wrongID: "other"}, req)
	if !errors.As(err, &se) || !errors.Is(err, ErrBadSignature) || se.KeyID != "v" {
		t.Errorf("wrong key: err = %v", err)
	}
	_, err = BuildDeposit(context.Background(), &badSigner{garbage: bytes.Repeat([]byte{0xaa}, 96)}, req)
	if !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("garbage: err = %v", err)
	}
	_, err = BuildDeposit(context.Background(), &badSigner{garbage: make([]byte, 95)}, req)
	if !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("short: err = %v", err)
	}
	// The infinity signature (0xc0 00..) is a valid encoding that must not verify.
	inf := make([]byte, 96)
	inf[0] = 0xc0
	_, err = BuildDeposit(context.Background(), &badSigner{garbage: inf}, req)
	if err == nil {
		t.Error("infinity signature accepted")
	}
	boom := errors.New("hsm unavailable")
	_, err = BuildDeposit(context.Background(), &badSigner{err: boom}, req)
	if !errors.Is(err, ErrSigner) || !errors.Is(err, boom) {
		t.Errorf("failing signer: err = %v", err)
	}
	// An invalid public key is refused before any signing.
	req.Pubkey = Pubkey{0xc0} // infinity
	if _, err := BuildDeposit(context.Background(), inner, req); !errors.Is(err, ErrInvalidPubkey) {
		t.Errorf("infinity pubkey: err = %v", err)
	}
}

func TestDepositVerifyRejectsTampering(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", depositVectors[1].file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(data)
	if err != nil {
		t.Fatal(err)
	}
	mainnet, _ := NetworkByName("mainnet")
	hoodi, _ := NetworkByName("hoodi")
	e := entries[0]
	if err := e.Verify(hoodi); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("wrong network: %v", err)
	}
	e2 := e
	e2.DepositDataRoot[0] ^= 1
	if err := e2.Verify(mainnet); !errors.Is(err, ErrRootMismatch) {
		t.Errorf("data root: %v", err)
	}
	e3 := e
	e3.Signature = entries[1].Signature
	e3.DepositDataRoot = e3.Data().HashTreeRoot()
	if err := e3.Verify(mainnet); !errors.Is(err, ErrBadSignature) {
		t.Errorf("swapped signature: %v", err)
	}
	// A deposit signed for hoodi does not verify as mainnet, even relabelled.
	hoodiData, _ := os.ReadFile(filepath.Join("testdata", depositVectors[5].file))
	he, _ := ParseDepositFile(hoodiData)
	he[0].ForkVersion, he[0].NetworkName = mainnet.GenesisForkVersion, "mainnet"
	if err := he[0].Verify(mainnet); !errors.Is(err, ErrBadSignature) {
		t.Errorf("cross-network: %v", err)
	}
}

func TestParseDepositFileRejects(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", depositVectors[0].file))
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	cases := map[string]string{
		"empty array":   "[]",
		"not array":     `{"pubkey": "00"}`,
		"unknown field": strings.Replace(s, `"amount"`, `"extra": 1, "amount"`, 1),
		"amount string": strings.Replace(s, `"amount": 32000000000`, `"amount": "32000000000"`, 1),
		"amount float":  strings.Replace(s, `"amount": 32000000000`, `"amount": 32000000000.0`, 1),
		"amount neg":    strings.Replace(s, `"amount": 32000000000`, `"amount": -1`, 1),
		"short pubkey":  strings.Replace(s, `"pubkey": "88b6`, `"pubkey": "88b`, 1),
		"missing field": strings.Replace(s, `"fork_version": "00000000", `, ``, 1),
		"bad name":      strings.Replace(s, `"network_name": "mainnet"`, `"network_name": "Main net"`, 1),
		"trailing":      s + " []",
		"upper key":     strings.Replace(s, `"pubkey"`, `"PUBKEY"`, 1),
		"duplicate key": strings.Replace(s, `"amount": 32000000000`, `"amount": 32000000000, "amount": 1000000000`, 1),
	}
	for name, c := range cases {
		if c == s {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := ParseDepositFile([]byte(c)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// 0x-prefixed hex is accepted on input.
	if _, err := ParseDepositFile([]byte(strings.Replace(s, `"pubkey": "88b6`, `"pubkey": "0x88b6`, 1))); err != nil {
		t.Errorf("0x prefix: %v", err)
	}
}

func TestDepositFileName(t *testing.T) {
	if got := DepositFileName(time.Unix(1715584092, 0)); got != "deposit_data-1715584092.json" {
		t.Errorf("got %q", got)
	}
}

// FuzzParseDepositFile: parse -> marshal -> parse is the identity, and
// nothing panics. The seeds are ~1.4 KB: run with a count budget and a short
// minimisation, e.g. -fuzztime=200000x -fuzzminimizetime=5s (a duration
// -fuzztime can end in Go's spurious "context deadline exceeded").
func FuzzParseDepositFile(f *testing.F) {
	for _, v := range depositVectors {
		data, err := os.ReadFile(filepath.Join("testdata", v.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`[{"amount": 1e3}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseDepositFile(data)
		if err != nil {
			return
		}
		// parse -> marshal -> parse is the identity.
		out, err := MarshalDepositFile(entries)
		if err != nil {
			t.Fatalf("marshal of parsed entries: %v", err)
		}
		again, err := ParseDepositFile(out)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatal("length changed")
		}
		for i := range again {
			if again[i] != entries[i] {
				t.Fatalf("entry %d changed", i)
			}
		}
		if net, err := NetworkByName(entries[0].NetworkName); err == nil {
			_ = entries[0].Verify(net) // must not panic
		}
	})
}

func TestWriteDepositFile(t *testing.T) {
	v := depositVectors[6] // hoodi 0x02
	want, err := os.ReadFile(filepath.Join("testdata", v.file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(want)
	if err != nil {
		t.Fatal(err)
	}
	hoodi, _ := NetworkByName("hoodi")
	dir := t.TempDir()
	now := time.Unix(1785211449, 0)
	path, err := WriteDepositFile(dir, hoodi, entries, now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "deposit_data-1785211449.json" {
		t.Errorf("path %s", path)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("written file differs: %v", err)
	}
	// Two more files in the same second get their own names; the first is
	// untouched.
	for i, name := range []string{"deposit_data-1785211449-1.json", "deposit_data-1785211449-2.json"} {
		p, err := WriteDepositFile(dir, hoodi, entries[:1], now)
		if err != nil || filepath.Base(p) != name {
			t.Errorf("write %d in the same second: %s, %v; want %s", i+2, p, err, name)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Error("the first file was changed")
	}
	mainnet, _ := NetworkByName("mainnet")
	if _, err := WriteDepositFile(dir, mainnet, entries, now.Add(time.Second)); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("wrong network: %v", err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 3 {
		t.Errorf("directory holds %d files, want 3 (no temporary file left)", len(files))
	}
}

// TestWriteDepositFileConcurrent: writers racing in one directory within
// one second all succeed, each with its own file.
func TestWriteDepositFileConcurrent(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", depositVectors[6].file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(data)
	if err != nil {
		t.Fatal(err)
	}
	hoodi, _ := NetworkByName("hoodi")
	dir := t.TempDir()
	const n = 8
	paths := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := WriteDepositFile(dir, hoodi, entries, time.Unix(1785211449, 0))
			if err != nil {
				t.Error(err)
			}
			paths <- p
		}()
	}
	wg.Wait()
	close(paths)
	seen := map[string]bool{}
	for p := range paths {
		if seen[p] {
			t.Errorf("%s written twice", p)
		}
		seen[p] = true
	}
	if files, _ := os.ReadDir(dir); len(files) != n {
		t.Errorf("%d files, want %d", len(files), n)
	}
}

// TestWriteDepositFileCurrentDir: an empty dir means the current directory,
// with the temporary file made there too (not in os.TempDir).
func TestWriteDepositFileCurrentDir(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", depositVectors[4].file)) // hoodi 0x00
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(want)
	if err != nil {
		t.Fatal(err)
	}
	hoodi, _ := NetworkByName("hoodi")
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("TMPDIR", filepath.Join(dir, "no-such-tmp")) // the temporary file must not go there
	path, err := WriteDepositFile("", hoodi, entries, time.Unix(1785211412, 0))
	if err != nil {
		t.Fatal(err)
	}
	if path != "deposit_data-1785211412.json" {
		t.Errorf("path %q", path)
	}
	got, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("written file differs: %v", err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 1 {
		t.Errorf("directory holds %d files, want 1", len(files))
	}
	if _, err := WriteDepositFile(filepath.Join(dir, "missing"), hoodi, entries, time.Unix(1, 0)); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// TestDepositVectorsAllUsed: every deposit file in testdata is one of the
// known-answer cases above, and together they cover the matrix
// (mainnet, holesky, hoodi; credential types 0x00, 0x01, 0x02).
func TestDepositVectorsAllUsed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*deposit_data*.json"))
	if err != nil {
		t.Fatal(err)
	}
	listed := make(map[string]bool)
	networks := make(map[string]bool)
	prefixes := make(map[byte]bool)
	for _, v := range depositVectors {
		listed[v.file] = true
		networks[v.network] = true
		prefixes[v.prefix] = true
	}
	if len(files) != len(depositVectors) {
		t.Errorf("testdata holds %d deposit files, %d are tested", len(files), len(depositVectors))
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in depositVectors", f)
		}
	}
	for _, n := range []string{"mainnet", "holesky", "hoodi"} {
		if !networks[n] {
			t.Errorf("no vector for %s", n)
		}
	}
	for _, p := range []byte{0x00, 0x01, 0x02} {
		if !prefixes[p] {
			t.Errorf("no vector for 0x%02x credentials", p)
		}
	}
}
