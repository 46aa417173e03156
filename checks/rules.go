package checks

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/iprev"
	"github.com/hamlet-mail/hamlet/rules"
)

// CheckRules is the name of the local rules check.
const CheckRules = "rules"

// RuleFilesConfig is the [rule_files] section: further files of
// [[rules]] tables, and how often list files are looked at for changes.
type RuleFilesConfig struct {
	// Include are rule files or globs, relative to the configuration
	// file's directory, read in name order after the file's own rules.
	Include []string `toml:"include"`
	// CheckInterval is how often the list files are looked at for a new
	// modification time; 0 turns that off (SIGHUP still reloads them).
	CheckInterval duration.Duration `toml:"check_interval"`
}

// DefaultRuleFilesConfig: no include, lists looked at every 30 s.
func DefaultRuleFilesConfig() RuleFilesConfig {
	return RuleFilesConfig{CheckInterval: duration.Duration(rules.DefaultCheckInterval)}
}

// Validate checks the section.
func (c *RuleFilesConfig) Validate() error {
	if c.CheckInterval < 0 {
		return fmt.Errorf("check_interval: must not be negative")
	}
	return nil
}

// LoadRules reads the rules of the configuration file (specs, decoded
// from its [[rules]] tables; file and text place them) and of the files
// it includes, and compiles them with the list files of lists (nil: a
// registry of their own). registered says which checks the engine has:
// a rule reading SPF, DKIM or DMARC results waits for that check.
func LoadRules(specs []rules.Spec, cfg RuleFilesConfig, file, text string, lists *rules.Lists, registered func(string) bool) (*Rules, error) {
	all := append([]rules.Spec(nil), specs...)
	rules.Locate(file, text, all)
	inc, empty, err := rules.LoadFiles(filepath.Dir(file), cfg.Include)
	if err != nil {
		return nil, err
	}
	all = append(all, inc...)
	if lists == nil {
		lists = rules.NewLists(nil)
	}
	lists.SetCheckInterval(cfg.CheckInterval.D())
	set, err := rules.Compile(all, rules.Options{Lists: lists, ValidAction: func(a string) bool {
		act, ok := engine.ParseAction(a)
		return ok && act != engine.NoAction
	}})
	if err != nil {
		return nil, err
	}
	r := NewRules(set, registered)
	r.emptyGlobs = empty
	return r, nil
}

// Rules is the local rules check ([[rules]]): it matches the postmaster's
// rules at the end of DATA, composes the composites over every check's
// symbols (engine.Composer), and applies the pre-results (PreResult).
type Rules struct {
	set     *rules.Set
	after   []string
	defs    []engine.SymbolDef
	actions map[string]engine.Action
	// accept and skipGrey name the rules with those pre-results.
	accept, skipGrey map[string]bool
	// emptyGlobs are the [rule_files] globs that matched no file.
	emptyGlobs []string
}

var (
	_ engine.Check    = (*Rules)(nil)
	_ engine.Forcer   = (*Rules)(nil)
	_ engine.Composer = (*Rules)(nil)
)

// NewRules builds the check for a compiled set.
func NewRules(set *rules.Set, registered func(string) bool) *Rules {
	r := &Rules{set: set, actions: map[string]engine.Action{}, accept: map[string]bool{}, skipGrey: map[string]bool{}}
	needs := set.Needs()
	for _, d := range []struct {
		need rules.Needs
		name string
	}{{rules.NeedSPF, "spf"}, {rules.NeedDKIM, "dkim"}, {rules.NeedDMARC, CheckDMARC}, {rules.NeedPTR, CheckIPRev}} {
		if needs&d.need != 0 && registered != nil && registered(d.name) {
			r.after = append(r.after, d.name)
		}
	}
	for _, rule := range set.Rules() {
		r.defs = append(r.defs, engine.SymbolDef{Name: rule.Name, Weight: rule.Weight, Description: rule.Description, Group: "rules"})
		if rule.Action != "" {
			r.actions[rule.Name], _ = engine.ParseAction(rule.Action)
		}
		switch rule.PreResult {
		case "accept":
			r.accept[rule.Name] = true
		case "skip_greylist":
			r.skipGrey[rule.Name] = true
		}
	}
	return r
}

func (*Rules) Name() string                  { return CheckRules }
func (*Rules) Phase() engine.Phase           { return engine.PhaseData }
func (r *Rules) After() []string             { return r.after }
func (r *Rules) Symbols() []engine.SymbolDef { return r.defs }
func (r *Rules) MayForce() bool              { return len(r.actions) > 0 }
func (r *Rules) symbol(rule *rules.Rule, opts []string) engine.Symbol {
	return engine.Symbol{Name: rule.Name, Options: opts, Force: r.actions[rule.Name], Message: rule.Message}
}

// Run implements engine.Check. Its Value is the []rules.Hit.
func (r *Rules) Run(_ context.Context, tx *engine.Transaction, deps engine.Results) engine.Result {
	in := &rules.Input{
		ClientIP: tx.ClientIP, Helo: tx.Helo, PTR: confirmedPTR(tx, deps), AuthUser: tx.AuthUser,
		MailFrom: tx.MailFrom, Rcpts: tx.Rcpts, Message: tx.Message,
		SPFDomain: SPFPassDomain(tx, deps),
	}
	if r.set.Needs()&rules.NeedContent != 0 {
		in.Content = tx.Content() // parsed once per scan, shared
	}
	if ds := DMARCPassDomains(tx, deps); len(ds) > 0 {
		in.DMARCDomain = ds[0]
	}
	if res, ok := engine.Value[[]dkim.Result](deps, "dkim"); ok {
		for _, d := range res {
			if d.Status == dkim.StatusPass {
				in.DKIMDomains = append(in.DKIMDomains, d.Domain)
			}
		}
	}
	hits := r.set.Eval(in)
	syms := make([]engine.Symbol, 0, len(hits))
	for _, h := range hits {
		syms = append(syms, r.symbol(h.Rule, h.Options()))
	}
	return engine.Result{Symbols: syms, Value: hits}
}

// confirmedPTR is the client's forward-confirmed PTR name (RFC 8601 §3
// iprev): the front end's when it says the name resolves back (as the
// greylist's allowlist reads it), else the name the iprev check
// confirmed; "" when there is none. An unconfirmed name is never used:
// anyone can publish any PTR name for an address they hold, and a ptr
// rule may accept or skip greylisting.
func confirmedPTR(tx *engine.Transaction, deps engine.Results) string {
	if tx.ClientPTR != "" && tx.RDNS == engine.FCrDNSPass {
		return tx.ClientPTR
	}
	if res, ok := engine.Value[*iprev.Result](deps, CheckIPRev); ok && res != nil && res.Status == iprev.Pass {
		return res.Name
	}
	return ""
}

// Compose implements engine.Composer: the composites that hold over the
// symbols of every check, each with its expression as option, and what
// they take from the symbols they combine (rules.Set.Compose). A rule with
// a pre_result keeps its symbol (its weight may go): the pre-result is
// applied from the verdict's symbols, and rspamd's composites do not
// touch pre-results either. A symbol that forces an action is kept by the
// engine in the same way.
func (r *Rules) Compose(_ *engine.Transaction, syms []engine.Symbol) engine.Composition {
	has := make(map[string]bool, len(syms))
	for _, s := range syms {
		has[s.Name] = true
	}
	held, removed := r.set.Compose(func(n string) bool { return has[n] })
	var c engine.Composition
	for _, h := range held {
		c.Add = append(c.Add, r.symbol(h, []string{h.Expression}))
	}
	for name, rm := range removed {
		var e engine.Removal
		if rm&rules.RemoveWeight != 0 {
			e |= engine.RemoveWeight
		}
		if rm&rules.RemoveSymbol != 0 && !r.accept[name] && !r.skipGrey[name] {
			e |= engine.RemoveSymbol
		}
		if e != 0 {
			if c.Remove == nil {
				c.Remove = map[string]engine.Removal{}
			}
			c.Remove[name] = e
		}
	}
	return c
}

// Unfiltered names the body rules whose expressions the pre-filter cannot
// skip (see rules.Set.Unfiltered).
func (r *Rules) Unfiltered() []string { return r.set.Unfiltered() }

// EmptyIncludes returns the [rule_files] include globs that matched no
// file (rules.LoadFiles): not an error, but worth a warning.
func (r *Rules) EmptyIncludes() []string { return r.emptyGlobs }

// UnknownSymbols returns the names the composites use that no check
// declares (known): most likely typos.
func (r *Rules) UnknownSymbols(known []engine.SymbolDef) []string {
	k := make(map[string]bool, len(known))
	for _, d := range known {
		k[d.Name] = true
	}
	var out []string
	for _, n := range r.set.Referenced() {
		if !k[n] {
			out = append(out, n)
		}
	}
	return out
}

// PreResult returns the finisher that applies the rules' pre-results. It
// must come before greylisting:
//
//   - accept: the action becomes no action, whatever the score and the
//     actions other checks force; an action a local rule forces stays
//     (an explicit local "reject .exe" beats an allowlisted network);
//   - skip_greylist: a greylist action becomes no action.
func (r *Rules) PreResult() engine.Finisher { return rulesPreResult{r} }

type rulesPreResult struct{ r *Rules }

func (p rulesPreResult) Name() string                { return "rules_pre_result" }
func (p rulesPreResult) Symbols() []engine.SymbolDef { return nil }

func (p rulesPreResult) Finish(_ context.Context, _ *engine.Transaction, _ engine.Results, v *engine.Verdict) error {
	var accept, skip *engine.ScoredSymbol
	for i := range v.Symbols {
		s := &v.Symbols[i]
		if p.r.accept[s.Name] && accept == nil {
			accept = s
		}
		if p.r.skipGrey[s.Name] && skip == nil {
			skip = s
		}
	}
	switch {
	case accept != nil && v.Action != engine.NoAction:
		if _, local := p.r.actions[v.ForcedBy]; local {
			return nil
		}
		accept.Options = append(accept.Options, "pre-result accept (was "+v.Action.String()+")")
		v.Action, v.Reply, v.ForcedBy = engine.NoAction, "", ""
	case skip != nil && v.Action == engine.Greylist:
		skip.Options = append(skip.Options, "pre-result skip_greylist")
		v.Action, v.Reply = engine.NoAction, ""
	}
	return nil
}
