package ethereum

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	tbls "github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// thresholdSigner stands in for the HSM client: the validator key exists only
// as Shamir shares x_i = f(i) of a degree-t polynomial (made here with
// threshold/vss instead of a DKG); the replicas in answer return partials
// σ_i = x_i·H(m) (threshold/bls PartialSign), the liar a partial on another
// message, and threshold/bls Combine verifies them against the Feldman
// verification keys, interpolates t+1 valid ones and verifies the result.
type thresholdSigner struct {
	t        int
	shares   map[int]group.Scalar
	vks      map[int]group.Point
	groupKey group.Point
	answer   []int // replicas that reply
	liar     int   // replica whose partial is wrong (0: none)
	culprits []int // culprits named by the last Combine
}

func newThresholdSigner(t *testing.T, secret []byte, threshold, n int) *thresholdSigner {
	t.Helper()
	g := group.BLS12381G1()
	x, err := g.DecodeScalar(secret)
	if err != nil {
		t.Fatal("decode secret failed")
	}
	poly, err := vss.NewPolynomial(g, threshold, x, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer poly.Wipe()
	commit := poly.Commit()
	s := &thresholdSigner{t: threshold, shares: map[int]group.Scalar{}, vks: map[int]group.Point{}, groupKey: commit.Secret()}
	for i := 1; i <= n; i++ {
		s.shares[i] = poly.Share(i)
		s.vks[i] = commit.Eval(i)
	}
	return s
}

func (s *thresholdSigner) SignBLS(_ context.Context, _ string, root [32]byte) ([]byte, error) {
	partials := make(map[int][]byte)
	for _, i := range s.answer {
		msg := root[:]
		if i == s.liar {
			msg = bytes.Repeat([]byte{0xee}, 32)
		}
		p, err := tbls.PartialSign(s.shares[i], msg)
		if err != nil {
			return nil, err
		}
		partials[i] = p
	}
	sig, err := tbls.Combine(s.groupKey, s.vks, s.t, root[:], partials)
	s.culprits = nil
	var ce *tbls.CulpritError
	if errors.As(err, &ce) {
		s.culprits = ce.Culprits
		if ce.Err == nil {
			err = nil // t+1 valid partials remained; sig is verified
		}
	}
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// TestDepositThresholdKey signs Lighthouse validator 0's mainnet 0x01
// deposit with the key split 2-of-4 (n = 3f+1 = 4, t = f = 1). BLS signatures
// are unique, so every pair of replicas must reproduce the vector's signature
// byte for byte; blst verifies it independently.
func TestDepositThresholdKey(t *testing.T) {
	keys := lighthouseValidatorKeys(t)
	local := newLocalSigner(t)
	pub := local.add(t, "v0", keys[0].signing)
	signer := newThresholdSigner(t, keys[0].signing.FillBytes(make([]byte, 32)), 1, 4)
	if !bytes.Equal(signer.groupKey.Bytes(), pub[:]) {
		t.Fatal("group key differs from the validator public key")
	}

	data, err := os.ReadFile(filepath.Join("testdata", depositVectors[1].file)) // mainnet 0x01
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseDepositFile(data)
	if err != nil {
		t.Fatal(err)
	}
	net, _ := NetworkByName("mainnet")
	eth1, _ := ParseExecutionAddress(lighthouseEth1Addr)
	req := DepositRequest{Network: net, KeyID: "v0", Pubkey: pub, WithdrawalCredentials: ExecutionCredentials(eth1),
		Amount: MaxEffectiveBalance, CLIVersion: "2.7.0"}
	msgRoot := refContainer(refBytes(pub[:]), refBytes(req.WithdrawalCredentials[:]), refUint64(MaxEffectiveBalance))
	domain := refDomain([]byte{3, 0, 0, 0}, net.GenesisForkVersion[:], make([]byte, 32))

	for _, c := range []struct {
		answer   []int
		liar     int
		culprits []int
	}{
		{[]int{1, 2}, 0, nil},
		{[]int{2, 4}, 0, nil},
		{[]int{3, 1}, 0, nil},
		{[]int{1, 2, 3}, 1, []int{1}}, // one replica lies; t+1 honest ones remain
	} {
		signer.answer, signer.liar = c.answer, c.liar
		e, err := BuildDeposit(context.Background(), signer, req)
		if err != nil {
			t.Fatalf("replicas %v: %v", c.answer, err)
		}
		if e != want[0] {
			t.Errorf("replicas %v: entry differs from the Lighthouse vector", c.answer)
		}
		if !blstVerify(t, pub, refSigningRoot(msgRoot, domain), e.Signature) {
			t.Errorf("replicas %v: blst rejects the combined signature", c.answer)
		}
		if !slices.Equal(signer.culprits, c.culprits) {
			t.Errorf("replicas %v: culprits %v, want %v", c.answer, signer.culprits, c.culprits)
		}
	}

	// Only t honest partials: no signature, no deposit.
	signer.answer, signer.liar = []int{2, 3}, 3
	if _, err := BuildDeposit(context.Background(), signer, req); !errors.Is(err, ErrSigner) || !errors.Is(err, tbls.ErrNotEnoughPartials) {
		t.Errorf("one honest replica: err = %v", err)
	}
}

// TestOtherPayloadsThresholdKey signs a voluntary exit (validator key), a
// BLS-to-execution change (withdrawal key) and a generic object root with
// keys split 2-of-4, one replica lying each time. Each signature is checked
// with blst on a signing root from the reference SSZ code, and equals the
// single-key signature (BLS signatures are unique).
func TestOtherPayloadsThresholdKey(t *testing.T) {
	keys := lighthouseValidatorKeys(t)
	local := newLocalSigner(t)
	pub := local.add(t, "v0", keys[0].signing)
	wpub := local.add(t, "w0", keys[0].withdrawal)
	validator := newThresholdSigner(t, keys[0].signing.FillBytes(make([]byte, 32)), 1, 4)
	withdrawal := newThresholdSigner(t, keys[0].withdrawal.FillBytes(make([]byte, 32)), 1, 4)
	for _, s := range []*thresholdSigner{validator, withdrawal} {
		s.answer, s.liar = []int{4, 2, 3}, 2
	}
	if !bytes.Equal(withdrawal.groupKey.Bytes(), wpub[:]) {
		t.Fatal("withdrawal group key differs")
	}
	ctx := context.Background()
	net, _ := NetworkByName("hoodi")

	exit := VoluntaryExit{Epoch: 50000, ValidatorIndex: 1001}
	se, err := SignVoluntaryExit(ctx, validator, net, "v0", pub, exit)
	if err != nil {
		t.Fatal(err)
	}
	exitRoot := refSigningRoot(refContainer(refUint64(50000), refUint64(1001)),
		refDomain([]byte{4, 0, 0, 0}, net.CapellaForkVersion[:], net.GenesisValidatorsRoot[:]))
	if !blstVerify(t, pub, exitRoot, se.Signature) {
		t.Error("blst rejects the threshold-signed exit")
	}
	if single, _ := SignVoluntaryExit(ctx, local, net, "v0", pub, exit); single != se {
		t.Error("threshold exit differs from the single-key exit")
	}
	if !slices.Equal(validator.culprits, []int{2}) {
		t.Errorf("exit culprits %v", validator.culprits)
	}

	// Validator 0's 0x00 credentials from the hoodi deposit vector.
	data, err := os.ReadFile(filepath.Join("testdata", depositVectors[4].file))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseDepositFile(data)
	if err != nil {
		t.Fatal(err)
	}
	to, _ := ParseExecutionAddress(lighthouseEth1Addr)
	change := BLSToExecutionChange{ValidatorIndex: 1001, FromBLSPubkey: wpub, ToExecutionAddress: to}
	sc, err := SignBLSToExecutionChange(ctx, withdrawal, net, "w0", change, entries[0].WithdrawalCredentials)
	if err != nil {
		t.Fatal(err)
	}
	changeRoot := refSigningRoot(refContainer(refUint64(1001), refBytes(wpub[:]), refBytes(to[:])),
		refDomain([]byte{0x0a, 0, 0, 0}, net.GenesisForkVersion[:], net.GenesisValidatorsRoot[:]))
	if !blstVerify(t, wpub, changeRoot, sc.Signature) {
		t.Error("blst rejects the threshold-signed BLS-to-execution change")
	}
	if single, _ := SignBLSToExecutionChange(ctx, local, net, "w0", change, entries[0].WithdrawalCredentials); single != sc {
		t.Error("threshold change differs from the single-key change")
	}

	var obj Root
	copy(obj[:], "some other SSZ object root......")
	domain := ComputeDomain(DomainRandao, net.CapellaForkVersion, net.GenesisValidatorsRoot)
	root, sig, err := SignObjectRoot(ctx, validator, "v0", pub, obj, domain)
	if err != nil {
		t.Fatal(err)
	}
	refRoot := refSigningRoot(obj, refDomain([]byte{2, 0, 0, 0}, net.CapellaForkVersion[:], net.GenesisValidatorsRoot[:]))
	if root != Root(refRoot) || !blstVerify(t, pub, refRoot, sig) {
		t.Error("generic threshold signature: wrong signing root or blst rejects")
	}
}
