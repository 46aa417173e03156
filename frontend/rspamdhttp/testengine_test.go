package rspamdhttp

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// The test engine's checks are small and honest: each turns part of the
// transaction into symbols, so that a reply shows what the handler put
// into the transaction.

// envelopeCheck reports the envelope and connection data it received as
// the options of TEST_ENVELOPE (weight 0), and RDNS_NONE when the front
// end said the client has no rDNS.
type envelopeCheck struct{}

func (envelopeCheck) Name() string        { return "envelope" }
func (envelopeCheck) Phase() engine.Phase { return engine.PhaseRcpt }
func (envelopeCheck) After() []string     { return nil }
func (envelopeCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: "TEST_ENVELOPE", Weight: 0, Description: "What the front end passed"},
		{Name: "RDNS_NONE", Weight: 2, Description: "Delivered to MX from a host without rDNS", Group: "hfilter"},
	}
}
func (envelopeCheck) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	ip := "-"
	if tx.ClientIP.IsValid() {
		ip = tx.ClientIP.String()
	}
	opts := []string{
		"ip=" + ip,
		"helo=" + tx.Helo,
		"ptr=" + tx.ClientPTR,
		"rdns=" + strconv.Itoa(int(tx.RDNS)),
		"from=" + tx.MailFrom,
		"rcpts=" + strings.Join(tx.Rcpts, ";"),
		"user=" + tx.AuthUser,
		"queue=" + tx.QueueID,
		"mta=" + tx.MTAName,
	}
	syms := []engine.Symbol{{Name: "TEST_ENVELOPE", Options: opts}}
	if tx.RDNS == engine.FCrDNSNone {
		syms = append(syms, engine.Symbol{Name: "RDNS_NONE"})
	}
	return engine.Result{Symbols: syms}
}

// contentCheck emits the symbols named in the message's X-Test-Symbols
// field ("NAME" or "NAME*multiplier", comma-separated), and TEST_EMPTY
// for a message without header fields.
type contentCheck struct{}

func (contentCheck) Name() string        { return "content" }
func (contentCheck) Phase() engine.Phase { return engine.PhaseData }
func (contentCheck) After() []string     { return nil }
func (contentCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: "TEST_SPAM", Weight: 7, Description: "Spammy content"},
		{Name: "TEST_HAM", Weight: -1.5, Description: "Hammy content"},
		{Name: "TEST_BIG", Weight: 16, Description: "Very spammy content"},
		{Name: "TEST_SMALL", Weight: 0.33},
		{Name: "TEST_QUOTE", Weight: 0.1, Description: `Has "quotes", a \ and a tab	too`},
		{Name: "TEST_EMPTY", Weight: 1, Description: "Message has no header fields"},
		{Name: "TEST_FORCE", Weight: 0, Description: "Forces a reject"},
		{Name: "TEST_SOFT", Weight: 0, Description: "Forces a soft reject"},
	}
}
func (contentCheck) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	var syms []engine.Symbol
	if tx.Message == nil || len(tx.Message.Fields) == 0 {
		syms = append(syms, engine.Symbol{Name: "TEST_EMPTY"})
	}
	if tx.Message == nil {
		return engine.Result{Symbols: syms}
	}
	for _, f := range tx.Message.Get("X-Test-Symbols") {
		v := f.Unfolded()
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			s := engine.Symbol{Name: item}
			if name, m, ok := strings.Cut(item, "*"); ok {
				s.Name = name
				s.Multiplier, _ = strconv.ParseFloat(m, 64)
			}
			if name, opt, ok := strings.Cut(s.Name, "="); ok {
				s.Name = name
				s.Options = []string{opt}
			}
			switch s.Name {
			case "TEST_FORCE":
				s.Force, s.Message = engine.Reject, "5.7.1 Forced by test"
			case "TEST_SOFT":
				s.Force, s.Message = engine.SoftReject, "4.7.1 Come back later"
			}
			syms = append(syms, s)
		}
	}
	return engine.Result{Symbols: syms}
}

// editFinisher adds header edits and DKIM signatures as the signing and
// Authentication-Results finishers will: an Authentication-Results field
// for every message, removals for X-Test-Remove indexes, and one DKIM
// signature per X-Test-Sign field of an authenticated sender.
type editFinisher struct{}

func (editFinisher) Name() string                { return "edits" }
func (editFinisher) Symbols() []engine.SymbolDef { return nil }
func (editFinisher) Finish(ctx context.Context, tx *engine.Transaction, _ engine.Results, v *engine.Verdict) error {
	if tx.Message == nil {
		return nil
	}
	v.AddHeaders = append(v.AddHeaders, engine.Header{Name: "Authentication-Results", Value: "mx.test; none"})
	for _, f := range tx.Message.Get("X-Test-Remove") {
		idx := f.Unfolded()
		name, i, _ := strings.Cut(idx, ":")
		n, _ := strconv.Atoi(i)
		v.RemoveHeaders = append(v.RemoveHeaders, engine.HeaderRemoval{Name: name, Index: n})
	}
	if tx.AuthUser != "" {
		for _, f := range tx.Message.Get("X-Test-Sign") {
			sel := f.Unfolded()
			v.DKIMSignatures = append(v.DKIMSignatures,
				"v=1; a=rsa-sha256; d=example.org; s="+sel+"; h=from;\r\n\tbh=AAAA; b=BBBB")
		}
	}
	return nil
}

// testEngine builds the engine the handler tests scan with: rspamd's
// default thresholds plus rewrite subject at 10.
func testEngine(t testing.TB) *engine.Engine {
	t.Helper()
	p := engine.DefaultPolicy()
	p.Thresholds[engine.RewriteSubject] = 10
	e, err := engine.New(engine.Options{
		Checks:    []engine.Check{envelopeCheck{}, contentCheck{}},
		Finishers: []engine.Finisher{editFinisher{}},
		Policy:    p,
		Timeout:   5 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
