package bitcoin

import (
	"fmt"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Network is a Bitcoin network a wallet lives on.
type Network struct {
	// Name is the canonical name: "mainnet", "testnet3", "testnet4", "signet" or "regtest".
	Name string
	// Params are btcd's chain parameters; for addresses only the HRP and base58 version bytes matter.
	Params *chaincfg.Params
}

// testnet4Params describes testnet4 (BIP-94), which btcd v0.24.2 does not know. Addresses are identical
// to testnet3 (bech32 HRP "tb", base58 versions 0x6f/0xc4), so no address can tell the two apart. What
// differs: the genesis block and hash, the network magic (0x1c163f28 on the wire), the default P2P port
// (48333), and consensus rules (BIP-94: no 20-minute minimum-difficulty exception for the first block of
// a retarget period, the timewarp fix, all soft forks including Taproot active from height 1). This
// package never validates testnet4 blocks, so GenesisBlock is left nil; GenesisHash is set.
var testnet4Params = func() chaincfg.Params {
	p := chaincfg.TestNet3Params
	p.Name = "testnet4"
	p.Net = wire.BitcoinNet(0x283f161c) // bytes 1c 16 3f 28 on the wire
	p.DefaultPort = "48333"
	p.DNSSeeds = nil
	p.Checkpoints = nil
	p.GenesisBlock = nil
	h, err := chainhash.NewHashFromStr("00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043")
	if err != nil {
		panic(err) // constant input; cannot happen
	}
	p.GenesisHash = h
	return p
}()

// Known networks.
var (
	Mainnet  = &Network{Name: "mainnet", Params: &chaincfg.MainNetParams}
	Testnet3 = &Network{Name: "testnet3", Params: &chaincfg.TestNet3Params}
	Testnet4 = &Network{Name: "testnet4", Params: &testnet4Params}
	Signet   = &Network{Name: "signet", Params: &chaincfg.SigNetParams}
	Regtest  = &Network{Name: "regtest", Params: &chaincfg.RegressionNetParams}
)

// Networks lists every known network, mainnet first.
var Networks = []*Network{Mainnet, Testnet3, Testnet4, Signet, Regtest}

// NetworkByName returns the network called name ("testnet" is accepted for testnet3).
func NetworkByName(name string) (*Network, error) {
	if name == "testnet" {
		return Testnet3, nil
	}
	for _, n := range Networks {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownNetwork, name)
}
