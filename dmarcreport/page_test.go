package dmarcreport

import (
	"fmt"
	"testing"
)

func TestNum(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 28322: "28,322", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}

// The chart's ticks are round and four of them reach the largest bar.
func TestTickStep(t *testing.T) {
	for v, want := range map[int64]int64{0: 1, 3: 1, 5: 2, 9: 5, 40: 10, 41: 20, 1581: 500, 2000: 500, 2001: 1000, 90000: 25000} {
		if got := tickStep(v); got != want || 4*got < v {
			t.Errorf("tickStep(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestRaw(t *testing.T) {
	got := raw("spf", "smtp.mailfrom", map[string]int64{"pass bounce.esp.example": 5, "fail spoof.example": 9})
	if fmt.Sprint(got) != "[spf=fail smtp.mailfrom=spoof.example (9) spf=pass smtp.mailfrom=bounce.esp.example (5)]" {
		t.Errorf("raw: %q", got)
	}
	if got := raw("dkim", "header.d", map[string]int64{"pass example.org": 3}); fmt.Sprint(got) != "[dkim=pass header.d=example.org]" {
		t.Errorf("raw: %q", got)
	}
}
