package dns_test

import (
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
)

func TestReverseLabels(t *testing.T) {
	for _, c := range []struct{ ip, labels, nibbles string }{
		{"192.0.2.1", "1.2.0.192", "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"},
		{"::ffff:192.0.2.1", "1.2.0.192", "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"fe80::abcd:1234", "4.3.2.1.d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f", "4.3.2.1.d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f"},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := dns.ReverseLabels(ip); got != c.labels {
			t.Errorf("ReverseLabels(%s) = %s, want %s", c.ip, got, c.labels)
		}
		if got := dns.ReverseNibbles(ip); got != c.nibbles {
			t.Errorf("ReverseNibbles(%s) = %s, want %s", c.ip, got, c.nibbles)
		}
	}
	if got := dns.ReverseName(netip.MustParseAddr("::ffff:192.0.2.1")); got != "1.2.0.192.in-addr.arpa" {
		t.Errorf("ReverseName(mapped) = %s", got)
	}
}
