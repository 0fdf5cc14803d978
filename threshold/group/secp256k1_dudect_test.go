package group

import (
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// A dudect-style timing-leak test of the constant-time base multiplication
// (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant time?", DATE
// 2017): time the function on two classes of inputs, a fixed scalar and
// fresh random scalars, in random order, and compare the two timing
// distributions with Welch's t-test, on all measurements and on
// measurements cropped at several percentiles (which drops the long tail
// that interrupts and other processes add). |t| above 10 is dudect's
// "definitely not constant time"; below it the test found no leak with
// this many measurements, which is evidence, not proof.
//
// The test is statistical and slow (seconds to minutes) and sensitive to
// what else runs on the machine, so `go test` skips it; run it on demand:
//
//	VHSM_DUDECT=1 go test ./threshold/group -run Dudect -v
//
// VHSM_DUDECT_N sets the number of measurements per fixed class (default
// 200000). BenchmarkSecp256k1BaseMulDudect runs the same measurement with
// b.N measurements and reports |t| as a metric, without failing.

// dudectFixed are the fixed-class scalars: one (every digit but the lowest
// is zero, so every addition but one is discarded), n − 1 (the top carry
// and negative digits throughout) and 2^255 (one non-zero digit, high).
func dudectFixed() map[string]secp256k1.ModNScalar {
	var one, nMinus1, top secp256k1.ModNScalar
	one.SetInt(1)
	nMinus1.SetInt(1).Negate()
	var b [32]byte
	b[0] = 0x80
	top.SetBytes(&b)
	return map[string]secp256k1.ModNScalar{"1": one, "n-1": nMinus1, "2^255": top}
}

// welch accumulates one class's mean and variance (Welford).
type welch struct{ n, mean, m2 float64 }

func (w *welch) add(x float64) {
	w.n++
	d := x - w.mean
	w.mean += d / w.n
	w.m2 += d * (x - w.mean)
}

// welchT returns Welch's t-statistic for the two classes.
func welchT(a, b *welch) float64 {
	if a.n < 2 || b.n < 2 {
		return 0
	}
	va, vb := a.m2/(a.n-1), b.m2/(b.n-1)
	return (a.mean - b.mean) / math.Sqrt(va/a.n+vb/b.n)
}

// dudectMeasure times n calls of f, each on fixed or on a fresh random
// scalar (class chosen at random); start is called just before the first.
func dudectMeasure(tb testing.TB, f func(*secp256k1.ModNScalar), fixed secp256k1.ModNScalar, n int, start func()) (class []uint8, times []float64) {
	r := testRand(tb)
	class = make([]uint8, n)
	inputs := make([]secp256k1.ModNScalar, n)
	for i := range n {
		class[i] = uint8(r.IntN(2))
		if class[i] == 0 {
			inputs[i] = fixed
			continue
		}
		var b [32]byte
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		inputs[i].SetBytes(&b)
	}
	f(&fixed) // tables, outside the measurement
	times = make([]float64, n)
	start()
	for i := range n {
		t0 := time.Now()
		f(&inputs[i])
		times[i] = float64(time.Since(t0))
	}
	return class, times
}

// dudectT returns the largest |t| over the uncropped test and the tests
// cropped at the 50th to 99.9th percentile of all measurements.
func dudectT(class []uint8, times []float64) (tmax float64) {
	n := len(times)
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	crops := []float64{math.Inf(1)}
	for _, p := range []float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.999} {
		crops = append(crops, sorted[int(p*float64(n-1))])
	}
	for _, c := range crops {
		var w [2]welch
		for i, x := range times {
			if x <= c {
				w[class[i]].add(x)
			}
		}
		tmax = max(tmax, math.Abs(welchT(&w[0], &w[1])))
	}
	return tmax
}

func TestSecp256k1BaseMulDudect(t *testing.T) {
	if os.Getenv("VHSM_DUDECT") != "1" {
		t.Skip("statistical timing test; run with VHSM_DUDECT=1")
	}
	n := 200000
	if v := os.Getenv("VHSM_DUDECT_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("VHSM_DUDECT_N=%q: want an integer ≥ 1000", v)
		}
	}
	for name, k := range dudectFixed() {
		t.Run("fixed="+name, func(t *testing.T) {
			tmax := dudectT(dudectMeasure(t, ctBaseMulFunc, k, n, func() {}))
			t.Logf("max |t| = %.2f over %d measurements (fixed %s vs random)", tmax, n, name)
			if tmax > 10 {
				t.Errorf("timing depends on the scalar: |t| = %.2f > 10", tmax)
			}
		})
	}
	// The control: the same measurement finds the leak of btcec's
	// variable-time multiplication, which skips work for zero bytes.
	t.Run("control=btcec", func(t *testing.T) {
		vt := func(k *secp256k1.ModNScalar) { btcecBaseMul(k) }
		tmax := dudectT(dudectMeasure(t, vt, dudectFixed()["1"], min(n, 20000), func() {}))
		t.Logf("max |t| = %.2f for btcec's variable-time ScalarBaseMultNonConst (fixed 1 vs random)", tmax)
		if tmax <= 10 {
			t.Errorf("the measurement did not detect a known leak: |t| = %.2f", tmax)
		}
	})
}

func ctBaseMulFunc(k *secp256k1.ModNScalar) { ctScalarBaseMult(k) }

// BenchmarkSecp256k1BaseMulDudect times b.N base multiplications, half on
// the fixed scalar 1 and half on random scalars, and reports dudect's
// |t| (see TestSecp256k1BaseMulDudect; meaningful from some 10^4
// measurements on, and only as a statistic).
func BenchmarkSecp256k1BaseMulDudect(b *testing.B) {
	fixed := dudectFixed()["1"]
	class, times := dudectMeasure(b, ctBaseMulFunc, fixed, max(b.N, 2), b.ResetTimer)
	b.StopTimer()
	b.ReportMetric(dudectT(class, times), "|t|")
}
