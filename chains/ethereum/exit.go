package ethereum

import (
	"context"
	"fmt"
)

// SignedVoluntaryExit is phase0 SignedVoluntaryExit; its JSON is the beacon
// API's (POST /eth/v1/beacon/pool/voluntary_exits body).
type SignedVoluntaryExit struct {
	Message   VoluntaryExit `json:"message"`
	Signature Signature     `json:"signature"`
}

// SignVoluntaryExit signs exit with the validator key keyID (public key pub)
// under the EIP-7044 domain: compute_domain(DOMAIN_VOLUNTARY_EXIT,
// CAPELLA_FORK_VERSION, genesis_validators_root) (deneb/beacon-chain.md
// "Modified process_voluntary_exit"). Such an exit stays valid in every fork
// from Deneb on. The signature is verified before it is returned.
func SignVoluntaryExit(ctx context.Context, s Signer, net Network, keyID string, pub Pubkey, exit VoluntaryExit) (SignedVoluntaryExit, error) {
	if err := net.Validate(); err != nil {
		return SignedVoluntaryExit{}, err
	}
	_, sig, err := signTyped(ctx, s, keyID, pub, exit.HashTreeRoot(), net.VoluntaryExitDomain(), exitRequest(net, exit))
	if err != nil {
		return SignedVoluntaryExit{}, fmt.Errorf("sign voluntary exit: %w", err)
	}
	return SignedVoluntaryExit{Message: exit, Signature: sig}, nil
}

// Verify checks e's signature under pub with net's EIP-7044 exit domain.
// (The validator index is not bound to pub here; a beacon node checks it.)
func (e SignedVoluntaryExit) Verify(net Network, pub Pubkey) error {
	root := ComputeSigningRoot(e.Message.HashTreeRoot(), net.VoluntaryExitDomain())
	return VerifySignature(pub, root, e.Signature)
}

// exitKeys are the JSON keys of a SignedVoluntaryExit.
var exitKeys = keySet("message", "signature", "epoch", "validator_index")

type voluntaryExitJSON struct {
	Epoch          *Uint64 `json:"epoch"`
	ValidatorIndex *Uint64 `json:"validator_index"`
}

type signedVoluntaryExitJSON struct {
	Message   *voluntaryExitJSON `json:"message"`
	Signature *Signature         `json:"signature"`
}

func (j *signedVoluntaryExitJSON) value() (SignedVoluntaryExit, error) {
	if j == nil || j.Message == nil || j.Signature == nil || j.Message.Epoch == nil || j.Message.ValidatorIndex == nil {
		return SignedVoluntaryExit{}, fmt.Errorf("%w: SignedVoluntaryExit: missing field", ErrInvalidJSON)
	}
	return SignedVoluntaryExit{
		Message:   VoluntaryExit{Epoch: *j.Message.Epoch, ValidatorIndex: *j.Message.ValidatorIndex},
		Signature: *j.Signature,
	}, nil
}

// ParseSignedVoluntaryExit decodes the beacon-API JSON of one
// SignedVoluntaryExit: all fields required, Uint64 as decimal strings, the
// signature as 0x + 192 hex digits, no unknown, repeated or differently
// cased keys. It checks the form
// only; use [SignedVoluntaryExit.Verify] to check the signature.
func ParseSignedVoluntaryExit(data []byte) (SignedVoluntaryExit, error) {
	var j *signedVoluntaryExitJSON
	if err := decodeStrict(data, &j, exitKeys); err != nil {
		return SignedVoluntaryExit{}, err
	}
	return j.value()
}

// maxExits bounds the exits of one list (ParseSignedVoluntaryExits).
const maxExits = 1 << 14

// ParseSignedVoluntaryExits decodes a JSON array of SignedVoluntaryExit
// (as POST /v1/validators/exits and `vhsm eth exits` write them), each as
// strictly as ParseSignedVoluntaryExit; an empty list is refused.
func ParseSignedVoluntaryExits(data []byte) ([]SignedVoluntaryExit, error) {
	var js []*signedVoluntaryExitJSON
	if err := decodeStrict(data, &js, exitKeys); err != nil {
		return nil, err
	}
	if len(js) == 0 || len(js) > maxExits {
		return nil, fmt.Errorf("%w: %d exits", ErrInvalidJSON, len(js))
	}
	out := make([]SignedVoluntaryExit, len(js))
	for i, j := range js {
		e, err := j.value()
		if err != nil {
			return nil, fmt.Errorf("exit %d: %w", i, err)
		}
		out[i] = e
	}
	return out, nil
}
