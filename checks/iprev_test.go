package checks

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
)

// connDeps is a Results made of a map.
type connDeps map[string]any

func (d connDeps) Get(name string) (any, bool) { v, ok := d[name]; return v, ok }

// symNames returns the sorted names of a result's symbols.
func symNames(syms []engine.Symbol) string {
	var n []string
	for _, s := range syms {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func findSym(syms []engine.Symbol, name string) (engine.Symbol, bool) {
	for _, s := range syms {
		if s.Name == name {
			return s, true
		}
	}
	return engine.Symbol{}, false
}

// rdnsMock is the reverse DNS of the test clients.
func rdnsMock() *dnstest.Mock {
	return &dnstest.Mock{
		PTR: map[string][]string{
			"203.0.113.2":  {"nora.example.net"},
			"203.0.113.3":  {"other.example.net"},
			"203.0.113.4":  {"a.example.net", "b.example.net", "mail.example.net"},
			"2001:db8::4":  {"mail6.example.net"},
			"203.0.113.10": {"c-203-0-113-10.hsd1.isp.example"},
		},
		A: map[string][]string{
			"other.example.net":               {"203.0.113.99"},
			"a.example.net":                   {"198.51.100.1"},
			"mail.example.net":                {"203.0.113.4"},
			"c-203-0-113-10.hsd1.isp.example": {"203.0.113.10"},
		},
		AAAA: map[string][]string{"mail6.example.net": {"2001:db8::4"}},
		Fail: map[string]dns.Kind{
			"PTR 5.113.0.203.in-addr.arpa": dns.Timeout,
			"PTR 6.113.0.203.in-addr.arpa": dns.ServFail,
		},
	}
}

func TestIPRevCheck(t *testing.T) {
	tests := []struct {
		name    string
		tx      engine.Transaction
		cfg     func(*RDNSConfig)
		symbols string
		status  iprev.Status
		force   engine.Action
	}{
		{name: "no PTR", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.1")},
			symbols: SymRDNSNone, status: iprev.PermError},
		{name: "no PTR, reject_no_rdns", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.1")},
			cfg: func(c *RDNSConfig) { c.RejectNoRDNS = true }, symbols: SymRDNSNone, status: iprev.PermError, force: engine.Reject},
		{name: "PTR without A", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.2")},
			symbols: SymRDNSFCrDNSFail, status: iprev.Fail},
		{name: "PTR whose A is another IP", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.3")},
			symbols: SymRDNSFCrDNSFail, status: iprev.Fail},
		{name: "PTR whose A is another IP, reject_fcrdns_fail", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.3")},
			cfg: func(c *RDNSConfig) { c.RejectFCrDNSFail = true }, symbols: SymRDNSFCrDNSFail, status: iprev.Fail, force: engine.Reject},
		{name: "several PTRs, one matching", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4")},
			cfg: func(c *RDNSConfig) { c.RejectNoRDNS, c.RejectFCrDNSFail = true, true }, symbols: SymRDNSFCrDNSPass, status: iprev.Pass},
		{name: "IPv6 pass", tx: engine.Transaction{ClientIP: netip.MustParseAddr("2001:db8::4")},
			symbols: SymRDNSFCrDNSPass, status: iprev.Pass},
		{name: "PTR timing out: temperror, no reject", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.5")},
			cfg: func(c *RDNSConfig) { c.RejectNoRDNS, c.RejectFCrDNSFail = true, true }, symbols: SymRDNSDNSFail, status: iprev.TempError},
		{name: "PTR SERVFAIL", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.6")},
			symbols: SymRDNSDNSFail, status: iprev.TempError},
		// What the front end knows is used instead of DNS.
		{name: "MTA says pass", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.1"), ClientPTR: "Mx.Example.COM.", RDNS: engine.FCrDNSPass},
			symbols: SymRDNSFCrDNSPass, status: iprev.Pass},
		{name: "MTA says fail", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), ClientPTR: "x.example", RDNS: engine.FCrDNSFail},
			symbols: SymRDNSFCrDNSFail, status: iprev.Fail},
		{name: "MTA says none", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), RDNS: engine.FCrDNSNone},
			cfg: func(c *RDNSConfig) { c.RejectNoRDNS = true }, symbols: SymRDNSNone, status: iprev.PermError, force: engine.Reject},
		{name: "MTA says temperror", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.4"), RDNS: engine.FCrDNSTempError},
			cfg: func(c *RDNSConfig) { c.RejectNoRDNS = true }, symbols: SymRDNSDNSFail, status: iprev.TempError},
		{name: "MTA ignored when trust_mta is off", tx: engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.1"), ClientPTR: "mx.example.com", RDNS: engine.FCrDNSPass},
			cfg: func(c *RDNSConfig) { c.TrustMTA = false }, symbols: SymRDNSNone, status: iprev.PermError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultRDNSConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, err := NewIPRev(cfg, rdnsMock())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := c.Run(ctx, &tc.tx, nil)
			if got := symNames(res.Symbols); got != tc.symbols {
				t.Fatalf("symbols %q, want %q", got, tc.symbols)
			}
			v, ok := res.Value.(*iprev.Result)
			if !ok || v.Status != tc.status {
				t.Fatalf("value %#v, want status %s", res.Value, tc.status)
			}
			s := res.Symbols[0]
			if s.Force != tc.force {
				t.Errorf("force %s, want %s", s.Force, tc.force)
			}
			if s.Force == engine.Reject && !strings.HasPrefix(s.Message, "5.7.25 ") {
				t.Errorf("reply %q", s.Message)
			}
			if len(s.Options) == 0 {
				t.Error("no options")
			}
		})
	}
}

func TestIPRevSkips(t *testing.T) {
	c, err := NewIPRev(DefaultRDNSConfig(), rdnsMock())
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("203.0.113.1")
	for _, tx := range []engine.Transaction{
		{ClientIP: ip, Local: true},
		{ClientIP: ip, Outbound: true},
		{ClientIP: ip, Allowlisted: true},
		{},
	} {
		if res := c.Run(context.Background(), &tx, nil); len(res.Symbols) != 0 || res.Value != nil {
			t.Errorf("%+v: %+v", tx, res)
		}
	}
	cfg := DefaultRDNSConfig()
	cfg.Enabled = false
	c, _ = NewIPRev(cfg, rdnsMock())
	if res := c.Run(context.Background(), &engine.Transaction{ClientIP: ip}, nil); len(res.Symbols) != 0 {
		t.Errorf("disabled: %+v", res)
	}
}

func TestIPRevDefinition(t *testing.T) {
	c, _ := NewIPRev(DefaultRDNSConfig(), nil)
	if c.Phase() != engine.PhaseConnect || c.Name() != "iprev" || !c.InboundOnly() {
		t.Error("definition")
	}
	if c.TimeoutSymbol().Name != SymRDNSDNSFail {
		t.Error("timeout symbol")
	}
	defs := map[string]float64{}
	for _, d := range c.Symbols() {
		defs[d.Name] = d.Weight
	}
	for _, n := range []string{SymRDNSNone, SymRDNSDNSFail, SymRDNSFCrDNSFail, SymRDNSFCrDNSDNSFail, SymRDNSFCrDNSPass} {
		if _, ok := defs[n]; !ok {
			t.Errorf("%s not declared", n)
		}
	}
	if defs[SymRDNSNone] != 2.0 {
		t.Errorf("RDNS_NONE weight %v", defs[SymRDNSNone])
	}
	bad := DefaultRDNSConfig()
	bad.RejectNoRDNS, bad.NoRDNSMessage = true, ""
	if _, err := NewIPRev(bad, nil); err == nil {
		t.Error("empty reply accepted")
	}
}

// connEngine builds an engine with rspamd's default policy.
func connEngine(t *testing.T, checks ...engine.Check) *engine.Engine {
	t.Helper()
	return connEngineTimeout(t, 3*time.Second, checks...)
}

func connEngineTimeout(t *testing.T, timeout time.Duration, checks ...engine.Check) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Options{Checks: checks, Policy: engine.DefaultPolicy(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// connScan runs tx through e: an early verdict after connect, and a final
// one after HELO (the helo phase's checks included).
func connScan(e *engine.Engine, tx engine.Transaction) (early, final *engine.Verdict) {
	ctx := context.Background()
	s := e.NewScan(ctx)
	defer s.Close()
	helo := tx.Helo
	s.Update(engine.PhaseConnect, func(t *engine.Transaction) { *t = tx; t.Helo = "" })
	early = s.Verdict(ctx, false)
	s.Update(engine.PhaseHelo, func(t *engine.Transaction) { t.Helo = helo })
	final = s.Verdict(ctx, true)
	return early, final
}

func verdictSymbols(v *engine.Verdict) string {
	var n []string
	for _, s := range v.Symbols {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}

func TestIPRevThroughEngine(t *testing.T) {
	cfg := DefaultRDNSConfig()
	cfg.RejectNoRDNS = true
	ipr, _ := NewIPRev(cfg, rdnsMock())
	hf, _ := NewHfilter(HfilterConfig{Enabled: true, Hostname: true}, rdnsMock(), true)
	e := connEngine(t, ipr, hf)
	tests := []struct {
		ip          string
		early       engine.Action
		symbols     string
		score       float64
		finalAction engine.Action
	}{
		// RDNS_NONE 2.0 + HFILTER_HOSTNAME_UNKNOWN 2.5, forced reject at connect.
		{"203.0.113.1", engine.Reject, "HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", 4.5, engine.Reject},
		{"203.0.113.2", engine.NoAction, "HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", 2.5, engine.NoAction},
		{"203.0.113.3", engine.NoAction, "HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", 2.5, engine.NoAction},
		{"203.0.113.4", engine.NoAction, "RDNS_FCRDNS_PASS", 0, engine.NoAction},
		{"203.0.113.5", engine.NoAction, "RDNS_DNSFAIL", 0, engine.NoAction},
		// A confirmed but residential-looking name: HFILTER_HOSTNAME_4 (2.5).
		{"203.0.113.10", engine.NoAction, "HFILTER_HOSTNAME_4,RDNS_FCRDNS_PASS", 2.5, engine.NoAction},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			early, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip), Helo: "mail.example.net"})
			if early.Action != tc.early {
				t.Errorf("early action %s, want %s", early.Action, tc.early)
			}
			if tc.early == engine.Reject && (early.ForcedBy != SymRDNSNone || !strings.HasPrefix(early.Reply, "5.7.25")) {
				t.Errorf("early forced by %q reply %q", early.ForcedBy, early.Reply)
			}
			if got := verdictSymbols(final); got != tc.symbols {
				t.Errorf("symbols %s, want %s", got, tc.symbols)
			}
			if final.Score != tc.score || final.Action != tc.finalAction {
				t.Errorf("score %.2f action %s, want %.2f %s", final.Score, final.Action, tc.score, tc.finalAction)
			}
		})
	}
	// Local clients are not judged.
	early, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.1"), Local: true})
	if early.Action != engine.NoAction || len(final.Symbols) != 0 {
		t.Errorf("local client: %s %v", early.Action, final.Symbols)
	}
}

func TestFirstN(t *testing.T) {
	if got := firstN([]string{"a", "b", "c", "d", "e"}, 3); !slices.Equal(got, []string{"a", "b", "c", "+2"}) {
		t.Errorf("%v", got)
	}
}
