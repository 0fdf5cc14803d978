package group

import (
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// refMul is decred's variable-time s·p, the reference for the
// constant-time routine.
func refMul(s *secp256k1.ModNScalar, p *secpPoint) *secpPoint {
	if p.isInf() {
		return &secpPoint{}
	}
	var r secp256k1.JacobianPoint
	secp256k1.ScalarMultNonConst(s, &p.p, &r)
	return normalized(&r)
}

func TestSecp256k1ConstantTimeMulMatchesReference(t *testing.T) {
	g := Secp256k1()
	var nMinus1 secp256k1.ModNScalar
	nMinus1.SetInt(1).Negate()
	edge := []secp256k1.ModNScalar{{}, nMinus1}
	for _, v := range []uint32{1, 2, 3, 15, 16, 17, 255, 256} {
		var s secp256k1.ModNScalar
		s.SetInt(v)
		edge = append(edge, s)
	}
	points := []*secpPoint{asSecpPoint(g.Generator()), {}}
	for range 3 {
		points = append(points, asSecpPoint(g.BaseMul(mustRandom(t, g))))
	}
	scalars := edge
	for range 20 {
		scalars = append(scalars, asSecpScalar(mustRandom(t, g)).s)
	}
	for pi, p := range points {
		for si := range scalars {
			got, want := ctScalarMult(&scalars[si], p), refMul(&scalars[si], p)
			if !got.Equal(want) {
				t.Fatalf("point %d scalar %d: constant-time result differs", pi, si)
			}
			if pi == 0 && !ctScalarBaseMult(&scalars[si]).Equal(want) {
				t.Fatalf("scalar %d: constant-time base multiplication differs", si)
			}
		}
	}
}

func TestSecp256k1CompleteAddition(t *testing.T) {
	g := Secp256k1()
	P := asSecpPoint(g.BaseMul(mustRandom(t, g)))
	Q := asSecpPoint(g.BaseMul(mustRandom(t, g)))
	negP := asSecpPoint(P.Neg())
	id := &secpPoint{}
	for name, c := range map[string]struct{ a, b, want Point }{
		"P+Q":   {P, Q, P.Add(Q)},
		"P+P":   {P, P, P.Add(P)},
		"P-P":   {P, negP, id},
		"P+0":   {P, id, P},
		"0+Q":   {id, Q, Q},
		"0+0":   {id, id, id},
		"-P+-P": {negP, negP, negP.Add(negP)},
	} {
		a, b := ctFromPoint(asSecpPoint(c.a)), ctFromPoint(asSecpPoint(c.b))
		sum := ctPointAdd(&a, &b)
		if got := ctToPoint(&sum); !got.Equal(c.want) {
			t.Errorf("%s: wrong sum", name)
		}
		if c.a == c.b {
			dbl := ctPointDouble(&a)
			if got := ctToPoint(&dbl); !got.Equal(c.want) {
				t.Errorf("%s: wrong double", name)
			}
		}
	}
}

func TestSecp256k1ConstantTimeInverse(t *testing.T) {
	g := Secp256k1()
	var zero secp256k1.ModNScalar
	if inv := ctScalarInverse(&zero); !inv.IsZero() {
		t.Fatal("inverse of zero is not zero")
	}
	for range 20 {
		a := asSecpScalar(mustRandom(t, g)).s
		inv := ctScalarInverse(&a)
		var ref secp256k1.ModNScalar
		ref.InverseValNonConst(&a)
		if !inv.Equals(&ref) {
			t.Fatal("inverse differs from the reference")
		}
	}
}

func BenchmarkSecp256k1ConstantTimeMul(b *testing.B) {
	g := Secp256k1()
	s := asSecpScalar(mustRandom(b, g)).s
	p := asSecpPoint(g.BaseMul(mustRandom(b, g)))
	for b.Loop() {
		ctScalarMult(&s, p)
	}
}

func BenchmarkSecp256k1VariableTimeMul(b *testing.B) {
	g := Secp256k1()
	s := asSecpScalar(mustRandom(b, g)).s
	p := asSecpPoint(g.BaseMul(mustRandom(b, g)))
	for b.Loop() {
		refMul(&s, p)
	}
}

func BenchmarkSecp256k1ConstantTimeBaseMul(b *testing.B) {
	s := asSecpScalar(mustRandom(b, Secp256k1())).s
	ctScalarBaseMult(&s) // build the table outside the timing
	for b.Loop() {
		ctScalarBaseMult(&s)
	}
}
