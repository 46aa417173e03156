package checks

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/message"
)

// DNSBLConfig is the [dnsbl] section with its [[dnsbl.list]] entries.
type DNSBLConfig struct {
	Enabled bool `toml:"enabled"`
	// Enable names lists to turn on: one of Lists, or one of the shipped
	// lists (dnsbl.DefaultLists) when Lists, as written in the file,
	// replaced them. `enable = ["spamhaus_zen"]` is all it takes.
	Enable []string           `toml:"enable"`
	Lists  []dnsbl.ListConfig `toml:"list"`
	// HealthInterval is how often each list's health (RFC 5782 §5 test
	// entries) is checked again.
	HealthInterval duration.Duration `toml:"health_interval"`
}

// DefaultDNSBLConfig has the shipped lists, every one disabled: the
// postmaster chooses which third parties see client addresses.
func DefaultDNSBLConfig() DNSBLConfig {
	return DNSBLConfig{Enabled: true, Lists: dnsbl.DefaultLists(), HealthInterval: duration.Duration(time.Hour)}
}

// Validate checks the section.
func (c *DNSBLConfig) Validate() error {
	if c.HealthInterval < 0 {
		return fmt.Errorf("dnsbl: health_interval %s is negative", c.HealthInterval)
	}
	lists, err := c.Effective()
	if err != nil {
		return err
	}
	return dnsbl.ValidateLists(lists)
}

// Effective returns Lists with the lists named in Enable turned on (taken
// from the shipped lists when Lists does not define them).
func (c *DNSBLConfig) Effective() ([]dnsbl.ListConfig, error) {
	out := append([]dnsbl.ListConfig(nil), c.Lists...)
	shipped := dnsbl.DefaultLists()
next:
	for _, name := range c.Enable {
		for i := range out {
			if out[i].Name == name {
				out[i].Enabled = true
				continue next
			}
		}
		for _, l := range shipped {
			if l.Name == name {
				l.Enabled = true
				out = append(out, l)
				continue next
			}
		}
		return nil, fmt.Errorf("dnsbl: enable: no list named %q", name)
	}
	return out, nil
}

// ListMetrics are Prometheus collectors for DNS lists and Senderscore.
// Create one per process and register its Collectors once; it outlives
// configuration reloads.
type ListMetrics struct {
	lookups  *prometheus.CounterVec
	disabled *prometheus.CounterVec
	usable   *prometheus.GaugeVec
}

var _ dnsbl.Metrics = (*ListMetrics)(nil)

// NewListMetrics creates the collectors.
func NewListMetrics() *ListMetrics {
	return &ListMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hamlet_dnsbl_lookups_total", Help: "DNS list lookups, by list and outcome.",
		}, []string{"list", "outcome"}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hamlet_dnsbl_disabled_total",
			Help: "Times a DNS list was disabled for failing its health check or answering what is not a listing, by list and reason.",
		}, []string{"list", "reason"}),
		usable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hamlet_dnsbl_usable", Help: "1 when the DNS list passed its last health check, 0 when it is disabled.",
		}, []string{"list"}),
	}
}

// Collectors returns the collectors to register.
func (m *ListMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.lookups, m.disabled, m.usable}
}

// Lookup implements dnsbl.Metrics.
func (m *ListMetrics) Lookup(list, outcome string) { m.lookups.WithLabelValues(list, outcome).Inc() }

// Disabled implements dnsbl.Metrics.
func (m *ListMetrics) Disabled(list, reason string) { m.disabled.WithLabelValues(list, reason).Inc() }

// Health implements dnsbl.Metrics.
func (m *ListMetrics) Health(list string, usable bool) {
	v := 0.0
	if usable {
		v = 1
	}
	m.usable.WithLabelValues(list).Set(v)
}

// Names of the DNS list checks.
const (
	CheckDNSBL         = "dnsbl"          // IP lists, at connect
	CheckDNSBLHelo     = "dnsbl_helo"     // domain lists on the HELO and PTR names
	CheckDNSBLMailFrom = "dnsbl_mailfrom" // domain lists on the envelope sender's domain
	CheckDNSBLFrom     = "dnsbl_from"     // domain lists on the header From domain
	CheckDNSBLURL      = "dnsbl_url"      // domain lists on the domains of the message's URLs
)

// MaxURLDomains bounds the URL domains asked per message (the first ones
// in the message, each once), as rspamd's rbl module bounds its URLs.
const MaxURLDomains = 32

// DNSBL holds the enabled lists; Checks returns the engine checks that
// query them, one per phase that has something to ask.
type DNSBL struct {
	lists     []*dnsbl.List
	withIPRev bool
}

// NewDNSBL builds the enabled lists of cfg. metrics and logger may be nil.
// withIPRev says whether the iprev check is registered (the rdns source
// then waits for it).
func NewDNSBL(cfg DNSBLConfig, r dns.Resolver, metrics dnsbl.Metrics, logger *slog.Logger, withIPRev bool) (*DNSBL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &DNSBL{withIPRev: withIPRev}
	if !cfg.Enabled {
		return d, nil
	}
	defs, err := cfg.Effective()
	if err != nil {
		return nil, err
	}
	lists, err := dnsbl.NewLists(defs, r, dnsbl.Options{Logger: logger, Metrics: metrics, HealthInterval: cfg.HealthInterval.D()})
	if err != nil {
		return nil, err
	}
	d.lists = lists
	return d, nil
}

// Lists returns the enabled lists.
func (d *DNSBL) Lists() []*dnsbl.List { return d.lists }

// Checks returns the checks needed by the enabled lists: none when no list
// is enabled.
func (d *DNSBL) Checks() []engine.Check {
	var ipLists, helo, mailFrom, from, urls []*dnsbl.List
	for _, l := range d.lists {
		if l.Kind() == dnsbl.KindIP {
			ipLists = append(ipLists, l)
			continue
		}
		if l.Checks(dnsbl.SourceHelo) || l.Checks(dnsbl.SourceRDNS) {
			helo = append(helo, l)
		}
		if l.Checks(dnsbl.SourceMailFrom) {
			mailFrom = append(mailFrom, l)
		}
		if l.Checks(dnsbl.SourceFrom) {
			from = append(from, l)
		}
		if l.Checks(dnsbl.SourceURL) {
			urls = append(urls, l)
		}
	}
	var out []engine.Check
	if len(ipLists) > 0 {
		out = append(out, &dnsblCheck{name: CheckDNSBL, phase: engine.PhaseConnect, lists: ipLists})
	}
	if len(helo) > 0 {
		c := &dnsblCheck{name: CheckDNSBLHelo, phase: engine.PhaseHelo, lists: helo}
		if d.withIPRev {
			c.after = []string{CheckIPRev}
		}
		out = append(out, c)
	}
	if len(mailFrom) > 0 {
		out = append(out, &dnsblCheck{name: CheckDNSBLMailFrom, phase: engine.PhaseMail, lists: mailFrom})
	}
	if len(from) > 0 {
		out = append(out, &dnsblCheck{name: CheckDNSBLFrom, phase: engine.PhaseData, lists: from})
	}
	if len(urls) > 0 {
		out = append(out, &dnsblCheck{name: CheckDNSBLURL, phase: engine.PhaseData, lists: urls})
	}
	return out
}

// dnsblCheck asks its lists about the subjects of its phase.
type dnsblCheck struct {
	name  string
	phase engine.Phase
	after []string
	lists []*dnsbl.List
}

var (
	_ engine.Check       = (*dnsblCheck)(nil)
	_ engine.InboundOnly = (*dnsblCheck)(nil)
)

func (c *dnsblCheck) Name() string        { return c.name }
func (c *dnsblCheck) Phase() engine.Phase { return c.phase }
func (c *dnsblCheck) After() []string     { return c.after }
func (c *dnsblCheck) InboundOnly() bool   { return true }

// MayForce implements engine.Forcer: when one of its lists, or one of
// their codes, rejects.
func (c *dnsblCheck) MayForce() bool {
	for _, l := range c.lists {
		cfg := l.Config()
		if cfg.Reject {
			return true
		}
		for _, code := range cfg.Codes {
			if code.Reject != nil && *code.Reject {
				return true
			}
		}
	}
	return false
}

// Symbols declares every symbol of every list, with the configured
// weights.
func (c *dnsblCheck) Symbols() []engine.SymbolDef {
	var defs []engine.SymbolDef
	seen := map[string]bool{}
	for _, l := range c.lists {
		for _, h := range l.Hits() {
			if seen[h.Symbol] {
				continue
			}
			seen[h.Symbol] = true
			desc := h.Description
			if desc == "" {
				desc = "Listed in " + l.Config().Zone
			}
			defs = append(defs, engine.SymbolDef{Name: h.Symbol, Weight: h.Weight, Group: "rbl", Description: desc})
		}
	}
	return defs
}

// DNSBLValue is the value of a DNS list check: every list result.
type DNSBLValue struct {
	Results []dnsbl.Result
}

// subject is one thing to ask a list about.
type subject struct {
	source string // sourceIP for the client address, else a dnsbl.Source*
	value  string
}

const sourceIP = "ip"

// optionSuffix names the subject in symbol options as rspamd does
// ("192.0.2.1:from" for the client address, "example.com:helo").
var optionSuffix = map[string]string{
	sourceIP: "from", dnsbl.SourceHelo: "helo", dnsbl.SourceRDNS: "rdns",
	dnsbl.SourceMailFrom: "mailfrom", dnsbl.SourceFrom: "hdrfrom", dnsbl.SourceURL: "url",
}

// Run implements engine.Check.
func (c *dnsblCheck) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	if !tx.Inbound() {
		return engine.Result{}
	}
	var subjects []subject
	switch c.name {
	case CheckDNSBL:
		if !tx.ClientIP.IsValid() {
			return engine.Result{}
		}
		subjects = []subject{{sourceIP, tx.ClientIP.String()}}
	case CheckDNSBLHelo:
		subjects = append(subjects, subject{dnsbl.SourceHelo, tx.Helo})
		if res, known := rdnsState(tx, deps); known && res.Status == iprev.Pass && res.Name != "" {
			// Only a confirmed name: anyone can publish any PTR.
			subjects = append(subjects, subject{dnsbl.SourceRDNS, res.Name})
		}
	case CheckDNSBLMailFrom:
		if tx.MailFrom != "" {
			subjects = append(subjects, subject{dnsbl.SourceMailFrom, domainOf(tx.MailFrom)})
		}
	case CheckDNSBLURL:
		subjects = urlSubjects(tx)
	case CheckDNSBLFrom:
		if tx.Message != nil {
			// Every author domain that could be extracted, whatever the
			// field's problems (those are other checks' business).
			domains, _ := message.FromDomains(tx.Message)
			for _, d := range domains {
				subjects = append(subjects, subject{dnsbl.SourceFrom, d})
			}
		}
	}
	type job struct {
		l   *dnsbl.List
		s   subject
		res dnsbl.Result
	}
	var jobs []*job
	seen := map[string]bool{}
	for _, l := range c.lists {
		for _, s := range subjects {
			if s.source != sourceIP && !l.Checks(s.source) {
				continue
			}
			key := l.Name() + "\x00" + dns.Normalize(s.value)
			if s.value == "" || seen[key] {
				continue
			}
			seen[key] = true
			jobs = append(jobs, &job{l: l, s: s})
		}
	}
	done := make(chan struct{}, len(jobs))
	for _, j := range jobs {
		go func() {
			if j.s.source == sourceIP {
				j.res = j.l.LookupIP(ctx, tx.ClientIP)
			} else {
				j.res = j.l.LookupDomain(ctx, j.s.value)
			}
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	val := &DNSBLValue{}
	var syms []engine.Symbol
	index := map[string]int{}
	for _, j := range jobs {
		val.Results = append(val.Results, j.res)
		if j.res.Status != dnsbl.Listed {
			continue
		}
		opt := j.res.Subject + ":" + optionSuffix[j.s.source]
		for _, h := range j.res.Hits {
			if i, ok := index[h.Symbol]; ok {
				syms[i].Options = append(syms[i].Options, opt)
				if h.Reject && syms[i].Force < engine.Reject {
					syms[i].Force, syms[i].Message = engine.Reject, rejectMessage(j.l, j.res)
				}
				continue
			}
			s := engine.Symbol{Name: h.Symbol, Options: []string{opt}}
			if h.Reject {
				s.Force, s.Message = engine.Reject, rejectMessage(j.l, j.res)
			}
			index[h.Symbol] = len(syms)
			syms = append(syms, s)
		}
	}
	return engine.Result{Symbols: syms, Value: val}
}

func rejectMessage(l *dnsbl.List, res dnsbl.Result) string {
	if m := l.Config().Message; m != "" {
		return m
	}
	return fmt.Sprintf("5.7.1 Service unavailable; %s blocked using %s", res.Subject, res.Zone)
}

// urlSubjects are the registrable domains of the message's URLs (from
// the parsed form the engine shares), each once, at most MaxURLDomains.
func urlSubjects(tx *engine.Transaction) []subject {
	c := tx.Content()
	if c == nil {
		return nil
	}
	var out []subject
	seen := map[string]bool{}
	for _, u := range c.URLs {
		if u.Domain == "" || seen[u.Domain] {
			continue
		}
		seen[u.Domain] = true
		out = append(out, subject{dnsbl.SourceURL, u.Domain})
		if len(out) == MaxURLDomains {
			break
		}
	}
	return out
}

// domainOf returns the domain of an address, lower case.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return dns.Normalize(addr[i+1:])
	}
	return ""
}
