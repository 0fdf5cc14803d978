package dise

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/vhsm/vhsm/threshold/dleq"
	"io"
	"reflect"
	"slices"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Domain separation tags of the DPRF.
var (
	// h1DST is the RFC 9380 DST of H1, the hash of DPRF inputs to G1.
	h1DST = []byte("VHSM-DISE-V1-DPRF-BLS12381G1_XMD:SHA-256_SSWU_RO_")
	// h2DST prefixes H2, the hash of (input, H1(x)^k) to the 32-byte output.
	h2DST = []byte("VHSM-DISE-V1-DPRF-OUTPUT")
)

// maxIndex bounds replica indices: they encode as uint16.
const maxIndex = min(vss.MaxIndex, 0xffff)

// OutputLen is the length of the DPRF output w.
const OutputLen = 32

// evaluationLen is the length of an encoded [Evaluation]:
// version ‖ index (2) ‖ Y (48) ‖ proof (64).
const evaluationLen = 1 + 2 + 48 + 2*32

// Errors returned by this package. They never include secret values.
var (
	// ErrInvalidInput is returned for a DPRF input that is not a canonical
	// encoding.
	ErrInvalidInput = errors.New("dise: invalid DPRF input")
	// ErrInvalidEvaluation is returned for an evaluation that does not
	// decode, is for another replica, or whose proof does not verify.
	ErrInvalidEvaluation = errors.New("dise: invalid evaluation")
	// ErrInvalidKey is returned for a nil, zero, identity or foreign-group
	// share or verification key.
	ErrInvalidKey = errors.New("dise: invalid key")
	// ErrInvalidThreshold is returned for a threshold outside 0..MaxDegree.
	ErrInvalidThreshold = errors.New("dise: invalid threshold")
	// ErrNotEnoughEvaluations is returned when fewer than t+1 valid
	// evaluations were supplied; it is wrapped in a [*CulpritError] when
	// some were invalid.
	ErrNotEnoughEvaluations = errors.New("dise: not enough valid evaluations")
	// ErrInconsistent is returned by [CombineConsistent] when the
	// evaluations do not lie on one polynomial of degree t: one of them is
	// wrong.
	ErrInconsistent = errors.New("dise: evaluations are inconsistent")
)

// CulpritError names the replicas whose partial results were invalid; see
// [vss.CulpritError].
type CulpritError = vss.CulpritError

// g1 is the group of the DPRF.
func g1() group.Group { return group.BLS12381G1() }

// dleqDST domain-separates the Fiat–Shamir challenge of evaluation proofs.
// The statement it is hashed with (G, H1(x), K_i, Y_i) names the input
// through H1(x) and the replica through its verification key K_i, so a proof
// for one key, input or replica is useless for any other.
var dleqDST = []byte("VHSM-DISE-V1-DLEQ-BLS12381G1_XMD:SHA-256")

// Evaluation is replica Index's answer to a DPRF request on input x:
// Y = k_i·H1(x) and a proof that log_G(K_i) = log_{H1(x)}(Y) for its
// verification key K_i. An evaluation is secret in transit: t+1 of them
// determine the DPRF output.
type Evaluation struct {
	Index int
	Y     group.Point
	proof dleq.Proof
	// unproven marks an evaluation made without its proof
	// ([EvaluateUnproven]): it combines, but never verifies.
	unproven bool
}

// unprovenLen is the length of an encoded evaluation without its proof.
const unprovenLen = 1 + 2 + 48

// Bytes returns the canonical encoding: version ‖ index (uint16 BE) ‖
// Y (48) ‖ c (32) ‖ z (32); without the proof (c, z) for an unproven one.
func (e Evaluation) Bytes() []byte {
	b := make([]byte, 0, evaluationLen)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint16(b, uint16(e.Index))
	b = append(b, e.Y.Bytes()...)
	if e.unproven {
		return b
	}
	return append(b, e.proof.Bytes()...)
}

// Proven reports whether e carries a proof.
func (e Evaluation) Proven() bool { return !e.unproven }

// DecodeEvaluation parses an encoded [Evaluation], with its proof or
// without. It checks the encoding only; [VerifyEvaluation] checks the
// proof (and refuses an evaluation without one).
func DecodeEvaluation(b []byte) (Evaluation, error) {
	return decodeEvaluation(b, g1().DecodePoint)
}

// decodeEvaluation is DecodeEvaluation with decodePoint for Y.
func decodeEvaluation(b []byte, decodePoint func([]byte) (group.Point, error)) (Evaluation, error) {
	if (len(b) != evaluationLen && len(b) != unprovenLen) || b[0] != Version {
		return Evaluation{}, ErrInvalidEvaluation
	}
	index := int(binary.BigEndian.Uint16(b[1:3]))
	if index < 1 || index > maxIndex {
		return Evaluation{}, ErrInvalidEvaluation
	}
	Y, err := decodePoint(b[3:51])
	if err != nil {
		return Evaluation{}, ErrInvalidEvaluation
	}
	if len(b) == unprovenLen {
		return Evaluation{Index: index, Y: Y, unproven: true}, nil
	}
	p, err := dleq.Decode(g1(), b[51:])
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Index: index, Y: Y, proof: p}, nil
}

// hashInput is H1(x), RFC 9380 hash_to_curve to G1 under [h1DST].
func hashInput(x []byte) (group.Point, error) {
	H, err := group.HashToG1(x, h1DST)
	if err != nil {
		return nil, fmt.Errorf("hash DPRF input: %w", err)
	}
	return H, nil
}

// Evaluate is the replica side of the DPRF: replica index, holding share
// k_i of the key named in x, returns Y_i = k_i·H1(x) with a DLEQ proof
// against its verification key K_i = k_i·G. The input must be a canonical
// [Input] encoding; the caller checks, before evaluating, that the key in
// x is the key of share and that the requester may use it as the
// encryptor named in x (or may decrypt its ciphertexts).
func Evaluate(share group.Scalar, index int, x []byte, rand io.Reader) (Evaluation, error) {
	if !isG1Scalar(share) {
		return Evaluation{}, ErrInvalidKey
	}
	return EvaluateWithKey(share, g1().BaseMul(share), index, x, rand)
}

// EvaluateWithKey is [Evaluate] for a replica that already knows its
// verification key vk = share·G (from the DKG commitment), sparing a
// constant-time multiplication. A vk that does not match share gives an
// evaluation whose proof fails [VerifyEvaluation] against the right key.
func EvaluateWithKey(share group.Scalar, vk group.Point, index int, x []byte, rand io.Reader) (Evaluation, error) {
	if _, err := DecodeInput(x); err != nil {
		return Evaluation{}, err
	}
	if index < 1 || index > maxIndex || !isG1Scalar(share) || share.IsZero() || !isG1Point(vk) || vk.IsIdentity() {
		return Evaluation{}, ErrInvalidKey
	}
	H, err := hashInput(x)
	if err != nil {
		return Evaluation{}, err
	}
	// NPR 1999 / DiSE DDH-DPRF: the partial evaluation is H1(x)^{k_i}.
	Y := H.Mul(share)
	p, err := dleq.Prove(g1(), dleqDST, g1().Generator(), H, vk, Y, share, rand)
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Index: index, Y: Y, proof: p}, nil
}

// EvaluateUnproven is [EvaluateWithKey] without the proof: Y_i = k_i·H1(x)
// alone, a third of the work. Only for outputs that are checked afterwards
// (decryption: [FinishDecrypt] refuses a wrong output); a client that needs
// to find a wrong evaluation asks again for proven ones.
func EvaluateUnproven(share group.Scalar, index int, x []byte) (Evaluation, error) {
	if _, err := DecodeInput(x); err != nil {
		return Evaluation{}, err
	}
	if index < 1 || index > maxIndex || !isG1Scalar(share) || share.IsZero() {
		return Evaluation{}, ErrInvalidKey
	}
	H, err := hashInput(x)
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{Index: index, Y: H.Mul(share), unproven: true}, nil
}

// VerifyEvaluation checks e on input x against vk, the verification key of
// replica e.Index computed from the DKG commitments (never one the replica
// claims).
func VerifyEvaluation(vk group.Point, x []byte, e Evaluation) error {
	v, err := NewVerifier(x)
	if err != nil {
		return err
	}
	return v.Verify(vk, e)
}

// Verifier checks evaluations on one input x, hashing x once.
type Verifier struct {
	h group.Point // H1(x)
}

// NewVerifier hashes x for [Verifier.Verify].
func NewVerifier(x []byte) (*Verifier, error) {
	H, err := hashInput(x)
	if err != nil {
		return nil, err
	}
	return &Verifier{h: H}, nil
}

// Verify is [VerifyEvaluation] on the verifier's input.
func (v *Verifier) Verify(vk group.Point, e Evaluation) error {
	if !isG1Point(vk) || vk.IsIdentity() {
		return ErrInvalidKey
	}
	if e.unproven || e.Index < 1 || e.Index > maxIndex || e.Y == nil || !isG1Point(e.Y) || e.Y.IsIdentity() || e.proof.C == nil || e.proof.Z == nil {
		return ErrInvalidEvaluation
	}
	if e.proof.Verify(g1(), dleqDST, g1().Generator(), v.h, vk, e.Y) != nil {
		return ErrInvalidEvaluation
	}
	return nil
}

// CombineEvaluations is the client side of the DPRF: it verifies the
// encoded evaluations received for input x (keyed by the replica that sent
// them) against the replicas' verification keys vks, interpolates the t+1
// valid ones with the smallest indices in the exponent,
// Y = Σ λ_i·Y_i = k·H1(x), and returns the DPRF output w = H2(x, Y).
//
// An evaluation that does not decode, names another replica, comes from a
// replica without a verification key, or fails its proof makes its sender a
// culprit. With culprits but t+1 valid evaluations, w is returned together
// with a [*CulpritError] whose Err is nil; with fewer than t+1 valid ones, no
// output and an error wrapping [ErrNotEnoughEvaluations].
func CombineEvaluations(vks map[int]group.Point, t int, x []byte, evals map[int][]byte) ([]byte, error) {
	if t < 0 || t > vss.MaxDegree {
		return nil, ErrInvalidThreshold
	}
	if _, err := DecodeInput(x); err != nil {
		return nil, err
	}
	indices := make([]int, 0, len(evals))
	for i := range evals {
		indices = append(indices, i)
	}
	slices.Sort(indices)

	var culprits []int
	valid := make(map[int]group.Point, t+1)
	for _, i := range indices {
		if len(valid) == t+1 {
			break
		}
		vk, ok := vks[i]
		if !ok {
			culprits = append(culprits, i)
			continue
		}
		e, err := DecodeEvaluation(evals[i])
		if err != nil || e.Index != i {
			culprits = append(culprits, i)
			continue
		}
		if err := VerifyEvaluation(vk, x, e); err != nil {
			if errors.Is(err, ErrInvalidKey) {
				return nil, fmt.Errorf("combine evaluations: verification key %d: %w", i, err)
			}
			culprits = append(culprits, i)
			continue
		}
		valid[i] = e.Y
	}
	if len(valid) < t+1 {
		if len(culprits) > 0 {
			return nil, &CulpritError{Scheme: "dise", Culprits: culprits, Err: ErrNotEnoughEvaluations}
		}
		return nil, ErrNotEnoughEvaluations
	}
	w, err := interpolateOutput(x, valid)
	if err != nil {
		return nil, err
	}
	if len(culprits) > 0 {
		return w, &CulpritError{Scheme: "dise", Culprits: culprits}
	}
	return w, nil
}

// interpolateOutput returns w = H2(x, Y) for Y interpolated at zero in the
// exponent from the evaluations Y_i (DiSE, DDH-based DPRF).
func interpolateOutput(x []byte, ys map[int]group.Point) ([]byte, error) {
	Y, err := vss.InterpolatePoints(g1(), ys)
	if err != nil {
		return nil, fmt.Errorf("combine evaluations: %w", err)
	}
	return outputHash(x, Y), nil
}

// CombineUnchecked returns the DPRF output on x from exactly t+1
// evaluations WITHOUT checking their proofs. Its output is right only if
// every evaluation is, so use it only where the output is checked
// afterwards: decryption, where [FinishDecrypt] refuses unless the
// commitment α reopens (which a wrong w makes fail, except with negligible
// probability), or after [VerifyEvaluation] of each. An evaluation that
// does not decode or names another index is an error; the caller then
// falls back to [CombineEvaluations].
func CombineUnchecked(t int, x []byte, evals map[int][]byte) ([]byte, error) {
	if t < 0 || t > vss.MaxDegree {
		return nil, ErrInvalidThreshold
	}
	if len(evals) != t+1 {
		return nil, ErrNotEnoughEvaluations
	}
	// No subgroup check: a point outside G1 gives a wrong output, which the
	// caller's check refuses like any other (see above).
	ys, err := decodeUnchecked(x, evals)
	if err != nil {
		return nil, err
	}
	return interpolateOutput(x, ys)
}

// decodeUnchecked checks the input x and decodes the values of evals
// without their subgroup checks (group.DecodeG1Unchecked); an evaluation
// that does not decode or names another index than its key is an error
// wrapping ErrInvalidEvaluation.
func decodeUnchecked(x []byte, evals map[int][]byte) (map[int]group.Point, error) {
	if _, err := DecodeInput(x); err != nil {
		return nil, err
	}
	ys := make(map[int]group.Point, len(evals))
	for i, b := range evals {
		e, err := decodeEvaluation(b, group.DecodeG1Unchecked)
		if err != nil || e.Index != i {
			return nil, fmt.Errorf("combine evaluations: evaluation %d: %w", i, ErrInvalidEvaluation)
		}
		ys[i] = e.Y
	}
	return ys, nil
}

// CombineConsistent returns the DPRF output on x from at least 2t+1
// evaluations without checking their proofs: it checks instead that the
// evaluations lie on one polynomial of degree t in the exponent
// ([vss.InterpolateConsistent]) and interpolates them. With at most t
// faulty replicas among the senders, at least t+1 evaluations are right
// and fix the polynomial, so a consistent set gives the right output; this
// is how an encryption, whose output nothing else checks, does without
// proofs. The evaluations are decoded without their subgroup checks and
// the interpolated value is checked instead (see vss.InterpolateConsistent
// for why one check suffices: with a wrong point's part outside G1 either
// the consistency check fails or the value lies outside G1). An evaluation
// that does not decode or names another index is an error wrapping
// [ErrInvalidEvaluation], an inconsistent set, or a value outside G1, one
// wrapping [ErrInconsistent]; the caller then asks for proven evaluations,
// which name the culprit.
func CombineConsistent(t int, x []byte, evals map[int][]byte) ([]byte, error) {
	if t < 0 || t > vss.MaxDegree {
		return nil, ErrInvalidThreshold
	}
	if len(evals) < 2*t+1 {
		return nil, ErrNotEnoughEvaluations
	}
	ys, err := decodeUnchecked(x, evals)
	if err != nil {
		return nil, err
	}
	Y, err := vss.InterpolateConsistent(g1(), ys, t)
	if errors.Is(err, vss.ErrInconsistent) {
		return nil, fmt.Errorf("combine evaluations: %w", ErrInconsistent)
	}
	if err != nil {
		return nil, fmt.Errorf("combine evaluations: %w", err)
	}
	if !group.InG1(Y) {
		return nil, fmt.Errorf("combine evaluations: value outside G1: %w", ErrInconsistent)
	}
	return outputHash(x, Y), nil
}

// outputHash is H2(x, Y) = SHA-256(h2DST ‖ len(x) ‖ x ‖ Y).
func outputHash(x []byte, Y group.Point) []byte {
	h := sha256.New()
	h.Write(h2DST)
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(x)))
	h.Write(l[:])
	h.Write(x)
	h.Write(Y.Bytes())
	return h.Sum(nil)
}

// isG1Scalar and isG1Point report whether a value belongs to BLS12-381 G1
// (the group package panics on mixing groups; untrusted input never
// reaches it with a foreign type, but callers may).
func isG1Scalar(s group.Scalar) bool {
	return s != nil && sameType(s, g1().Zero())
}

func isG1Point(p group.Point) bool {
	return p != nil && sameType(p, g1().Generator())
}

func sameType(a, b any) bool { return reflect.TypeOf(a) == reflect.TypeOf(b) }
