package content

import (
	"strings"
	"testing"
)

func TestBitcoinAddress(t *testing.T) {
	tests := []struct{ text, want string }{
		{"pay 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa now", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},         // P2PKH (the genesis block's)
		{"to 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy.", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"},             // P2SH
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"}, // BIP 173 vector
		{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", ""},                                                   // checksum wrong
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", ""},                                           // checksum wrong
		{"x1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", ""},                                                  // inside a word
		{"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa_", ""},                                                  // _ is a word character
		{"10000000000000000000000000000000000", ""},                                                  // 0 is not base58
		{"order 1234567890123456789012345678 shipped", ""},
		{strings.Repeat("1", 40), ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := bitcoinAddress(tt.text); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestURLPathRules(t *testing.T) {
	tests := []struct {
		path           string
		hidden, wp, wc bool
	}{
		{"/", false, false, false},
		{"/.env", true, false, false},
		{"/a/.git/config", true, false, false},
		{"/a/../etc/passwd", true, false, false},
		{"/.well-known/security.txt", false, false, false},
		{"/.Well_Known/x", false, false, false},
		{"/a/./b", false, false, false},
		{"/file.txt", false, false, false},
		{"/wp-content/uploads/x.jpg", false, true, false},
		{"/wp-contents/x/login.php", false, true, true},
		{"/wp-includesx/", false, true, true},
		{"/wp-admin", false, false, false}, // no slash after the segment
		{"/wp-/x", false, false, false},
	}
	for _, tt := range tests {
		if h, w, c := hiddenPath(tt.path), wpPath(tt.path, false), wpPath(tt.path, true); h != tt.hidden || w != tt.wp || c != tt.wc {
			t.Errorf("%q: hidden %v wp %v compromised %v, want %v %v %v", tt.path, h, w, c, tt.hidden, tt.wp, tt.wc)
		}
	}
}

// FuzzBitcoinAddress: no panic; an address found is a word of the text.
func FuzzBitcoinAddress(f *testing.F) {
	f.Add("pay 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa now")
	f.Add("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
	f.Fuzz(func(t *testing.T, s string) {
		if a := bitcoinAddress(s); a != "" && !strings.Contains(s, a) {
			t.Fatalf("%q not in %q", a, s)
		}
	})
}
