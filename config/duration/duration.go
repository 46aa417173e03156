// Package duration is the one duration type of hamlet's configuration:
// every TOML option that takes a length of time takes a Duration, so
// every option accepts the same syntax.
//
// The syntax is Go's (time.ParseDuration: "90s", "5m", "1h30m", "1.5h")
// plus whole days "d" and weeks "w", which may be combined with the
// others in any order ("35d", "2w", "1w3d", "1d12h"). Days and weeks
// are 24 and 168 hours: configuration lengths such as a greylisting pass
// or a key's lifetime do not care about leap seconds or DST. A duration
// is never negative and never longer than Max (a hundred years); "0" is zero.
//
// The package imports nothing of hamlet, so any package's configuration
// (dns, greylist, dkimkeys, the front ends) can use it without importing
// upward.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration read from and written to TOML as text.
type Duration time.Duration

// Day and Week are the lengths of "d" and "w".
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Max is the longest duration accepted: a hundred years of days, far
// below time.Duration's 292 years, so no sum overflows.
const Max = 36500 * Day

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes d as MarshalText does.
func (d Duration) String() string { return format(time.Duration(d)) }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes whole days as "35d" and anything else as
// time.Duration.String does ("36h0m0s"); Parse reads both back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(format(time.Duration(d))), nil }

func format(v time.Duration) string {
	if v > 0 && v%Day == 0 {
		return strconv.FormatInt(int64(v/Day), 10) + "d"
	}
	return v.String()
}

// Parse reads a duration in the package's syntax, surrounding white
// space ignored.
func Parse(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("bad duration %q: %s (want e.g. \"90s\", \"5m\", \"48h\", \"7d\", \"2w\")", in, why)
	}
	if s == "" {
		return bad("empty")
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		// One component: a number (digits, optional fraction), a unit.
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if num == "" {
			return bad("a number must come before each unit")
		}
		var v time.Duration
		switch unit {
		case "d", "w":
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil {
				return bad("days and weeks are whole numbers")
			}
			u := Day
			if unit == "w" {
				u = Week
			}
			if n > uint64(Max/u) {
				return bad(fmt.Sprintf("longer than %d days", Max/Day))
			}
			v = time.Duration(n) * u
		case "":
			return bad("a unit must follow each number")
		default:
			var err error
			if v, err = time.ParseDuration(num + unit); err != nil {
				return bad("not a duration")
			}
		}
		if v > Max-total {
			return bad(fmt.Sprintf("longer than %d days", Max/Day))
		}
		total += v
	}
	return total, nil
}
