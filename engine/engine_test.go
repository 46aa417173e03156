package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/message"
)

// fakeCheck emits fixed symbols after an optional delay, and can read a
// dependency's value.
type fakeCheck struct {
	name    string
	phase   Phase
	after   []string
	defs    []SymbolDef
	emit    []Symbol
	delay   time.Duration
	value   any
	sawDep  chan any
	inbound bool
}

func (c *fakeCheck) Name() string         { return c.name }
func (c *fakeCheck) Phase() Phase         { return c.phase }
func (c *fakeCheck) After() []string      { return c.after }
func (c *fakeCheck) Symbols() []SymbolDef { return c.defs }
func (c *fakeCheck) InboundOnly() bool    { return c.inbound }
func (c *fakeCheck) Run(ctx context.Context, tx *Transaction, deps Results) Result {
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return Result{Symbols: []Symbol{{Name: strings.ToUpper(c.name) + "_DNSFAIL"}}}
		}
	}
	if c.sawDep != nil {
		v, _ := deps.Get(c.after[0])
		c.sawDep <- v
	}
	return Result{Symbols: c.emit, Value: c.value}
}

func sym(name string, w float64) SymbolDef { return SymbolDef{Name: name, Weight: w} }

func TestPolicyActions(t *testing.T) {
	tests := []struct {
		name   string
		weight float64
		force  Action
		want   Action
	}{
		{"ham", -1, NoAction, NoAction},
		{"below greylist", 3.99, NoAction, NoAction},
		{"greylist", 4, NoAction, Greylist},
		{"add header", 6.5, NoAction, AddHeader},
		{"reject", 15, NoAction, Reject},
		{"forced reject on low score", 0.1, Reject, Reject},
		{"force milder than score keeps score", 16, Greylist, Reject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCheck{name: "c", phase: PhaseData, defs: []SymbolDef{sym("S", tt.weight)},
				emit: []Symbol{{Name: "S", Force: tt.force, Message: "forced"}}}
			e, err := New(Options{Checks: []Check{c}, Policy: DefaultPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			v := e.Scan(context.Background(), &Transaction{})
			if v.Action != tt.want {
				t.Fatalf("action = %v, want %v (score %.2f)", v.Action, tt.want, v.Score)
			}
			if tt.force > NoAction && tt.want == tt.force && v.ForcedBy != "S" {
				t.Errorf("ForcedBy = %q, want S", v.ForcedBy)
			}
			if v.RequiredScore != 15 {
				t.Errorf("required score = %v", v.RequiredScore)
			}
		})
	}
}

func TestWeightsOverrideAndMultiplier(t *testing.T) {
	c := &fakeCheck{name: "c", phase: PhaseConnect, defs: []SymbolDef{sym("A", 1), sym("B", 2)},
		emit: []Symbol{{Name: "A"}, {Name: "B", Multiplier: 0.5}, {Name: "A", Options: []string{"x"}}, {Name: "UNKNOWN"}}}
	p := DefaultPolicy()
	p.Weights = map[string]float64{"A": 3}
	e, err := New(Options{Checks: []Check{c}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Scan(context.Background(), &Transaction{})
	if v.Score != 4 { // A overridden to 3 (merged once) + B 2×0.5 + unknown 0
		t.Fatalf("score = %v, want 4; symbols %+v", v.Score, v.Symbols)
	}
	if len(v.Symbols) != 3 || v.Symbols[0].Name != "A" || len(v.Symbols[0].Options) != 1 {
		t.Fatalf("symbols = %+v", v.Symbols)
	}
}

func TestThresholdValidation(t *testing.T) {
	p := DefaultPolicy()
	p.Thresholds[Greylist] = 20
	if _, err := New(Options{Policy: p}); err == nil {
		t.Fatal("greylist above reject accepted")
	}
}

func TestDependencyValueAndCycles(t *testing.T) {
	a := &fakeCheck{name: "a", phase: PhaseMail, value: "spf-result", delay: 20 * time.Millisecond}
	b := &fakeCheck{name: "b", phase: PhaseData, after: []string{"a"}, sawDep: make(chan any, 1)}
	e, err := New(Options{Checks: []Check{b, a}, Policy: DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	e.Scan(context.Background(), &Transaction{})
	if got := <-b.sawDep; got != "spf-result" {
		t.Fatalf("dependency value = %v", got)
	}
	x := &fakeCheck{name: "x", phase: PhaseData, after: []string{"y"}}
	y := &fakeCheck{name: "y", phase: PhaseData, after: []string{"x"}}
	if _, err := New(Options{Checks: []Check{x, y}, Policy: DefaultPolicy()}); err == nil {
		t.Fatal("cycle accepted")
	}
	late := &fakeCheck{name: "late", phase: PhaseData}
	early := &fakeCheck{name: "early", phase: PhaseConnect, after: []string{"late"}}
	if _, err := New(Options{Checks: []Check{late, early}, Policy: DefaultPolicy()}); err == nil {
		t.Fatal("dependency on a later phase accepted")
	}
	if _, err := New(Options{Checks: []Check{&fakeCheck{name: "z", after: []string{"nope"}}}, Policy: DefaultPolicy()}); err == nil {
		t.Fatal("unknown dependency accepted")
	}
}

// hangCheck ignores its context entirely, until the test ends: the engine
// must still answer.
type hangCheck struct {
	fakeCheck
	release chan struct{}
}

func (h *hangCheck) Run(ctx context.Context, tx *Transaction, deps Results) Result {
	<-h.release
	return Result{}
}

// TestDeadline: polite waits an hour unless its context ends, rude
// never returns before the test ends; a verdict at all means the 300 ms
// deadline ended the scan (an engine that waited would hang the test
// until go test's -timeout fails it).
func TestDeadline(t *testing.T) {
	polite := &fakeCheck{name: "polite", phase: PhaseConnect, delay: time.Hour}
	rude := &hangCheck{fakeCheck{name: "rude", phase: PhaseConnect}, make(chan struct{})}
	t.Cleanup(func() { close(rude.release) })
	fast := &fakeCheck{name: "fast", phase: PhaseConnect, defs: []SymbolDef{sym("FAST", 1)}, emit: []Symbol{{Name: "FAST"}}}
	var log bytes.Buffer
	e, err := New(Options{Checks: []Check{polite, rude, fast}, Policy: DefaultPolicy(), Timeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Scan(context.Background(), &Transaction{})
	// The log line says which check the deadline cut off (polite ended
	// itself, with its DNSFAIL symbol).
	if !strings.Contains(log.String(), `errors="rude: timeout"`) {
		t.Errorf("the scanned line does not name the check cut off:\n%s", log.String())
	}
	names := map[string]bool{}
	for _, s := range v.Symbols {
		names[s.Name] = true
	}
	if !names["POLITE_DNSFAIL"] || !names[SymCheckTimeout] || !names["FAST"] {
		t.Fatalf("symbols = %+v", v.Symbols)
	}
}

func TestEarlyVerdictOnlyForced(t *testing.T) {
	heavy := &fakeCheck{name: "heavy", phase: PhaseConnect, defs: []SymbolDef{sym("HEAVY", 100)}, emit: []Symbol{{Name: "HEAVY"}}}
	e, _ := New(Options{Checks: []Check{heavy}, Policy: DefaultPolicy()})
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseConnect, func(tx *Transaction) { tx.ClientIP = netip.MustParseAddr("192.0.2.1") })
	if v := s.Verdict(context.Background(), false); v.Action != NoAction || v.Final {
		t.Fatalf("early verdict without force = %v", v.Action)
	}
	block := &fakeCheck{name: "block", phase: PhaseConnect, defs: []SymbolDef{sym("BLOCK", 0)},
		emit: []Symbol{{Name: "BLOCK", Force: Reject, Message: "5.7.1 go away"}}}
	e, _ = New(Options{Checks: []Check{block}, Policy: DefaultPolicy()})
	s = e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseConnect, nil)
	v := s.Verdict(context.Background(), false)
	if v.Action != Reject || v.Reply != "5.7.1 go away" {
		t.Fatalf("early forced verdict = %v %q", v.Action, v.Reply)
	}
}

func TestInboundOnlyDroppedForOutbound(t *testing.T) {
	rdns := &fakeCheck{name: "rdns", phase: PhaseConnect, inbound: true, defs: []SymbolDef{sym("RDNS_NONE", 20)}, emit: []Symbol{{Name: "RDNS_NONE"}}}
	e, _ := New(Options{Checks: []Check{rdns}, Policy: DefaultPolicy()})
	v := e.Scan(context.Background(), &Transaction{Outbound: true})
	if v.Action != NoAction || len(v.Symbols) != 0 {
		t.Fatalf("outbound verdict = %v %+v", v.Action, v.Symbols)
	}
	v = e.Scan(context.Background(), &Transaction{})
	if v.Action != Reject {
		t.Fatalf("inbound verdict = %v", v.Action)
	}
}

func TestNextKeepsConnectionChecks(t *testing.T) {
	conn := &fakeCheck{name: "conn", phase: PhaseConnect, defs: []SymbolDef{sym("CONN", 1)}, emit: []Symbol{{Name: "CONN"}}}
	data := &fakeCheck{name: "data", phase: PhaseData, defs: []SymbolDef{sym("DATA", 1)}, emit: []Symbol{{Name: "DATA"}}}
	e, _ := New(Options{Checks: []Check{conn, data}, Policy: DefaultPolicy()})
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseHelo, func(tx *Transaction) { tx.Helo = "mx.example.org" })
	s.Update(PhaseData, func(tx *Transaction) {
		tx.MailFrom = "a@example.org"
		tx.Message = message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))
	})
	if v := s.Verdict(context.Background(), true); v.Score != 2 {
		t.Fatalf("first message score = %v", v.Score)
	}
	n := s.Next()
	tx := n.Transaction()
	if tx.Helo != "mx.example.org" || tx.MailFrom != "" || tx.Message != nil {
		t.Fatalf("next transaction = %+v", tx)
	}
	v := n.Verdict(context.Background(), true)
	if v.Score != 1 || v.Symbols[0].Name != "CONN" {
		t.Fatalf("next scan before data = %+v", v.Symbols)
	}
}

func TestSpamHeadersAndRewrite(t *testing.T) {
	c := &fakeCheck{name: "c", phase: PhaseData, defs: []SymbolDef{sym("S", 7)}, emit: []Symbol{{Name: "S"}}}
	p := DefaultPolicy()
	p.Thresholds[RewriteSubject] = 6.5
	e, err := New(Options{Checks: []Check{c}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Scan(context.Background(), &Transaction{Message: message.Parse([]byte("Subject: hello\r\n\r\n"))})
	if v.Action != RewriteSubject || v.SubjectRewrite != "*** SPAM *** hello" {
		t.Fatalf("verdict %v %q", v.Action, v.SubjectRewrite)
	}
	found := false
	for _, h := range v.AddHeaders {
		if h.Name == "X-Spam" && h.Value == "Yes" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no X-Spam header: %+v", v.AddHeaders)
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"add_header", "add header", "Soft_Reject", "no action"} {
		if _, ok := ParseAction(s); !ok {
			t.Errorf("ParseAction(%q) failed", s)
		}
	}
	if _, ok := ParseAction("discard"); ok {
		t.Error("unknown action parsed")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// quietCheck says it never forces.
type quietCheck struct{ fakeCheck }

func (q *quietCheck) MayForce() bool { return false }

// TestEarlyVerdictWaitsOnlyForForcers: a slow check that cannot force
// does not hold an early verdict (it takes an hour: an early verdict that
// waited for it would hang the test); the policy's [force] table makes it
// a forcer again, and the early verdict waits for its HELO_BAD.
func TestEarlyVerdictWaitsOnlyForForcers(t *testing.T) {
	slowCheck := func(d time.Duration) *quietCheck {
		return &quietCheck{fakeCheck{name: "helo", phase: PhaseHelo, delay: d,
			defs: []SymbolDef{sym("HELO_BAD", 1)}, emit: []Symbol{{Name: "HELO_BAD"}}}}
	}
	e, _ := New(Options{Checks: []Check{slowCheck(time.Hour)}, Policy: DefaultPolicy()})
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseHelo, nil)
	if v := s.Verdict(context.Background(), false); v.Action != NoAction {
		t.Fatalf("early verdict %v", v.Action)
	}
	slow := slowCheck(50 * time.Millisecond)
	p := DefaultPolicy()
	p.Force = map[string]Action{"HELO_BAD": Reject}
	e, _ = New(Options{Checks: []Check{slow}, Policy: p})
	s = e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseHelo, nil)
	if v := s.Verdict(context.Background(), false); v.Action != Reject || v.ForcedBy != "HELO_BAD" {
		t.Fatalf("[force] HELO_BAD: early verdict %v by %q", v.Action, v.ForcedBy)
	}
}

type countObserver struct{ n, early int }

func (c *countObserver) Observe(tx *Transaction, v *Verdict, _ time.Duration) {
	c.n++
	if !v.Final {
		c.early++
	}
}

// TestEarlyRejectObserved: a transaction refused early is counted once, so
// that statistics include the mail refused before DATA; an early verdict
// without a forced action is not counted.
func TestEarlyRejectObserved(t *testing.T) {
	block := &fakeCheck{name: "block", phase: PhaseConnect, defs: []SymbolDef{sym("BLOCK", 0)},
		emit: []Symbol{{Name: "BLOCK", Force: Reject}}}
	obs := &countObserver{}
	e, _ := New(Options{Checks: []Check{block}, Policy: DefaultPolicy(), Observers: []Observer{obs}, Logger: discardLogger()})
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseConnect, nil)
	if v := s.Verdict(context.Background(), false); v.Action != Reject {
		t.Fatalf("early verdict %v", v.Action)
	}
	if obs.n != 1 || obs.early != 1 {
		t.Fatalf("observed %d (%d early), want 1 early", obs.n, obs.early)
	}
	quiet := &fakeCheck{name: "quiet", phase: PhaseConnect}
	obs = &countObserver{}
	e, _ = New(Options{Checks: []Check{quiet}, Policy: DefaultPolicy(), Observers: []Observer{obs}, Logger: discardLogger()})
	s = e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseConnect, nil)
	s.Verdict(context.Background(), false)
	if obs.n != 0 {
		t.Fatalf("an early verdict without action was observed")
	}
}

// The one log line per message names the symbol that forced the action,
// so that "action=reject score=5.5" is not a riddle in the journal.
func TestLogLineNamesForcedBy(t *testing.T) {
	for _, tt := range []struct {
		name  string
		force Action
		want  string // "" : no forced_by at all
	}{
		{"forced", Reject, "action=reject score=0.5 forced_by=GTUBE symbols=GTUBE "},
		{"not forced", NoAction, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := &fakeCheck{name: "gtube", phase: PhaseData, defs: []SymbolDef{sym("GTUBE", 0.5)},
				emit: []Symbol{{Name: "GTUBE", Force: tt.force}}}
			e, err := New(Options{Checks: []Check{c}, Policy: DefaultPolicy(), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			if err != nil {
				t.Fatal(err)
			}
			e.Scan(context.Background(), &Transaction{QueueID: "Q1"})
			line := buf.String()
			if !strings.Contains(line, "msg=scanned") {
				t.Fatalf("no scanned line in %q", line)
			}
			if tt.want == "" && strings.Contains(line, "forced_by") || tt.want != "" && !strings.Contains(line, tt.want) {
				t.Errorf("log line %q, want %q", line, tt.want)
			}
		})
	}
}
