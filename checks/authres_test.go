package checks

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/authres"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
)

func fullDeps() dmarcDeps {
	ip := netip.MustParseAddr("192.0.2.10")
	return dmarcDeps{
		"iprev": &iprev.Result{Status: iprev.Pass, IP: ip, Name: "mail.bank.example", Names: []string{"mail.bank.example"}},
		"spf":   spfRes(spf.Pass, "bank.example"),
		"dkim": []dkim.Result{
			dkimRes(dkim.StatusPass, "bank.example"),
			{Status: dkim.StatusFail, Domain: "esp.example", Selector: "k1", HeaderB: "Zm9v/bar", Reason: "body hash mismatch"},
			{Status: dkim.StatusPermError, Domain: "x.example", Skipped: true},
		},
		"dmarc": &DMARCOutcome{Result: dmarc.Result{Status: dmarc.StatusPass, FromDomain: "bank.example", RecordDomain: "bank.example",
			Policy: dmarc.PolicyReject, Disposition: dmarc.PolicyNone}},
		"arc": &arc.Result{Status: arc.None},
	}
}

func TestAuthResultsHeader(t *testing.T) {
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("::ffff:192.0.2.10"), MailFrom: "bounce@bank.example"}
	h := AuthResultsHeader("mx.example.org", tx, fullDeps())
	want := `mx.example.org; iprev=pass (mail.bank.example) policy.iprev=192.0.2.10; spf=pass smtp.mailfrom=bounce@bank.example; dkim=pass header.d=bank.example header.s=s1 header.b=AbCdEfGh; dkim=fail reason="body hash mismatch" header.d=esp.example header.s=k1 header.b="Zm9v/bar"; dmarc=pass (p=reject dis=none) header.from=bank.example polrec.p=reject; arc=none smtp.remote-ip=192.0.2.10`
	if got := h.String(); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	// what we write, we can read back
	back, err := authres.Parse(h.Fold())
	if err != nil || back.AuthServID != "mx.example.org" || len(back.Results) != 6 {
		t.Fatalf("parse back: %+v, %v", back, err)
	}
}

func TestAuthResultsHeaderVariants(t *testing.T) {
	tx := &engine.Transaction{Helo: "mta.example"}
	deps := dmarcDeps{
		"spf":  &spf.Result{Code: spf.None, Identity: spf.IdentityHelo, Helo: "mta.example", Domain: "mta.example"},
		"dkim": []dkim.Result(nil),
		"dmarc": &DMARCOutcome{Result: dmarc.Result{Status: dmarc.StatusFail, FromDomain: "news.bank.example", RecordDomain: "bank.example",
			Policy: dmarc.PolicyReject, Disposition: dmarc.PolicyReject}, ARCOverride: "lists.example.org"},
		"arc": &arc.Result{Status: arc.Pass, OldestPass: 2},
	}
	got := AuthResultsHeader("mx.example.org", tx, deps).String()
	want := `mx.example.org; spf=none smtp.helo=mta.example; dkim=none; dmarc=fail (p=reject dis=reject arc-override=lists.example.org) header.from=news.bank.example polrec.p=reject polrec.domain=bank.example; arc=pass header.oldest-pass=2`
	if got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	tx = &engine.Transaction{MailFrom: "a@temp.example"}
	deps = dmarcDeps{"spf": &spf.Result{Code: spf.TempError, Identity: spf.IdentityMailFrom, MailFrom: "a@temp.example", Problem: "DNS timeout for temp.example"}}
	got = AuthResultsHeader("mx", tx, deps).String()
	if got != `mx; spf=temperror reason="DNS timeout for temp.example" smtp.mailfrom=a@temp.example` {
		t.Errorf("temperror header %s", got)
	}
	if got := AuthResultsHeader("mx", tx, dmarcDeps{}).String(); got != "mx; none" {
		t.Errorf("no results: %s", got)
	}
}

func TestAuthResultsFinisher(t *testing.T) {
	raw := "Authentication-Results: mx.example.org; dkim=pass header.d=bank.example\r\n" +
		"Received: from somewhere\r\n" +
		"Authentication-Results: upstream.example; spf=pass smtp.mailfrom=bank.example\r\n" +
		"Authentication-Results: MX2.example.org; dmarc=pass header.from=bank.example\r\n" +
		"From: info@bank.example\r\n\r\nbody\r\n"
	f, err := NewAuthResults(AuthResConfig{Enabled: true, AuthServID: "mx.example.org", TrustedIDs: []string{"mx2.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() == "" || len(f.Symbols()) != 0 {
		t.Errorf("name %q symbols %v", f.Name(), f.Symbols())
	}
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.10"), Message: parseRaw(raw)}
	v := &engine.Verdict{}
	if err := f.Finish(context.Background(), tx, fullDeps(), v); err != nil {
		t.Fatal(err)
	}
	wantRemove := []engine.HeaderRemoval{{Name: "Authentication-Results", Index: 3}, {Name: "Authentication-Results", Index: 1}}
	if !slices.Equal(v.RemoveHeaders, wantRemove) {
		t.Errorf("removals %+v, want %+v", v.RemoveHeaders, wantRemove)
	}
	if len(v.AddHeaders) != 1 || v.AddHeaders[0].Name != "Authentication-Results" || !strings.HasPrefix(v.AddHeaders[0].Value, "mx.example.org;\r\n\t") {
		t.Fatalf("added %+v", v.AddHeaders)
	}
	for _, line := range strings.Split(v.AddHeaders[0].Value, "\r\n")[1:] {
		if !strings.HasPrefix(line, "\t") {
			t.Errorf("continuation line without WSP: %q", line)
		}
	}

	// Outbound mail: forged fields still go, no field is added.
	tx.Outbound = true
	v = &engine.Verdict{}
	if err := f.Finish(context.Background(), tx, fullDeps(), v); err != nil {
		t.Fatal(err)
	}
	if len(v.AddHeaders) != 0 || len(v.RemoveHeaders) != 2 {
		t.Errorf("outbound: added %v removed %v", v.AddHeaders, v.RemoveHeaders)
	}
	f.cfg.Outbound = true
	v = &engine.Verdict{}
	_ = f.Finish(context.Background(), tx, fullDeps(), v)
	if len(v.AddHeaders) != 1 {
		t.Errorf("outbound with Outbound on: added %v", v.AddHeaders)
	}

	// No message (early verdict or aborted transaction): nothing.
	v = &engine.Verdict{}
	_ = f.Finish(context.Background(), &engine.Transaction{}, fullDeps(), v)
	if len(v.AddHeaders) != 0 || len(v.RemoveHeaders) != 0 {
		t.Errorf("no message: %+v", v)
	}
	if _, err := NewAuthResults(AuthResConfig{Enabled: true}); err == nil {
		t.Error("empty authserv-id accepted")
	}
}

// stubDKIM stands in for the DKIM check in the engine test.
type stubDKIM struct{ res []dkim.Result }

func (s stubDKIM) Name() string                { return "dkim" }
func (s stubDKIM) Phase() engine.Phase         { return engine.PhaseData }
func (s stubDKIM) After() []string             { return nil }
func (s stubDKIM) Symbols() []engine.SymbolDef { return nil }
func (s stubDKIM) Run(context.Context, *engine.Transaction, engine.Results) engine.Result {
	return engine.Result{Value: s.res}
}

// TestDMARCInEngine runs the real SPF check, a stub DKIM check, the DMARC
// check and the Authentication-Results finisher through the engine.
func TestDMARCInEngine(t *testing.T) {
	mock := dmarcMock()
	mock.TXT["bank.example"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
	mock.TXT["evil.example"] = []string{"v=spf1 +all"}
	build := func(cfg DMARCConfig, sigs []dkim.Result) *engine.Engine {
		d, err := NewDMARC(cfg, mock)
		if err != nil {
			t.Fatal(err)
		}
		ar, err := NewAuthResults(DefaultAuthResConfig("mx.example.org"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Options{
			Checks:    []engine.Check{NewSPF(mock), stubDKIM{sigs}, d},
			Finishers: []engine.Finisher{ar},
			Policy:    engine.DefaultPolicy(),
			Timeout:   2 * time.Second,
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	scan := func(e *engine.Engine, ip, mailFrom, raw string) *engine.Verdict {
		s := e.NewScan(context.Background())
		defer s.Close()
		s.Update(engine.PhaseConnect, func(tx *engine.Transaction) { tx.ClientIP = netip.MustParseAddr(ip) })
		s.Update(engine.PhaseHelo, func(tx *engine.Transaction) { tx.Helo = "mta.example" })
		s.Update(engine.PhaseMail, func(tx *engine.Transaction) { tx.MailFrom = mailFrom })
		s.Update(engine.PhaseRcpt, func(tx *engine.Transaction) { tx.Rcpts = []string{"u@example.org"} })
		s.Update(engine.PhaseData, func(tx *engine.Transaction) { tx.Message = parseRaw(raw) })
		return s.Verdict(context.Background(), true)
	}
	forged := "Authentication-Results: mx.example.org; dmarc=pass header.from=bank.example\r\nFrom: info@bank.example\r\nSubject: pay\r\n\r\nplease\r\n"

	v := scan(build(DefaultDMARCConfig(), nil), "203.0.113.9", "x@evil.example", forged)
	if v.Action != engine.Reject || v.ForcedBy != SymDMARCReject || !strings.Contains(v.Reply, "bank.example") {
		t.Errorf("forged mail: action %v forced by %q reply %q", v.Action, v.ForcedBy, v.Reply)
	}
	if len(v.RemoveHeaders) != 1 || v.RemoveHeaders[0].Index != 1 {
		t.Errorf("forged A-R not removed: %+v", v.RemoveHeaders)
	}
	if len(v.AddHeaders) == 0 || !strings.Contains(v.AddHeaders[0].Value, "dmarc=fail") {
		t.Errorf("added %+v", v.AddHeaders)
	}

	scoreOnly := DefaultDMARCConfig()
	scoreOnly.Reject = false
	v = scan(build(scoreOnly, nil), "203.0.113.9", "x@evil.example", forged)
	if v.ForcedBy != "" || !hasScored(v, SymDMARCReject, 2.0) {
		t.Errorf("score only: forced by %q symbols %+v", v.ForcedBy, v.Symbols)
	}

	v = scan(build(DefaultDMARCConfig(), []dkim.Result{dkimRes(dkim.StatusPass, "bank.example")}), "203.0.113.9", "x@evil.example", forged)
	if v.Action == engine.Reject || !hasScored(v, SymDMARCAllow, -0.5) {
		t.Errorf("signed mail: action %v symbols %+v", v.Action, v.Symbols)
	}

	v = scan(build(DefaultDMARCConfig(), nil), "192.0.2.20", "bounce@bank.example", forged)
	if v.Action == engine.Reject || !hasScored(v, SymDMARCAllow, -0.5) {
		t.Errorf("SPF-aligned mail: action %v symbols %+v", v.Action, v.Symbols)
	}
	if !strings.Contains(v.AddHeaders[0].Value, "spf=pass smtp.mailfrom=bounce@bank.example") {
		t.Errorf("A-R %q", v.AddHeaders[0].Value)
	}
}

func hasScored(v *engine.Verdict, name string, score float64) bool {
	for _, s := range v.Symbols {
		if s.Name == name && s.Score == score {
			return true
		}
	}
	return false
}

func parseRaw(raw string) *message.Message { return message.Parse([]byte(raw)) }

func TestDMARCTimeoutIsDNSFail(t *testing.T) {
	mock := dmarcMock()
	mock.Delay = time.Second
	c, err := NewDMARC(DefaultDMARCConfig(), mock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := c.Run(ctx, &engine.Transaction{Message: msg("From: a@bank.example\r\n")}, dmarcDeps{})
	if res.Symbols[0].Name != SymDMARCDNSFail {
		t.Fatalf("symbols %+v", res.Symbols)
	}
	if out := res.Value.(*DMARCOutcome); !errors.Is(out.Result.Err, dmarc.ErrTemporary) {
		t.Errorf("err %v", out.Result.Err)
	}
}

// TestDMARCWithRealDKIM signs a message with ed25519, publishes the key,
// and runs the real SPF, DKIM, ARC and DMARC checks and the
// Authentication-Results finisher through the engine.
func TestDMARCWithRealDKIM(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mock := dmarcMock()
	mock.TXT["sel._domainkey.bank.example"] = []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	mock.TXT["esp.example"] = []string{"v=spf1 ip4:203.0.113.0/24 -all"}
	raw := "From: Bank <info@bank.example>\r\nTo: u@example.org\r\nSubject: statement\r\nDate: Thu, 26 Nov 2026 22:00:00 +0000\r\nMessage-ID: <1@bank.example>\r\n" +
		"Authentication-Results: mx.example.org; dmarc=pass\r\n\r\nYour statement is ready.\r\n"
	sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "bank.example", Selector: "sel", Signer: priv})
	if err != nil {
		t.Fatal(err)
	}
	signed := "DKIM-Signature:" + sig + "\r\n" + raw
	tampered := strings.Replace(signed, "Your statement", "Your invoice", 1)

	d, err := NewDMARC(DefaultDMARCConfig(), mock)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := NewAuthResults(DefaultAuthResConfig("mx.example.org"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{
		Checks:    []engine.Check{NewSPF(mock), NewDKIM(mock), NewARC(mock), d},
		Finishers: []engine.Finisher{ar},
		Policy:    engine.DefaultPolicy(),
		Timeout:   5 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(raw string) *engine.Verdict {
		s := e.NewScan(context.Background())
		defer s.Close()
		s.Update(engine.PhaseConnect, func(tx *engine.Transaction) { tx.ClientIP = netip.MustParseAddr("203.0.113.5") })
		s.Update(engine.PhaseMail, func(tx *engine.Transaction) { tx.Helo, tx.MailFrom = "out.esp.example", "b@esp.example" })
		s.Update(engine.PhaseData, func(tx *engine.Transaction) { tx.Message = parseRaw(raw) })
		return s.Verdict(context.Background(), true)
	}

	v := scan(signed)
	if v.Action == engine.Reject || !hasScored(v, SymDMARCAllow, -0.5) {
		t.Fatalf("signed: action %v symbols %+v errors %v", v.Action, v.Symbols, v.Errors)
	}
	if len(v.AddHeaders) != 1 {
		t.Fatalf("headers %+v", v.AddHeaders)
	}
	h, err := authres.Parse(v.AddHeaders[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]authres.Result{}
	for _, r := range h.Results {
		got[r.Method] = r
	}
	b := sig[strings.Index(sig, "b=")+2:]
	if r := got["dkim"]; r.Result != "pass" || r.Prop("header", "d") != "bank.example" || r.Prop("header", "s") != "sel" || r.Prop("header", "b") != stripFold(b)[:8] {
		t.Errorf("dkim result %+v (b= %q)", r, b[:8])
	}
	if r := got["spf"]; r.Result != "pass" || r.Prop("smtp", "mailfrom") != "b@esp.example" {
		t.Errorf("spf result %+v", r)
	}
	if r := got["dmarc"]; r.Result != "pass" || r.Prop("header", "from") != "bank.example" || r.Prop("polrec", "p") != "reject" {
		t.Errorf("dmarc result %+v", r)
	}
	if r := got["arc"]; r.Result != "none" {
		t.Errorf("arc result %+v", r)
	}
	if len(v.RemoveHeaders) != 1 || v.RemoveHeaders[0].Index != 1 {
		t.Errorf("forged field not removed: %+v", v.RemoveHeaders)
	}

	v = scan(tampered)
	if v.Action != engine.Reject || v.ForcedBy != SymDMARCReject {
		t.Errorf("tampered: action %v forced by %q symbols %+v", v.Action, v.ForcedBy, v.Symbols)
	}
}

func stripFold(s string) string {
	return strings.NewReplacer("\r", "", "\n", "", "\t", "", " ", "").Replace(s)
}
