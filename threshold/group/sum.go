package group

import "github.com/decred/dcrd/dcrec/secp256k1/v4"

// SumEachPublic returns, for every list of points in sets, the sum of its
// points (the identity for an empty list), for PUBLIC points: its running
// time depends on them. It is for sums of Feldman commitments and the like,
// never for a secret.
//
// Summing k points with [Point.Add] costs k−1 conversions to affine
// coordinates on secp256k1 (a field inversion each, about a hundred point
// additions' worth). SumEachPublic adds in Jacobian coordinates and converts
// every sum at once with one field inversion (Montgomery's trick: invert the
// product of the Z coordinates, then peel each inverse off with two
// multiplications). On other groups it is a sum of Add. It returns
// [ErrWrongGroup] for a nil element or an element of another group.
func SumEachPublic(g Group, sets [][]Point) ([]Point, error) {
	if _, ok := g.(secpGroup); ok {
		return secpSumEach(sets)
	}
	out := make([]Point, len(sets))
	for i, set := range sets {
		acc := g.Identity()
		for _, p := range set {
			if p == nil || !sameGroup(g, p) {
				return nil, ErrWrongGroup
			}
			acc = acc.Add(p)
		}
		out[i] = acc
	}
	return out, nil
}

// sameGroup reports whether p is an element of g (by its concrete type).
func sameGroup(g Group, p Point) bool {
	switch g.(type) {
	case blsGroup:
		bp, ok := p.(*blsPoint)
		return ok && bp != nil
	case secpGroup:
		sp, ok := p.(*secpPoint)
		return ok && sp != nil
	}
	return true
}

func secpSumEach(sets [][]Point) ([]Point, error) {
	jac := make([]secp256k1.JacobianPoint, len(sets))
	for i, set := range sets {
		for _, p := range set {
			sp, ok := p.(*secpPoint)
			if !ok || sp == nil {
				return nil, ErrWrongGroup
			}
			if sp.isInf() {
				continue
			}
			secp256k1.AddNonConst(&jac[i], &sp.p, &jac[i])
		}
	}
	return secpBatchAffine(jac), nil
}

// secpBatchAffine converts Jacobian points to affine ones with a single
// field inversion (Montgomery's trick).
func secpBatchAffine(js []secp256k1.JacobianPoint) []Point {
	out := make([]Point, len(js))
	// prefix[i] is the product of the Z coordinates of the finite points
	// before i.
	prefix := make([]secp256k1.FieldVal, len(js))
	var acc secp256k1.FieldVal
	acc.SetInt(1)
	finite := make([]bool, len(js))
	for i := range js {
		js[i].Z.Normalize()
		if js[i].Z.IsZero() {
			continue
		}
		finite[i] = true
		prefix[i].Set(&acc)
		acc.Mul(&js[i].Z).Normalize()
	}
	inv := acc
	inv.Inverse().Normalize() // (Π Z)^-1
	for i := len(js) - 1; i >= 0; i-- {
		if !finite[i] {
			out[i] = &secpPoint{}
			continue
		}
		var zInv, zInv2 secp256k1.FieldVal
		zInv.Mul2(&inv, &prefix[i]).Normalize() // Z_i^-1
		inv.Mul(&js[i].Z).Normalize()           // (Π_{k<i} Z_k)^-1
		zInv2.SquareVal(&zInv)
		r := &secpPoint{p: js[i]}
		r.p.X.Mul(&zInv2)
		r.p.Y.Mul(zInv2.Mul(&zInv))
		r.p.Z.SetInt(1)
		r.p.X.Normalize()
		r.p.Y.Normalize()
		out[i] = r
	}
	return out
}
