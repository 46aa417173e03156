package checks

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/senderscore"
)

// Senderscore symbols. rspamd (3.x) names its Sender Score results
// RBL_SENDERSCORE_REPUT_0..9 (one per tenth of the scale),
// RBL_SENDERSCORE_REPUT_BLOCKED for a refused query and
// RBL_SENDERSCORE_REPUT_UNKNOWN for an unrecognised answer. hamlet keeps
// the prefix and the BLOCKED name but scores by configurable bands: one
// symbol per band, the junk band's weight scaled by how low the score is.
const (
	// SymSenderscoreBad: score ≤ block_below; forces a reject.
	SymSenderscoreBad = "RBL_SENDERSCORE_REPUT_BAD"
	// SymSenderscoreLow: block_below < score < junk_below; weight × a
	// multiplier growing from ~0 at junk_below to 1 at block_below+1.
	SymSenderscoreLow = "RBL_SENDERSCORE_REPUT_LOW"
	// SymSenderscoreGood: score ≥ good_above (rspamd's
	// RBL_SENDERSCORE_REPUT_9 weighs -1.0 for 90-100).
	SymSenderscoreGood = "RBL_SENDERSCORE_REPUT_GOOD"
	// SymSenderscoreBlocked: the answer was not a score (e.g.
	// 127.255.255.255): the list is unusable; no weight.
	SymSenderscoreBlocked = "RBL_SENDERSCORE_REPUT_BLOCKED"

	checkSenderscore = "senderscore"
	listSenderscore  = "senderscore" // name in metrics
)

// SenderscoreConfig is the [senderscore] section.
type SenderscoreConfig struct {
	Enabled bool   `toml:"enabled"`
	Zone    string `toml:"zone"`
	// BlockBelow: scores ≤ this are rejected (forced); -1 turns the band
	// off.
	BlockBelow int `toml:"block_below"`
	// JunkBelow: scores < this get SymSenderscoreLow.
	JunkBelow int `toml:"junk_below"`
	// TagBelow: scores < this (and above BlockBelow) force at least the
	// add header action, whatever else the message scores, as
	// postmasters who use Senderscore configure it; the graded weight
	// still counts towards the higher actions. It applies within the junk
	// band (a score at or above JunkBelow has no symbol to carry it); 0
	// turns the floor off.
	TagBelow int `toml:"tag_below"`
	// GoodAbove: scores ≥ this get SymSenderscoreGood; 101 turns it off.
	GoodAbove int `toml:"good_above"`
	// JunkWeight is the weight SymSenderscoreLow reaches at the bottom of
	// the junk band: the add header threshold by default, so that the
	// worst scores outside the block band tag the message on their own.
	JunkWeight float64 `toml:"junk_weight"`
	// Message is the reject reply; %d is replaced by the score.
	Message string `toml:"message"`
	// RecheckInterval: after an answer that is not a score, the list is
	// left alone this long.
	RecheckInterval duration.Duration `toml:"recheck_interval"`
}

// DefaultSenderscoreConfig: on, reject ≤ 10, junk and tagged < 70, good ≥ 90.
func DefaultSenderscoreConfig() SenderscoreConfig {
	return SenderscoreConfig{
		Enabled:         true,
		Zone:            senderscore.Zone,
		BlockBelow:      senderscore.DefaultBlockBelow,
		JunkBelow:       senderscore.DefaultJunkBelow,
		TagBelow:        senderscore.DefaultJunkBelow,
		GoodAbove:       senderscore.DefaultGoodAbove,
		JunkWeight:      6.0,
		Message:         "5.7.1 Client host rejected: very poor sender reputation (Sender Score %d), see https://senderscore.org/",
		RecheckInterval: duration.Duration(time.Hour),
	}
}

// Validate checks the section.
func (c *SenderscoreConfig) Validate() error {
	switch {
	case c.BlockBelow < -1 || c.BlockBelow > 100:
		return fmt.Errorf("senderscore: block_below %d: want -1 (off) to 100", c.BlockBelow)
	case c.JunkBelow < 0 || c.JunkBelow > 101:
		return fmt.Errorf("senderscore: junk_below %d: want 0 to 101", c.JunkBelow)
	case c.JunkBelow <= c.BlockBelow:
		return fmt.Errorf("senderscore: junk_below %d must be above block_below %d", c.JunkBelow, c.BlockBelow)
	case c.TagBelow < 0 || c.TagBelow > 101:
		return fmt.Errorf("senderscore: tag_below %d: want 0 (off) to 101", c.TagBelow)
	case c.GoodAbove < c.JunkBelow || c.GoodAbove > 101:
		return fmt.Errorf("senderscore: good_above %d: want junk_below (%d) to 101 (off)", c.GoodAbove, c.JunkBelow)
	case c.JunkWeight < 0:
		return fmt.Errorf("senderscore: junk_weight %g is negative", c.JunkWeight)
	case c.RecheckInterval < 0:
		return fmt.Errorf("senderscore: recheck_interval %s is negative", c.RecheckInterval)
	case c.Enabled && c.Zone != "" && dns.Normalize(c.Zone) == "":
		return fmt.Errorf("senderscore: zone %q is empty", c.Zone)
	}
	return nil
}

// Senderscore is the connection check on the client's Sender Score.
type Senderscore struct {
	cfg     SenderscoreConfig
	r       dns.Resolver
	metrics dnsbl.Metrics
	log     *slog.Logger
	now     func() time.Time

	mu            sync.Mutex
	unusableUntil time.Time
	unusable      bool
}

var (
	_ engine.Check       = (*Senderscore)(nil)
	_ engine.InboundOnly = (*Senderscore)(nil)
)

// NewSenderscore returns the check. metrics and logger may be nil.
func NewSenderscore(cfg SenderscoreConfig, r dns.Resolver, metrics dnsbl.Metrics, logger *slog.Logger) (*Senderscore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RecheckInterval == 0 {
		cfg.RecheckInterval = duration.Duration(time.Hour)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if metrics == nil {
		metrics = noMetrics{}
	}
	return &Senderscore{cfg: cfg, r: r, metrics: metrics, log: logger, now: time.Now}, nil
}

type noMetrics struct{}

func (noMetrics) Lookup(string, string)   {}
func (noMetrics) Disabled(string, string) {}
func (noMetrics) Health(string, bool)     {}

// Name implements engine.Check.
func (c *Senderscore) Name() string { return checkSenderscore }

// MayForce implements engine.Forcer: the block band rejects.
func (c *Senderscore) MayForce() bool { return c.cfg.BlockBelow >= 0 }

// Phase implements engine.Check.
func (c *Senderscore) Phase() engine.Phase { return engine.PhaseConnect }

// After implements engine.Check.
func (c *Senderscore) After() []string { return nil }

// InboundOnly implements engine.InboundOnly.
func (c *Senderscore) InboundOnly() bool { return true }

// Symbols implements engine.Check.
func (c *Senderscore) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: SymSenderscoreBad, Weight: c.cfg.JunkWeight, Group: "rbl",
			Description: fmt.Sprintf("Sender Score at or below %d: very bad reputation", c.cfg.BlockBelow)},
		{Name: SymSenderscoreLow, Weight: c.cfg.JunkWeight, Group: "rbl",
			Description: fmt.Sprintf("Sender Score below %d: bad reputation, weighing more the lower it is", c.cfg.JunkBelow)},
		{Name: SymSenderscoreGood, Weight: -1.0, Group: "rbl",
			Description: fmt.Sprintf("Sender Score %d or above: good reputation", c.cfg.GoodAbove)},
		{Name: SymSenderscoreBlocked, Weight: 0, Group: "rbl",
			Description: "Sender Score answered something that is not a score (query refused): list ignored"},
	}
}

// SenderscoreValue is the check's value.
type SenderscoreValue struct {
	Result senderscore.Result
	// Ignored is true while the list is considered unusable.
	Ignored bool
}

// Run implements engine.Check.
func (c *Senderscore) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if !c.cfg.Enabled || !tx.Inbound() || !tx.ClientIP.Unmap().Is4() {
		// Sender Score has no IPv6 data: no effect.
		return engine.Result{}
	}
	c.mu.Lock()
	skip := c.unusable && c.now().Before(c.unusableUntil)
	c.mu.Unlock()
	if skip {
		c.metrics.Lookup(listSenderscore, dnsbl.Disabled.String())
		return engine.Result{Value: &SenderscoreValue{Ignored: true}}
	}
	res := senderscore.Lookup(ctx, c.r, tx.ClientIP, c.cfg.Zone)
	val := &SenderscoreValue{Result: res}
	ip := tx.ClientIP.Unmap().String() + ":from"
	switch res.Status {
	case senderscore.Unusable:
		c.metrics.Lookup(listSenderscore, dnsbl.Disabled.String())
		c.markUnusable(res)
		val.Ignored = true
		return engine.Result{Value: val, Symbols: []engine.Symbol{{Name: SymSenderscoreBlocked, Options: []string{ip, joinAnswers(res)}}}}
	case senderscore.Scored:
		c.metrics.Lookup(listSenderscore, dnsbl.Listed.String())
		c.markUsable()
	case senderscore.NotListed:
		c.metrics.Lookup(listSenderscore, dnsbl.NotListed.String())
		return engine.Result{Value: val}
	default:
		c.metrics.Lookup(listSenderscore, dnsbl.Error.String())
		return engine.Result{Value: val}
	}
	n := res.Score
	opts := []string{ip, "score=" + strconv.Itoa(n)}
	switch {
	case n <= c.cfg.BlockBelow:
		msg := strings.ReplaceAll(c.cfg.Message, "%d", strconv.Itoa(n))
		return engine.Result{Value: val, Symbols: []engine.Symbol{{Name: SymSenderscoreBad, Options: opts, Force: engine.Reject, Message: msg}}}
	case n < c.cfg.JunkBelow:
		sym := engine.Symbol{Name: SymSenderscoreLow, Options: opts, Multiplier: c.multiplier(n)}
		if n < c.cfg.TagBelow {
			sym.Force = engine.AddHeader // the floor: tagged at least
		}
		return engine.Result{Value: val, Symbols: []engine.Symbol{sym}}
	case n >= c.cfg.GoodAbove:
		return engine.Result{Value: val, Symbols: []engine.Symbol{{Name: SymSenderscoreGood, Options: opts}}}
	}
	return engine.Result{Value: val}
}

// multiplier scales the junk band linearly: 1 at block_below+1 (the
// bottom of the band), 1/width just below junk_below.
func (c *Senderscore) multiplier(n int) float64 {
	width := c.cfg.JunkBelow - c.cfg.BlockBelow - 1
	if width <= 0 {
		return 1
	}
	m := float64(c.cfg.JunkBelow-n) / float64(width)
	return min(max(m, 0.01), 1)
}

func (c *Senderscore) markUnusable(res senderscore.Result) {
	c.mu.Lock()
	was := c.unusable
	c.unusable = true
	c.unusableUntil = c.now().Add(c.cfg.RecheckInterval.D())
	c.mu.Unlock()
	c.metrics.Disabled(listSenderscore, "error_answer")
	c.metrics.Health(listSenderscore, false)
	if !was {
		c.log.Error("senderscore: LIST DISABLED: the answer is not a score; Validity refuses this resolver (use a resolver of your own, not a public one). Sender Score is ignored until it answers scores again",
			"zone", c.cfg.Zone, "query", res.Query, "answer", joinAnswers(res), "recheck_after", c.cfg.RecheckInterval)
	} else {
		c.log.Warn("senderscore: list still unusable", "query", res.Query, "answer", joinAnswers(res))
	}
}

func (c *Senderscore) markUsable() {
	c.mu.Lock()
	was := c.unusable
	c.unusable = false
	c.mu.Unlock()
	if was {
		c.metrics.Health(listSenderscore, true)
		c.log.Warn("senderscore: list usable again: it answers scores", "zone", c.cfg.Zone)
	}
}

func joinAnswers(res senderscore.Result) string {
	s := ""
	for i, a := range res.Answers {
		if i > 0 {
			s += ","
		}
		s += a.String()
	}
	return s
}
