package checks

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/message"
)

// metricValue reads one counter or gauge of a vector.
func metricValue(t *testing.T, c prometheus.Collector, labels ...string) float64 {
	t.Helper()
	var m prometheus.Metric
	var err error
	switch v := c.(type) {
	case *prometheus.CounterVec:
		m, err = v.GetMetricWithLabelValues(labels...)
	case *prometheus.GaugeVec:
		m, err = v.GetMetricWithLabelValues(labels...)
	}
	if err != nil {
		t.Fatal(err)
	}
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func testLists() []dnsbl.ListConfig {
	return []dnsbl.ListConfig{
		{
			Name: "testbl", Zone: "bl.example", Enabled: true, Families: []string{"ip4", "ip6"},
			Codes: []dnsbl.Code{
				{Answer: "127.0.0.2", Symbol: "RBL_TESTBL_SPAM", Weight: 4.0},
				{Answer: "127.0.0.3", Symbol: "RBL_TESTBL_BOT", Weight: 3.0},
			},
		},
		{
			// Answers 127.0.0.2 for everything.
			Name: "allbl", Zone: "all.example", Enabled: true, Reject: true, Symbol: "RBL_ALLBL", Weight: 10,
		},
		{
			Name: "rejectbl", Zone: "reject.example", Enabled: true, Reject: true, Symbol: "RBL_REJECTBL", Weight: 1,
			Message: "5.7.1 listed at reject.example",
		},
		{
			Name: "dombl", Zone: "dbl.example", Enabled: true, Kind: dnsbl.KindDomain,
			Codes: []dnsbl.Code{{Answer: "127.0.1.2", Symbol: "DBL_TEST_SPAM", Weight: 5.0}},
		},
		{Name: "offbl", Zone: "off.example", Symbol: "RBL_OFF", Weight: 100},
	}
}

func listMock() *dnstest.Mock {
	a := map[string][]string{
		// RFC 5782 §5 test entries.
		"2.0.0.127.bl.example":     {"127.0.0.2"},
		"2.0.0.127.reject.example": {"127.0.0.2"},
		"test.dbl.example":         {"127.0.1.2"},
		// 198.51.100.20 is on testbl with two codes.
		"20.100.51.198.bl.example": {"127.0.0.2", "127.0.0.3"},
		// 198.51.100.21 is on rejectbl.
		"21.100.51.198.reject.example": {"127.0.0.2"},
		// Listed domains.
		"spam.example.dbl.example":      {"127.0.1.2"},
		"dyn.spam.example.dbl.example":  {"127.0.1.2"},
		"mail.spam.example.dbl.example": {"127.0.1.2"},
	}
	// allbl lists everything.
	for _, ip := range []string{"127.0.0.2", "127.0.0.1", "198.51.100.20", "198.51.100.21", "198.51.100.22", "203.0.113.4"} {
		a[dns.ReverseLabels(netip.MustParseAddr(ip))+".all.example"] = []string{"127.0.0.2"}
	}
	return &dnstest.Mock{
		A:   a,
		PTR: map[string][]string{"198.51.100.22": {"mail.spam.example"}},
	}
}

func TestDNSBLChecks(t *testing.T) {
	m := listMock()
	for k, v := range map[string][]string{"mail.spam.example": {"198.51.100.22"}} {
		m.A[k] = v
	}
	var logs bytes.Buffer
	metrics := NewListMetrics()
	d, err := NewDNSBL(DNSBLConfig{Enabled: true, Lists: testLists(), HealthInterval: duration.Duration(time.Hour)}, m, metrics,
		slog.New(slog.NewTextHandler(&logs, nil)), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Lists()) != 4 {
		t.Fatalf("%d lists enabled, want 4", len(d.Lists()))
	}
	checks := map[string]engine.Check{}
	for _, c := range d.Checks() {
		checks[c.Name()] = c
	}
	for _, n := range []string{CheckDNSBL, CheckDNSBLHelo, CheckDNSBLMailFrom, CheckDNSBLFrom} {
		if checks[n] == nil {
			t.Fatalf("no %s check", n)
		}
	}
	if checks[CheckDNSBL].Phase() != engine.PhaseConnect || !slices.Equal(checks[CheckDNSBLHelo].After(), []string{CheckIPRev}) {
		t.Error("phases")
	}
	ctx := context.Background()
	ip := checks[CheckDNSBL]

	// Two codes mapped to two symbols; allbl auto-disabled, so no
	// RBL_ALLBL and no reject although it answers and has reject = true.
	res := ip.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.20")}, nil)
	if got := symNames(res.Symbols); got != "RBL_TESTBL_BOT,RBL_TESTBL_SPAM" {
		t.Fatalf("symbols %q", got)
	}
	for _, s := range res.Symbols {
		if s.Force != engine.NoAction || !slices.Equal(s.Options, []string{"198.51.100.20:from"}) {
			t.Errorf("%s: force %s options %v", s.Name, s.Force, s.Options)
		}
	}
	if !strings.Contains(logs.String(), "LIST DISABLED") || !strings.Contains(logs.String(), "list=allbl") {
		t.Errorf("no loud log line: %s", logs.String())
	}
	if v := metricValue(t, metrics.disabled, "allbl", "lists_everything"); v != 1 {
		t.Errorf("disabled counter %v", v)
	}
	if v := metricValue(t, metrics.usable, "allbl"); v != 0 {
		t.Errorf("usable gauge %v", v)
	}
	if v := metricValue(t, metrics.usable, "testbl"); v != 1 {
		t.Errorf("testbl usable gauge %v", v)
	}
	if v := metricValue(t, metrics.lookups, "testbl", "listed"); v != 1 {
		t.Errorf("lookups counter %v", v)
	}

	// A list with reject = true forces a reject with its message.
	res = ip.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.21")}, nil)
	s, ok := findSym(res.Symbols, "RBL_REJECTBL")
	if !ok || s.Force != engine.Reject || s.Message != "5.7.1 listed at reject.example" || len(res.Symbols) != 1 {
		t.Errorf("reject list: %+v", res.Symbols)
	}

	// Clean client.
	res = ip.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1")}, nil)
	if len(res.Symbols) != 0 {
		t.Errorf("clean client: %v", res.Symbols)
	}
	val := res.Value.(*DNSBLValue)
	if len(val.Results) != 3 {
		t.Errorf("%d list results, want 3", len(val.Results))
	}

	// Not inbound: nothing asked.
	q := m.Queries()
	res = ip.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.20"), Outbound: true}, nil)
	if len(res.Symbols) != 0 || m.Queries() != q {
		t.Errorf("outbound client: %v", res.Symbols)
	}

	// Domain lists: HELO and confirmed PTR name.
	pass := &iprev.Result{Status: iprev.Pass, Name: "mail.spam.example"}
	res = checks[CheckDNSBLHelo].Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.22"), Helo: "dyn.spam.example"}, connDeps{CheckIPRev: pass})
	s, ok = findSym(res.Symbols, "DBL_TEST_SPAM")
	if !ok || !slices.Equal(s.Options, []string{"dyn.spam.example:helo", "mail.spam.example:rdns"}) {
		t.Errorf("helo/rdns: %+v", res.Symbols)
	}
	// An unconfirmed PTR name is not asked about.
	fail := &iprev.Result{Status: iprev.Fail, Names: []string{"mail.spam.example"}}
	res = checks[CheckDNSBLHelo].Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.22"), Helo: "good.example"}, connDeps{CheckIPRev: fail})
	if len(res.Symbols) != 0 {
		t.Errorf("unconfirmed PTR: %v", res.Symbols)
	}
	// Envelope sender and header From domains.
	res = checks[CheckDNSBLMailFrom].Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "bob@Spam.Example"}, nil)
	if s, ok := findSym(res.Symbols, "DBL_TEST_SPAM"); !ok || s.Options[0] != "spam.example:mailfrom" {
		t.Errorf("mailfrom: %+v", res.Symbols)
	}
	msg := message.Parse([]byte("From: Bob <bob@spam.example>\r\nSubject: hi\r\n\r\nbody\r\n"))
	res = checks[CheckDNSBLFrom].Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Message: msg}, nil)
	if s, ok := findSym(res.Symbols, "DBL_TEST_SPAM"); !ok || s.Options[0] != "spam.example:hdrfrom" {
		t.Errorf("header from: %+v", res.Symbols)
	}
	// A literal HELO is not a domain.
	res = checks[CheckDNSBLHelo].Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "[192.0.2.1]"}, nil)
	if len(res.Symbols) != 0 {
		t.Errorf("literal HELO: %v", res.Symbols)
	}

	// Symbols are declared with their configured weights.
	defs := map[string]float64{}
	for _, c := range d.Checks() {
		for _, sd := range c.Symbols() {
			defs[sd.Name] = sd.Weight
		}
	}
	if defs["RBL_TESTBL_SPAM"] != 4 || defs["RBL_TESTBL_BOT"] != 3 || defs["DBL_TEST_SPAM"] != 5 {
		t.Errorf("weights %v", defs)
	}
	if _, ok := defs["RBL_OFF"]; ok {
		t.Error("disabled list declared")
	}
}

// The "Done when" list cases through the engine: symbols, score, action.
func TestDNSBLThroughEngine(t *testing.T) {
	m := listMock()
	d, err := NewDNSBL(DNSBLConfig{Enabled: true, Lists: testLists()}, m, nil, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	e := connEngine(t, d.Checks()...)
	tests := []struct {
		ip      string
		early   engine.Action
		symbols string
		score   float64
		action  engine.Action
	}{
		// 4 + 3 = 7 ≥ add header (6).
		{"198.51.100.20", engine.NoAction, "RBL_TESTBL_BOT,RBL_TESTBL_SPAM", 7, engine.AddHeader},
		{"198.51.100.21", engine.Reject, "RBL_REJECTBL", 1, engine.Reject},
		// Listed "everywhere" by allbl only: no effect.
		{"203.0.113.4", engine.NoAction, "", 0, engine.NoAction},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			early, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip), Helo: "mail.example.org"})
			if early.Action != tc.early {
				t.Errorf("early %s, want %s", early.Action, tc.early)
			}
			if got := verdictSymbols(final); got != tc.symbols {
				t.Errorf("symbols %q, want %q", got, tc.symbols)
			}
			if final.Score != tc.score || final.Action != tc.action {
				t.Errorf("score %.2f %s, want %.2f %s", final.Score, final.Action, tc.score, tc.action)
			}
		})
	}
}

func TestDNSBLConfig(t *testing.T) {
	def := DefaultDNSBLConfig()
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDNSBL(def, &dnstest.Mock{}, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Checks()) != 0 {
		t.Errorf("shipped configuration queries lists: %d checks", len(d.Checks()))
	}
	bad := DefaultDNSBLConfig()
	bad.Lists = append(bad.Lists, dnsbl.ListConfig{Name: "x", Zone: ""})
	if _, err := NewDNSBL(bad, nil, nil, nil, false); err == nil {
		t.Error("bad list accepted")
	}
	bad = DefaultDNSBLConfig()
	bad.HealthInterval = duration.Duration(-time.Second)
	if err := bad.Validate(); err == nil {
		t.Error("negative interval accepted")
	}
	off := DNSBLConfig{Enabled: false, Lists: testLists()}
	d, _ = NewDNSBL(off, nil, nil, nil, false)
	if len(d.Checks()) != 0 {
		t.Error("disabled section has checks")
	}
}

func TestDNSBLEnable(t *testing.T) {
	// Shipped lists turned on by name.
	cfg := DefaultDNSBLConfig()
	cfg.Enable = []string{"spamhaus_zen", "spamcop"}
	d, err := NewDNSBL(cfg, &dnstest.Mock{}, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range d.Lists() {
		names = append(names, l.Name())
	}
	if !slices.Equal(names, []string{"spamhaus_zen", "spamcop"}) {
		t.Errorf("enabled %v", names)
	}
	// Lists written in the file replaced the shipped ones; a shipped one
	// can still be named, and so can one of the file's.
	cfg = DNSBLConfig{Enabled: true, Lists: testLists(), Enable: []string{"offbl", "mailspike"}}
	defs, err := cfg.Effective()
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]bool{}
	for _, l := range defs {
		on[l.Name] = l.Enabled
	}
	if !on["offbl"] || !on["mailspike"] || !on["testbl"] || len(defs) != len(testLists())+1 {
		t.Errorf("effective %v", on)
	}
	cfg.Enable = []string{"nosuchlist"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "nosuchlist") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestDomainOf(t *testing.T) {
	for in, want := range map[string]string{"a@B.example.": "b.example", "nobody": "", "x@y@z.example": "z.example"} {
		if got := domainOf(in); got != want {
			t.Errorf("domainOf(%q) = %q", in, got)
		}
	}
}

// The sections decode from TOML as the configuration file writes them,
// over the defaults.
func TestConnectionConfigTOML(t *testing.T) {
	type file struct {
		RDNS        RDNSConfig        `toml:"rdns"`
		Hfilter     HfilterConfig     `toml:"hfilter"`
		DNSBL       DNSBLConfig       `toml:"dnsbl"`
		Senderscore SenderscoreConfig `toml:"senderscore"`
	}
	f := file{RDNS: DefaultRDNSConfig(), Hfilter: DefaultHfilterConfig(), DNSBL: DefaultDNSBLConfig(), Senderscore: DefaultSenderscoreConfig()}
	const src = `
[rdns]
reject_no_rdns = true
trust_mta = false

[hfilter]
our_names = ["mx.example.org", "example.org"]
helo_dns = false

[senderscore]
block_below = 5
junk_below = 60
recheck_interval = "30m"

[dnsbl]
health_interval = "15m"

[[dnsbl.list]]
name = "zen"
zone = "zen.spamhaus.org"
enabled = true
families = ["ip4", "ip6"]
reject = true

[[dnsbl.list.code]]
answer = "127.0.0.2"
symbol = "RBL_SPAMHAUS_SBL"
weight = 4.0

[[dnsbl.list.code]]
answer = "127.0.0.10-127.0.0.11"
symbol = "RBL_SPAMHAUS_PBL"
weight = 2.0
reject = false
`
	if _, err := toml.Decode(src, &f); err != nil {
		t.Fatal(err)
	}
	if !f.RDNS.RejectNoRDNS || f.RDNS.TrustMTA || !f.RDNS.Enabled || f.RDNS.NoRDNSMessage == "" {
		t.Errorf("rdns %+v", f.RDNS)
	}
	if f.Hfilter.HeloDNS || !f.Hfilter.Helo || len(f.Hfilter.OurNames) != 2 {
		t.Errorf("hfilter %+v", f.Hfilter)
	}
	if f.Senderscore.BlockBelow != 5 || f.Senderscore.JunkBelow != 60 || f.Senderscore.GoodAbove != 90 ||
		f.Senderscore.RecheckInterval.D() != 30*time.Minute || !f.Senderscore.Enabled {
		t.Errorf("senderscore %+v", f.Senderscore)
	}
	if f.DNSBL.HealthInterval.D() != 15*time.Minute || len(f.DNSBL.Lists) != 1 {
		t.Fatalf("dnsbl %+v", f.DNSBL)
	}
	l := f.DNSBL.Lists[0]
	if !l.Enabled || !l.Reject || len(l.Codes) != 2 || l.Codes[1].Reject == nil || *l.Codes[1].Reject || l.Codes[0].Reject != nil {
		t.Errorf("list %+v", l)
	}
	for _, v := range []interface{ Validate() error }{&f.RDNS, &f.Hfilter, &f.DNSBL, &f.Senderscore} {
		if err := v.Validate(); err != nil {
			t.Error(err)
		}
	}
}
