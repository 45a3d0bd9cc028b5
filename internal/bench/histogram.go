package bench

import (
	"math/bits"
	"time"
)

// subBuckets is how many buckets each power of two of microseconds is cut
// into: latencies are kept to within 1/subBuckets (under 2%), in memory
// that does not grow with the number of requests.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	// maxBucket covers latencies up to 2^40 µs (12 days).
	maxBucket = (40 - subBits + 1) * subBuckets
)

// histogram counts latencies in log-linear buckets of microseconds, in the
// manner of an HDR histogram: exact below subBuckets µs, then subBuckets
// buckets per power of two. Each load worker has its own; they are merged
// when a scenario ends.
type histogram struct {
	counts [maxBucket]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	e := bits.Len64(us) - subBits - 1 // us>>e is in [subBuckets, 2*subBuckets)
	return min((e+1)*subBuckets+int(us>>e)-subBuckets, maxBucket-1)
}

// lowerBound is the smallest latency, in µs, that falls in bucket i.
func lowerBound(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << e
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the recorded
// ones fall: the middle of the bucket that holds it.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, hi := lowerBound(i), lowerBound(i+1)
			return time.Duration(lo+hi) * time.Microsecond / 2
		}
	}
	return h.max
}
