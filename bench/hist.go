package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear histogram of non-negative durations in the
// manner of HdrHistogram: values below 2^subBits nanoseconds are counted
// exactly, and above that each power of two is split into 2^(subBits-1)
// equal buckets, so a reported value is within 1/2^(subBits-1) (0.8%) of
// the recorded one. It holds any int64 value in a fixed 59 KiB; recording
// is O(1). The zero value is not usable: call NewHistogram. It is not safe
// for concurrent use.
type Histogram struct {
	counts []uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

const (
	subBits  = 8
	subCount = 1 << subBits // exact values below this
	subHalf  = subCount / 2 // buckets per power of two above it
	nBuckets = subCount + (64-subBits)*subHalf
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, nBuckets), min: math.MaxInt64}
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits // >= 1; v>>shift is in [subHalf, subCount)
	return subCount + (shift-1)*subHalf + int(uint64(v)>>shift) - subHalf
}

// bucketRange returns the smallest and largest values counted in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	j := i - subCount
	shift := j/subHalf + 1
	m := int64(j%subHalf + subHalf)
	lo = m << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds one value. Negative values count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest value recorded (exact), or 0.
func (h *Histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min returns the smallest value recorded (exact), or 0.
func (h *Histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean returns the mean of the values recorded (exact), or 0.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value below or at which the fraction q (0 to 1) of
// the recorded values lie: the upper end of the bucket holding the value
// of rank ceil(q*count), capped at the exact maximum (as HdrHistogram's
// highest equivalent value). It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.sum, h.min, h.max = 0, 0, math.MaxInt64, 0
}

// Summary is a histogram's digest, in milliseconds, as the reports show it.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary returns h's count, mean, p50, p90, p99, p99.9 and max.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.total,
		Mean:  ms(h.Mean()),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
	}
}
