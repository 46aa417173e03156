// Package dnsbl queries DNS-based lists (RFC 5782): IP address lists
// ("DNSBL", the client address's reversed octets or nibbles in front of the
// list's zone) and domain lists ("RHSBL", a domain name in front of the
// zone). Each list maps its answers to symbols with weights, and checks its
// own health: RFC 5782 §5 test entries must behave (127.0.0.2 listed,
// 127.0.0.1 not), and an operator's "you may not query" answers (e.g.
// 127.255.255.254) disable it. A list that lists everything — which some
// lists answer to queries through public resolvers — is disabled with a
// loud log line and a metric, never allowed to reject all mail.
//
// The package knows no engine and no configuration file: a ListConfig, a
// dns.Resolver and an optional Metrics in, a Result out. Caching is the
// resolver's. It does not read TXT records (RFC 5782 §2.1 makes them
// optional and nothing here needs the text).
package dnsbl

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
)

// Status is the outcome of one list query.
type Status int

// Query outcomes.
const (
	NotListed Status = iota // NXDOMAIN or NODATA: not on the list
	Listed                  // at least one answer in 127.0.0.0/8
	Error                   // the query failed temporarily
	Disabled                // the list is unusable (failed its health check)
	Skipped                 // the subject does not apply (family, not a domain)
)

var statusNames = [...]string{"not listed", "listed", "error", "disabled", "skipped"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status?"
}

// Hit is one symbol a listing maps to.
type Hit struct {
	Symbol      string
	Weight      float64
	Description string
	Reject      bool
	Answer      netip.Addr
}

// Result is the outcome of asking one list about one subject.
type Result struct {
	List    string
	Zone    string
	Subject string // the IP address or domain asked about
	Query   string // the DNS name queried
	Status  Status
	Answers []netip.Addr
	Hits    []Hit
	Err     error
}

// Reject reports whether a hit asks for a forced reject.
func (r Result) Reject() bool {
	for _, h := range r.Hits {
		if h.Reject {
			return true
		}
	}
	return false
}

// Metrics receives counters about lists. Implementations must be safe for
// concurrent use; package checks has a Prometheus one.
type Metrics interface {
	// Lookup counts one query of list by outcome (Status.String()).
	Lookup(list string, outcome string)
	// Disabled counts a list being disabled, with the reason
	// ("lists_everything", "test_not_listed", "error_answer",
	// "bad_answer").
	Disabled(list string, reason string)
	// Health records whether the list is usable now.
	Health(list string, usable bool)
}

type nopMetrics struct{}

func (nopMetrics) Lookup(string, string)   {}
func (nopMetrics) Disabled(string, string) {}
func (nopMetrics) Health(string, bool)     {}

// Options are the run-time dependencies of a List.
type Options struct {
	Logger  *slog.Logger
	Metrics Metrics
	// HealthInterval is how long a health verdict holds before it is
	// checked again; default 1 hour. A list that could not be checked
	// (DNS trouble) is retried after RetryInterval, default 1 minute.
	HealthInterval time.Duration
	RetryInterval  time.Duration
	// HealthTimeout bounds a health check run in the background; default
	// 10 seconds.
	HealthTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

type code struct {
	m   Matcher
	hit Hit
}

type healthState int

const (
	healthUnknown healthState = iota
	healthOK
	healthBad
)

// List is one configured list with its health state. It is safe for
// concurrent use.
type List struct {
	cfg      ListConfig
	r        dns.Resolver
	opt      Options
	codes    []code
	fallback Hit
	errs     []Matcher
	ip4, ip6 bool
	sources  map[string]bool

	mu        sync.Mutex
	health    healthState
	reason    string
	nextCheck time.Time
	checking  chan struct{} // closed when the running check ends
}

// NewList builds a list from its definition. cfg must be valid.
func NewList(cfg ListConfig, r dns.Resolver, opt Options) (*List, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Metrics == nil {
		opt.Metrics = nopMetrics{}
	}
	if opt.HealthInterval <= 0 {
		opt.HealthInterval = time.Hour
	}
	if opt.RetryInterval <= 0 {
		opt.RetryInterval = time.Minute
	}
	if opt.HealthTimeout <= 0 {
		opt.HealthTimeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if cfg.Kind == "" {
		cfg.Kind = KindIP
	}
	l := &List{cfg: cfg, r: r, opt: opt, sources: map[string]bool{}}
	for _, c := range cfg.Codes {
		m, _ := ParseAnswer(c.Answer)
		if c.Bits != 0 {
			m = BitsMatcher(c.Bits)
		}
		reject := cfg.Reject
		if c.Reject != nil {
			reject = *c.Reject
		}
		l.codes = append(l.codes, code{m: m, hit: Hit{Symbol: c.Symbol, Weight: c.Weight, Description: c.Description, Reject: reject}})
	}
	l.fallback = Hit{Symbol: cfg.DefaultSymbol(), Weight: cfg.Weight, Description: cfg.Description, Reject: cfg.Reject}
	errAnswers := cfg.ErrorAnswers
	if len(errAnswers) == 0 {
		errAnswers = []string{"127.255.255.0/24"}
	}
	for _, e := range errAnswers {
		m, _ := ParseAnswer(e)
		l.errs = append(l.errs, m)
	}
	if len(cfg.Families) == 0 {
		l.ip4 = true
	}
	for _, f := range cfg.Families {
		l.ip4 = l.ip4 || f == "ip4"
		l.ip6 = l.ip6 || f == "ip6"
	}
	srcs := cfg.Check
	if len(srcs) == 0 {
		srcs = []string{SourceHelo, SourceRDNS, SourceMailFrom, SourceFrom}
	}
	for _, s := range srcs {
		l.sources[s] = true
	}
	if cfg.SkipHealthCheck {
		l.health = healthOK
		l.nextCheck = time.Unix(1<<62, 0)
	}
	return l, nil
}

// Name returns the list's name.
func (l *List) Name() string { return l.cfg.Name }

// Config returns the list's definition.
func (l *List) Config() ListConfig { return l.cfg }

// Kind returns KindIP or KindDomain.
func (l *List) Kind() string { return l.cfg.Kind }

// Checks reports whether a domain list is to be asked about source.
func (l *List) Checks(source string) bool { return l.sources[source] }

// Hits returns every symbol the list may produce (its codes, then the
// fallback symbol).
func (l *List) Hits() []Hit {
	out := make([]Hit, 0, len(l.codes)+1)
	for _, c := range l.codes {
		out = append(out, c.hit)
	}
	return append(out, l.fallback)
}

// Usable reports the list's current health without checking: false only
// when it has been found unusable.
func (l *List) Usable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health != healthBad
}

// LookupIP asks an IP list about ip (RFC 5782 §2.1 IPv4: reversed octets;
// §2.4 IPv6: reversed nibbles).
func (l *List) LookupIP(ctx context.Context, ip netip.Addr) Result {
	ip = ip.Unmap()
	res := Result{List: l.cfg.Name, Zone: l.cfg.Zone, Subject: ip.String()}
	if l.cfg.Kind != KindIP || !ip.IsValid() || (ip.Is4() && !l.ip4) || (ip.Is6() && !l.ip6) {
		res.Status = Skipped
		return res
	}
	res.Query = dns.ReverseLabels(ip) + "." + dns.Normalize(l.cfg.Zone)
	return l.query(ctx, res)
}

// LookupDomain asks a domain list about domain (RFC 5782 §2.2).
func (l *List) LookupDomain(ctx context.Context, domain string) Result {
	d := dns.Normalize(strings.TrimSpace(domain))
	res := Result{List: l.cfg.Name, Zone: l.cfg.Zone, Subject: d}
	if l.cfg.Kind != KindDomain || !queryableDomain(d) {
		res.Status = Skipped
		return res
	}
	res.Query = d + "." + dns.Normalize(l.cfg.Zone)
	if len(res.Query) > 253 {
		res.Status = Skipped
		return res
	}
	return l.query(ctx, res)
}

// queryableDomain reports whether d is a domain name worth asking about:
// at least two labels, not an address literal.
func queryableDomain(d string) bool {
	if d == "" || strings.ContainsAny(d, "[]: \t") || !strings.Contains(d, ".") ||
		strings.HasSuffix(d, ".") || !validZone(d) {
		return false
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return false
	}
	return true
}

func (l *List) query(ctx context.Context, res Result) Result {
	if st := l.ensureHealthy(ctx); st != healthOK {
		res.Status = Disabled
		if st == healthUnknown {
			res.Status = Error
		}
		l.mu.Lock()
		res.Err = fmt.Errorf("dnsbl %s: list not usable: %s", l.cfg.Name, l.reason)
		l.mu.Unlock()
		l.opt.Metrics.Lookup(l.cfg.Name, res.Status.String())
		return res
	}
	addrs, err := l.r.LookupA(ctx, res.Query)
	switch {
	case err == nil:
		res.Answers = addrs
		hits, bad := l.Decode(addrs)
		if bad != "" {
			l.disable(reasonFor(bad), fmt.Sprintf("answer %s for %s: %s", joinAddrs(addrs), res.Query, bad))
			res.Status = Disabled
			res.Err = fmt.Errorf("dnsbl %s: %s", l.cfg.Name, bad)
			break
		}
		res.Status, res.Hits = Listed, hits
	case dns.IsNotFound(err):
		res.Status = NotListed
	default:
		res.Status = Error
		res.Err = fmt.Errorf("dnsbl %s: %w", l.cfg.Name, err)
	}
	l.opt.Metrics.Lookup(l.cfg.Name, res.Status.String())
	return res
}

func reasonFor(bad string) string {
	if strings.HasPrefix(bad, "error answer") {
		return "error_answer"
	}
	return "bad_answer"
}

func joinAddrs(a []netip.Addr) string {
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Decode maps the A records the list returned to hits. RFC 5782 §2.3: list
// answers are in 127.0.0.0/8. bad is non-empty when the answer shows the
// list is unusable: an operator error answer (one of errs), or an address
// outside 127.0.0.0/8 (a wildcard or a parked zone). Answers matching no
// code give the fallback hit once. Each symbol is reported once, with the
// first answer that produced it.
func (l *List) Decode(answers []netip.Addr) (hits []Hit, bad string) {
	seen := map[string]bool{}
	for _, a := range answers {
		a = a.Unmap()
		for _, e := range l.errs {
			if e.Match(a) {
				return nil, "error answer " + a.String()
			}
		}
		if !a.Is4() || a.As4()[0] != 127 {
			return nil, "answer " + a.String() + " outside 127.0.0.0/8"
		}
		matched := false
		for _, c := range l.codes {
			if c.m.Match(a) {
				matched = true
				if !seen[c.hit.Symbol] {
					seen[c.hit.Symbol] = true
					h := c.hit
					h.Answer = a
					hits = append(hits, h)
				}
			}
		}
		if !matched && !seen[l.fallback.Symbol] {
			seen[l.fallback.Symbol] = true
			h := l.fallback
			h.Answer = a
			hits = append(hits, h)
		}
	}
	return hits, ""
}

// DecodeAnswers is Decode for a list definition: it exists for callers
// (and fuzzing) that have a ListConfig rather than a List.
func DecodeAnswers(cfg ListConfig, answers []netip.Addr) ([]Hit, string, error) {
	l, err := NewList(cfg, nil, Options{})
	if err != nil {
		return nil, "", err
	}
	hits, bad := l.Decode(answers)
	return hits, bad, nil
}

// disable marks the list unusable until the next health check, loudly.
func (l *List) disable(reason, detail string) {
	l.mu.Lock()
	was := l.health
	l.health = healthBad
	l.reason = reason + ": " + detail
	l.nextCheck = l.opt.Now().Add(l.opt.HealthInterval)
	l.mu.Unlock()
	l.opt.Metrics.Disabled(l.cfg.Name, reason)
	l.opt.Metrics.Health(l.cfg.Name, false)
	if was == healthBad {
		l.opt.Logger.Warn("dnsbl: list still disabled", "list", l.cfg.Name, "zone", l.cfg.Zone,
			"reason", reason, "detail", detail, "recheck_after", l.opt.HealthInterval)
	} else {
		l.opt.Logger.Error("dnsbl: LIST DISABLED: it no longer answers as a DNS list should; its results are ignored until it passes its health check again",
			"list", l.cfg.Name, "zone", l.cfg.Zone, "reason", reason, "detail", detail,
			"recheck_after", l.opt.HealthInterval)
	}
}

// ensureHealthy returns whether the list may be used now, running the
// health check when it is due: synchronously while the list is not known
// to be good, in the background when a good list is due for a re-check.
func (l *List) ensureHealthy(ctx context.Context) healthState {
	l.mu.Lock()
	now := l.opt.Now()
	due := !now.Before(l.nextCheck)
	state := l.health
	if !due {
		l.mu.Unlock()
		return state
	}
	if state == healthOK {
		if l.checking == nil {
			l.checking = make(chan struct{})
			go func() {
				cctx, cancel := context.WithTimeout(context.Background(), l.opt.HealthTimeout)
				defer cancel()
				l.runCheck(cctx)
			}()
		}
		l.mu.Unlock()
		return healthOK
	}
	wait := l.checking
	if wait == nil {
		l.checking = make(chan struct{})
		l.mu.Unlock()
		l.runCheck(ctx)
	} else {
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return healthUnknown
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// CheckHealth runs the RFC 5782 §5 health check now and reports whether
// the list is usable, with the reason when it is not.
func (l *List) CheckHealth(ctx context.Context) (bool, string) {
	l.mu.Lock()
	if l.checking == nil {
		l.checking = make(chan struct{})
		l.mu.Unlock()
		l.runCheck(ctx)
	} else {
		wait := l.checking
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health == healthOK, l.reason
}

// runCheck performs the health check; l.checking must be set by the
// caller, and is closed and cleared here.
func (l *List) runCheck(ctx context.Context) {
	state, reason, detail := l.probe(ctx)
	l.mu.Lock()
	prev := l.health
	done := l.checking
	l.checking = nil
	now := l.opt.Now()
	switch state {
	case healthOK:
		l.health, l.reason = healthOK, ""
		l.nextCheck = now.Add(l.opt.HealthInterval)
	case healthUnknown:
		// Keep a good list good through a transient failure; retry soon.
		if prev != healthOK {
			l.health = healthUnknown
		}
		l.reason = "health check inconclusive: " + detail
		l.nextCheck = now.Add(l.opt.RetryInterval)
	}
	l.mu.Unlock()
	close(done)
	switch state {
	case healthOK:
		l.opt.Metrics.Health(l.cfg.Name, true)
		if prev == healthBad {
			l.opt.Logger.Warn("dnsbl: list enabled again: it passed its health check", "list", l.cfg.Name, "zone", l.cfg.Zone)
		}
	case healthBad:
		l.disable(reason, detail)
	case healthUnknown:
		l.opt.Logger.Warn("dnsbl: health check inconclusive", "list", l.cfg.Name, "zone", l.cfg.Zone, "detail", detail)
	}
}

// probe asks the two RFC 5782 §5 test entries.
func (l *List) probe(ctx context.Context) (healthState, string, string) {
	listed, unlisted := l.testNames()
	addrs, err := l.r.LookupA(ctx, listed)
	switch {
	case err == nil:
		if _, bad := l.Decode(addrs); bad != "" {
			return healthBad, reasonFor(bad), fmt.Sprintf("test entry %s: %s", listed, bad)
		}
	case dns.IsNotFound(err):
		// RFC 5782 §5: "IPv4-based DNSxLs MUST contain an entry for
		// 127.0.0.2 for testing purposes"; one without it is not working
		// (or refuses us with NXDOMAIN).
		return healthBad, "test_not_listed", fmt.Sprintf("test entry %s is not listed", listed)
	default:
		return healthUnknown, "", fmt.Sprintf("%s: %v", listed, err)
	}
	addrs, err = l.r.LookupA(ctx, unlisted)
	switch {
	case err == nil:
		// RFC 5782 §5: "DNSxLs MUST NOT contain an entry for 127.0.0.1":
		// a list that answers for it lists everything.
		return healthBad, "lists_everything", fmt.Sprintf("test entry %s that must not be listed answers %s", unlisted, joinAddrs(addrs))
	case dns.IsNotFound(err):
		return healthOK, "", ""
	default:
		return healthUnknown, "", fmt.Sprintf("%s: %v", unlisted, err)
	}
}

// testNames returns the DNS names of the two test entries.
func (l *List) testNames() (listed, unlisted string) {
	zone := dns.Normalize(l.cfg.Zone)
	if l.cfg.Kind == KindDomain {
		t, u := l.cfg.TestListed, l.cfg.TestUnlisted
		if t == "" {
			t = "test" // RFC 5782 §5
		}
		if u == "" {
			u = "invalid"
		}
		return dns.Normalize(t) + "." + zone, dns.Normalize(u) + "." + zone
	}
	t, u := l.cfg.TestListed, l.cfg.TestUnlisted
	if t == "" {
		if l.ip4 {
			t, u = "127.0.0.2", "127.0.0.1"
		} else {
			// RFC 5782 §5: IPv6 lists test with ::FFFF:7F00:2 / :1.
			t, u = "::ffff:7f00:2", "::ffff:7f00:1"
		}
	}
	if u == "" {
		u = "127.0.0.1"
	}
	return testLabels(t) + "." + zone, testLabels(u) + "." + zone
}

// testLabels is dns.ReverseLabels, except that an IPv4-mapped IPv6 test
// address keeps its IPv6 nibble form (RFC 5782 §5).
func testLabels(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	if ip.Is4In6() {
		return dns.ReverseNibbles(ip)
	}
	return dns.ReverseLabels(ip)
}

// NewLists builds the enabled lists of defs.
func NewLists(defs []ListConfig, r dns.Resolver, opt Options) ([]*List, error) {
	if err := ValidateLists(defs); err != nil {
		return nil, err
	}
	var out []*List
	for _, d := range defs {
		if !d.Enabled {
			continue
		}
		l, err := NewList(d, r, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}
