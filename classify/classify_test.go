package classify

import (
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
)

func TestClassify(t *testing.T) {
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	c, err := New(local, Outbound{Networks: []string{"198.51.100.7"}},
		Allowlist{IPs: []string{"203.0.113.0/24"}, Hostnames: []string{"partner.example", ".trusted.example"}})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr
	tests := []struct {
		name                  string
		tx                    engine.Transaction
		local, out, allow, in bool
	}{
		{"internet", engine.Transaction{ClientIP: ip("192.0.2.1")}, false, false, false, true},
		{"loopback", engine.Transaction{ClientIP: ip("127.0.0.1")}, true, false, false, false},
		{"lan v4-mapped", engine.Transaction{ClientIP: ip("::ffff:10.1.2.3")}, true, false, false, false},
		{"authenticated", engine.Transaction{ClientIP: ip("192.0.2.1"), AuthUser: "alice"}, false, true, false, false},
		{"outbound network", engine.Transaction{ClientIP: ip("198.51.100.7")}, false, true, false, false},
		{"allowlisted ip", engine.Transaction{ClientIP: ip("203.0.113.9")}, false, false, true, false},
		{"confirmed ptr", engine.Transaction{ClientIP: ip("192.0.2.2"), ClientPTR: "mx1.partner.example", RDNS: engine.FCrDNSPass}, false, false, true, false},
		{"unconfirmed ptr", engine.Transaction{ClientIP: ip("192.0.2.2"), ClientPTR: "mx1.partner.example", RDNS: engine.FCrDNSFail}, false, false, false, true},
		{"dot suffix", engine.Transaction{ClientIP: ip("192.0.2.2"), ClientPTR: "a.trusted.example", RDNS: engine.FCrDNSPass}, false, false, true, false},
		{"suffix is not substring", engine.Transaction{ClientIP: ip("192.0.2.2"), ClientPTR: "evilpartner.example", RDNS: engine.FCrDNSPass}, false, false, false, true},
		{"bare helo proves nothing", engine.Transaction{ClientIP: ip("192.0.2.3"), Helo: "partner.example"}, false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := tt.tx
			c.Classify(&tx)
			if tx.Local != tt.local || tx.Outbound != tt.out || tx.Allowlisted != tt.allow || tx.Inbound() != tt.in {
				t.Fatalf("got local=%v out=%v allow=%v inbound=%v", tx.Local, tx.Outbound, tx.Allowlisted, tx.Inbound())
			}
		})
	}
	if _, err := New(nil, Outbound{Networks: []string{"nope"}}, Allowlist{}); err == nil {
		t.Fatal("bad network accepted")
	}
}
