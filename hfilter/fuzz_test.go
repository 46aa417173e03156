package hfilter

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// FuzzClassify feeds arbitrary names to the PTR/HELO classifier and the
// HELO checker: they must not panic, must rate within 0..5, and a HELO
// judged to be a literal must carry a valid address.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		"c-73-15-20-1.hsd1.ca.comcast.net", "[192.0.2.1]", "[IPv6:2001:db8::1]",
		"192-168-0-1", "localhost", "", ".", "..", "[", "]", "[]", "[IPv6:]",
		"static.10.2.0.192.clients.your-server.de", "ip5f5a1b2c.dynamic.example",
		"dyn", "-dyn-", "x-2001-db8--25.example", "mail.example.com.",
		"999.999.999.999", "1x2x3x4", "[fe80::1%eth0]", "\x00\xff",
	}
	for _, s := range seeds {
		f.Add(s, []byte{192, 0, 2, 1})
		f.Add(s, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25})
	}
	m := &dnstest.Mock{}
	f.Fuzz(func(t *testing.T, name string, ipb []byte) {
		ip, _ := netip.AddrFromSlice(ipb)
		for _, c := range []Match{Classify(name, ip), ClassifyHelo(name, ip)} {
			if c.Severity < 0 || c.Severity > 5 {
				t.Fatalf("severity %d", c.Severity)
			}
			if c.Severity > 0 && len(c.Reasons) == 0 {
				t.Fatalf("severity %d without reason", c.Severity)
			}
		}
		EmbedsIP(name, ip)
		r := CheckHelo(context.Background(), m, name, ip, Options{NoDNS: true})
		if r.Literal && !r.IP.IsValid() {
			t.Fatalf("literal without address: %+v", r)
		}
		if r.BareIP && r.BadIP {
			t.Fatalf("both BareIP and BadIP: %+v", r)
		}
		r = CheckHelo(context.Background(), m, name, ip, Options{})
		if r.Checked && r.NotFQDN {
			t.Fatalf("DNS tests on a non-FQDN: %+v", r)
		}
	})
}
