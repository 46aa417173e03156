package checks

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
)

func heloMock() *dnstest.Mock {
	return &dnstest.Mock{
		A: map[string][]string{
			"mail.example.net":  {"203.0.113.4"},
			"other.example.net": {"198.51.100.1"},
			"mx.example.net":    {"198.51.100.2"},
		},
		MX: map[string][]dns.MX{
			"mxonly.example.net": {{Host: "gone.example.net", Pref: 10}},
			"mxok.example.net":   {{Host: "mx.example.net", Pref: 10}},
		},
		Fail: map[string]dns.Kind{"broken.example.net": dns.ServFail},
	}
}

func TestHfilterCheck(t *testing.T) {
	cfg := DefaultHfilterConfig()
	cfg.OurNames = []string{"mx.ourdomain.example", "ourdomain.example"}
	cfg.OurIPs = []string{"93.184.216.34"}
	c, err := NewHfilter(cfg, heloMock(), true)
	if err != nil {
		t.Fatal(err)
	}
	pass := &iprev.Result{Status: iprev.Pass, Name: "mail.example.net"}
	client := netip.MustParseAddr("203.0.113.4")
	tests := []struct {
		name    string
		helo    string
		ip      netip.Addr
		rdns    *iprev.Result
		symbols string
		option  string // an option the first symbol must carry
	}{
		{"clean", "mail.example.net", client, pass, "", ""},
		{"not FQDN", "COMPUTER", client, pass, SymHeloNotFQDN, "computer"},
		{"underscore", "mail_1.example.net", client, pass, SymHeloNotFQDN, ""},
		{"bare IP not the client's", "8.8.8.8", client, pass, SymHeloBareIP, "8.8.8.8"},
		{"bracketed IP not the client's", "[8.8.8.8]", client, pass, SymHeloBareIP, ""},
		{"bracketed client IP", "[203.0.113.4]", client, pass, "", ""},
		{"private literal", "[192.168.1.10]", client, pass, SymHeloBadIP, ""},
		{"loopback literal", "127.0.0.1", client, pass, SymHeloBadIP, ""},
		{"IPv6 loopback literal", "[IPv6:::1]", client, pass, SymHeloBadIP, ""},
		{"no A/AAAA nor MX", "nowhere.example.net", client, pass, SymHeloNoResAOrMX, ""},
		{"MX that does not resolve", "mxonly.example.net", client, pass, SymHeloNoResolveMX, ""},
		{"MX that resolves", "mxok.example.net", client, pass, "", ""},
		{"A records not the client", "other.example.net", client, pass, SymHeloIPA, "other.example.net"},
		{"DNS failure", "broken.example.net", client, pass, SymHeloDNSFail, ""},
		{"our host name", "MX.OURDOMAIN.EXAMPLE", client, pass, SymHeloForged, "mx.ourdomain.example"},
		{"our domain", "ourdomain.example", client, pass, SymHeloForged, ""},
		{"our address", "[93.184.216.34]", client, pass, "HFILTER_HELO_BAREIP,HFILTER_HELO_FORGED", ""},
		{"dynamic HELO", "dsl-203-0-113-4.pool.isp.example", client, pass, "HFILTER_HELO_4", "dsl-203-0-113-4.pool.isp.example"},
		{"private-suffix HELO", "desktop.lan", client, pass, "HFILTER_HELO_5", "suffix:.lan"},
		{"dynamic PTR", "mail.example.net", client,
			&iprev.Result{Status: iprev.Pass, Name: "ppp-203-0-113-4.dialup.isp.example"}, "HFILTER_HOSTNAME_5", "ppp-203-0-113-4.dialup.isp.example"},
		{"dynamic PTR weaker than dynamic HELO", "dhcp-12.isp.example", client,
			&iprev.Result{Status: iprev.Pass, Name: "host-203-0-113-4.isp.example"}, "HFILTER_HELO_5", ""},
		{"no PTR", "mail.example.net", client, &iprev.Result{Status: iprev.PermError}, SymHostnameUnknown, ""},
		{"FCrDNS fail", "mail.example.net", client, &iprev.Result{Status: iprev.Fail, Names: []string{"x.example"}}, SymHostnameUnknown, ""},
		{"rDNS temperror", "mail.example.net", client, &iprev.Result{Status: iprev.TempError}, "", ""},
		{"no HELO", "", client, pass, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := &engine.Transaction{ClientIP: tc.ip, Helo: tc.helo}
			res := c.Run(context.Background(), tx, connDeps{CheckIPRev: tc.rdns})
			if got := symNames(res.Symbols); got != tc.symbols {
				t.Fatalf("symbols %q, want %q (value %+v)", got, tc.symbols, res.Value.(*HfilterValue).Helo)
			}
			if tc.option != "" && !slices.Contains(res.Symbols[0].Options, tc.option) {
				t.Errorf("options %v lack %q", res.Symbols[0].Options, tc.option)
			}
			for _, s := range res.Symbols {
				if s.Force != engine.NoAction {
					t.Errorf("%s forces %s", s.Name, s.Force)
				}
			}
		})
	}
}

func TestHfilterUsesFrontEnd(t *testing.T) {
	c, _ := NewHfilter(DefaultHfilterConfig(), heloMock(), false)
	if len(c.After()) != 0 {
		t.Fatal("depends on iprev without it")
	}
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), Helo: "mail.example.net", RDNS: engine.FCrDNSNone}
	if got := symNames(c.Run(context.Background(), tx, nil).Symbols); got != SymHostnameUnknown {
		t.Errorf("front end none: %q", got)
	}
	tx.RDNS, tx.ClientPTR = engine.FCrDNSPass, "pool-203-0-113-4.isp.example"
	if got := symNames(c.Run(context.Background(), tx, nil).Symbols); got != "HFILTER_HOSTNAME_4" {
		t.Errorf("front end pass: %q", got)
	}
	tx.Allowlisted = true
	if res := c.Run(context.Background(), tx, nil); len(res.Symbols) != 0 {
		t.Errorf("allowlisted client judged: %v", res.Symbols)
	}
}

func TestHfilterNoDNS(t *testing.T) {
	cfg := DefaultHfilterConfig()
	cfg.HeloDNS = false
	m := heloMock()
	c, _ := NewHfilter(cfg, m, false)
	res := c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), Helo: "nowhere.example.net"}, nil)
	if len(res.Symbols) != 0 || m.Queries() != 0 {
		t.Errorf("symbols %v, %d queries", res.Symbols, m.Queries())
	}
}

func TestHfilterConfigValidate(t *testing.T) {
	for _, cfg := range []HfilterConfig{
		{OurIPs: []string{"not-an-ip"}},
		{OurNames: []string{""}},
		{OurNames: []string{"user@example.com"}},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	c, _ := NewHfilter(DefaultHfilterConfig(), nil, true)
	defs := map[string]float64{}
	for _, d := range c.Symbols() {
		defs[d.Name] = d.Weight
	}
	want := map[string]float64{
		"HFILTER_HELO_BAREIP": 3.0, "HFILTER_HELO_BADIP": 4.5, "HFILTER_HELO_NOT_FQDN": 2.0,
		"HFILTER_HELO_NORES_A_OR_MX": 0.3, "HFILTER_HELO_NORESOLVE_MX": 0.2, "HFILTER_HELO_IP_A": 1.0,
		"HFILTER_HOSTNAME_UNKNOWN": 2.5, "HFILTER_HELO_5": 3.0, "HFILTER_HOSTNAME_1": 0.5, "HFILTER_HOSTNAME_4": 2.5,
	}
	for n, w := range want {
		if defs[n] != w {
			t.Errorf("%s weight %v, want %v (rspamd's)", n, defs[n], w)
		}
	}
	if c.Phase() != engine.PhaseHelo || !slices.Equal(c.After(), []string{CheckIPRev}) {
		t.Error("definition")
	}
}

// Each HELO case through the engine, with the score it adds.
func TestHfilterThroughEngine(t *testing.T) {
	m := rdnsMock()
	for k, v := range heloMock().A {
		m.A[k] = v
	}
	m.MX = heloMock().MX
	ipr, _ := NewIPRev(DefaultRDNSConfig(), m)
	cfg := DefaultHfilterConfig()
	cfg.OurNames = []string{"ourdomain.example"}
	hf, _ := NewHfilter(cfg, m, true)
	e := connEngine(t, ipr, hf)
	tests := []struct {
		helo   string
		symbol string
		score  float64 // total, with RDNS_FCRDNS_PASS (0)
		action engine.Action
	}{
		{"COMPUTER", SymHeloNotFQDN, 2.0, engine.NoAction},
		{"8.8.8.8", SymHeloBareIP, 3.0, engine.NoAction},
		{"[10.0.0.1]", SymHeloBadIP, 4.5, engine.Greylist},
		{"nowhere.example.net", SymHeloNoResAOrMX, 0.3, engine.NoAction},
		{"other.example.net", SymHeloIPA, 1.0, engine.NoAction},
		{"ourdomain.example", SymHeloForged, 4.5, engine.Greylist},
		{"pc-203-0-113-4.dyn.isp.example", "HFILTER_HELO_5", 3.0, engine.NoAction},
	}
	for _, tc := range tests {
		t.Run(tc.helo, func(t *testing.T) {
			_, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), Helo: tc.helo})
			if got := verdictSymbols(final); got != tc.symbol+","+SymRDNSFCrDNSPass && got != SymRDNSFCrDNSPass+","+tc.symbol {
				t.Errorf("symbols %s, want %s", got, tc.symbol)
			}
			if final.Score != tc.score || final.Action != tc.action {
				t.Errorf("score %.2f %s, want %.2f %s", final.Score, final.Action, tc.score, tc.action)
			}
			if !strings.Contains(verdictSymbols(final), "HFILTER") {
				t.Error("no hfilter symbol")
			}
		})
	}
}
