package checks

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
)

func scoreMock() *dnstest.Mock {
	return &dnstest.Mock{
		A: map[string][]string{
			"5.100.51.198.score.senderscore.com":  {"127.0.4.5"},
			"10.100.51.198.score.senderscore.com": {"127.0.4.10"},
			"11.100.51.198.score.senderscore.com": {"127.0.4.11"},
			"50.100.51.198.score.senderscore.com": {"127.0.4.50"},
			"69.100.51.198.score.senderscore.com": {"127.0.4.69"},
			"80.100.51.198.score.senderscore.com": {"127.0.4.80"},
			"95.100.51.198.score.senderscore.com": {"127.0.4.95"},
			"77.100.51.198.score.senderscore.com": {"127.255.255.255"},
		},
		Fail: map[string]dns.Kind{"44.100.51.198.score.senderscore.com": dns.Timeout},
	}
}

type scoreClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *scoreClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *scoreClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newScoreCheck(t *testing.T, r dns.Resolver) (*Senderscore, *ListMetrics, *bytes.Buffer, *scoreClock) {
	t.Helper()
	var logs bytes.Buffer
	m := NewListMetrics()
	c, err := NewSenderscore(DefaultSenderscoreConfig(), r, m, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &scoreClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.now = clk.now
	return c, m, &logs, clk
}

func TestSenderscoreCheck(t *testing.T) {
	tests := []struct {
		ip     string
		symbol string
		mult   float64
		force  engine.Action
	}{
		{"198.51.100.5", SymSenderscoreBad, 0, engine.Reject},
		{"198.51.100.10", SymSenderscoreBad, 0, engine.Reject},
		{"198.51.100.11", SymSenderscoreLow, 1, engine.AddHeader},
		{"198.51.100.50", SymSenderscoreLow, 20.0 / 59, engine.AddHeader},
		{"198.51.100.69", SymSenderscoreLow, 1.0 / 59, engine.AddHeader},
		{"198.51.100.80", "", 0, engine.NoAction},
		{"198.51.100.95", SymSenderscoreGood, 0, engine.NoAction},
		{"198.51.100.1", "", 0, engine.NoAction},  // absent
		{"198.51.100.44", "", 0, engine.NoAction}, // timeout
		{"2001:db8::5", "", 0, engine.NoAction},   // IPv6
	}
	c, _, _, _ := newScoreCheck(t, scoreMock())
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			res := c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip)}, nil)
			if got := symNames(res.Symbols); got != tc.symbol {
				t.Fatalf("symbols %q, want %q", got, tc.symbol)
			}
			if tc.symbol == "" {
				return
			}
			s := res.Symbols[0]
			if math.Abs(s.Multiplier-tc.mult) > 1e-9 || s.Force != tc.force {
				t.Errorf("multiplier %v force %s, want %v %s", s.Multiplier, s.Force, tc.mult, tc.force)
			}
			if !slices.Contains(s.Options, tc.ip+":from") {
				t.Errorf("options %v", s.Options)
			}
			if s.Force == engine.Reject && !strings.Contains(s.Message, "Sender Score "+strings.TrimPrefix(tc.ip, "198.51.100.")+")") {
				t.Errorf("reply %q", s.Message)
			}
		})
	}
}

func TestSenderscoreUnusable(t *testing.T) {
	mock := scoreMock()
	c, m, logs, clk := newScoreCheck(t, mock)
	ctx := context.Background()
	res := c.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.77")}, nil)
	if got := symNames(res.Symbols); got != SymSenderscoreBlocked {
		t.Fatalf("symbols %q", got)
	}
	if res.Symbols[0].Force != engine.NoAction || !res.Value.(*SenderscoreValue).Ignored {
		t.Errorf("%+v", res)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "LIST DISABLED") {
		t.Errorf("no loud log line: %s", logs)
	}
	if v := metricValue(t, m.disabled, "senderscore", "error_answer"); v != 1 {
		t.Errorf("disabled counter %v", v)
	}
	if v := metricValue(t, m.usable, "senderscore"); v != 0 {
		t.Errorf("usable gauge %v", v)
	}
	// While unusable, even a real score has no effect and DNS is not asked.
	q := mock.Queries()
	res = c.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.5")}, nil)
	if len(res.Symbols) != 0 || mock.Queries() != q {
		t.Errorf("unusable list used: %v", res.Symbols)
	}
	// After the recheck interval it is asked again.
	clk.add(61 * time.Minute)
	res = c.Run(ctx, &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.5")}, nil)
	if got := symNames(res.Symbols); got != SymSenderscoreBad {
		t.Errorf("after recheck: %q", got)
	}
	if v := metricValue(t, m.usable, "senderscore"); v != 1 {
		t.Errorf("usable gauge %v", v)
	}
	if !strings.Contains(logs.String(), "usable again") {
		t.Errorf("no log of recovery: %s", logs)
	}
}

// Senderscore at 5, 50, 95, absent and unusable, through the engine with
// rspamd's default thresholds: symbols, score and action.
func TestSenderscoreThroughEngine(t *testing.T) {
	tests := []struct {
		ip      string
		early   engine.Action
		symbols string
		score   float64
		action  engine.Action
	}{
		{"198.51.100.5", engine.Reject, SymSenderscoreBad, 6, engine.Reject},
		{"198.51.100.11", engine.NoAction, SymSenderscoreLow, 6, engine.AddHeader},
		// the tag floor (issue 16): below 70, tagged whatever the score
		{"198.51.100.50", engine.NoAction, SymSenderscoreLow, 2.03, engine.AddHeader},
		{"198.51.100.95", engine.NoAction, SymSenderscoreGood, -1, engine.NoAction},
		{"198.51.100.1", engine.NoAction, "", 0, engine.NoAction},
		{"198.51.100.77", engine.NoAction, SymSenderscoreBlocked, 0, engine.NoAction},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			c, _ := NewSenderscore(DefaultSenderscoreConfig(), scoreMock(), nil, slog.New(slog.DiscardHandler))
			e := connEngine(t, c)
			early, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip), Helo: "mail.example.org"})
			if early.Action != tc.early {
				t.Errorf("early %s, want %s", early.Action, tc.early)
			}
			if tc.early == engine.Reject && (early.ForcedBy != SymSenderscoreBad || !strings.HasPrefix(early.Reply, "5.7.1 ")) {
				t.Errorf("forced by %q reply %q", early.ForcedBy, early.Reply)
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

func TestSenderscoreConfig(t *testing.T) {
	def := DefaultSenderscoreConfig()
	if err := def.Validate(); err != nil || !def.Enabled || def.BlockBelow != 10 || def.JunkBelow != 70 {
		t.Fatalf("defaults %+v: %v", def, err)
	}
	for _, mod := range []func(*SenderscoreConfig){
		func(c *SenderscoreConfig) { c.BlockBelow = -2 },
		func(c *SenderscoreConfig) { c.BlockBelow = 101 },
		func(c *SenderscoreConfig) { c.JunkBelow = 10 },
		func(c *SenderscoreConfig) { c.JunkBelow = 102 },
		func(c *SenderscoreConfig) { c.GoodAbove = 50 },
		func(c *SenderscoreConfig) { c.GoodAbove = 102 },
		func(c *SenderscoreConfig) { c.JunkWeight = -1 },
		func(c *SenderscoreConfig) { c.TagBelow = -1 },
		func(c *SenderscoreConfig) { c.TagBelow = 102 },
		func(c *SenderscoreConfig) { c.RecheckInterval = duration.Duration(-time.Second) },
	} {
		c := DefaultSenderscoreConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// The block band can be turned off: score 5 is then junk at full weight.
	cfg := DefaultSenderscoreConfig()
	cfg.BlockBelow = -1
	c, err := NewSenderscore(cfg, scoreMock(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res := c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.5")}, nil)
	if len(res.Symbols) != 1 || res.Symbols[0].Name != SymSenderscoreLow || res.Symbols[0].Force != engine.AddHeader {
		t.Errorf("block band off: %+v", res.Symbols)
	}
	// The tag floor off: the graded weight alone decides.
	cfg.TagBelow = 0
	c, _ = NewSenderscore(cfg, scoreMock(), nil, nil)
	res = c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.50")}, nil)
	if len(res.Symbols) != 1 || res.Symbols[0].Force != engine.NoAction {
		t.Errorf("tag floor off: %+v", res.Symbols)
	}
	// Off entirely.
	cfg.Enabled = false
	c, _ = NewSenderscore(cfg, scoreMock(), nil, nil)
	if res := c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.5")}, nil); len(res.Symbols) != 0 {
		t.Error("disabled check emitted")
	}
	// Not inbound.
	c, _ = NewSenderscore(DefaultSenderscoreConfig(), scoreMock(), nil, nil)
	if res := c.Run(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.5"), Local: true}, nil); len(res.Symbols) != 0 {
		t.Error("local client judged")
	}
}
