package ethereum

import (
	"context"
	"math/big"
	"testing"

	"github.com/vhsm/vhsm/replica/eth2"
)

// typedLocal signs typed requests as vhsm's replicas do: it parses the
// request with replica/eth2 and signs the root eth2 computes, never a root
// it is given. It refuses bare roots, like a validator key.
type typedLocal struct {
	*localSigner
	typed int
}

func (s *typedLocal) SignBLS(context.Context, string, [32]byte) ([]byte, error) {
	panic("a bare root was signed: the typed path was not taken")
}

func (s *typedLocal) SignTyped(ctx context.Context, keyID string, _ [32]byte, request []byte) ([]byte, error) {
	r, err := eth2.Parse(request)
	if err != nil {
		return nil, err
	}
	root, err := r.SigningRoot()
	if err != nil {
		return nil, err
	}
	s.typed++
	return s.localSigner.SignBLS(ctx, keyID, root)
}

// TestTypedSigning signs a deposit, a voluntary exit and a BLS-to-execution
// change through a TypedSigner on every built-in network and a custom one:
// each signature, made over replica/eth2's root of the typed request, must
// verify over this package's root (SignSigningRoot checks it), so the typed
// requests and the package agree on object, domain and fork.
func TestTypedSigning(t *testing.T) {
	s := &typedLocal{localSigner: newLocalSigner(t)}
	pub := s.add(t, "v", big.NewInt(424242))
	ctx := context.Background()
	for _, name := range NetworkNames() {
		net, err := NetworkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		custom := net
		custom.Name, custom.GenesisValidatorsRoot = "custom", Root{7}
		for _, n := range []Network{net, custom} {
			addr := ExecutionAddress{0xab}
			if _, err := BuildDeposit(ctx, s, DepositRequest{Network: n, KeyID: "v", Pubkey: pub, WithdrawalCredentials: ExecutionCredentials(addr), Amount: MaxEffectiveBalance}); err != nil {
				t.Fatalf("%s deposit: %v", n.Name, err)
			}
			if _, err := SignVoluntaryExit(ctx, s, n, "v", pub, VoluntaryExit{Epoch: 300000, ValidatorIndex: 12}); err != nil {
				t.Fatalf("%s exit: %v", n.Name, err)
			}
			if _, err := SignBLSToExecutionChange(ctx, s, n, "v", BLSToExecutionChange{ValidatorIndex: 12, FromBLSPubkey: pub, ToExecutionAddress: addr}, BLSCredentials(pub)); err != nil {
				t.Fatalf("%s bls change: %v", n.Name, err)
			}
		}
	}
	if s.typed == 0 {
		t.Fatal("nothing signed")
	}
}
