package controller

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/rules"
	"github.com/hamlet-mail/hamlet/store"
)

// hardCheck forces reject with its own hard rule when the HELO is
// "hard.example".
type hardCheck struct{}

func (hardCheck) Name() string        { return "hard" }
func (hardCheck) Phase() engine.Phase { return engine.PhaseMail }
func (hardCheck) After() []string     { return nil }
func (hardCheck) MayForce() bool      { return true }
func (hardCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{{Name: "HARD_HELO", Weight: 1, Description: "The HELO is hard", Group: "hard"}}
}
func (hardCheck) Run(_ context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	if tx.Helo != "hard.example" {
		return engine.Result{}
	}
	return engine.Result{Symbols: []engine.Symbol{{Name: "HARD_HELO", Force: engine.Reject}}}
}

// The "Why" box names the setting that forced the action: a [[rules]]
// table's action, an entry of [force], or the check's own hard rule.
func TestExplainForcedBy(t *testing.T) {
	set, err := rules.Compile([]rules.Spec{{Name: "LOCAL_BAD_HELO", Field: "helo", Values: []string{"bad.example"}, Action: "reject", Weight: 1.5}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol := engine.DefaultPolicy()
	pol.Force = map[string]engine.Action{"TEST_TAG": engine.SoftReject}
	eng, err := engine.New(engine.Options{Checks: []engine.Check{wordCheck{}, hardCheck{}, checks.NewRules(set, nil)}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		helo, from string
		forcedBy   string
		want       string
	}{
		{"bad.example", "a@example.org", "LOCAL_BAD_HELO", `LOCAL_BAD_HELO forces reject whatever the score: it is a local rule, and its [[rules]] table (name = "LOCAL_BAD_HELO") says action = "reject".`},
		{"mail.example.org", "tag@example.org", "TEST_TAG", `TEST_TAG forces soft reject whatever the score: [force] in the configuration says TEST_TAG = "soft_reject".`},
		{"hard.example", "a@example.org", "HARD_HELO", `HARD_HELO forces reject whatever the score: it is a hard rule of the check that gives it`},
	} {
		t.Run(tt.forcedBy, func(t *testing.T) {
			v := eng.Scan(context.Background(), &engine.Transaction{QueueID: "Q1", ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: tt.helo, MailFrom: tt.from,
				Rcpts: []string{"u@example.com"}, Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))})
			if v.ForcedBy != tt.forcedBy {
				t.Fatalf("scan forced by %q (%v, %v), want %q", v.ForcedBy, v.Action, v.Symbols, tt.forcedBy)
			}
			rec := store.HistoryRecord{Action: v.Action.String(), Score: v.Score, ForcedBy: v.ForcedBy}
			for _, s := range v.Symbols {
				rec.Symbols = append(rec.Symbols, s.Name)
				rec.Hits = append(rec.Hits, store.HistoryHit{Score: s.Score, Weight: s.Score})
			}
			ex := Explain(rec, eng)
			dec := strings.Join(ex.Decision, "\n")
			if !strings.Contains(dec, tt.want) {
				t.Errorf("decision:\n%s\nwant it to contain:\n%s", dec, tt.want)
			}
			if tt.forcedBy != "LOCAL_BAD_HELO" && strings.Contains(dec, "[[rules]]") {
				t.Errorf("decision names [[rules]] for a symbol not of the rules check:\n%s", dec)
			}
		})
	}
}

// A symbol line says what the symbol did; one of weight 0 says what it
// means, not that it "counted nothing".
func TestSymbolText(t *testing.T) {
	for _, tt := range []struct {
		l      SymbolLine
		scored bool
		want   string
	}{
		{SymbolLine{Name: "TEST_SPAM", Score: 20, Weight: 20, Description: "The sender says spam.", Options: []string{"spam"}}, true, "TEST_SPAM added 20.00: The sender says spam [spam]."},
		{SymbolLine{Name: "R_SPF_ALLOW", Score: -0.2, Weight: -0.2}, true, "R_SPF_ALLOW took off 0.20."},
		{SymbolLine{Name: "BAYES_SPAM", Score: 3.5, Weight: 5.1}, true, "BAYES_SPAM added 3.50 (weight 5.10 × 0.69)."},
		{SymbolLine{Name: "TEST_TAG", Weight: 7}, true, "TEST_TAG added nothing (weight 7.00, times 0)."},
		{SymbolLine{Name: "TEST_TAG", Weight: 7}, false, "TEST_TAG (its score was not recorded)."},
		{SymbolLine{Name: "GREYLIST", Description: "Greylisting: greylisted until a time, or passed", Options: []string{"greylisted", "Thu, 03 Dec 2026 11:42:54 UTC"}}, true,
			"GREYLIST: greylisted until Thu, 03 Dec 2026 11:42:54 UTC; a retry from then on passes."},
		{SymbolLine{Name: "GREYLIST", Options: []string{"pass", "retry"}}, true, "GREYLIST: passed: retried after the delay."},
		{SymbolLine{Name: "GREYLIST", Options: []string{"pass", "known"}}, true, "GREYLIST: passed: this client, sender and recipient passed before."},
		{SymbolLine{Name: "GREYLIST", Options: []string{"pass", "allowlisted", "net:192.0.2.0/24"}}, true, "GREYLIST: passed: allowlisted (net:192.0.2.0/24)."},
		{SymbolLine{Name: "GREYLIST", Options: []string{"pass", "something new"}}, true, "GREYLIST: passed: something new."},
		{SymbolLine{Name: "GREYLIST_ERROR", Description: "Greylisting skipped: its store failed (mail accepted)", Options: []string{"greylist: timeout"}}, true,
			"GREYLIST_ERROR: Greylisting skipped: its store failed (mail accepted) [greylist: timeout]. For information only: it adds nothing to the score."},
		{SymbolLine{Name: "ARC_NA"}, true, "ARC_NA: for information only, it adds nothing to the score."},
	} {
		if got := symbolText(tt.l, tt.scored, false); got != tt.want {
			t.Errorf("%s %v:\n got %q\nwant %q", tt.l.Name, tt.l.Options, got, tt.want)
		}
	}
	// A symbol of weight 0 that forced the action (GTUBE, CLAM_VIRUS) did
	// something: it is not "for information only".
	for _, tt := range []struct {
		l    SymbolLine
		want string
	}{
		{SymbolLine{Name: "GTUBE", Description: "Test pattern (GTUBE) in a text part; forces reject, as in rspamd."},
			"GTUBE: Test pattern (GTUBE) in a text part; forces reject, as in rspamd. It adds nothing to the score, but it forced the action (see the decision)."},
		{SymbolLine{Name: "CLAM_VIRUS", Options: []string{"Eicar-Test-Signature"}},
			"CLAM_VIRUS [Eicar-Test-Signature]. It adds nothing to the score, but it forced the action (see the decision)."},
		{SymbolLine{Name: "TEST_SPAM", Score: 20, Weight: 20}, "TEST_SPAM added 20.00."},
	} {
		if got := symbolText(tt.l, true, true); got != tt.want {
			t.Errorf("forced %s:\n got %q\nwant %q", tt.l.Name, got, tt.want)
		}
	}
}
