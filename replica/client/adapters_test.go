package client

import (
	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
)

// The adapters fit the chains' signer interfaces.
var (
	_ bitcoin.Signer  = (*Client)(nil)
	_ ethereum.Signer = EthSigner{}
)
