package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract/depositcontracttest"
)

// Lighthouse hoodi deposit files (chains/ethereum/testdata, see
// vectors/SOURCES.md): two 32 ETH deposits each.
var depositVectorFiles = []string{
	"../../chains/ethereum/testdata/lighthouse-hoodi_first_0_count_2_prefix_0x01_eth1_true-deposit_data-1785211442.json",
	"../../chains/ethereum/testdata/lighthouse-hoodi_first_0_count_2_prefix_0x02_eth1_true-deposit_data-1785211449.json",
}

// depositEnv is a simulated chain served over HTTP with the deposit
// contract, a network file for it (hoodi's fork data, the simulated chain
// id and contract), and the funded account's key in both file forms.
type depositEnv struct {
	chain                  *depositcontracttest.Chain
	netFile                string
	keystore, pass, hexKey string
	dir                    string
}

func newDepositEnv(t *testing.T) *depositEnv {
	t.Helper()
	c := depositcontracttest.Start(t, depositcontracttest.Options{HTTP: true})
	c.Mine(t)
	dir := t.TempDir()
	e := &depositEnv{chain: c, dir: dir}
	e.netFile = e.write(t, "net.yaml", fmt.Sprintf("CONFIG_NAME: hoodi\nGENESIS_FORK_VERSION: %s\nCAPELLA_FORK_VERSION: %s\n"+
		"GENESIS_VALIDATORS_ROOT: %s\nDEPOSIT_CONTRACT_ADDRESS: %s\nDEPOSIT_CHAIN_ID: %d\n", c.Net.GenesisForkVersion,
		c.Net.CapellaForkVersion, c.Net.GenesisValidatorsRoot, c.Contract.Checksum(), depositcontracttest.ChainID), 0o600)
	ks, err := keystore.EncryptKey(&keystore.Key{Id: uuid.New(), Address: c.From, PrivateKey: c.Key}, "pass phrase",
		keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	e.keystore = e.write(t, "keystore.json", string(ks), 0o600)
	e.pass = e.write(t, "pass.txt", "pass phrase\n", 0o600)
	e.hexKey = e.write(t, "key.hex", hexutil.Encode(crypto.FromECDSA(c.Key))+"\n", 0o600)
	return e
}

func (e *depositEnv) write(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *depositEnv) nonce(t *testing.T) uint64 {
	t.Helper()
	n, err := e.chain.Sim.Client().PendingNonceAt(context.Background(), e.chain.From)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBroadcastETHDeposit sends the Lighthouse deposit files with vhsm
// broadcast eth-deposit over JSON-RPC to a simulated chain running the
// real deposit contract, paid once from a keystore and once from a hex key
// file. The contract recomputes each deposit_data_root and would revert on
// a mismatch; its DepositEvent logs carry our pubkeys, credentials and
// signatures.
func TestBroadcastETHDeposit(t *testing.T) {
	e := newDepositEnv(t)
	keyFlags := [][]string{{"--keystore", e.keystore, "--passphrase-file", e.pass}, {"--private-key-file", e.hexKey}}
	total := 0
	for i, file := range depositVectorFiles {
		args := append([]string{"broadcast", "eth-deposit", "--rpc", e.chain.URL, "--network-config", e.netFile}, keyFlags[i]...)
		out, err := runBroadcast(t, "", true, append(args, file)...)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var res depositResultJSON
		decodeJSONLine(t, out, &res)
		data, _ := os.ReadFile(file)
		entries, _ := ethereum.ParseDepositFile(data)
		if res.DryRun || res.Network != "hoodi" || res.Contract != e.chain.Contract.Checksum() || len(res.Deposits) != len(entries) {
			t.Fatalf("result %+v", res)
		}
		for j, d := range res.Deposits {
			if d.Status != "success" || d.ValueWei != "32000000000000000000" || d.From != e.chain.From.Hex() {
				t.Fatalf("deposit %d: %+v", j, d)
			}
			r, err := e.chain.Sim.Client().TransactionReceipt(context.Background(), common.HexToHash(d.TxHash))
			if err != nil || len(r.Logs) != 1 {
				t.Fatalf("receipt of %s: %v", d.TxHash, err)
			}
			ev, err := depositcontract.ParseEvent(*r.Logs[0])
			if err != nil {
				t.Fatal(err)
			}
			want := entries[j]
			if ev.Pubkey != want.Pubkey || ev.WithdrawalCredentials != want.WithdrawalCredentials ||
				ev.Signature != want.Signature || ev.Amount != want.Amount || ev.Index != uint64(total) {
				t.Errorf("deposit %d: DepositEvent %+v", j, ev)
			}
			total++
		}
	}
	if n := e.chain.DepositCount(t); n != uint64(total) {
		t.Errorf("deposit count %d, want %d", n, total)
	}
}

// TestBroadcastETHDepositRefused: a dry run prints unsigned transactions and
// sends nothing; a node on another chain, an address without the contract,
// a tampered deposit and a missing key are refused with nothing sent.
func TestBroadcastETHDepositRefused(t *testing.T) {
	e := newDepositEnv(t)
	file := depositVectorFiles[0]
	base := []string{"broadcast", "eth-deposit", "--rpc", e.chain.URL}
	before := e.nonce(t)

	out, err := runBroadcast(t, "", true, append(base, "--network-config", e.netFile, "--dry-run", "--from", e.chain.From.Hex(), file)...)
	if err != nil {
		t.Fatal(err)
	}
	var res depositResultJSON
	decodeJSONLine(t, out, &res)
	selector := hexutil.Encode(depositcontract.ABI.Methods["deposit"].ID)
	if !res.DryRun || len(res.Deposits) != 2 || res.Deposits[1].Nonce != before+1 || res.Deposits[0].TxHash != "" ||
		!strings.HasPrefix(res.Deposits[0].Data, selector) || res.Deposits[0].Gas == 0 {
		t.Fatalf("dry run: %+v", res)
	}
	human, err := runBroadcast(t, "", false, append(base, "--network-config", e.netFile, "--dry-run", "--private-key-file", e.hexKey, file)...)
	if err != nil || !strings.Contains(human, "nothing sent") {
		t.Fatalf("dry run text: %v %q", err, human)
	}

	data, _ := os.ReadFile(file)
	entries, _ := ethereum.ParseDepositFile(data)
	tampered := append([]ethereum.DepositEntry(nil), entries...)
	tampered[0].Signature[7] ^= 0x01
	tamperedFile := e.write(t, "tampered.json", mustMarshalDeposits(t, tampered), 0o644)
	// The same change with deposit_data_root recomputed: the contract would
	// take it, and the ether would be lost; the BLS check refuses it here.
	resigned := append([]ethereum.DepositEntry(nil), tampered...)
	resigned[0].DepositDataRoot = resigned[0].Data().HashTreeRoot()
	resignedFile := e.write(t, "resigned.json", mustMarshalDeposits(t, resigned), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want error
		text string
	}{
		{"other chain", []string{"--network", "hoodi", "--contract", e.chain.Contract.Checksum(), "--private-key-file", e.hexKey, file},
			depositcontract.ErrWrongChain, "560048"},
		{"no contract", []string{"--network-config", e.netFile, "--contract", "0x" + strings.Repeat("42", 20), "--private-key-file", e.hexKey, file},
			depositcontract.ErrNoContract, "no code"},
		{"bad contract checksum", []string{"--network-config", e.netFile, "--contract", "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "--private-key-file", e.hexKey, file},
			ethereum.ErrAddressChecksum, "EIP-55"},
		{"tampered signature", []string{"--network-config", e.netFile, "--private-key-file", e.hexKey, tamperedFile},
			ethereum.ErrRootMismatch, "deposit_data_root"},
		{"bad signature with matching root", []string{"--network-config", e.netFile, "--private-key-file", e.hexKey, resignedFile},
			nil, "signature"}, // a *SignatureError: bad encoding or does not verify
		{"wrong network", []string{"--network", "mainnet", "--private-key-file", e.hexKey, file},
			ethereum.ErrInvalidNetwork, "fork_version"},
		{"no key", []string{"--network-config", e.netFile, file}, errETHInput, "never taken from the command line"},
		{"keystore without passphrase", []string{"--network-config", e.netFile, "--keystore", e.keystore, file}, errETHInput, "--passphrase-file"},
		{"wrong passphrase", []string{"--network-config", e.netFile, "--keystore", e.keystore, "--passphrase-file", e.hexKey, file},
			depositcontract.ErrKey, "keystore"},
		{"from is not the key", []string{"--network-config", e.netFile, "--private-key-file", e.hexKey, "--from", "0x" + strings.Repeat("11", 20), file},
			errETHInput, "--from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runBroadcast(t, "", true, append(base, tc.args...)...)
			var se *ethereum.SignatureError
			if tc.want == nil && errors.As(err, &se) && se.KeyID == "" {
				return
			}
			if tc.want == nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
	if n := e.nonce(t); n != before {
		t.Errorf("nonce %d -> %d: something was sent", before, n)
	}
	if n := e.chain.DepositCount(t); n != 0 {
		t.Errorf("deposit count %d", n)
	}
}

func mustMarshalDeposits(t *testing.T, es []ethereum.DepositEntry) string {
	t.Helper()
	b, err := ethereum.MarshalDepositFile(es)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestETHAddressFlagsChecksum: the address flags of vhsm eth deposit and
// bls-change refuse a mixed-case address with a bad EIP-55 checksum before
// any HSM is contacted.
func TestETHAddressFlagsChecksum(t *testing.T) {
	bad := "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" // 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed with one letter's case flipped
	for _, args := range [][]string{
		{"eth", "deposit", "val-1", "--network", "hoodi", "--withdrawal-address", bad},
		{"eth", "bls-change", "w-1", "--network", "hoodi", "--validator-index", "1", "--to-address", bad,
			"--withdrawal-credentials", "0x00" + strings.Repeat("11", 31)},
	} {
		_, err := runBroadcast(t, "", false, append([]string{"--config", filepath.Join(t.TempDir(), "none.json")}, args...)...)
		if !errors.Is(err, ethereum.ErrAddressChecksum) || !errors.Is(err, errETHInput) {
			t.Errorf("%v: %v", args[:2], err)
		}
	}
}
