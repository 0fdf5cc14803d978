package bitcoin

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// TestTestnet4Genesis rebuilds the testnet4 genesis block from BIP-94 (Bitcoin Core's
// CreateGenesisBlock with the testnet4 timestamp message, time, nonce and a 33-zero-byte public key)
// and checks that its hash is the GenesisHash this package hard-codes, so the constant is not taken on
// trust: `vhsm wallet` and `vhsm broadcast` compare a backend's genesis hash against it.
func TestTestnet4Genesis(t *testing.T) {
	msg := []byte("03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e98e00e")
	// scriptSig: CScript() << 486604799 << CScriptNum(4) << msg, written out byte by byte because
	// CScriptNum(4) is a one-byte data push (01 04), not OP_4.
	sigScript := append([]byte{0x04, 0xff, 0xff, 0x00, 0x1d, 0x01, 0x04, 0x4c, byte(len(msg))}, msg...)
	pkScript := append(append([]byte{33}, make([]byte, 33)...), 0xac) // <33 zero bytes> OP_CHECKSIG
	coinbase := wire.NewMsgTx(1)
	coinbase.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript, Sequence: wire.MaxTxInSequenceNum,
	})
	coinbase.AddTxOut(wire.NewTxOut(50*1e8, pkScript))
	merkle := coinbase.TxHash()
	if got := merkle.String(); got != "7aa0a7ae1e223414cb807e40cd57e667b718e42aaf9306db9102fe28912b7b4e" {
		t.Fatalf("merkle root %s", got)
	}
	hdr := wire.NewBlockHeader(1, &chainhash.Hash{}, &merkle, 0x1d00ffff, 393743547)
	hdr.Timestamp = time.Unix(1714777860, 0)
	if got := hdr.BlockHash(); got != *Testnet4.Params.GenesisHash {
		t.Fatalf("testnet4 genesis hash %s, constant %s", got, Testnet4.Params.GenesisHash)
	}
	if *Testnet4.Params.GenesisHash == *Testnet3.Params.GenesisHash {
		t.Fatal("testnet4 genesis equals testnet3's")
	}
}

// TestNetworkParams checks what distinguishes the five networks: HRP, base58 versions, network magic
// (as it appears on the wire) and default port.
func TestNetworkParams(t *testing.T) {
	tests := []struct {
		net      *Network
		hrp      string
		pkh, sh  byte
		magic    string // wire bytes
		port     string
		wantBase *chaincfg.Params // btcd's own params, or nil for testnet4
	}{
		{Mainnet, "bc", 0x00, 0x05, "f9beb4d9", "8333", &chaincfg.MainNetParams},
		{Testnet3, "tb", 0x6f, 0xc4, "0b110907", "18333", &chaincfg.TestNet3Params},
		{Testnet4, "tb", 0x6f, 0xc4, "1c163f28", "48333", nil},
		{Signet, "tb", 0x6f, 0xc4, "0a03cf40", "38333", &chaincfg.SigNetParams},
		{Regtest, "bcrt", 0x6f, 0xc4, "fabfb5da", "18444", &chaincfg.RegressionNetParams},
	}
	for _, tc := range tests {
		p := tc.net.Params
		var magic [4]byte
		magic[0], magic[1], magic[2], magic[3] = byte(p.Net), byte(p.Net>>8), byte(p.Net>>16), byte(p.Net>>24)
		if p.Bech32HRPSegwit != tc.hrp || p.PubKeyHashAddrID != tc.pkh || p.ScriptHashAddrID != tc.sh ||
			hex.EncodeToString(magic[:]) != tc.magic || p.DefaultPort != tc.port {
			t.Errorf("%s: hrp %q versions %02x/%02x magic %x port %s", tc.net.Name, p.Bech32HRPSegwit,
				p.PubKeyHashAddrID, p.ScriptHashAddrID, magic, p.DefaultPort)
		}
		if tc.wantBase != nil && p != tc.wantBase {
			t.Errorf("%s: not btcd's parameters", tc.net.Name)
		}
	}
	if n, err := NetworkByName("testnet"); err != nil || n != Testnet3 {
		t.Errorf("testnet alias: %v %v", n, err)
	}
	if _, err := NetworkByName(""); !errors.Is(err, ErrUnknownNetwork) {
		t.Errorf("empty name: %v", err)
	}
}
