package dmarcreport

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/spf"
	"github.com/hamlet-mail/hamlet/store"
)

// Collector is the engine finisher that counts hamlet's own DMARC
// evaluations for the reports it sends (when [dmarc.reports.send] is
// enabled): per policy domain that asks for reports (rua=) and period,
// one tally row per distinct source address, results and identifiers
// (RFC 7489 §7.2.1.1), in the store until the report was sent.
type Collector struct {
	st  store.Store
	mu  sync.Mutex
	cfg SendConfig
	// cut is when the current period was last flushed (Sender.Flush):
	// rows counted after it go to a tally of their own, begun at cut.
	cut time.Time
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

var _ engine.Finisher = (*Collector)(nil)

// tallyPrefix starts the names of the tallies of reports to send.
const tallyPrefix = "dmarcout:"

// NewCollector returns a collector writing to st.
func NewCollector(st store.Store, cfg SendConfig) *Collector {
	return &Collector{st: st, cfg: cfg, Now: time.Now}
}

// SetConfig replaces the configuration (a reload).
func (c *Collector) SetConfig(cfg SendConfig) {
	c.mu.Lock()
	c.cfg = cfg
	c.mu.Unlock()
}

// Name implements engine.Finisher.
func (c *Collector) Name() string { return "dmarc_report_collect" }

// Symbols implements engine.Finisher: none.
func (c *Collector) Symbols() []engine.SymbolDef { return nil }

// Cut starts a new tally for every domain at t (whole seconds): what is
// counted from t on is reported after t, so that the reports of a flush
// end at t without losing a message counted while it runs.
func (c *Collector) Cut(t time.Time) {
	c.mu.Lock()
	c.cut = t.UTC().Truncate(time.Second)
	c.mu.Unlock()
}

// row is one tally row: what RFC 7489 §7.2.1.1 groups messages by.
type row struct {
	IP           string     `json:"ip"`
	Disposition  string     `json:"d"`
	DKIM         string     `json:"dk"`
	SPF          string     `json:"sp"`
	Reason       string     `json:"r,omitempty"`
	Comment      string     `json:"rc,omitempty"`
	HeaderFrom   string     `json:"hf"`
	EnvelopeFrom string     `json:"ef,omitempty"`
	EnvelopeTo   string     `json:"et,omitempty"`
	AuthDKIM     []DKIMAuth `json:"ad,omitempty"`
	AuthSPF      *SPFAuth   `json:"as,omitempty"`
	Policy       rowPolicy  `json:"p"`
}

type rowPolicy struct {
	P, SP, NP, ADKIM, ASPF, FO, Testing string
}

// periodStart returns the start of the reporting period holding t.
func periodStart(t time.Time, interval time.Duration) time.Time {
	return t.UTC().Truncate(interval)
}

func tallyName(begin time.Time, domain string) string {
	return fmt.Sprintf("%s%012d:%s", tallyPrefix, begin.Unix(), domain)
}

// Finish implements engine.Finisher.
func (c *Collector) Finish(ctx context.Context, tx *engine.Transaction, deps engine.Results, v *engine.Verdict) error {
	c.mu.Lock()
	cfg, cut := c.cfg, c.cut
	c.mu.Unlock()
	if !cfg.Enabled || !v.Final {
		return nil
	}
	out, ok := engine.Value[*checks.DMARCOutcome](deps, checks.CheckDMARC)
	if !ok || out == nil || !tx.ClientIP.IsValid() {
		return nil
	}
	var auth []DKIMAuth
	if rs, ok := engine.Value[[]dkim.Result](deps, "dkim"); ok {
		for _, r := range rs {
			if r.Skipped || r.Domain == "" {
				continue
			}
			auth = append(auth, DKIMAuth{Domain: strings.ToLower(r.Domain), Selector: r.Selector, Result: string(r.Status)})
		}
	}
	var spfAuth *SPFAuth
	if r, ok := engine.Value[*spf.Result](deps, "spf"); ok && r != nil && r.Domain != "" {
		spfAuth = &SPFAuth{Domain: strings.ToLower(r.Domain), Scope: "mfrom", Result: string(r.Code)}
		if r.Identity == spf.IdentityHelo {
			spfAuth.Scope = "helo"
		}
	}
	interval := cfg.Interval.D()
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	now := c.Now()
	begin := periodStart(now, interval)
	if cut.After(begin) && !cut.After(now) {
		begin = cut
	}
	envTo := ""
	if len(tx.Rcpts) > 0 {
		if i := strings.LastIndexByte(tx.Rcpts[0], '@'); i >= 0 {
			envTo = strings.ToLower(strings.Trim(tx.Rcpts[0][i+1:], "<> ."))
		}
	}
	for _, r := range out.All {
		if r.Record == nil || len(r.Record.RUA) == 0 || r.RecordDomain == "" {
			continue
		}
		rw := row{IP: tx.ClientIP.Unmap().String(), HeaderFrom: r.FromDomain, EnvelopeFrom: tx.SenderDomain(), EnvelopeTo: envTo,
			AuthDKIM: auth, AuthSPF: spfAuth, DKIM: "fail", SPF: "fail"}
		if r.DKIMAligned {
			rw.DKIM = "pass"
		}
		if r.SPFAligned {
			rw.SPF = "pass"
		}
		rw.Disposition = disposition(r, v, out)
		switch {
		case out.ARCOverride != "" && r.Status == dmarc.StatusFail:
			rw.Reason, rw.Comment = "trusted_forwarder", "arc=pass by "+out.ARCOverride
		case r.SampledOut:
			rw.Reason = "policy_test_mode"
		case r.Status == dmarc.StatusFail && rw.Disposition != string(r.Disposition):
			rw.Reason = "local_policy"
		}
		rec := r.Record
		rw.Policy = rowPolicy{P: string(rec.Policy), SP: string(rec.SubdomainPolicy), NP: string(rec.NonexistentPolicy),
			ADKIM: string(rune(rec.DKIM)), ASPF: string(rune(rec.SPF)), FO: strings.Join(rec.FailureOptions, ":"), Testing: "n"}
		if rec.Testing {
			rw.Policy.Testing = "y"
		}
		key, err := json.Marshal(rw)
		if err != nil {
			return err
		}
		name := tallyName(begin, r.RecordDomain)
		// Kept a week past the period, for sending to be retried.
		if err := c.st.TallyAdd(ctx, name, map[string]int64{string(key): 1}, now, begin.Add(interval+7*24*time.Hour)); err != nil {
			return fmt.Errorf("dmarc report data: %w", err)
		}
	}
	return nil
}

// disposition is what was done with the message, in RFC 9990's words:
// pass (DMARC passed under an enforcing policy), none, quarantine or
// reject.
func disposition(r dmarc.Result, v *engine.Verdict, out *checks.DMARCOutcome) string {
	if r.Status == dmarc.StatusPass {
		if r.Policy != "" && r.Policy != dmarc.PolicyNone {
			return "pass"
		}
		return "none"
	}
	switch {
	case v.Action == engine.Reject:
		return "reject"
	case v.Action >= engine.AddHeader && r.Disposition == dmarc.PolicyQuarantine:
		return "quarantine"
	}
	return "none"
}
