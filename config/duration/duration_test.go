package duration

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "0s": 0, "90s": 90 * time.Second, "5m": 5 * time.Minute, "48h": 48 * time.Hour,
		"1h30m": 90 * time.Minute, "1.5h": 90 * time.Minute, " 90m ": 90 * time.Minute, "250ms": 250 * time.Millisecond,
		"35d": 35 * Day, "7d": 7 * Day, "2w": 2 * Week, "1w3d": 10 * Day, "1d12h": 36 * time.Hour, "12h1d": 36 * time.Hour,
		"36500d": Max, "3651d": 3651 * Day, "5000d": 5000 * Day, "168h": Week,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "5", "d", "w", "-3d", "-1d", "-5m", "1.5d", "soon", "7 days", "1d 2h",
		"99999999d", "99999999999d", "18446744073709551616d", "110000d", "36501d", "5215w", "36500d1s", "876001h", "1x", "1e3s", "+5m"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func TestMarshalText(t *testing.T) {
	for d, want := range map[Duration]string{
		Duration(35 * Day): "35d", Duration(2 * Week): "14d", Duration(5 * time.Minute): "5m0s",
		Duration(36 * time.Hour): "36h0m0s", 0: "0s", Duration(1500 * time.Millisecond): "1.5s",
	} {
		if b, _ := d.MarshalText(); string(b) != want || d.String() != want {
			t.Errorf("MarshalText(%v) = %s, String = %s, want %s", d.D(), b, d.String(), want)
		}
	}
}

// TestTOML: a Duration field decodes from TOML text and says which
// option is wrong.
func TestTOML(t *testing.T) {
	var c struct {
		Delay  Duration `toml:"delay"`
		Expire Duration `toml:"expire"`
	}
	if _, err := toml.Decode("delay = \"5m\"\nexpire = \"2w\"\n", &c); err != nil || c.Delay.D() != 5*time.Minute || c.Expire.D() != 2*Week {
		t.Fatalf("decode = %+v, %v", c, err)
	}
	if _, err := toml.Decode(`delay = "5 minutes"`, &c); err == nil {
		t.Fatal("a bad duration decoded")
	}
}

// FuzzParse: Parse never panics, never gives a negative or overlong
// duration, and what MarshalText writes reads back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"5m", "48h", "35d", "1h30m", "", "d", "-1d", "99999d", "1.5h", "0", "7d", "2w",
		"1w3d12h", "-5d", "18446744073709551616d", "9223372036854775807ns", "1.0000000000000000001h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if v < 0 || v > Max {
			t.Fatalf("Parse(%q) = %v, outside [0, %v]", s, v, Max)
		}
		d := Duration(v)
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var d2 Duration
		if err := d2.UnmarshalText(b); err != nil || d2 != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, v, b, d2.D(), err)
		}
	})
}
