package daemon

import (
	"strings"
	"testing"
)

// Issue 16 item 7: allowlisting a public suffix or 0.0.0.0/8 (and signing
// for such an outbound network) is refused at load with the reason.
func TestTrustTooWideRefused(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"[allowlist]\nhostnames = [\"co.uk\"]\n", `:2: allowlist.hostnames: "co.uk" is a public suffix`},
		{"[allowlist]\nhostnames = [\".github.io\"]\n", `:2: allowlist.hostnames: "github.io" is a public suffix`},
		{"[allowlist]\nips = [\"0.0.0.0/8\"]\n", `:2: allowlist.ips: 0.0.0.0/8 is "this network"`},
		{"[allowlist]\nips = [\"0.0.0.0/0\"]\n", `:2: allowlist.ips: 0.0.0.0/0 is too wide`},
		{"[outbound]\nnetworks = [\"::/0\"]\n", `:2: outbound.networks: ::/0 is too wide`},
	} {
		_, err := settingsFromText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.text, err, c.want)
		}
	}
	if _, err := settingsFromText(t, "[allowlist]\nhostnames = [\"example.co.uk\", \".mail.example.org\"]\nips = [\"192.0.2.0/24\"]\n"); err != nil {
		t.Errorf("sound allowlist refused: %v", err)
	}
}
