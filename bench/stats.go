package main

import (
	"math"
	"slices"
	"time"
)

// Latencies is a set of measured durations.
type Latencies []time.Duration

// Summary is what the report shows of a set of latencies.
type Summary struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// Summarize sorts a copy of l and reads its percentiles.
func (l Latencies) Summarize() Summary {
	s := slices.Clone(l)
	slices.Sort(s)
	if len(s) == 0 {
		return Summary{}
	}
	return Summary{
		N:   len(s),
		P50: Percentile(s, 50),
		P95: Percentile(s, 95),
		P99: Percentile(s, 99),
		Max: s[len(s)-1],
	}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the nearest-rank
// method: the smallest value that at least p % of the values do not exceed. It returns 0
// for an empty set.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// PerUnit divides a total by a count, 0 when the count is 0.
func PerUnit(total float64, count int) float64 {
	if count <= 0 {
		return 0
	}
	return total / float64(count)
}

// Ratio divides a by b, 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
