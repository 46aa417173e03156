package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/rules"
)

// emitter is a check that emits fixed symbols.
type emitter struct {
	defs []engine.SymbolDef
	emit []engine.Symbol
}

func (*emitter) Name() string                  { return "emitter" }
func (*emitter) Phase() engine.Phase           { return engine.PhaseConnect }
func (*emitter) After() []string               { return nil }
func (e *emitter) Symbols() []engine.SymbolDef { return e.defs }
func (e *emitter) Run(context.Context, *engine.Transaction, engine.Results) engine.Result {
	return engine.Result{Symbols: e.emit}
}

func rulesEngine(t *testing.T, specs []rules.Spec, other *emitter, force map[string]engine.Action) *engine.Engine {
	t.Helper()
	set, err := rules.Compile(specs, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRules(set, nil)
	p := engine.DefaultPolicy()
	p.Thresholds[engine.Greylist] = 0
	p.Force = force
	e, err := engine.New(engine.Options{Checks: []engine.Check{other, r}, Composers: []engine.Composer{r},
		Finishers: []engine.Finisher{r.PreResult()}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRulesPreResults: accept beats the score and other checks' forced
// actions but not a local rule's; skip_greylist only undoes greylist; a
// composite over another check's symbol forces its action.
func TestRulesPreResults(t *testing.T) {
	specs := []rules.Spec{
		{Name: "ALLOW_NET", Field: "ip", Values: []string{"192.0.2.0/24"}, PreResult: "accept", Weight: -1},
		{Name: "EXE", Field: "attachment_name", Match: "glob", Values: []string{"*.exe"}, Action: "reject", Message: "5.7.1 no exe"},
		{Name: "VIP", Field: "rcpt", Values: []string{"boss@example.org"}, PreResult: "skip_greylist"},
		{Name: "NO_PTR_AND_VIP", Expression: "RDNS_NONE & VIP", Action: "soft_reject", Message: "4.7.1 later"},
	}
	other := &emitter{defs: []engine.SymbolDef{{Name: "RDNS_NONE", Weight: 2}, {Name: "BIG", Weight: 20}}}
	exe := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.exe\r\n\r\nx\r\n--b--\r\n"
	tests := []struct {
		name   string
		ip     string
		rcpt   string
		emit   []string
		force  map[string]engine.Action
		body   string
		action engine.Action
		forced string
	}{
		{"accept beats the score", "192.0.2.9", "a@example.org", []string{"BIG"}, nil, "", engine.NoAction, ""},
		{"accept beats another check's force", "192.0.2.9", "a@example.org", []string{"RDNS_NONE"}, map[string]engine.Action{"RDNS_NONE": engine.Reject}, "", engine.NoAction, ""},
		{"a local force beats accept", "192.0.2.9", "a@example.org", nil, nil, exe, engine.Reject, "EXE"},
		{"not in the network", "198.51.100.1", "a@example.org", []string{"BIG"}, nil, "", engine.Reject, ""},
		{"skip greylisting", "198.51.100.1", "boss@example.org", nil, nil, "", engine.NoAction, ""},
		{"greylisted without it", "198.51.100.1", "a@example.org", nil, nil, "", engine.Greylist, ""},
		{"skip_greylist does not lower a reject", "198.51.100.1", "boss@example.org", []string{"BIG", "RDNS_NONE"}, nil, "", engine.Reject, ""},
		{"composite forces", "198.51.100.1", "boss@example.org", []string{"RDNS_NONE"}, nil, "", engine.SoftReject, "NO_PTR_AND_VIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other.emit = nil
			for _, n := range tt.emit {
				other.emit = append(other.emit, engine.Symbol{Name: n})
			}
			e := rulesEngine(t, specs, other, tt.force)
			body := tt.body
			if body == "" {
				body = "Subject: x\r\n\r\nhi\r\n"
			}
			v := e.Scan(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr(tt.ip), Rcpts: []string{tt.rcpt},
				Message: message.Parse([]byte(body))})
			if v.Action != tt.action || v.ForcedBy != tt.forced {
				t.Fatalf("action %v forced by %q, want %v by %q (%+v)", v.Action, v.ForcedBy, tt.action, tt.forced, v.Symbols)
			}
		})
	}
}

// TestRulesCompositePolicies: a composite takes the symbols it names as
// rspamd's do, through the engine: the score and the listed symbols show
// it; a symbol that forces an action and a rule with a pre-result keep
// their effect (only their weight goes).
func TestRulesCompositePolicies(t *testing.T) {
	other := &emitter{defs: []engine.SymbolDef{{Name: "DMARC_POLICY_QUARANTINE", Weight: 1.5}, {Name: "RDNS_NONE", Weight: 2}, {Name: "R_DKIM_ALLOW", Weight: -0.2}}}
	tests := []struct {
		name   string
		spec   rules.Spec
		emit   []string
		force  map[string]engine.Action
		listed string
		score  float64
		action engine.Action
	}{
		{"remove_all (default)", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & !R_DKIM_ALLOW"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, nil, "COMP:4 RDNS_NONE:2", 6, engine.AddHeader},
		{"does not hold", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & !R_DKIM_ALLOW"},
			[]string{"DMARC_POLICY_QUARANTINE", "R_DKIM_ALLOW"}, nil, "DMARC_POLICY_QUARANTINE:1.5 R_DKIM_ALLOW:-0.2", 1.3, engine.Greylist},
		{"leave", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & RDNS_NONE", Policy: "leave"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, nil, "COMP:4 DMARC_POLICY_QUARANTINE:1.5 RDNS_NONE:2", 7.5, engine.AddHeader},
		{"remove_weight", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & RDNS_NONE", Policy: "remove_weight"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, nil, "COMP:4 DMARC_POLICY_QUARANTINE:0 RDNS_NONE:0", 4, engine.Greylist},
		{"remove_symbol", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & RDNS_NONE", Policy: "remove_symbol"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, nil, "COMP:4", 7.5, engine.AddHeader},
		{"~ and -", rules.Spec{Expression: "~DMARC_POLICY_QUARANTINE & -RDNS_NONE"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, nil, "COMP:4 DMARC_POLICY_QUARANTINE:0 RDNS_NONE:2", 6, engine.AddHeader},
		{"a forcing symbol keeps its action", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & RDNS_NONE"},
			[]string{"DMARC_POLICY_QUARANTINE", "RDNS_NONE"}, map[string]engine.Action{"RDNS_NONE": engine.Reject}, "COMP:4 RDNS_NONE:0", 4, engine.Reject},
		{"a pre-result rule keeps its effect", rules.Spec{Expression: "DMARC_POLICY_QUARANTINE & VIP"},
			[]string{"DMARC_POLICY_QUARANTINE"}, nil, "COMP:4 VIP:0", 4, engine.NoAction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other.emit = nil
			for _, n := range tt.emit {
				other.emit = append(other.emit, engine.Symbol{Name: n})
			}
			comp := tt.spec
			comp.Name, comp.Weight = "COMP", 4
			specs := []rules.Spec{comp, {Name: "VIP", Field: "rcpt", Values: []string{"boss@example.org"}, PreResult: "skip_greylist", Weight: 0.5}}
			e := rulesEngine(t, specs, other, tt.force)
			rcpt := "a@example.org"
			if strings.Contains(tt.spec.Expression, "VIP") {
				rcpt = "boss@example.org"
			}
			v := e.Scan(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Rcpts: []string{rcpt},
				Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))})
			var got []string
			for _, s := range v.Symbols {
				got = append(got, fmt.Sprintf("%s:%g", s.Name, s.Score))
			}
			if strings.Join(got, " ") != tt.listed || v.Score != tt.score || v.Action != tt.action {
				t.Fatalf("%q score %g action %v, want %q %g %v", got, v.Score, v.Action, tt.listed, tt.score, tt.action)
			}
		})
	}
}

// results is a fixed engine.Results.
type results map[string]any

func (r results) Get(name string) (any, bool) { v, ok := r[name]; return v, ok }

// TestRulesInputs: the PTR name comes from the front end, else from the
// iprev check (which the rule then waits for); SPF, DKIM and DMARC
// results give the auth fields.
func TestRulesInputs(t *testing.T) {
	set, err := rules.Compile([]rules.Spec{
		{Name: "DYN", Field: "ptr", Match: "glob", Values: []string{"*.dyn.*"}},
		{Name: "SIGNED", Field: "dkim_domain", Values: []string{"esp.example"}},
	}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRules(set, func(n string) bool { return n == CheckIPRev || n == "dkim" })
	if got := r.After(); len(got) != 2 || got[0] != "dkim" || got[1] != CheckIPRev {
		t.Fatalf("After() = %q", got)
	}
	deps := results{
		CheckIPRev: &iprev.Result{Status: iprev.Pass, Names: []string{"other.example", "host7.dyn.isp.example"}, Name: "host7.dyn.isp.example"},
		"dkim":     []dkim.Result{{Status: dkim.StatusFail, Domain: "other.example"}, {Status: dkim.StatusPass, Domain: "esp.example"}},
	}
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))}
	res := r.Run(context.Background(), tx, deps)
	var got []string
	for _, s := range res.Symbols {
		got = append(got, s.Name+":"+s.Options[0])
	}
	if len(got) != 2 || got[0] != "DYN:ptr=host7.dyn.isp.example" || got[1] != "SIGNED:dkim_domain=esp.example" {
		t.Fatalf("symbols %q", got)
	}
	tx.ClientPTR, tx.RDNS = "mail.static.example", engine.FCrDNSPass
	if res := r.Run(context.Background(), tx, deps); len(res.Symbols) != 1 || res.Symbols[0].Name != "SIGNED" {
		t.Fatalf("the front end's PTR name did not win: %+v", res.Symbols)
	}
	// A name that does not resolve back is anybody's to publish: neither
	// the front end's (FORGED) nor iprev's unconfirmed one is matched.
	tx.ClientPTR, tx.RDNS = "host9.dyn.isp.example", engine.FCrDNSFail
	deps[CheckIPRev] = &iprev.Result{Status: iprev.Fail, Names: []string{"host9.dyn.isp.example"}}
	if res := r.Run(context.Background(), tx, deps); len(res.Symbols) != 1 || res.Symbols[0].Name != "SIGNED" {
		t.Fatalf("an unconfirmed PTR name was matched: %+v", res.Symbols)
	}
}

// TestRulesCompositeOfComposite: a composite that names another composite
// takes it as it takes any symbol (rspamd: C2 = "C1 & X" replaces C1 and
// X by C2), so C1 is neither listed nor scored when C2 holds.
func TestRulesCompositeOfComposite(t *testing.T) {
	other := &emitter{defs: []engine.SymbolDef{{Name: "RDNS_NONE", Weight: 2}, {Name: "HFILTER_HELO_IP", Weight: 1}, {Name: "MISSING_DATE", Weight: 1}},
		emit: []engine.Symbol{{Name: "RDNS_NONE"}, {Name: "HFILTER_HELO_IP"}, {Name: "MISSING_DATE"}}}
	specs := []rules.Spec{
		{Name: "C1", Expression: "RDNS_NONE & HFILTER_HELO_IP", Weight: 3},
		{Name: "C2", Expression: "C1 & MISSING_DATE", Weight: 5},
	}
	e := rulesEngine(t, specs, other, nil)
	v := e.Scan(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Rcpts: []string{"a@example.org"},
		Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))})
	var got []string
	for _, s := range v.Symbols {
		got = append(got, fmt.Sprintf("%s:%g", s.Name, s.Score))
	}
	if strings.Join(got, " ") != "C2:5" || v.Score != 5 {
		t.Fatalf("%q score %g, want [C2:5] 5", got, v.Score)
	}
}
