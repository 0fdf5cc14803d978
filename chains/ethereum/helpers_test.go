package ethereum

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"

	"github.com/herumi/bls-eth-go-binary/bls"
	blst "github.com/supranational/blst/bindings/go"

	"github.com/vhsm/vhsm/threshold/group"
)

// localSigner is a single-key test Signer backed by herumi secret keys.
type localSigner struct {
	keys  map[string]*bls.SecretKey
	calls int
}

func newLocalSigner(t *testing.T) *localSigner {
	t.Helper()
	group.InitBLS()
	return &localSigner{keys: make(map[string]*bls.SecretKey)}
}

// add registers sk (a scalar below r) as keyID and returns its public key.
func (s *localSigner) add(t *testing.T, keyID string, sk *big.Int) Pubkey {
	t.Helper()
	var k bls.SecretKey
	if err := k.Deserialize(sk.FillBytes(make([]byte, 32))); err != nil {
		t.Fatal("deserialize secret key failed") // the error text holds the key
	}
	s.keys[keyID] = &k
	var p Pubkey
	copy(p[:], k.GetPublicKey().Serialize())
	return p
}

func (s *localSigner) SignBLS(_ context.Context, keyID string, root [32]byte) ([]byte, error) {
	s.calls++
	k, ok := s.keys[keyID]
	if !ok {
		return nil, errors.New("unknown key")
	}
	return k.SignByte(root[:]).Serialize(), nil
}

// badSigner returns signatures made with the wrong key, or garbage.
type badSigner struct {
	inner   *localSigner
	wrongID string // sign with this key instead
	garbage []byte // if non-nil, return this
	err     error  // if non-nil, fail
}

func (b *badSigner) SignBLS(ctx context.Context, _ string, root [32]byte) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.garbage != nil {
		return b.garbage, nil
	}
	return b.inner.SignBLS(ctx, b.wrongID, root)
}

// ethDST is the Ethereum POP ciphersuite tag (IETF BLS draft 04, as in the
// consensus specs' BLS section).
var ethDST = []byte("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")

// blstVerify verifies sig on msg under pub with supranational/blst, an
// implementation independent of herumi, with group checks on both points.
func blstVerify(t *testing.T, pub Pubkey, msg [32]byte, sig Signature) bool {
	t.Helper()
	pk := new(blst.P1Affine).Uncompress(pub[:])
	s := new(blst.P2Affine).Uncompress(sig[:])
	if pk == nil || s == nil {
		return false
	}
	return s.Verify(true, pk, true, msg[:], ethDST)
}

// The functions below are a second, generic SSZ merkleization written
// independently of ssz.go (pack into chunks, pad to a power of two, hash up),
// used to recompute signing roots in tests.

func refPack(b []byte) [][32]byte {
	n := (len(b) + 31) / 32
	if n == 0 {
		n = 1
	}
	chunks := make([][32]byte, n)
	for i := range chunks {
		copy(chunks[i][:], b[min(32*i, len(b)):min(32*i+32, len(b))])
	}
	return chunks
}

func refMerkleize(chunks [][32]byte) [32]byte {
	size := 1
	for size < len(chunks) {
		size *= 2
	}
	layer := make([][32]byte, size)
	copy(layer, chunks)
	for len(layer) > 1 {
		next := make([][32]byte, len(layer)/2)
		for i := range next {
			next[i] = sha256.Sum256(append(layer[2*i][:], layer[2*i+1][:]...))
		}
		layer = next
	}
	return layer[0]
}

func refBytes(b []byte) [32]byte { return refMerkleize(refPack(b)) }

func refUint64(v uint64) [32]byte {
	return refBytes(binary.LittleEndian.AppendUint64(nil, v))
}

func refContainer(fields ...[32]byte) [32]byte { return refMerkleize(fields) }

func refDomain(domainType, forkVersion []byte, gvr []byte) [32]byte {
	forkData := refContainer(refBytes(forkVersion), refBytes(gvr))
	var d [32]byte
	copy(d[:4], domainType)
	copy(d[4:], forkData[:28])
	return d
}

func refSigningRoot(objectRoot, domain [32]byte) [32]byte {
	return refContainer(objectRoot, domain)
}
