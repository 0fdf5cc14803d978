// Package vss implements Shamir secret sharing over a prime-order group with
// Feldman verifiable commitments, and Lagrange interpolation at zero.
//
// A dealer samples a polynomial f(x) = a_0 + a_1·x + … + a_t·x^t over the
// scalar field with a_0 the secret ([NewPolynomial]); participant i (indexed
// 1..n, never 0) receives the share f(i) ([Polynomial.Share]). The dealer
// publishes the Feldman commitment C_k = a_k·G ([Polynomial.Commit]), against
// which anyone checks a share: f(i)·G == Σ_k C_k·i^k ([Commitment.Verify]).
// Any t+1 shares determine the secret ([InterpolateScalars]); any t reveal
// nothing about it (Shamir 1979). The commitment reveals a_0·G, which is the
// public key of the shared secret, and Eval(i) = f(i)·G, the verification key
// of participant i (Feldman 1987).
//
// References:
//   - A. Shamir, "How to Share a Secret", CACM 22(11), 1979.
//   - P. Feldman, "A Practical Scheme for Non-interactive Verifiable Secret
//     Sharing", FOCS 1987.
//
// Polynomials hold secrets: they are never printed or encoded by this package,
// and [Polynomial.Wipe] drops them once the shares are dealt. Commitments are
// public and have a canonical encoding ([Commitment.Bytes],
// [DecodeCommitment]).
package vss

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"reflect"
	"slices"
	"sync"

	"github.com/vhsm/vhsm/threshold/group"
)

// MaxDegree bounds the degree t of polynomials and commitments accepted by
// this package (and so the length of a decoded commitment, MaxDegree+1 points).
// It is far above any replica count the system uses (n ≤ 3·MaxDegree+1).
const MaxDegree = 255

// MaxIndex bounds participant indices. Indices are small positive integers;
// the bound keeps index arithmetic far from the group order and from overflow.
const MaxIndex = 1 << 16

// Errors returned by this package. They never include secret values.
var (
	// ErrInvalidDegree is returned for a degree outside 0..MaxDegree.
	ErrInvalidDegree = errors.New("vss: invalid polynomial degree")
	// ErrZeroSecret is returned when a caller-chosen secret is zero: its
	// public key would be the identity.
	ErrZeroSecret = errors.New("vss: zero secret")
	// ErrInvalidIndex is returned for a participant index outside 1..MaxIndex.
	ErrInvalidIndex = errors.New("vss: invalid participant index")
	// ErrDuplicateIndex is returned when an index set lists an index twice.
	ErrDuplicateIndex = errors.New("vss: duplicate participant index")
	// ErrIndexNotInSet is returned when λ_i is asked for an i outside the set.
	ErrIndexNotInSet = errors.New("vss: index not in set")
	// ErrNoShares is returned when interpolating from an empty set.
	ErrNoShares = errors.New("vss: no shares to interpolate")
	// ErrNilValue is returned when a share or point in the input is nil.
	ErrNilValue = errors.New("vss: nil share or point")
	// ErrLengthMismatch is returned when adding commitments of different
	// degrees.
	ErrLengthMismatch = errors.New("vss: commitment length mismatch")
	// ErrInvalidCommitment is returned by [DecodeCommitment] for an encoding
	// that is not canonical.
	ErrInvalidCommitment = errors.New("vss: invalid commitment encoding")
	// ErrTooFewPoints is returned by [InterpolateConsistent] for fewer than
	// 2t+1 points, too few to outvote t wrong ones.
	ErrTooFewPoints = errors.New("vss: fewer than 2t+1 points")
	// ErrInconsistent is returned by [InterpolateConsistent] when the points
	// do not lie on one polynomial of degree t.
	ErrInconsistent = errors.New("vss: points do not lie on one polynomial of degree t")
)

// Polynomial is a secret polynomial f(x) = a_0 + a_1·x + … + a_t·x^t over the
// scalar field of a group. Its coefficients are secret; the zero value is not
// usable, build one with [NewPolynomial].
type Polynomial struct {
	g      group.Group
	coeffs []group.Scalar // coeffs[k] = a_k; len = t+1
}

// NewPolynomial returns a polynomial of degree t (0 ≤ t ≤ MaxDegree) over the
// scalar field of g whose constant term is secret, or a uniformly random
// non-zero scalar if secret is nil. The other coefficients are uniformly
// random non-zero scalars read from rand (non-zero so that no Feldman
// commitment point is the identity, which decoders reject; the distribution
// differs from uniform by a negligible 1/q per coefficient).
func NewPolynomial(g group.Group, t int, secret group.Scalar, rand io.Reader) (*Polynomial, error) {
	if t < 0 || t > MaxDegree {
		return nil, ErrInvalidDegree
	}
	coeffs := make([]group.Scalar, t+1)
	start := 0
	if secret != nil {
		if secret.IsZero() {
			return nil, ErrZeroSecret
		}
		coeffs[0] = secret
		start = 1
	}
	for k := start; k <= t; k++ {
		a, err := g.RandomScalar(rand)
		if err != nil {
			return nil, fmt.Errorf("vss: sample coefficient: %w", err)
		}
		coeffs[k] = a
	}
	return &Polynomial{g: g, coeffs: coeffs}, nil
}

// Degree returns t, the degree of the polynomial.
func (p *Polynomial) Degree() int { return len(p.coeffs) - 1 }

// Secret returns the constant term a_0 = f(0).
func (p *Polynomial) Secret() group.Scalar { return p.coeffs[0] }

// Share returns f(i), the share of participant i. Index 0 would be the secret
// itself, so i must be in 1..MaxIndex; Share panics otherwise, as a
// programming error (indices are chosen by the caller, never decoded from
// untrusted input by this method).
func (p *Polynomial) Share(i int) group.Scalar {
	if i < 1 || i > MaxIndex {
		panic("vss: Share called with an index outside 1..MaxIndex")
	}
	// Horner's rule: f(i) = (…(a_t·i + a_{t-1})·i + …)·i + a_0.
	x := p.g.ScalarFromUint64(uint64(i))
	acc := p.coeffs[len(p.coeffs)-1]
	for k := len(p.coeffs) - 2; k >= 0; k-- {
		acc = acc.Mul(x).Add(p.coeffs[k])
	}
	return acc
}

// Commit returns the Feldman commitment C_k = a_k·G, k = 0..t (Feldman 1987).
func (p *Polynomial) Commit() Commitment {
	c := make(Commitment, len(p.coeffs))
	for k, a := range p.coeffs {
		c[k] = p.g.BaseMul(a)
	}
	return c
}

// Wipe drops the polynomial's references to its coefficients, replacing them
// with zero, so that they can be reclaimed once the shares are dealt. (Go
// offers no guaranteed zeroisation of memory; scalars are immutable values.)
// The polynomial must not be used afterwards.
func (p *Polynomial) Wipe() {
	z := p.g.Zero()
	for k := range p.coeffs {
		p.coeffs[k] = z
	}
}

// Commitment is a Feldman commitment to a polynomial of degree len−1:
// element k is a_k·G. It is public.
type Commitment []group.Point

// Degree returns t = len(c)−1.
func (c Commitment) Degree() int { return len(c) - 1 }

// Secret returns C_0 = a_0·G, the public key of the shared secret, or nil for
// an empty commitment.
func (c Commitment) Secret() group.Point {
	if len(c) == 0 {
		return nil
	}
	return c[0]
}

// Eval returns Σ_k C_k·i^k = f(i)·G, the verification key of participant i.
// It returns nil for an empty commitment, a nil element or an index outside
// 1..MaxIndex.
func (c Commitment) Eval(i int) group.Point {
	if len(c) == 0 || i < 1 || i > MaxIndex || slices.Contains(c, nil) {
		return nil
	}
	g := groupOf(c[0])
	if g == nil {
		return nil
	}
	// Horner's rule in the exponent: ((C_t·i + C_{t-1})·i + …)·i + C_0.
	// Commitments and indices are public, so the variable-time arithmetic
	// of EvalPublic is safe here (on secp256k1, doublings and additions
	// by the small index, one conversion to affine).
	v, err := group.EvalPublic(g, [][]group.Point{c}, uint64(i))
	if err != nil {
		return nil
	}
	return v[0]
}

// Verify reports whether share is participant i's share of the committed
// polynomial: share·G == Eval(i) (Feldman 1987). It returns false for a nil
// share, an invalid index or an unusable commitment.
func (c Commitment) Verify(i int, share group.Scalar) bool {
	if share == nil {
		return false
	}
	want := c.Eval(i)
	if want == nil {
		return false
	}
	g := groupOf(want)
	if g == nil {
		return false
	}
	return g.BaseMul(share).Equal(want)
}

// Add returns the element-wise sum c + o, the commitment to the sum of the two
// polynomials. Both must have the same degree.
func (c Commitment) Add(o Commitment) (Commitment, error) {
	if len(c) != len(o) {
		return nil, ErrLengthMismatch
	}
	if slices.Contains(c, nil) || slices.Contains(o, nil) {
		return nil, ErrNilValue
	}
	sum := make(Commitment, len(c))
	for k := range c {
		sum[k] = c[k].Add(o[k])
	}
	return sum, nil
}

// Equal reports whether c and o commit to the same polynomial.
func (c Commitment) Equal(o Commitment) bool {
	if len(c) != len(o) {
		return false
	}
	for k := range c {
		if c[k] == nil || o[k] == nil || !c[k].Equal(o[k]) {
			return false
		}
	}
	return true
}

// Bytes returns the canonical encoding of c: the compressed encodings of
// C_0..C_t concatenated, (t+1)·PointLen bytes. The degree is implied by the
// length.
func (c Commitment) Bytes() []byte {
	var out []byte
	for _, p := range c {
		out = append(out, p.Bytes()...)
	}
	return out
}

// DecodeCommitment parses the canonical encoding produced by
// [Commitment.Bytes]: a non-empty whole number of points, at most
// MaxDegree+1, each a valid non-identity point of g. Every other input is
// rejected with an error wrapping [ErrInvalidCommitment].
func DecodeCommitment(g group.Group, b []byte) (Commitment, error) {
	pl := g.PointLen()
	if len(b) == 0 || len(b)%pl != 0 || len(b)/pl > MaxDegree+1 {
		return nil, ErrInvalidCommitment
	}
	c := make(Commitment, len(b)/pl)
	for k := range c {
		p, err := g.DecodePoint(b[k*pl : (k+1)*pl])
		if err != nil {
			return nil, fmt.Errorf("%w: coefficient %d: %w", ErrInvalidCommitment, k, err)
		}
		c[k] = p
	}
	return c, nil
}

// LagrangeCoefficient returns λ_i = Π_{j∈indices, j≠i} j/(j−i), the Lagrange
// coefficient at x=0 of participant i for the given index set, so that
// f(0) = Σ_i λ_i·f(i) for every polynomial of degree < len(indices).
// It fails if an index is outside 1..MaxIndex, repeated, or i is not in the
// set.
func LagrangeCoefficient(g group.Group, indices []int, i int) (group.Scalar, error) {
	if err := checkIndices(indices); err != nil {
		return nil, err
	}
	if !slices.Contains(indices, i) {
		return nil, ErrIndexNotInSet
	}
	return lagrange(g, indices, i), nil
}

// LagrangeCoefficientAt returns L_i(x) = Π_{j∈indices, j≠i} (j−x)/(j−i), the
// Lagrange basis polynomial of participant i for the index set evaluated at
// x, so that f(x) = Σ_i L_i(x)·f(i) for every polynomial of degree <
// len(indices). LagrangeCoefficientAt(g, S, i, 0) is
// [LagrangeCoefficient](g, S, i). It fails like LagrangeCoefficient, and for
// x outside 0..MaxIndex.
func LagrangeCoefficientAt(g group.Group, indices []int, i, x int) (group.Scalar, error) {
	if err := checkIndices(indices); err != nil {
		return nil, err
	}
	if !slices.Contains(indices, i) {
		return nil, ErrIndexNotInSet
	}
	if x < 0 || x > MaxIndex {
		return nil, ErrInvalidIndex
	}
	return lagrangeAt(g, indices, i, x), nil
}

// MaxSmallCoefficient bounds the integers LagrangeIntegers returns: a
// multiplication by such an integer is at most 2·16 point additions and
// doublings, cheaper than one by a full scalar.
const MaxSmallCoefficient = 1 << 16

// LagrangeIntegers returns the Lagrange basis of the index set at x as
// small integers: m ≥ 1 and c with m·L_i(x) = c[k] for i = indices[k], as
// rationals, so that m·f(x) = Σ_k c[k]·f(indices[k]) for every polynomial of
// degree < len(indices), in any group of order prime to m (a prime order
// above MaxSmallCoefficient). Where the basis is integral (consecutive
// indices, x = 0) m is 1. ok is false, and c nil, if some |c[k]| or m
// exceeds MaxSmallCoefficient, or for a set or x that LagrangeCoefficientAt
// refuses, or x in the set: the caller then uses LagrangeCoefficientAt.
func LagrangeIntegers(indices []int, x int) (c []int64, m int64, ok bool) {
	if checkIndices(indices) != nil || x < 0 || x > MaxIndex || slices.Contains(indices, x) {
		return nil, 0, false
	}
	// Each product has at most len(indices)-1 factors below 2^17 in
	// magnitude; it is abandoned once past 2^40, far below overflow.
	const limit = 1 << 40
	nums := make([]int64, len(indices))
	dens := make([]int64, len(indices))
	m = 1
	for k, i := range indices {
		num, den := int64(1), int64(1)
		for _, j := range indices {
			if j == i {
				continue
			}
			num *= int64(j - x)
			den *= int64(j - i)
			if num > limit || num < -limit || den > limit || den < -limit {
				return nil, 0, false
			}
			if g := gcd(num, den); g > 1 {
				num, den = num/g, den/g
			}
		}
		if den < 0 {
			num, den = -num, -den
		}
		nums[k], dens[k] = num, den
		m = m / gcd(m, den) * den // lcm; den ≤ 2^40 and m ≤ 2^16 here
		if m > MaxSmallCoefficient {
			return nil, 0, false
		}
	}
	c = make([]int64, len(indices))
	for k := range c {
		c[k] = nums[k] * (m / dens[k])
		if c[k] > MaxSmallCoefficient || c[k] < -MaxSmallCoefficient {
			return nil, 0, false
		}
	}
	return c, m, true
}

// gcd is the greatest common divisor of |a| and |b| (b ≠ 0).
func gcd(a, b int64) int64 {
	if a < 0 {
		a = -a
	}
	if b < 0 {
		b = -b
	}
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// lagrange computes λ_i = L_i(0) for a checked index set containing i.
func lagrange(g group.Group, indices []int, i int) group.Scalar {
	return lagrangeAt(g, indices, i, 0)
}

// lagrangeAt computes L_i(x) for a checked index set containing i and
// 0 ≤ x ≤ MaxIndex.
func lagrangeAt(g group.Group, indices []int, i, x int) group.Scalar {
	xi := g.ScalarFromUint64(uint64(i))
	xx := g.ScalarFromUint64(uint64(x))
	num := g.ScalarFromUint64(1)
	den := g.ScalarFromUint64(1)
	for _, j := range indices {
		if j == i {
			continue
		}
		xj := g.ScalarFromUint64(uint64(j))
		num = num.Mul(xj.Sub(xx))
		den = den.Mul(xj.Sub(xi)) // non-zero: distinct indices below the order
	}
	return num.Mul(den.Inv())
}

// checkIndices rejects empty sets, indices outside 1..MaxIndex and duplicates.
func checkIndices(indices []int) error {
	if len(indices) == 0 {
		return ErrNoShares
	}
	seen := make(map[int]bool, len(indices))
	for _, j := range indices {
		if j < 1 || j > MaxIndex {
			return ErrInvalidIndex
		}
		if seen[j] {
			return ErrDuplicateIndex
		}
		seen[j] = true
	}
	return nil
}

// sortedKeys returns the keys of m in increasing order, so that results do
// not depend on map iteration order.
func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// InterpolateScalars returns f(0) for the unique polynomial f of degree
// len(shares)−1 with f(i) = shares[i]: the secret, given at least t+1 shares
// of a degree-t sharing. It does not check that the shares are consistent;
// verify each share against its commitment first.
func InterpolateScalars(g group.Group, shares map[int]group.Scalar) (group.Scalar, error) {
	indices := sortedKeys(shares)
	if err := checkIndices(indices); err != nil {
		return nil, err
	}
	acc := g.Zero()
	for _, i := range indices {
		s := shares[i]
		if s == nil {
			return nil, ErrNilValue
		}
		acc = acc.Add(lagrange(g, indices, i).Mul(s))
	}
	return acc, nil
}

// InterpolatePoints returns Σ_i λ_i·points[i], interpolation at zero in the
// exponent: given P_i = f(i)·G for t+1 indices it returns f(0)·G. It is used
// to combine partial results (such as BLS partial signatures) and to check
// commitments. The points are public; no point is checked for consistency.
func InterpolatePoints(g group.Group, points map[int]group.Point) (group.Point, error) {
	indices := sortedKeys(points)
	if err := checkIndices(indices); err != nil {
		return nil, err
	}
	pts := make([]group.Point, len(indices))
	for k, i := range indices {
		if pts[k] = points[i]; pts[k] == nil {
			return nil, ErrNilValue
		}
	}
	return valueAtZero(g, indices, pts)
}

// valueAtZero interpolates public points at zero: combinePublic, then one
// multiplication by m⁻¹ when m ≠ 1.
func valueAtZero(g group.Group, indices []int, points []group.Point) (group.Point, error) {
	v, m, err := combinePublic(g, indices, points, 0)
	if err != nil {
		return nil, err
	}
	return divPublic(g, v, m)
}

// combinePublic returns m ≥ 1 and m·Σ_k L_{indices[k]}(x)·points[k] for
// public points: as small integer multiples (LagrangeIntegers; a few
// additions and doublings) where the basis has them, otherwise with one
// multi-scalar multiplication by the full coefficients, and m = 1. Both are
// variable time: every input is public. On a curve with a cofactor an
// integer acts on the prime-order part of a point as the scalar it is
// congruent to, and m is prime to the order, so a check m·P = m·Σ… means
// there what P = Σ… means (InterpolateConsistent's argument).
func combinePublic(g group.Group, indices []int, points []group.Point, x int) (group.Point, int64, error) {
	if c, m, ok := LagrangeIntegers(indices, x); ok {
		acc := g.Identity()
		for k, p := range points {
			acc = acc.Add(mulSmall(g, p, c[k]))
		}
		return acc, m, nil
	}
	coeffs := make([]group.Scalar, len(indices))
	for k, i := range indices {
		coeffs[k] = lagrangeAt(g, indices, i, x)
	}
	v, err := group.MultiMulPublic(g, points, coeffs)
	return v, 1, err
}

// divPublic returns m⁻¹·v for a public point v (v itself when m is 1).
func divPublic(g group.Group, v group.Point, m int64) (group.Point, error) {
	if m == 1 {
		return v, nil
	}
	return group.MultiMulPublic(g, []group.Point{v}, []group.Scalar{g.ScalarFromUint64(uint64(m)).Inv()})
}

// mulSmall returns c·p by signed binary double-and-add, in variable time
// (c and p are public).
func mulSmall(g group.Group, p group.Point, c int64) group.Point {
	neg := c < 0
	if neg {
		c = -c
	}
	acc := g.Identity()
	for bit := bits.Len64(uint64(c)) - 1; bit >= 0; bit-- {
		acc = acc.Add(acc)
		if c>>bit&1 == 1 {
			acc = acc.Add(p)
		}
	}
	if neg {
		acc = acc.Neg()
	}
	return acc
}

// InterpolateConsistent is interpolation at zero in the exponent that needs
// no proofs: given at least 2t+1 points, it checks that they all lie on one
// polynomial of degree t (in the exponent) and returns its value at zero,
// or [ErrInconsistent]. The value is interpolated from the t+1 smallest
// indices T; each other point P_j must equal Σ_{i∈T} L_i(j)·P_i.
//
// Why this is enough: if at most t of the points are wrong (sent by at most
// t faulty participants), at least t+1 are right, and they determine the
// true polynomial f. A degree-t polynomial through all the points agrees
// with f on those t+1 and so is f: a wrong point cannot pass, and the value
// returned is f(0)·G. With fewer than 2t+1 points, t wrong ones could agree
// among themselves on another polynomial, so that is refused
// ([ErrTooFewPoints]).
//
// The argument is about a group of prime order. On a curve with a cofactor
// (BLS12-381) the points may come from a decoding without the subgroup
// check, as long as the caller checks that the value returned lies in the
// subgroup: the curve group is the direct sum of the prime-order subgroup
// and the cofactor torsion, every multiplication and addition here acts on
// the two parts separately (as multiplication by the scalar on the first),
// so the check above forces the prime-order parts to be right, and the
// value is then right exactly when its cofactor part is zero, that is when
// it lies in the subgroup. One subgroup check on the result instead of one
// per point.
//
// The coefficients are public, so the multiplications are
// [group.MultiMulPublic] (variable time in the scalars only, as in the DLEQ
// verification of the same points). A point found wrong is not named: the
// caller falls back to checking each point's proof.
func InterpolateConsistent(g group.Group, points map[int]group.Point, t int) (group.Point, error) {
	if t < 0 || t > MaxDegree {
		return nil, ErrInvalidDegree
	}
	indices := sortedKeys(points)
	if err := checkIndices(indices); err != nil {
		return nil, err
	}
	if len(indices) < 2*t+1 {
		return nil, ErrTooFewPoints
	}
	for _, i := range indices {
		if points[i] == nil {
			return nil, ErrNilValue
		}
	}
	// The t+1 smallest indices are the base: the points go to the
	// incremental form in increasing order.
	ip, err := NewConsistentInterpolator(g, t)
	if err != nil {
		return nil, err
	}
	for _, i := range indices {
		if err := ip.Add(i, points[i]); err != nil {
			return nil, err
		}
	}
	return ip.Value()
}

// knownGroups lists the group implementations whose points this package can
// map back to their group (needed by [Commitment.Eval] and
// [Commitment.Verify], whose signatures carry no group).
var knownGroups = sync.OnceValue(func() []group.Group {
	return []group.Group{group.Secp256k1(), group.BLS12381G1()}
})

// groupOf returns the group a point belongs to: through a Group() method if
// the implementation has one, else by matching its dynamic type against the
// generators of the known groups. It returns nil for an unknown point type.
func groupOf(p group.Point) group.Group {
	if gp, ok := p.(interface{ Group() group.Group }); ok {
		return gp.Group()
	}
	t := reflect.TypeOf(p)
	for _, g := range knownGroups() {
		if reflect.TypeOf(g.Generator()) == t {
			return g
		}
	}
	return nil
}
