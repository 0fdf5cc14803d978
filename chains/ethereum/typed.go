package ethereum

import (
	"context"
	"encoding/json"
	"fmt"
)

// TypedSigner is a Signer that can also sign a typed remote-signing request
// (the JSON body of the Ethereum remote-signing API's sign route, with
// vhsm's BLS_TO_EXECUTION_CHANGE extension), from which a signer computes
// the signing root itself. vhsm's validator keys sign only this way — the
// replicas refuse to sign a bare root with them — so deposits, exits and
// BLS-to-execution changes are handed to SignTyped when the Signer offers
// it, with both the request and the root this package computed; the
// implementation signs the request for a validator key and may sign the
// root for another key. The signature is verified here over the root this
// package computed either way: a signer that computed another root is
// caught.
type TypedSigner interface {
	Signer
	SignTyped(ctx context.Context, keyID string, signingRoot [32]byte, request []byte) ([]byte, error)
}

// rootSigner signs one typed request through a TypedSigner, whatever root
// SignSigningRoot asks for (it verifies the result over that root).
type rootSigner struct {
	s       TypedSigner
	request []byte
}

func (r rootSigner) SignBLS(ctx context.Context, keyID string, root [32]byte) ([]byte, error) {
	return r.s.SignTyped(ctx, keyID, root, r.request)
}

// signTyped is SignObjectRoot, through s.SignTyped with the typed request
// when s is a TypedSigner.
func signTyped(ctx context.Context, s Signer, keyID string, pub Pubkey, objectRoot Root, domain Domain, request any) (Root, Signature, error) {
	if ts, ok := s.(TypedSigner); ok {
		b, err := json.Marshal(request)
		if err != nil {
			return Root{}, Signature{}, fmt.Errorf("encode typed request: %w", err)
		}
		s = rootSigner{s: ts, request: b}
	}
	return SignObjectRoot(ctx, s, keyID, pub, objectRoot, domain)
}

// Typed request bodies (remote-signing API, consensus-specs field names;
// numbers as decimal strings, bytes as 0x hex).
type (
	typedFork struct {
		PreviousVersion string `json:"previous_version"`
		CurrentVersion  string `json:"current_version"`
		Epoch           string `json:"epoch"`
	}
	typedForkInfo struct {
		Fork                  typedFork `json:"fork"`
		GenesisValidatorsRoot string    `json:"genesis_validators_root"`
	}
	typedExit struct {
		Type          string        `json:"type"`
		ForkInfo      typedForkInfo `json:"fork_info"`
		VoluntaryExit struct {
			Epoch          string `json:"epoch"`
			ValidatorIndex string `json:"validator_index"`
		} `json:"voluntary_exit"`
	}
	typedDeposit struct {
		Type    string `json:"type"`
		Deposit struct {
			Pubkey                string `json:"pubkey"`
			WithdrawalCredentials string `json:"withdrawal_credentials"`
			Amount                string `json:"amount"`
			GenesisForkVersion    string `json:"genesis_fork_version"`
		} `json:"deposit"`
	}
	typedBLSChange struct {
		Type               string        `json:"type"`
		ForkInfo           typedForkInfo `json:"fork_info"`
		GenesisForkVersion string        `json:"genesis_fork_version"`
		Change             struct {
			ValidatorIndex     string `json:"validator_index"`
			FromBLSPubkey      string `json:"from_bls_pubkey"`
			ToExecutionAddress string `json:"to_execution_address"`
		} `json:"bls_to_execution_change"`
	}
)

// forkAt is a fork_info whose version is v at every epoch.
func forkAt(v Version, gvr Root) typedForkInfo {
	return typedForkInfo{Fork: typedFork{PreviousVersion: v.String(), CurrentVersion: v.String(), Epoch: "0"}, GenesisValidatorsRoot: gvr.String()}
}

// exitRequest is the VOLUNTARY_EXIT request of exit on net. Its fork_info
// is at the Capella fork version at every epoch, so that get_domain yields
// EIP-7044's domain (Capella version, net's genesis validators root) on any
// network.
func exitRequest(net Network, exit VoluntaryExit) typedExit {
	r := typedExit{Type: "VOLUNTARY_EXIT", ForkInfo: forkAt(net.CapellaForkVersion, net.GenesisValidatorsRoot)}
	r.VoluntaryExit.Epoch, r.VoluntaryExit.ValidatorIndex = exit.Epoch.String(), exit.ValidatorIndex.String()
	return r
}

// depositRequest is the DEPOSIT request of msg on net.
func depositRequest(net Network, msg DepositMessage) typedDeposit {
	r := typedDeposit{Type: "DEPOSIT"}
	r.Deposit.Pubkey, r.Deposit.WithdrawalCredentials = msg.Pubkey.String(), msg.WithdrawalCredentials.String()
	r.Deposit.Amount, r.Deposit.GenesisForkVersion = Uint64(msg.Amount).String(), net.GenesisForkVersion.String()
	return r
}

// blsChangeRequest is the BLS_TO_EXECUTION_CHANGE request of c on net.
func blsChangeRequest(net Network, c BLSToExecutionChange) typedBLSChange {
	r := typedBLSChange{Type: "BLS_TO_EXECUTION_CHANGE", ForkInfo: forkAt(net.GenesisForkVersion, net.GenesisValidatorsRoot), GenesisForkVersion: net.GenesisForkVersion.String()}
	r.Change.ValidatorIndex, r.Change.FromBLSPubkey, r.Change.ToExecutionAddress = c.ValidatorIndex.String(), c.FromBLSPubkey.String(), c.ToExecutionAddress.String()
	return r
}
