package senderscore

import "testing"

func TestBandsOf(t *testing.T) {
	d := DefaultBands()
	off := Bands{BlockBelow: -1, JunkBelow: 50, GoodAbove: 101}
	for _, tc := range []struct {
		b     Bands
		score int
		want  Band
	}{
		{d, 0, Blocked}, {d, 10, Blocked}, {d, 11, Junk}, {d, 69, Junk},
		{d, 70, Neutral}, {d, 89, Neutral}, {d, 90, Good}, {d, 100, Good},
		{off, 0, Junk}, {off, 49, Junk}, {off, 50, Neutral}, {off, 100, Neutral},
	} {
		if got := tc.b.Of(tc.score); got != tc.want {
			t.Errorf("%+v.Of(%d) = %s, want %s", tc.b, tc.score, got, tc.want)
		}
	}
}
