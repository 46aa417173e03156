package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/hfilter"
	"github.com/hamlet-mail/hamlet/iprev"
)

// HELO and host name symbols: rspamd's hfilter names and default weights,
// plus HFILTER_HELO_FORGED (hamlet's: a HELO claiming to be us).
const (
	SymHeloBareIP       = "HFILTER_HELO_BAREIP"
	SymHeloBadIP        = "HFILTER_HELO_BADIP"
	SymHeloNotFQDN      = "HFILTER_HELO_NOT_FQDN"
	SymHeloNoResAOrMX   = "HFILTER_HELO_NORES_A_OR_MX"
	SymHeloNoResolveMX  = "HFILTER_HELO_NORESOLVE_MX"
	SymHeloIPA          = "HFILTER_HELO_IP_A"
	SymHeloDNSFail      = "HFILTER_HELO_DNSFAIL"
	SymHeloForged       = "HFILTER_HELO_FORGED"
	SymHostnameUnknown  = "HFILTER_HOSTNAME_UNKNOWN"
	symHeloPrefix       = "HFILTER_HELO_"     // + 1..5
	symHostnamePrefix   = "HFILTER_HOSTNAME_" // + 1..5
	checkHfilter        = "hfilter"
	defaultHfilterMaxMX = 3
)

// bucketWeights are rspamd's weights of HFILTER_HELO_1..5 and
// HFILTER_HOSTNAME_1..5.
var bucketWeights = [6]float64{0, 0.5, 1.0, 2.0, 2.5, 3.0}

var bucketNames = [6]string{"", "very low", "low", "medium", "hard", "very hard"}

// HfilterConfig is the [hfilter] section.
type HfilterConfig struct {
	Enabled bool `toml:"enabled"`
	// Helo turns on the HELO tests, Hostname the PTR name tests.
	Helo     bool `toml:"helo"`
	Hostname bool `toml:"hostname"`
	// HeloDNS turns on the HELO resolution tests (NORES_A_OR_MX,
	// NORESOLVE_MX, IP_A).
	HeloDNS bool `toml:"helo_dns"`
	// OurNames are our host names and the domains we receive mail for;
	// OurIPs our addresses. A HELO claiming one of them is forged.
	OurNames []string `toml:"our_names"`
	OurIPs   []string `toml:"our_ips"`
}

// DefaultHfilterConfig has every test on.
func DefaultHfilterConfig() HfilterConfig {
	return HfilterConfig{Enabled: true, Helo: true, Hostname: true, HeloDNS: true}
}

// Validate checks the section.
func (c *HfilterConfig) Validate() error {
	for _, s := range c.OurIPs {
		if _, err := netip.ParseAddr(strings.TrimSpace(s)); err != nil {
			return fmt.Errorf("hfilter: our_ips: %q is not an IP address", s)
		}
	}
	for _, n := range c.OurNames {
		if n = strings.TrimSpace(n); n == "" || strings.ContainsAny(n, " \t[]@") {
			return fmt.Errorf("hfilter: our_names: %q is not a host or domain name", n)
		}
	}
	return nil
}

// Hfilter is the check on the HELO name and the client's host name after
// rspamd's hfilter module. It runs at HELO, after the iprev check when
// that is registered (for the confirmed PTR name).
type Hfilter struct {
	cfg   HfilterConfig
	opt   hfilter.Options
	r     dns.Resolver
	after []string
}

var (
	_ engine.Check           = (*Hfilter)(nil)
	_ engine.TimeoutSymboler = (*Hfilter)(nil)
	_ engine.InboundOnly     = (*Hfilter)(nil)
)

// NewHfilter returns the check. withIPRev says whether the iprev check is
// registered (then Hfilter waits for it and uses its result; otherwise it
// uses the front end's report of the client's name).
func NewHfilter(cfg HfilterConfig, r dns.Resolver, withIPRev bool) (*Hfilter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opt := hfilter.Options{OurNames: cfg.OurNames, NoDNS: !cfg.HeloDNS, MaxMX: defaultHfilterMaxMX}
	for _, s := range cfg.OurIPs {
		opt.OurIPs = append(opt.OurIPs, netip.MustParseAddr(strings.TrimSpace(s)))
	}
	h := &Hfilter{cfg: cfg, opt: opt, r: r}
	if withIPRev {
		h.after = []string{CheckIPRev}
	}
	return h, nil
}

// Name implements engine.Check.
func (c *Hfilter) Name() string { return checkHfilter }

// MayForce implements engine.Forcer: hfilter only scores, so an early
// verdict does not wait for its HELO lookups.
func (c *Hfilter) MayForce() bool { return false }

// Phase implements engine.Check.
func (c *Hfilter) Phase() engine.Phase { return engine.PhaseHelo }

// After implements engine.Check.
func (c *Hfilter) After() []string { return c.after }

// InboundOnly implements engine.InboundOnly.
func (c *Hfilter) InboundOnly() bool { return true }

// TimeoutSymbol implements engine.TimeoutSymboler.
func (c *Hfilter) TimeoutSymbol() engine.Symbol {
	return engine.Symbol{Name: SymHeloDNSFail, Options: []string{"timeout"}}
}

// Symbols implements engine.Check.
func (c *Hfilter) Symbols() []engine.SymbolDef {
	defs := []engine.SymbolDef{
		{Name: SymHeloBareIP, Weight: 3.0, Group: "hfilter", Description: "Helo host is bare ip"},
		{Name: SymHeloBadIP, Weight: 4.5, Group: "hfilter", Description: "Helo host is very bad ip"},
		{Name: SymHeloNotFQDN, Weight: 2.0, Group: "hfilter", Description: "Helo not FQDN"},
		{Name: SymHeloNoResAOrMX, Weight: 0.3, Group: "hfilter", Description: "Helo no resolve to A or MX"},
		{Name: SymHeloNoResolveMX, Weight: 0.2, Group: "hfilter", Description: "MX found in Helo and no resolve"},
		{Name: SymHeloIPA, Weight: 1.0, Group: "hfilter", Description: "Helo A IP != hostname IP"},
		{Name: SymHeloDNSFail, Weight: 0.0, Group: "hfilter", Description: "Helo address lookup DNS error"},
		{Name: SymHeloForged, Weight: 4.5, Group: "hfilter", Description: "Helo claims to be this host or one of its domains"},
		{Name: SymHostnameUnknown, Weight: 2.5, Group: "hfilter", Description: "Unknown client hostname (PTR or FCrDNS verification failed)"},
	}
	for i := 1; i <= 5; i++ {
		defs = append(defs,
			engine.SymbolDef{Name: fmt.Sprintf("%s%d", symHeloPrefix, i), Weight: bucketWeights[i], Group: "hfilter",
				Description: "Helo host checks (" + bucketNames[i] + ")"},
			engine.SymbolDef{Name: fmt.Sprintf("%s%d", symHostnamePrefix, i), Weight: bucketWeights[i], Group: "hfilter",
				Description: "Hostname checks (" + bucketNames[i] + ")"},
		)
	}
	return defs
}

// HfilterValue is the check's value: what it found, for logs and tests.
type HfilterValue struct {
	Helo     *hfilter.HeloResult
	Hostname hfilter.Match
	PTR      string
}

// Run implements engine.Check.
func (c *Hfilter) Run(ctx context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	if !c.cfg.Enabled || !tx.Inbound() || !tx.ClientIP.IsValid() {
		return engine.Result{}
	}
	var syms []engine.Symbol
	val := &HfilterValue{}
	var heloSev hfilter.Severity
	if c.cfg.Helo && strings.TrimSpace(tx.Helo) != "" {
		h := hfilter.CheckHelo(ctx, c.r, tx.Helo, tx.ClientIP, c.opt)
		val.Helo = &h
		syms = append(syms, heloSymbols(h)...)
		heloSev = h.Dynamic.Severity
	}
	var hostSev hfilter.Severity
	if c.cfg.Hostname {
		res, known := rdnsState(tx, deps)
		switch {
		case !known:
		case res.Status == iprev.Pass && res.Name != "":
			val.PTR = res.Name
			val.Hostname = hfilter.Classify(res.Name, tx.ClientIP)
			hostSev = val.Hostname.Severity
		case res.Status == iprev.Fail || res.Status == iprev.PermError:
			// rspamd: the MTA's client name is "unknown" when there is no
			// PTR or it is not confirmed.
			syms = append(syms, engine.Symbol{Name: SymHostnameUnknown})
		}
	}
	// rspamd: only the stronger of the HELO and host name pattern findings
	// counts; the HELO wins a tie.
	switch {
	case heloSev > 0 && heloSev >= hostSev:
		syms = append(syms, engine.Symbol{
			Name:    fmt.Sprintf("%s%d", symHeloPrefix, heloSev),
			Options: append([]string{strings.ToLower(strings.TrimSpace(tx.Helo))}, val.Helo.Dynamic.Reasons...),
		})
	case hostSev > 0:
		syms = append(syms, engine.Symbol{
			Name:    fmt.Sprintf("%s%d", symHostnamePrefix, hostSev),
			Options: append([]string{val.PTR}, val.Hostname.Reasons...),
		})
	}
	return engine.Result{Symbols: syms, Value: val}
}

func heloSymbols(h hfilter.HeloResult) []engine.Symbol {
	helo := strings.ToLower(h.Helo)
	var out []engine.Symbol
	add := func(name string, opts ...string) {
		out = append(out, engine.Symbol{Name: name, Options: append([]string{helo}, opts...)})
	}
	if h.Forged {
		add(SymHeloForged)
	}
	switch {
	case h.BadIP:
		add(SymHeloBadIP)
	case h.BareIP:
		add(SymHeloBareIP)
	}
	if h.NotFQDN {
		add(SymHeloNotFQDN)
	}
	switch {
	case h.DNSFail:
		opt := "dnsfail"
		if k := dns.KindOf(h.Err); k != 0 {
			opt = k.String()
		}
		add(SymHeloDNSFail, opt)
	case h.NoResolve:
		add(SymHeloNoResAOrMX)
	case h.MXNoResolve:
		add(SymHeloNoResolveMX)
	case h.IPMismatch:
		add(SymHeloIPA)
	}
	return out
}
