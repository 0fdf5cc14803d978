package depositcontract_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	geth "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract/depositcontracttest"
)

// Lighthouse hoodi vectors (chains/ethereum/testdata, see
// vectors/SOURCES.md): two 32 ETH deposits each, 0x01 and 0x02 credentials.
var vectorFiles = []string{
	"../testdata/lighthouse-hoodi_first_0_count_2_prefix_0x01_eth1_true-deposit_data-1785211442.json",
	"../testdata/lighthouse-hoodi_first_0_count_2_prefix_0x02_eth1_true-deposit_data-1785211449.json",
}

func vectorEntries(t *testing.T, file string) []ethereum.DepositEntry {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ethereum.ParseDepositFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func callMsg(from common.Address, to *common.Address, value *big.Int, data []byte) geth.CallMsg {
	return geth.CallMsg{From: from, To: to, Value: value, Data: data}
}

// TestDepositsAccepted: the Lighthouse deposits, sent by Prepare and
// SendAndWait, are accepted by the real deposit contract — which recomputes
// deposit_data_root from the arguments and the value and reverts on a
// mismatch — and its DepositEvent logs carry our pubkey, credentials,
// amount and signature.
func TestDepositsAccepted(t *testing.T) {
	c := depositcontracttest.Start(t, depositcontracttest.Options{})
	ctx := context.Background()
	cl := c.Sim.Client()
	if err := depositcontract.CheckEndpoint(ctx, cl, c.Net, c.Contract); err != nil {
		t.Fatal(err)
	}
	var all []ethereum.DepositEntry
	for _, f := range vectorFiles {
		all = append(all, vectorEntries(t, f)...)
	}
	txs, err := depositcontract.Prepare(ctx, cl, c.Net, c.Contract, c.From, all)
	if err != nil {
		t.Fatal(err)
	}
	c.Mine(t)
	sent, err := depositcontract.SendAndWait(ctx, cl, depositcontract.KeySigner(depositcontracttest.ChainID, c.Key), txs, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sent {
		if len(s.Receipt.Logs) != 1 {
			t.Fatalf("deposit %d: %d logs", i, len(s.Receipt.Logs))
		}
		ev, err := depositcontract.ParseEvent(*s.Receipt.Logs[0])
		if err != nil {
			t.Fatal(err)
		}
		e := all[i]
		if ev.Pubkey != e.Pubkey || ev.WithdrawalCredentials != e.WithdrawalCredentials || ev.Signature != e.Signature ||
			ev.Amount != e.Amount || ev.Index != uint64(i) {
			t.Errorf("deposit %d: event %+v", i, ev)
		}
		if s.Tx.Value().Cmp(depositcontract.Value(e.Amount)) != 0 || depositcontract.Value(e.Amount).String() != "32000000000000000000" {
			t.Errorf("deposit %d: value %s", i, s.Tx.Value())
		}
	}
	if n := c.DepositCount(t); n != uint64(len(all)) {
		t.Errorf("deposit count %d, want %d", n, len(all))
	}
}

// TestTamperedDepositReverts: one byte of the signature changed. Prepare
// refuses it (deposit_data_root no longer matches); sent anyway, the
// contract's own check reverts it, in simulation and when mined.
func TestTamperedDepositReverts(t *testing.T) {
	c := depositcontracttest.Start(t, depositcontracttest.Options{})
	ctx := context.Background()
	cl := c.Sim.Client()
	e := vectorEntries(t, vectorFiles[0])[0]
	e.Signature[10] ^= 0x01
	if _, err := depositcontract.Prepare(ctx, cl, c.Net, c.Contract, c.From, []ethereum.DepositEntry{e}); !errors.Is(err, ethereum.ErrRootMismatch) {
		t.Fatalf("Prepare: %v, want ErrRootMismatch", err)
	}
	data, err := depositcontract.CallData(e)
	if err != nil {
		t.Fatal(err)
	}
	to := common.Address(c.Contract)
	_, err = cl.EstimateGas(ctx, callMsg(c.From, &to, depositcontract.Value(e.Amount), data))
	if err == nil || !strings.Contains(err.Error(), "deposit_data_root") {
		t.Fatalf("simulation of the tampered deposit: %v", err)
	}
	t.Logf("node: %v", err)
	head, _ := cl.HeaderByNumber(ctx, nil)
	nonce, _ := cl.PendingNonceAt(ctx, c.From)
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(depositcontracttest.ChainID), Nonce: nonce, GasTipCap: big.NewInt(1e9),
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), big.NewInt(1e9)), Gas: 300_000,
		To: &to, Value: depositcontract.Value(e.Amount), Data: data})
	c.Mine(t)
	sent, err := depositcontract.SendAndWait(ctx, cl, depositcontract.KeySigner(depositcontracttest.ChainID, c.Key), []*types.Transaction{tx}, time.Minute)
	if !errors.Is(err, depositcontract.ErrReverted) || len(sent) != 1 || sent[0].Receipt == nil || len(sent[0].Receipt.Logs) != 0 {
		t.Fatalf("mined tampered deposit: %v %+v", err, sent)
	}
	if n := c.DepositCount(t); n != 0 {
		t.Errorf("deposit count %d after a reverted deposit", n)
	}
}

// TestCheckEndpoint: a node on another chain, or without code at the
// contract address, is refused.
func TestCheckEndpoint(t *testing.T) {
	c := depositcontracttest.Start(t, depositcontracttest.Options{})
	ctx := context.Background()
	cl := c.Sim.Client()
	hoodi, _ := ethereum.NetworkByName("hoodi")
	if err := depositcontract.CheckEndpoint(ctx, cl, hoodi, c.Contract); !errors.Is(err, depositcontract.ErrWrongChain) || !strings.Contains(err.Error(), "560048") {
		t.Errorf("hoodi's chain id against the simulated chain: %v", err)
	}
	if err := depositcontract.CheckEndpoint(ctx, cl, c.Net, hoodi.DepositContractAddress); !errors.Is(err, depositcontract.ErrNoContract) {
		t.Errorf("no code: %v", err)
	}
}

// TestKeyFiles: keystore and hex key files; a wrong passphrase, a malformed
// key and a hex key readable by others are refused.
func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	ks, err := keystore.EncryptKey(&keystore.Key{Id: uuid.New(), Address: crypto.PubkeyToAddress(key.PublicKey), PrivateKey: key},
		"correct horse", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ksFile := write("ks.json", ks, 0o600)
	got, err := depositcontract.KeyFromKeystore(ksFile, write("pass", []byte("correct horse\n"), 0o600))
	if err != nil || !got.Equal(key) {
		t.Fatalf("keystore: %v", err)
	}
	if _, err := depositcontract.KeyFromKeystore(ksFile, write("wrong", []byte("wrong horse\n"), 0o600)); !errors.Is(err, depositcontract.ErrKey) {
		t.Errorf("wrong passphrase: %v", err)
	}
	hexKey := hexutil.Encode(crypto.FromECDSA(key))
	if got, err := depositcontract.KeyFromHexFile(write("k.hex", []byte(hexKey+"\n"), 0o600)); err != nil || !got.Equal(key) {
		t.Errorf("hex key: %v", err)
	}
	if _, err := depositcontract.KeyFromHexFile(write("k2.hex", []byte(hexKey), 0o644)); !errors.Is(err, depositcontract.ErrKey) {
		t.Errorf("world-readable hex key: %v", err)
	}
	if _, err := depositcontract.KeyFromHexFile(write("k3.hex", []byte("0x1234"), 0o600)); !errors.Is(err, depositcontract.ErrKey) || strings.Contains(err.Error(), "1234") {
		t.Errorf("malformed hex key: %v", err)
	}
}

// FuzzParseEvent: any log data either fails to decode or decodes to an
// event whose canonical re-encoding decodes to the same event.
func FuzzParseEvent(f *testing.F) {
	ev := depositcontract.ABI.Events["DepositEvent"]
	le := func(v uint64) []byte { b := make([]byte, 8); binary.LittleEndian.PutUint64(b, v); return b }
	pack := func(e depositcontract.Event) []byte {
		b, err := ev.Inputs.Pack(e.Pubkey[:], e.WithdrawalCredentials[:], le(e.Amount), e.Signature[:], le(e.Index))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seed := depositcontract.Event{Amount: 32e9, Index: 7}
	seed.Pubkey[0], seed.Signature[95] = 0x88, 0x01
	f.Add(pack(seed))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := types.Log{Topics: []common.Hash{ev.ID}, Data: data}
		e, err := depositcontract.ParseEvent(l)
		if err != nil {
			return
		}
		l.Data = pack(e)
		if e2, err := depositcontract.ParseEvent(l); err != nil || e2 != e {
			t.Fatalf("round trip: %+v -> %+v, %v", e, e2, err)
		}
	})
}
