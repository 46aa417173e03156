package hfilter

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// Real-looking PTR names, in the shapes access networks and hosting
// providers publish, with the address each one is the PTR of.
func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		ip     string
		want   Severity
		reason string // one reason that must be reported ("" for none)
	}{
		// Residential and dynamic pools.
		{"c-73-15-20-1.hsd1.ca.comcast.net", "73.15.20.1", 4, "ip:dashed"},
		{"pool-71-105-33-12.nycmny.fios.verizon.net", "71.105.33.12", 4, "token:pool"},
		{"ppp-203-0-113-7.bras1.example.net", "203.0.113.7", 5, "token:ppp"},
		{"dynamic-acs-24-112-8-9.zoominternet.net", "24.112.8.9", 5, "token:dynamic"},
		{"syn-074-067-077-020.res.spectrum.com", "74.67.77.20", 4, "ip:padded"},
		{"ip5f5a1b2c.dynamic.kabel-deutschland.de", "95.90.27.44", 5, "ip:hex"},
		{"p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.46", 4, "ip:hex"},
		{"93-184-216-34.dsl.provider.example", "93.184.216.34", 4, "token:dsl"},
		{"adsl-99-1-2-3.dsl.emhril.sbcglobal.net", "99.1.2.3", 4, "token:adsl"},
		{"dhcp-10-20.cable.example.org", "198.51.100.20", 5, "token:dhcp"},
		{"cpe-1-2-3-4.broadband.example.com", "1.2.3.4", 5, "token:broadband"},
		{"static.10.2.0.192.clients.your-server.de", "192.0.2.10", 5, "ip:reversed"},
		{"a23-45-67-89.deploy.static.akamaitechnologies.com", "23.45.67.89", 4, "ip:dashed"},
		{"ec2-3-4-5-6.compute-1.amazonaws.com", "3.4.5.6", 4, "ip:dashed"},
		{"host3221225994.isp.example", "192.0.2.10", 4, "ip:decimal"},
		{"192000002010.isp.example", "192.0.2.10", 4, "ip:padded"},
		{"ip-45-67-89.isp.example", "1.45.67.89", 3, "ip:three-dashed"},
		{"x-2001-db8-0-0-0-0-0-25.v6.isp.example", "2001:db8::25", 4, "ip:dashed"},
		{"customer-201-5.cust.isp.example", "198.51.100.9", 3, "token:cust"},
		{"user.isp.example.com", "198.51.100.9", 1, "token:user"},
		{"mail.host.example.co", "198.51.100.9", 2, "token:host"},
		// Mail servers: nothing to report.
		{"mail.example.com", "192.0.2.1", 0, ""},
		{"mx1.mailserver.example.org", "192.0.2.1", 0, ""},
		{"mail-ed1-f49.google.com", "209.85.208.49", 0, ""},
		{"o1.email.example.com", "192.0.2.1", 0, ""},
		{"smtp-out.example.net", "192.0.2.1", 0, ""},
		{"dynamo.example.com", "192.0.2.1", 0, ""},
		{"hostmaster.example.com", "192.0.2.1", 0, ""},
		{"ghost-1.example.com", "192.0.2.1", 0, ""},
		{"mail.dyn.com", "192.0.2.1", 0, ""},
		{"outbound.pool.example", "192.0.2.1", 0, ""}, // the domain's own name
		{"mail2.example.com", "192.0.2.2", 0, ""},     // a lone octet is no address
		{"outbound-ip23b.ess.barracuda.com", "209.222.82.23", 0, ""},
		{"a48-95.smtp-out.amazonses.com", "54.240.48.95", 0, ""},
		{"mail-dm6nam10on2081.outbound.protection.outlook.com", "40.107.93.81", 0, ""},
		{"mail.client1.hosting.example", "192.0.2.1", 1, "token:client"},
		{"client-42.isp.example", "192.0.2.1", 5, "token:client"},
		{"mail.home.pl", "192.0.2.1", 0, ""},
		{"", "192.0.2.1", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Classify(tc.name, netip.MustParseAddr(tc.ip))
			if m.Severity != tc.want {
				t.Fatalf("severity %d, want %d (reasons %v)", m.Severity, tc.want, m.Reasons)
			}
			if tc.reason == "" {
				if len(m.Reasons) != 0 {
					t.Errorf("reasons %v, want none", m.Reasons)
				}
				return
			}
			found := false
			for _, r := range m.Reasons {
				found = found || r == tc.reason
			}
			if !found {
				t.Errorf("reasons %v lack %q", m.Reasons, tc.reason)
			}
		})
	}
}

func TestEmbedsIPOtherAddress(t *testing.T) {
	// The same name, another client: no address found.
	if how := EmbedsIP("c-73-15-20-1.hsd1.ca.comcast.net", netip.MustParseAddr("73.15.20.2")); how != "" {
		t.Errorf("found %q for another address", how)
	}
	if how := EmbedsIP("x.example", netip.Addr{}); how != "" {
		t.Errorf("found %q for no address", how)
	}
}

func TestClassifyHeloSuffix(t *testing.T) {
	for _, h := range []string{"desktop-12.lan", "laptop.local", "router.home", "pc.localdomain", "box.home.arpa", "srv.corp"} {
		m := ClassifyHelo(h, netip.MustParseAddr("192.0.2.1"))
		if m.Severity != 5 || !strings.HasPrefix(m.Reasons[0], "suffix:") {
			t.Errorf("%s: %+v, want suffix severity 5", h, m)
		}
	}
	if m := ClassifyHelo("mail.example.com", netip.MustParseAddr("192.0.2.1")); m.Severity != 0 {
		t.Errorf("mail.example.com: %+v", m)
	}
}

func TestIsFQDN(t *testing.T) {
	good := []string{"mail.example.com", "mail.example.com.", "a.b.c.example", "xn--bcher-kva.example", "1.2.3.example", "a-b.example.co"}
	bad := []string{"", "localhost", "COMPUTER", "mail_server.example.com", "-a.example.com", "a-.example.com", "a..example.com", "1.2.3.4", "mail.example.c", "ex ample.com", strings.Repeat("a", 64) + ".example.com", strings.Repeat("abcdefghi.", 26) + "com"}
	for _, n := range good {
		if !IsFQDN(n) {
			t.Errorf("IsFQDN(%q) = false", n)
		}
	}
	for _, n := range bad {
		if IsFQDN(n) {
			t.Errorf("IsFQDN(%q) = true", n)
		}
	}
}

func TestCheckHelo(t *testing.T) {
	mock := &dnstest.Mock{
		A: map[string][]string{
			"good.example.net":    {"198.51.100.1", "203.0.113.5"},
			"other.example.net":   {"198.51.100.1"},
			"mx-host.example.net": {"198.51.100.2"},
		},
		AAAA: map[string][]string{
			"v6.example.net": {"2001:db8::5"},
		},
		MX: map[string][]dns.MX{
			"mxonly.example.net": {{Host: "missing.example.net", Pref: 10}},
			"mxok.example.net":   {{Host: "mx-host.example.net", Pref: 10}},
			"nullmx.example.net": {{Host: ".", Pref: 0}},
		},
		Fail: map[string]dns.Kind{
			"tmp.example.net":       dns.ServFail,
			"A slow.example.net":    dns.Timeout,
			"AAAA slow.example.net": dns.Timeout,
		},
	}
	opt := Options{OurNames: []string{"mx.ourdomain.example", "ourdomain.example"}, OurIPs: []netip.Addr{netip.MustParseAddr("93.184.216.34")}}
	client := "203.0.113.5"
	tests := []struct {
		helo   string
		client string
		check  func(HeloResult) bool
		want   string // description of what check asserts
		dns    bool   // expect DNS tests to have run
	}{
		{"", client, func(r HeloResult) bool { return r.NotFQDN }, "NotFQDN", false},
		{"COMPUTER", client, func(r HeloResult) bool { return r.NotFQDN && !r.Checked }, "NotFQDN", false},
		{"localhost", client, func(r HeloResult) bool { return r.NotFQDN }, "NotFQDN", false},
		{"mail_server.example.com", client, func(r HeloResult) bool { return r.NotFQDN }, "NotFQDN", false},
		{"mail.example.com..", client, func(r HeloResult) bool { return r.NotFQDN }, "NotFQDN two dots", false},
		{"[192.0.2", client, func(r HeloResult) bool { return r.NotFQDN && !r.Literal }, "NotFQDN malformed literal", false},
		{"[203.0.113.5]", client, func(r HeloResult) bool { return r.Literal && !r.BareIP && !r.BadIP && !r.NotFQDN }, "client's own literal is fine", false},
		{"203.0.113.5", client, func(r HeloResult) bool { return r.Literal && r.BareIP && !r.BadIP }, "bare own address", false},
		{"[8.8.8.8]", client, func(r HeloResult) bool { return r.BareIP && !r.BadIP }, "BareIP", false},
		{"8.8.4.4", client, func(r HeloResult) bool { return r.BareIP && !r.Bracketed }, "BareIP", false},
		{"[IPv6:2001:4860::8888]", client, func(r HeloResult) bool { return r.BareIP && r.IP.Is6() }, "BareIP v6", false},
		{"[10.1.2.3]", client, func(r HeloResult) bool { return r.BadIP && !r.BareIP }, "BadIP", false},
		{"[127.0.0.1]", client, func(r HeloResult) bool { return r.BadIP }, "BadIP", false},
		{"192.168.1.20", client, func(r HeloResult) bool { return r.BadIP }, "BadIP", false},
		{"192-168-1-20", client, func(r HeloResult) bool { return r.BadIP && r.Literal }, "BadIP dashed", false},
		{"[IPv6:::1]", client, func(r HeloResult) bool { return r.BadIP }, "BadIP v6 loopback", false},
		{"[IPv6:fe80::1]", client, func(r HeloResult) bool { return r.BadIP }, "BadIP v6 link-local", false},
		{"[93.184.216.34]", client, func(r HeloResult) bool { return r.Forged && r.BareIP }, "Forged literal", false},
		{"MX.OurDomain.example", client, func(r HeloResult) bool { return r.Forged && !r.Checked }, "Forged name", false},
		{"ourdomain.example.", client, func(r HeloResult) bool { return r.Forged }, "Forged domain", false},
		{"nx.example.net", client, func(r HeloResult) bool { return r.NoResolve && !r.IPMismatch && !r.DNSFail }, "NoResolve", true},
		{"nullmx.example.net", client, func(r HeloResult) bool { return r.NoResolve }, "NoResolve (null MX)", true},
		{"mxonly.example.net", client, func(r HeloResult) bool { return r.MXNoResolve && !r.NoResolve }, "MXNoResolve", true},
		{"mxok.example.net", client, func(r HeloResult) bool { return !r.MXNoResolve && !r.NoResolve && !r.IPMismatch }, "clean (MX resolves)", true},
		{"other.example.net", client, func(r HeloResult) bool { return r.IPMismatch && !r.NoResolve }, "IPMismatch", true},
		{"good.example.net", client, func(r HeloResult) bool { return !r.IPMismatch && !r.NoResolve && !r.DNSFail }, "clean", true},
		{"v6.example.net", "2001:db8::5", func(r HeloResult) bool { return !r.IPMismatch && !r.NoResolve }, "clean v6", true},
		{"v6.example.net", client, func(r HeloResult) bool { return r.IPMismatch }, "IPMismatch v6 name", true},
		{"tmp.example.net", client, func(r HeloResult) bool { return r.DNSFail && r.Err != nil && !r.NoResolve && !r.IPMismatch }, "DNSFail", true},
		{"slow.example.net", client, func(r HeloResult) bool { return r.DNSFail && !r.NoResolve }, "DNSFail timeout", true},
		{"desktop-pc.lan", client, func(r HeloResult) bool { return r.Dynamic.Severity == 5 && !r.NotFQDN && !r.Checked }, "Dynamic .lan", false},
		{"dsl-203-0-113-5.isp.example", client, func(r HeloResult) bool { return r.Dynamic.Severity == 4 && !r.Checked }, "Dynamic dsl", false},
	}
	for _, tc := range tests {
		t.Run(tc.helo+"/"+tc.want, func(t *testing.T) {
			r := CheckHelo(context.Background(), mock, tc.helo, netip.MustParseAddr(tc.client), opt)
			if !tc.check(r) {
				t.Errorf("want %s, got %+v", tc.want, r)
			}
			if r.Checked != tc.dns {
				t.Errorf("Checked = %v, want %v", r.Checked, tc.dns)
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	ip := netip.MustParseAddr("73.15.20.1")
	b.ReportAllocs()
	for b.Loop() {
		if Classify("c-73-15-20-1.hsd1.ca.comcast.net", ip).Severity != 4 {
			b.Fatal("wrong")
		}
	}
}
