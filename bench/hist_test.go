package bench

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketRangeInvertsBucketOf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []int64{0, 1, 255, 256, 257, 511, 512, 1 << 20, math.MaxInt64}
	for range 10000 {
		values = append(values, r.Int64N(1<<uint(r.IntN(62)+1)))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, nBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d, whose range is [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subHalf+1e-12 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its values", i, lo, hi, subHalf)
		}
	}
	// Buckets tile the values: each starts right after the previous one.
	for i := 1; i < nBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

// exactQuantile is the value of rank ceil(q*n) in sorted.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestQuantilesWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() int64{
		"uniform 1us-10ms": func() int64 { return 1000 + r.Int64N(10_000_000) },
		"lognormal ~1ms":   func() int64 { return int64(math.Exp(r.NormFloat64()*1.5) * 1e6) },
		"small exact":      func() int64 { return r.Int64N(200) },
	}
	for name, draw := range dists {
		h := NewHistogram()
		var vals []int64
		for range 100000 {
			v := draw()
			vals = append(vals, v)
			h.Record(time.Duration(v))
		}
		sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
		for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
			want := exactQuantile(vals, q)
			got := int64(h.Quantile(q))
			if got < want || float64(got-want) > float64(want)/subHalf+1 {
				t.Errorf("%s: q%v = %d, exact %d (allowed: up to 1/%d above)", name, q, got, want, subHalf)
			}
		}
		if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
			t.Errorf("%s: min/max %v/%v, want %v/%v", name, h.Min(), h.Max(), vals[0], vals[len(vals)-1])
		}
		if h.Count() != uint64(len(vals)) {
			t.Errorf("%s: count %d", name, h.Count())
		}
	}
}

func TestKnownPercentiles(t *testing.T) {
	// 1..1000 ms: p50 is 500 ms, p99 990 ms, p99.9 999 ms, max 1000 ms.
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 500}, {"p90", s.P90, 900}, {"p99", s.P99, 990}, {"p999", s.P999, 999}, {"max", s.Max, 1000}, {"mean", s.Mean, 500.5}} {
		if c.got < c.want || c.got > c.want*(1+1.0/subHalf) {
			t.Errorf("%s = %v ms, want %v (within 1/%d above)", c.name, c.got, c.want, subHalf)
		}
	}
}

func TestMergeResetEmpty(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Quantile(0.5) != 0 || a.Max() != 0 || a.Mean() != 0 || a.Summary().Count != 0 {
		t.Fatal("empty histogram reports values")
	}
	for i := range 100 {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(1000+i) * time.Microsecond)
	}
	b.Record(-5) // counts as 0
	a.Merge(b)
	if a.Count() != 201 || a.Min() != 0 || a.Max() != 1099*time.Microsecond {
		t.Fatalf("merged: count %d min %v max %v", a.Count(), a.Min(), a.Max())
	}
	if q := a.Quantile(0.75); q < 1000*time.Microsecond {
		t.Fatalf("merged p75 = %v, want in the second half", q)
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(1) != 0 {
		t.Fatal("reset histogram not empty")
	}
	a.Record(time.Millisecond)
	if a.Min() != time.Millisecond {
		t.Fatalf("min after reset = %v", a.Min())
	}
}

func TestBodyTime(t *testing.T) {
	now := time.Unix(1795497364, 123456789)
	b := makeBody(256, 42, now)
	if len(b) != 256 {
		t.Fatalf("body length %d", len(b))
	}
	got, ok := bodyTime(b)
	if !ok || !got.Equal(now) {
		t.Fatalf("bodyTime = %v, %v; want %v", got, ok, now)
	}
	if _, ok := bodyTime([]byte("short")); ok {
		t.Fatal("bodyTime accepted a short body")
	}
}
