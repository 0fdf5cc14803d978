// Package depositcontract sends deposit-data entries (the deposit CLI's
// deposit_data-*.json, see [ethereum.ParseDepositFile]) to the Ethereum
// deposit contract as execution-layer transactions.
//
// # Calls
//
// Each entry becomes one call of the contract's
// deposit(bytes pubkey, bytes withdrawal_credentials, bytes signature,
// bytes32 deposit_data_root) with value = amount in Gwei × 10^9 wei
// ([CallData], [Value]), encoded with go-ethereum's accounts/abi from the
// contract's published ABI. The contract recomputes deposit_data_root from
// the other arguments and the value and reverts on any mismatch; it does not
// check the BLS signature, so [Prepare] verifies every entry
// ([ethereum.DepositEntry.Verify]) first: a deposit with a bad signature is
// accepted by the contract and its ether is lost.
//
// # Safety checks
//
// Before anything is signed, [CheckEndpoint] requires the node's chain id to
// be the network's DEPOSIT_CHAIN_ID and code at the contract address, and
// [Prepare] simulates every call (eth_estimateGas), so a call that would
// revert is refused before it is sent, and checks the sender's balance
// covers all deposits and fees.
//
// The execution-layer key that pays for the deposits comes from a file:
// a Web3 Secret Storage keystore with a passphrase file ([KeyFromKeystore])
// or a hex private key ([KeyFromHexFile]); never from a command line.
package depositcontract

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	geth "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/vhsm/vhsm/chains/ethereum"
)

// Sentinel errors.
var (
	// ErrWrongChain reports a node whose chain id is not the network's
	// deposit chain id.
	ErrWrongChain = errors.New("depositcontract: node is on another chain")
	// ErrNoContract reports an address without code on the node.
	ErrNoContract = errors.New("depositcontract: no contract at the deposit contract address")
	// ErrWouldRevert reports a deposit call the node's simulation reverts.
	ErrWouldRevert = errors.New("depositcontract: deposit call reverts")
	// ErrReverted reports a mined deposit transaction with status 0.
	ErrReverted = errors.New("depositcontract: deposit transaction reverted")
	// ErrInsufficientFunds reports a sender balance below the deposits and
	// their maximal fees.
	ErrInsufficientFunds = errors.New("depositcontract: insufficient funds")
	// ErrKey reports an unusable key file.
	ErrKey = errors.New("depositcontract: bad key file")
)

//go:embed deposit_contract_abi.json
var abiJSON []byte

// ABI is the deposit contract's ABI (consensus-specs
// solidity_deposit_contract/deposit_contract.json).
var ABI = mustABI(abiJSON)

func mustABI(b []byte) abi.ABI {
	a, err := abi.JSON(bytes.NewReader(b))
	if err != nil {
		panic(err) // embedded constant
	}
	return a
}

// weiPerGwei converts deposit amounts (Gwei) to call values (wei).
var weiPerGwei = big.NewInt(1_000_000_000)

// Value returns the call value of a deposit of amount Gwei, in wei.
func Value(amountGwei uint64) *big.Int {
	return new(big.Int).Mul(new(big.Int).SetUint64(amountGwei), weiPerGwei)
}

// CallData is the ABI encoding of deposit(pubkey, withdrawal_credentials,
// signature, deposit_data_root) for e.
func CallData(e ethereum.DepositEntry) ([]byte, error) {
	return ABI.Pack("deposit", e.Pubkey[:], e.WithdrawalCredentials[:], e.Signature[:], [32]byte(e.DepositDataRoot))
}

// Event is a decoded DepositEvent log.
type Event struct {
	Pubkey                ethereum.Pubkey
	WithdrawalCredentials ethereum.Credentials
	Amount                uint64 // Gwei
	Signature             ethereum.Signature
	Index                 uint64 // the deposit count before this deposit
}

// ParseEvent decodes a DepositEvent log of the deposit contract. Amount and
// index are 8-byte little-endian (the contract's to_little_endian_64).
func ParseEvent(l types.Log) (Event, error) {
	ev := ABI.Events["DepositEvent"]
	if len(l.Topics) != 1 || l.Topics[0] != ev.ID {
		return Event{}, fmt.Errorf("depositcontract: not a DepositEvent log")
	}
	vals, err := ev.Inputs.Unpack(l.Data)
	if err != nil {
		return Event{}, fmt.Errorf("depositcontract: decode DepositEvent: %w", err)
	}
	var e Event
	fields := []struct {
		dst []byte
		n   int
	}{{e.Pubkey[:], 48}, {e.WithdrawalCredentials[:], 32}, {nil, 8}, {e.Signature[:], 96}, {nil, 8}}
	for i, f := range fields {
		b, ok := vals[i].([]byte)
		if !ok || len(b) != f.n {
			return Event{}, fmt.Errorf("depositcontract: DepositEvent field %d: want %d bytes", i, f.n)
		}
		switch i {
		case 2:
			e.Amount = binary.LittleEndian.Uint64(b)
		case 4:
			e.Index = binary.LittleEndian.Uint64(b)
		default:
			copy(f.dst, b)
		}
	}
	return e, nil
}

// Backend is what this package needs of an execution node;
// *ethclient.Client and go-ethereum's simulated client implement it.
type Backend interface {
	ChainID(ctx context.Context) (*big.Int, error)
	CodeAt(ctx context.Context, account common.Address, blockNumber *big.Int) ([]byte, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	EstimateGas(ctx context.Context, call geth.CallMsg) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// CheckEndpoint refuses a node whose chain id is not net.DepositChainID, or
// that has no code at contract.
func CheckEndpoint(ctx context.Context, b Backend, net ethereum.Network, contract ethereum.ExecutionAddress) error {
	id, err := b.ChainID(ctx)
	if err != nil {
		return fmt.Errorf("query chain id: %w", err)
	}
	if !id.IsUint64() || id.Uint64() != net.DepositChainID {
		return fmt.Errorf("%w: the node's chain id is %s, %s deposits go to chain %d", ErrWrongChain, id, net.Name, net.DepositChainID)
	}
	code, err := b.CodeAt(ctx, common.Address(contract), nil)
	if err != nil {
		return fmt.Errorf("query contract code: %w", err)
	}
	if len(code) == 0 {
		return fmt.Errorf("%w: %s has no code on chain %d", ErrNoContract, contract.Checksum(), net.DepositChainID)
	}
	return nil
}

// A deposit's gas depends on the deposit count when it is mined: the
// contract hashes one Merkle level per trailing zero bit of the new count,
// and when the new count is a power of two it writes a branch slot never
// written before. On go-ethereum's simulated chain (v1.17 dev forks) such a
// deposit used ~170 000 gas against ~60 000 for the others. The earlier
// deposits of a batch, and anyone else's, change the count after the
// estimate, so each limit is the estimate plus the larger of gasMargin
// percent and gasExtra. Gas not used is not paid; the balance check counts
// the whole limit.
const (
	gasMargin = 20
	gasExtra  = 150_000
)

// Prepare verifies every entry against net, then builds one unsigned
// EIP-1559 transaction per entry from from to contract, with consecutive
// nonces from from's pending nonce, each call simulated by the node
// (ErrWouldRevert) and gas estimated with a margin, fee cap 2 × base fee +
// tip. The sender's balance must cover every value and maximal fee
// (ErrInsufficientFunds). Call CheckEndpoint first.
func Prepare(ctx context.Context, b Backend, net ethereum.Network, contract ethereum.ExecutionAddress, from common.Address, entries []ethereum.DepositEntry) ([]*types.Transaction, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: no deposit entries", ethereum.ErrInvalidJSON)
	}
	for i, e := range entries {
		if err := e.Verify(net); err != nil {
			return nil, fmt.Errorf("deposit %d (%s): %w", i, e.Pubkey, err)
		}
	}
	nonce, err := b.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("query nonce: %w", err)
	}
	head, err := b.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("query head: %w", err)
	}
	if head.BaseFee == nil {
		return nil, errors.New("depositcontract: the node's chain has no EIP-1559 base fee")
	}
	tip, err := b.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, fmt.Errorf("query gas tip: %w", err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	chainID := new(big.Int).SetUint64(net.DepositChainID)
	to := common.Address(contract)
	need := new(big.Int)
	txs := make([]*types.Transaction, len(entries))
	for i, e := range entries {
		data, err := CallData(e)
		if err != nil {
			return nil, fmt.Errorf("deposit %d: %w", i, err)
		}
		value := Value(e.Amount)
		gas, err := b.EstimateGas(ctx, geth.CallMsg{From: from, To: &to, Value: value, Data: data})
		if err != nil {
			return nil, fmt.Errorf("%w: deposit %d (%s): %w", ErrWouldRevert, i, e.Pubkey, err)
		}
		gas += max(gas*gasMargin/100, gasExtra)
		txs[i] = types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce + uint64(i), GasTipCap: tip,
			GasFeeCap: feeCap, Gas: gas, To: &to, Value: value, Data: data})
		need.Add(need, txs[i].Cost())
	}
	bal, err := b.BalanceAt(ctx, from, nil)
	if err != nil {
		return nil, fmt.Errorf("query balance: %w", err)
	}
	if bal.Cmp(need) < 0 {
		return nil, fmt.Errorf("%w: %s holds %s wei; %d deposit(s) need up to %s wei with fees", ErrInsufficientFunds, from.Hex(), bal, len(entries), need)
	}
	return txs, nil
}

// Signer signs a prepared transaction; see [KeySigner].
type Signer func(*types.Transaction) (*types.Transaction, error)

// KeySigner signs for chainID with key (go-ethereum's latest signer).
func KeySigner(chainID uint64, key *ecdsa.PrivateKey) Signer {
	s := types.LatestSignerForChainID(new(big.Int).SetUint64(chainID))
	return func(tx *types.Transaction) (*types.Transaction, error) { return types.SignTx(tx, s, key) }
}

// Sent is a transaction sent by [SendAndWait] and its receipt, once mined.
type Sent struct {
	Tx      *types.Transaction
	Receipt *types.Receipt // nil if not mined before the wait ended
}

// pollInterval is how often SendAndWait asks for receipts.
const pollInterval = 500 * time.Millisecond

// SendAndWait signs and sends txs in order, then waits up to wait for their
// receipts. It returns what was sent; the error is the first failure: a
// send error (later transactions are not sent), the wait's end before every
// receipt arrived, or a receipt with status 0 (ErrReverted).
func SendAndWait(ctx context.Context, b Backend, sign Signer, txs []*types.Transaction, wait time.Duration) ([]Sent, error) {
	var sent []Sent
	for i, tx := range txs {
		stx, err := sign(tx)
		if err != nil {
			return sent, fmt.Errorf("sign deposit %d: %w", i, err)
		}
		if err := b.SendTransaction(ctx, stx); err != nil {
			return sent, fmt.Errorf("send deposit %d: %w", i, err)
		}
		sent = append(sent, Sent{Tx: stx})
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		pending := 0
		for i := range sent {
			if sent[i].Receipt != nil {
				continue
			}
			r, err := b.TransactionReceipt(ctx, sent[i].Tx.Hash())
			switch {
			case err == nil:
				sent[i].Receipt = r
			case errors.Is(err, geth.NotFound):
				pending++
			case ctx.Err() != nil:
				pending++
			default:
				return sent, fmt.Errorf("receipt of %s: %w", sent[i].Tx.Hash(), err)
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return sent, fmt.Errorf("%d of %d deposit transaction(s) not mined after %v: %w", pending, len(sent), wait, ctx.Err())
		case <-t.C:
		}
	}
	for i, s := range sent {
		if s.Receipt.Status != types.ReceiptStatusSuccessful {
			return sent, fmt.Errorf("%w: deposit %d, transaction %s in block %s", ErrReverted, i, s.Tx.Hash(), s.Receipt.BlockNumber)
		}
	}
	return sent, nil
}

// maxKeyFile bounds a key or passphrase file.
const maxKeyFile = 64 << 10

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKey, path, maxKeyFile)
	}
	return b, nil
}

// KeyFromKeystore decrypts a Web3 Secret Storage (v3) keystore file with the
// passphrase in passphraseFile: its first line, without the line ending (as
// geth's --password file).
func KeyFromKeystore(keystoreFile, passphraseFile string) (*ecdsa.PrivateKey, error) {
	js, err := readSmall(keystoreFile)
	if err != nil {
		return nil, err
	}
	pass, err := readSmall(passphraseFile)
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(pass), "\n")
	k, err := keystore.DecryptKey(js, strings.TrimSuffix(line, "\r"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, keystoreFile, err)
	}
	return k.PrivateKey, nil
}

// KeyFromHexFile reads a secp256k1 private key written as 64 hex digits
// (optionally 0x-prefixed, surrounding white space ignored). The file must
// not be readable by group or others (like ssh's private keys): it is the
// key in the clear.
func KeyFromHexFile(path string) (*ecdsa.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by others (mode %v); chmod 600 it", ErrKey, path, st.Mode().Perm())
	}
	b, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	k, err := crypto.HexToECDSA(s)
	if err != nil {
		// The error of HexToECDSA does not quote the key; keep it that way.
		return nil, fmt.Errorf("%w: %s: not a hex secp256k1 private key", ErrKey, path)
	}
	return k, nil
}
