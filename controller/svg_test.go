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

// The axis labels stay short: at most five characters for the ticks
// niceMax gives, from 0 to billions.
func TestAxisLabel(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0"}, {15, "15"}, {999, "999"}, {1000, "1k"}, {1250, "1.25k"}, {1500, "1.5k"}, {25000, "25k"}, {400000, "400k"},
		{1000000, "1M"}, {1250000, "1.25M"}, {60000000, "60M"}, {1234567, "1.23M"},
	} {
		if got := axisLabel(tc.n); got != tc.want {
			t.Errorf("axisLabel(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for v := int64(1); v < 5e9; v = v*3 + 1 {
		s := niceMax(v)
		for i := int64(0); i <= 4; i++ {
			if l := axisLabel(s * i / 4); len(l) > 5 {
				t.Errorf("tick %d of niceMax(%d) = %d: label %q", i, v, s*i/4, l)
			}
		}
	}
}
