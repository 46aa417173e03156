package dkim

import (
	"errors"
	"fmt"
	"testing"
)

// TestSignatureDomainAndSelector: d= and s= take the names dnsname allows
// DKIM (RFC 6376 §3.5, U-labels per RFC 8616 §4, underscores as DNS has
// them); a label with a leading hyphen or a fake A-label is a syntax error.
func TestSignatureDomainAndSelector(t *testing.T) {
	tests := []struct {
		d, s string
		ok   bool
	}{
		{"example.com", "sel", true},
		{"Example.COM", "s1.2026", true},
		{"bücher.example", "sel", true},
		{"xn--bcher-kva.example", "sel", true},
		{"_x.example", "s_1", true},
		{"com", "sel", true}, // one label: a name, though a poor one
		{"-x.example", "sel", false},
		{"x-.example", "sel", false},
		{"xn--abc.example", "sel", false},
		{"a..example", "sel", false},
		{"example.com.", "sel", false},
		{"example.com", "-sel", false},
		{"example.com", "sel..x", false},
	}
	for _, tt := range tests {
		v := fmt.Sprintf("v=1; a=rsa-sha256; d=%s; s=%s; h=from; bh=AAAA; b=AAAA", tt.d, tt.s)
		_, err := ParseSignature(v)
		if (err == nil) != tt.ok {
			t.Errorf("d=%s s=%s: err %v, want ok=%v", tt.d, tt.s, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrSignatureSyntax) {
			t.Errorf("d=%s s=%s: %v is not ErrSignatureSyntax", tt.d, tt.s, err)
		}
	}
}
