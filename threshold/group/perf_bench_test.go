package group

import "testing"

// Benchmarks of the multiplication shapes of the signing path, with
// little setup (for CPU-time comparisons across versions).

func benchShape(b *testing.B, points []Point, scalars []Scalar) {
	g := Secp256k1()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MultiMulPublic(g, points, scalars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShapeTwoFull is Σ ρ_j·E_j of a two-signer FROST session.
func BenchmarkShapeTwoFull(b *testing.B) {
	g := Secp256k1()
	benchShape(b, []Point{g.BaseMul(mustRandom(b, g)), g.BaseMul(mustRandom(b, g))},
		[]Scalar{mustRandom(b, g), mustRandom(b, g)})
}

// BenchmarkShapeGenAndPoint is s·G − e·P (a Schnorr verification).
func BenchmarkShapeGenAndPoint(b *testing.B) {
	g := Secp256k1()
	benchShape(b, []Point{g.Generator(), g.BaseMul(mustRandom(b, g))},
		[]Scalar{mustRandom(b, g), mustRandom(b, g)})
}

// BenchmarkShapeOnePoint is one full multiplication.
func BenchmarkShapeOnePoint(b *testing.B) {
	g := Secp256k1()
	benchShape(b, []Point{g.BaseMul(mustRandom(b, g))}, []Scalar{mustRandom(b, g)})
}

func benchTerms(b *testing.B, n, bits int) {
	g := Secp256k1()
	points := make([]Point, n)
	scalars := make([]Scalar, n)
	for i := range n {
		points[i] = g.BaseMul(mustRandom(b, g))
		if bits == 256 {
			scalars[i] = mustRandom(b, g)
		} else {
			scalars[i] = shortScalar(b, g, bits)
		}
	}
	benchShape(b, points, scalars)
}

func BenchmarkShapeShort8(b *testing.B)  { benchTerms(b, 8, 128) }
func BenchmarkShapeFull8(b *testing.B)   { benchTerms(b, 8, 256) }
func BenchmarkShapeShort16(b *testing.B) { benchTerms(b, 16, 128) }
func BenchmarkShapeFull16(b *testing.B)  { benchTerms(b, 16, 256) }
func BenchmarkShapeShort32(b *testing.B) { benchTerms(b, 32, 128) }
func BenchmarkShapeFull32(b *testing.B)  { benchTerms(b, 32, 256) }

func BenchmarkGLVSplit(b *testing.B) {
	k := &asSecpScalar(mustRandom(b, Secp256k1())).s
	b.ReportAllocs()
	for b.Loop() {
		glvSplit(k)
	}
}
