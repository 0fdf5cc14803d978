package group

import "math/bits"

// EvalPublic returns, for each list polys[b] of PUBLIC points (the
// coefficients C_0..C_t of a polynomial committed with Feldman's scheme,
// constant term first), the point Σ_k x^k·C_k at the small public x (a
// participant index): a verification key, or one side of a Feldman check.
// Every list must be non-empty; identity points are allowed. It returns
// [ErrWrongGroup] for a nil or foreign element or an empty list, and never
// modifies its inputs.
//
// Like [MulPublic] its running time depends on its inputs, which must all
// be public. On secp256k1 it runs Horner's rule in Jacobian coordinates,
// multiplying by x with doublings and additions (a few for an index, where
// a general variable-time multiplication costs some 130 doublings), and
// converts all the results to affine with one field inversion
// (Montgomery's trick), so that a [MultiMulPublic] over them uses the
// cheaper mixed additions. Checking B Feldman commitments of degree t with
// one random linear combination, Σ_b r_b·EvalPublic(C_b, j), thus costs one
// multi-scalar multiplication over B points instead of B·(t+1).
func EvalPublic(g Group, polys [][]Point, x uint64) ([]Point, error) {
	if _, ok := g.(secpGroup); ok {
		return secpEvalPublic(polys, x)
	}
	xs := g.ScalarFromUint64(x)
	out := make([]Point, len(polys))
	for b, c := range polys {
		if len(c) == 0 {
			return nil, ErrWrongGroup
		}
		acc := c[len(c)-1]
		if acc == nil || !sameGroup(g, acc) {
			return nil, ErrWrongGroup
		}
		for k := len(c) - 2; k >= 0; k-- {
			if c[k] == nil || !sameGroup(g, c[k]) {
				return nil, ErrWrongGroup
			}
			acc = MulPublic(acc, xs).Add(c[k])
		}
		out[b] = acc
	}
	return out, nil
}

// secpEvalPublic is EvalPublic on secp256k1, on the 4×64-bit field
// (secp256k1_jac.go).
func secpEvalPublic(polys [][]Point, x uint64) ([]Point, error) {
	js := make([]feJac, len(polys)) // the identity (fin unset)
	for b, c := range polys {
		if len(c) == 0 {
			return nil, ErrWrongGroup
		}
		acc := &js[b]
		for k := len(c) - 1; k >= 0; k-- {
			p, ok := c[k].(*secpPoint)
			if !ok || p == nil {
				return nil, ErrWrongGroup
			}
			if k < len(c)-1 {
				feMulSmall(acc, x)
			}
			if !p.isInf() {
				a := affFromPoint(p)
				acc.addAff(acc, &a)
			}
		}
	}
	// One inversion for all the finite results.
	var fin []feJac
	for _, j := range js {
		if j.fin {
			fin = append(fin, j)
		}
	}
	affs := make([]feAff, len(fin))
	feBatchAffine(fin, affs)
	out := make([]Point, len(js))
	for b, i := 0, 0; b < len(js); b++ {
		if !js[b].fin {
			out[b] = &secpPoint{}
			continue
		}
		out[b] = affs[i].toPoint()
		i++
	}
	return out, nil
}

// feMulSmall sets p to x·p by left-to-right double-and-add (variable
// time: x and p public); x = 0 gives the identity.
func feMulSmall(p *feJac, x uint64) {
	if x == 0 || !p.fin {
		*p = feJac{}
		return
	}
	base := *p
	for i := bits.Len64(x) - 2; i >= 0; i-- {
		p.double(p)
		if x>>uint(i)&1 == 1 {
			p.add(p, &base)
		}
	}
}
