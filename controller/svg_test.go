package controller

import "testing"

// TestNiceMax: the throughput axis ends at or above the highest bar, its
// four ticks are whole numbers, and it is not needlessly loose.
func TestNiceMax(t *testing.T) {
	for _, tc := range []struct{ v, want int64 }{
		{0, 4}, {4, 4}, {5, 8}, {9, 12}, {50, 60}, {100, 100}, {101, 120}, {1000, 1000}, {1234, 1600}, {99999, 100000},
	} {
		got := niceMax(tc.v)
		if got != tc.want || got < tc.v || got%4 != 0 {
			t.Errorf("niceMax(%d) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
