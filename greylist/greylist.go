// Package greylist is selective greylisting on top of the store: it
// decides, for a message the policy scored into the greylist band, whether
// to turn it away with a 4xx for now (greylisted, until when) or let it
// pass, and keeps the allowlist that skips greylisting.
//
// The key is the sending side (the client's /24 or /64 network, or, when
// SPF passed, the SPF-authenticated domain, so that a retry from any
// address the sender's SPF record covers counts), the normalised envelope
// sender and the recipient. Timing follows postgrey: a retry is accepted
// from 5 minutes to 48 hours after the first attempt; passed entries are
// kept 35 days after their last delivery; a client network that passed 5
// times (in distinct hours) is allowlisted.
//
// What this package does not do: it does not decide which messages are
// greylisted (the policy's score band does, see checks.Greylist), it does
// not read the SPF result itself (the caller passes the domain), and it
// never rejects because its store failed: an error decision lets the mail
// through (fail open).
package greylist

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// AutoAllowInterval: passes of one client network closer together than
// this count once towards auto_allow_after, so that a burst right after a
// first pass does not earn an allowlist entry.
const AutoAllowInterval = time.Hour

// MaxRcpts bounds the recipients whose triplets one decision records.
const MaxRcpts = 100

// Outcome is what a decision says.
type Outcome int

// Outcomes.
const (
	// Pass: accept (a retry after the delay, a known triplet, or an
	// allowlisted sender).
	Pass Outcome = iota
	// Greylisted: answer 451 4.7.1 until Decision.Until.
	Greylisted
	// Error: the store failed; the caller accepts the mail (fail open).
	Error
)

func (o Outcome) String() string {
	switch o {
	case Greylisted:
		return "greylisted"
	case Error:
		return "error"
	}
	return "pass"
}

// Request is what a decision needs to know of a transaction.
type Request struct {
	ClientIP netip.Addr
	MailFrom string
	Rcpts    []string
	// SPFDomain is the domain SPF authenticated (result pass), else "".
	SPFDomain string
	// PTR is the client's forward-confirmed reverse name, else "".
	PTR string
	// AuthDomains are further domains the message is authenticated for
	// (e.g. the From domain when DMARC passed); like SPFDomain and PTR
	// they are matched against "domain:" allowlist entries.
	AuthDomains []string
}

// Decision is the result of Decide.
type Decision struct {
	Outcome Outcome
	// Until is, when greylisted, the earliest time a retry passes.
	Until time.Time
	// Reason details the outcome: "new", "early" (greylisted), "retry",
	// "known", "allowlisted" (pass), "no client address" (pass).
	Reason string
	// Allow is the allowlist entry that matched, for "allowlisted".
	Allow store.AllowEntry
	// AutoAllowed is set when this pass allowlisted the client network.
	AutoAllowed bool
	// Keys are the greylist keys of the triplets.
	Keys []string
	// Err is the store's error for an Error outcome.
	Err error
}

// Greylister makes greylisting decisions. It is safe for concurrent use.
type Greylister struct {
	st  store.Store
	cfg Config
	now func() time.Time
	log *slog.Logger
	obs Observer
}

// Options are the optional parts of a Greylister.
type Options struct {
	// Now is the clock (default time.Now); tests inject a fake one.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer, when not nil, is told of every decision.
	Observer Observer
}

// New builds a Greylister over st.
func New(st store.Store, cfg Config, o Options) (*Greylister, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("greylist: %w", err)
	}
	if cfg.Message == "" {
		cfg.Message = DefaultMessage
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Greylister{st: st, cfg: cfg, now: o.Now, log: o.Logger, obs: o.Observer}, nil
}

// Config returns the configuration in force.
func (g *Greylister) Config() Config { return g.cfg }

// Store returns the store decisions are kept in.
func (g *Greylister) Store() store.Store { return g.st }

// Decide records the attempt of every recipient's triplet and says
// whether the message passes. It never returns Greylisted when the store
// failed.
func (g *Greylister) Decide(ctx context.Context, r Request) Decision {
	d := g.decide(ctx, r)
	if g.obs != nil {
		g.obs.ObserveDecision(d)
	}
	return d
}

func (g *Greylister) decide(ctx context.Context, r Request) Decision {
	if !r.ClientIP.IsValid() {
		return Decision{Outcome: Pass, Reason: "no client address"}
	}
	now := g.now()
	e, ok, err := g.st.AllowLookup(ctx, allowCandidates(r), now)
	if err != nil {
		return Decision{Outcome: Error, Err: fmt.Errorf("greylist: allowlist lookup: %w", err)}
	}
	if ok {
		g.refreshAuto(ctx, e, now)
		return Decision{Outcome: Pass, Reason: "allowlisted", Allow: e}
	}

	subject := Subject(r.ClientIP, r.SPFDomain)
	sender := NormalizeSender(r.MailFrom)
	rcpts := r.Rcpts
	if len(rcpts) == 0 {
		rcpts = []string{""}
	}
	d := Decision{Outcome: Pass}
	seen := map[string]bool{}
	p := g.cfg.Params()
	for _, rc := range rcpts {
		k := Key(subject, sender, NormalizeRcpt(rc))
		if seen[k] {
			continue
		}
		if len(seen) == MaxRcpts {
			break
		}
		seen[k] = true
		d.Keys = append(d.Keys, k)
	}
	// The triplets are recorded concurrently: the embedded store commits
	// them in one transaction, Redis answers them in parallel.
	entries := make([]store.GreylistEntry, len(d.Keys))
	errs := make([]error, len(d.Keys))
	var wg sync.WaitGroup
	for i, k := range d.Keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries[i], errs[i] = g.st.GreylistAttempt(ctx, k, now, p)
		}()
	}
	wg.Wait()
	justPassed := false
	for i, e := range entries {
		if errs[i] != nil {
			return Decision{Outcome: Error, Keys: d.Keys, Err: fmt.Errorf("greylist: %w", errs[i])}
		}
		if e.Waiting() {
			d.Outcome = Greylisted
			if until := e.FirstSeen.Add(p.Delay); until.After(d.Until) {
				d.Until = until
			}
			if e.Blocked == 1 && d.Reason == "" {
				d.Reason = "new"
			} else if e.Blocked > 1 {
				d.Reason = "early"
			}
		} else if e.Passes == 1 {
			justPassed = true
		}
	}
	if d.Outcome == Greylisted {
		return d
	}
	d.Reason = "known"
	if justPassed {
		d.Reason = "retry"
	}
	d.AutoAllowed = g.countPass(ctx, r.ClientIP, now)
	return d
}

// countPass counts a pass of the client network towards auto_allow_after
// and allowlists the network when it has enough. Its failures are logged,
// not returned: the message has passed already.
func (g *Greylister) countPass(ctx context.Context, ip netip.Addr, now time.Time) bool {
	if g.cfg.AutoAllowAfter <= 0 {
		return false
	}
	net := ClientNet(ip).String()
	// A pass within the hour of the last counted one would not count, and
	// its only effect would be to push the expiry on: skip that write
	// while the expiry is less than a day behind (a read is cheaper than
	// the embedded store's fsync).
	if c, err := g.st.CounterGet(ctx, "awl:"+net, now); err == nil && !c.Last.IsZero() &&
		now.Sub(c.Last) < AutoAllowInterval && now.Add(g.cfg.PassTTL.D()).Sub(c.Expires) < 24*time.Hour &&
		c.Value < int64(g.cfg.AutoAllowAfter) {
		return false
	}
	c, err := g.st.CounterIncr(ctx, "awl:"+net, store.CounterOp{Now: now, TTL: g.cfg.PassTTL.D(), MinInterval: AutoAllowInterval})
	if err != nil {
		g.log.Warn("greylist: counting a pass failed", "net", net, "err", err)
		return false
	}
	if c.Value < int64(g.cfg.AutoAllowAfter) {
		return false
	}
	e := store.AllowEntry{Key: "net:" + net, Reason: fmt.Sprintf("auto: %d passes", c.Value), Added: now, Expires: now.Add(g.cfg.PassTTL.D())}
	if err := g.st.AllowAdd(ctx, e); err != nil {
		g.log.Warn("greylist: auto-allowlisting failed", "net", net, "err", err)
		return false
	}
	g.log.Info("greylist: client network auto-allowlisted", "net", net, "passes", c.Value, "until", e.Expires)
	return true
}

// refreshAuto keeps an auto-allowlisted network allowlisted while it keeps
// sending: its expiry moves to pass_ttl from now, at most once a day.
func (g *Greylister) refreshAuto(ctx context.Context, e store.AllowEntry, now time.Time) {
	if !strings.HasPrefix(e.Reason, "auto") || e.Expires.IsZero() {
		return
	}
	want := now.Add(g.cfg.PassTTL.D())
	if want.Sub(e.Expires) < 24*time.Hour {
		return
	}
	e.Expires = want
	if err := g.st.AllowAdd(ctx, e); err != nil {
		g.log.Warn("greylist: refreshing an auto-allowlist entry failed", "key", e.Key, "err", err)
	}
}

// allowCandidates lists the allowlist keys that would cover r: the client
// address and its networks, the SPF-authenticated domain, the confirmed
// PTR name and the other authenticated domains, with their parent domains.
func allowCandidates(r Request) []string {
	ip := r.ClientIP.Unmap()
	lens := []int{128, 64, 56, 48, 32}
	if ip.Is4() {
		lens = []int{32, 24, 16, 8}
	}
	var keys []string
	for _, l := range lens {
		p, _ := ip.Prefix(l)
		keys = append(keys, "net:"+p.String())
	}
	for _, d := range append([]string{r.SPFDomain, r.PTR}, r.AuthDomains...) {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		for i := 0; d != "" && strings.Contains(d, ".") && i < 10; i++ {
			keys = append(keys, "domain:"+d)
			_, d, _ = strings.Cut(d, ".")
		}
	}
	return keys
}

// Observer is told of every decision, e.g. to count it for Prometheus
// (the daemon does; this package exports no metrics of its own).
type Observer interface {
	ObserveDecision(Decision)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Decision)

// ObserveDecision implements Observer.
func (f ObserverFunc) ObserveDecision(d Decision) { f(d) }
