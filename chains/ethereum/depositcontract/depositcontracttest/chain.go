// Package depositcontracttest runs go-ethereum's simulated execution chain
// with the real Ethereum deposit contract deployed from its published
// creation bytecode, for tests of deposit sending.
//
// testdata/deposit_contract.json (ABI and creation bytecode) is an unmodified copy of
// ethereum/consensus-specs solidity_deposit_contract/deposit_contract.json;
// see testdata/SOURCES.md.
package depositcontracttest

import (
	"context"
	"crypto/ecdsa"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
	"time"

	geth "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/chains/ethereum/depositcontract"
	"github.com/vhsm/vhsm/replica/testnet"
)

//go:embed testdata/deposit_contract.json
var artifact []byte

// ChainID is the chain id of go-ethereum's simulated backend.
const ChainID = 1337

// Chain is a simulated execution chain with the deposit contract and a
// funded account.
type Chain struct {
	Sim      *simulated.Backend
	Key      *ecdsa.PrivateKey // the funded account's key (10 000 ETH)
	From     common.Address
	Contract ethereum.ExecutionAddress
	// Net is hoodi with the simulated chain's id and the contract address.
	Net ethereum.Network
	// URL is the node's JSON-RPC over HTTP (Options.HTTP only).
	URL string
}

// Options configure Start.
type Options struct {
	// HTTP serves the node's eth API over HTTP on a loopback port (URL).
	HTTP bool
}

// Start starts the chain, deploys the contract and stops it all when t ends.
func Start(t testing.TB, opts Options) *Chain {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	funds := new(big.Int).Mul(big.NewInt(10_000), big.NewInt(1e18))
	var url string
	var options []func(*node.Config, *ethconfig.Config)
	if opts.HTTP {
		port := freePort(t)
		url = fmt.Sprintf("http://127.0.0.1:%d", port)
		options = append(options, func(nc *node.Config, _ *ethconfig.Config) {
			nc.HTTPHost, nc.HTTPPort, nc.HTTPModules = "127.0.0.1", port, []string{"eth", "net", "web3"}
		})
	}
	sim := simulated.NewBackend(types.GenesisAlloc{from: {Balance: funds}}, options...)
	t.Cleanup(func() { sim.Close() })
	var art struct {
		Bytecode string `json:"bytecode"`
	}
	if err := json.Unmarshal(artifact, &art); err != nil {
		t.Fatal(err)
	}
	code, err := hexutil.Decode(art.Bytecode)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl := sim.Client()
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := depositcontract.KeySigner(ChainID, key)(types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(ChainID),
		GasTipCap: big.NewInt(1e9), GasFeeCap: FeeCap(head), Gas: 5_000_000, Data: code}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	sim.Commit()
	r, err := cl.TransactionReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("deploy the deposit contract: %v %+v", err, r)
	}
	net, _ := ethereum.NetworkByName("hoodi")
	net.DepositChainID = ChainID
	net.DepositContractAddress = ethereum.ExecutionAddress(r.ContractAddress)
	return &Chain{Sim: sim, Key: key, From: from, Contract: net.DepositContractAddress, Net: net, URL: url}
}

// FeeCap is a fee cap for the next block: 2 × base fee + 1 gwei.
func FeeCap(head *types.Header) *big.Int {
	return new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), big.NewInt(1e9))
}

// freePort is a port reserved by testnet.FreePorts until the test ends
// (a port from the kernel's ephemeral range could go to any outgoing
// connection before the simulated chain binds it).
func freePort(t testing.TB) int {
	ports, err := testnet.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testnet.ReleasePorts(ports...) })
	return ports[0]
}

// Mine commits a block every 50 ms until t ends (the simulated chain only
// makes blocks on Commit).
func (c *Chain) Mine(t testing.TB) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				c.Sim.Commit()
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

// DepositCount calls the contract's get_deposit_count (8-byte little endian).
func (c *Chain) DepositCount(t testing.TB) uint64 {
	t.Helper()
	data, _ := depositcontract.ABI.Pack("get_deposit_count")
	to := common.Address(c.Contract)
	out, err := c.Sim.Client().CallContract(context.Background(), geth.CallMsg{From: c.From, To: &to, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := depositcontract.ABI.Unpack("get_deposit_count", out)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := vals[0].([]byte)
	if !ok || len(b) != 8 {
		t.Fatalf("get_deposit_count answered %x", out)
	}
	return binary.LittleEndian.Uint64(b)
}
