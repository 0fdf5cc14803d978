package group

import (
	"github.com/herumi/bls-eth-go-binary/bls"
)

// MulPublic returns s·p, like p.Mul(s), for a public point and a public
// scalar. On secp256k1 it uses the variable-time GLV/wNAF multiplication
// of secp256k1_strauss.go on the 4×64-bit field (for the generator, its
// precomputed table), whose running time depends on s and p (about 100×
// faster than the constant-time [Point.Mul] for a small scalar such as a
// participant index, 5–8× for a full one; BenchmarkMulPublicIndex,
// BenchmarkShapeOnePoint, BenchmarkSecp256k1ConstantTimeMul); on
// BLS12-381 G1 herumi's variable-time G1Mul.
//
// Use it only where every input is public: Feldman commitments, verification
// keys, nonce commitments, participant indices, challenges and binding
// factors computed from public data. Never with a share, a nonce, a key or
// anything derived from one: that is what [Point.Mul] is for.
func MulPublic(p Point, s Scalar) Point {
	if bp, ok := p.(*blsPoint); ok {
		r := &blsPoint{}
		bls.G1Mul(&r.p, &bp.p, &asBLSScalar(s).s)
		return r
	}
	sp, ok := p.(*secpPoint)
	if !ok {
		return p.Mul(s)
	}
	k := asSecpScalar(s)
	if sp.isInf() || k.s.IsZero() {
		return &secpPoint{}
	}
	var r feJac
	if sp.p.X.Equals(&secpGen.p.X) && sp.p.Y.Equals(&secpGen.p.Y) {
		secpStrauss(nil, &k.s, &r) // the generator's precomputed table
	} else {
		secpStrauss([]secpTerm{{a: affFromPoint(sp), s: &k.s}}, nil, &r)
	}
	return r.toPoint()
}
