package group

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
	jac := make([]feJac, len(sets))
	for i, set := range sets {
		for _, p := range set {
			sp, ok := p.(*secpPoint)
			if !ok || sp == nil {
				return nil, ErrWrongGroup
			}
			if sp.isInf() {
				continue
			}
			a := affFromPoint(sp)
			jac[i].addAff(&jac[i], &a)
		}
	}
	return secpBatchAffine(jac), nil
}

// secpBatchAffine converts Jacobian points to affine ones with a single
// field inversion (Montgomery's trick, feBatchAffine, over the finite
// ones).
func secpBatchAffine(js []feJac) []Point {
	out := make([]Point, len(js))
	finite := make([]feJac, 0, len(js))
	for i := range js {
		if js[i].fin {
			finite = append(finite, js[i])
		}
	}
	aff := make([]feAff, len(finite))
	feBatchAffine(finite, aff)
	k := 0
	for i := range js {
		if !js[i].fin {
			out[i] = &secpPoint{}
			continue
		}
		out[i] = aff[k].toPoint()
		k++
	}
	return out
}
