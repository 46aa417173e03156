package dnsname

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 labels of 63 + 3 dots = 255; trim to exactly 253 and one more.
	name253 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 61)
	name254 := name253 + "b"
	all := Rules{Underscore: true, ULabels: true, TrailingDot: true}
	tests := []struct {
		name  string
		rules Rules
		want  bool
		why   string // part of the error message when want is false
	}{
		{"example.com", Rules{}, true, ""},
		{"Example.COM", Rules{}, true, ""}, // RFC 4343
		{"localhost", Rules{}, true, ""},
		{"localhost", Host, false, "want at least 2"},
		{"3com.example", Host, true, ""},       // RFC 1123 §2.1: leading digit
		{"a-b.example", Host, true, ""},        // inner hyphen
		{"ab--cd.example", Host, true, ""},     // reserved LDH label, valid in DNS
		{"-ab.example", Host, false, "hyphen"}, // RFC 1035 §2.3.1
		{"ab-.example", Host, false, "hyphen"},
		{"", Host, false, "empty"},
		{".", all, false, "empty label"},
		{".example.com", Host, false, "empty label"},
		{"a..example", Host, false, "empty label"},
		{"example.com.", Host, false, "empty label"},
		{"example.com.", all, true, ""},
		{"example.com..", all, false, "empty label"},
		{"a b.example", Host, false, "has"},
		{"a@b.example", Host, false, "has"},
		{"a/b.example", Host, false, "has"},
		{"a_b.example", Host, false, "has '_'"},
		{"_dmarc.example.com", Rules{Underscore: true}, true, ""},
		{"s_1", Rules{Underscore: true}, true, ""},
		{label63 + ".example", Host, true, ""},
		{label63 + "a.example", Host, false, "longer than 63"},
		{name253, Host, true, ""},
		{name254, Host, false, "254 octets"},
		{name253 + ".", all, true, ""}, // the dot is the root, not counted
		// A-labels (RFC 5890 §2.3.2.1)
		{"xn--bcher-kva.example", Host, true, ""},
		{"XN--BCHER-KVA.example", Host, true, ""},
		{"xn--nxasmq6b.example", Host, true, ""},
		{"xn--abc.example", Host, false, "A-label"},        // decodes to control characters
		{"xn--.example", Host, false, "hyphen"},            // nothing to decode
		{"xn--bcher-kva1.example", Host, false, "A-label"}, // not punycode
		{"xn--abc-.example", Host, false, "hyphen"},
		// U-labels (RFC 8616 §4 for DKIM d=, RFC 6531 for mail domains)
		{"bücher.example", Host, false, "non-ASCII"},
		{"bücher.example", Rules{ULabels: true}, true, ""},
		{"Bücher.example", Rules{ULabels: true}, true, ""},
		{"b\xffcher.example", Rules{ULabels: true}, false, "UTF-8"},
		{"a\u00a0b.example", Rules{ULabels: true}, false, "U-label"}, // no-break space
		{"a\u3002b", Rules{ULabels: true}, false, "U-label"},         // ideographic full stop maps to a dot
		{strings.Repeat("ü", 60) + ".example", Rules{ULabels: true}, false, "longer than 63"},
		// 56 code points whose A-label is 63 octets: at the edge, accepted.
		{strings.Repeat("a", 55) + "ü.example", Rules{ULabels: true}, true, ""},
		// More code points than an A-label can hold are refused without
		// converting (Punycode's cost is quadratic in the label's length).
		{strings.Repeat("a", 59) + "ü.example", Rules{ULabels: true}, false, "60 code points"},
		{cjk(20000) + ".example", Rules{ULabels: true}, false, "20000 code points"},
	}
	for _, tt := range tests {
		err := tt.rules.Check(tt.name)
		if got := err == nil; got != tt.want {
			t.Errorf("%+v.Check(%q) = %v, want ok=%v", tt.rules, tt.name, err, tt.want)
			continue
		}
		if tt.rules.Valid(tt.name) != tt.want {
			t.Errorf("Valid(%q) disagrees with Check", tt.name)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Check(%q) = %v, not ErrInvalid", tt.name, err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("Check(%q) = %q, want it to say %q", tt.name, err, tt.why)
			}
		}
	}
}

// cjk returns n distinct CJK ideographs: the worst case for a Punycode
// encoder, whose passes are one per distinct code point.
func cjk(n int) string {
	var b strings.Builder
	for r := rune(0x4e00); r < 0x4e00+rune(n); r++ {
		b.WriteRune(r)
	}
	return b.String()
}

// BenchmarkCheckLongULabel: a hostile d= of 20,000 distinct ideographs
// (60 KB); converting it before the length check took seconds.
func BenchmarkCheckLongULabel(b *testing.B) {
	name := cjk(20000) + ".example"
	r := Rules{ULabels: true}
	for i := 0; i < b.N; i++ {
		if r.Valid(name) {
			b.Fatal("accepted")
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"example.com", "xn--bcher-kva.example", "bücher.example", "a..b", "_x.example."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wide := Rules{Underscore: true, ULabels: true, TrailingDot: true}
		// The strict rules accept nothing the wide ones refuse.
		if Host.Valid(s) && !wide.Valid(s) {
			t.Fatalf("Host accepts %q, the wider rules do not", s)
		}
		if err := wide.Check(s); err != nil {
			return
		}
		// Whatever is accepted is no longer than a name can be.
		if isASCII(s) && len(strings.TrimSuffix(s, ".")) > MaxName {
			t.Fatalf("accepted %d octets", len(s))
		}
	})
}
