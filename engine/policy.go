package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Policy turns symbols into a score and an action, as rspamd's actions and
// metric settings do. The zero value has no thresholds; DefaultPolicy has
// rspamd's defaults.
type Policy struct {
	// Thresholds maps an action to the score from which it applies.
	// Actions without an entry never apply by score.
	Thresholds map[Action]float64
	// Weights overrides symbol weights by name ([symbols] in the config).
	Weights map[string]float64
	// Force maps a symbol name to the action it forces whenever it is
	// emitted, in addition to the force a check may set itself.
	Force map[string]Action
	// RejectMessage and SoftRejectMessage are the default SMTP reply texts.
	RejectMessage     string
	SoftRejectMessage string
	// SubjectPrefix is put before the Subject by the rewrite subject
	// action.
	SubjectPrefix string
}

// DefaultPolicy returns rspamd's default thresholds: reject 15, add header
// 6, greylist 4; rewrite subject and soft reject unset.
func DefaultPolicy() Policy {
	return Policy{
		Thresholds: map[Action]float64{
			Reject:    15,
			AddHeader: 6,
			Greylist:  4,
		},
		RejectMessage:     "5.7.1 Message rejected as spam",
		SoftRejectMessage: "4.7.1 Try again later",
		SubjectPrefix:     "*** SPAM *** ",
	}
}

// Validate checks that the thresholds are ordered as the actions are: a
// harder action must not start below a milder one.
func (p *Policy) Validate() error {
	prev, prevAct := math.Inf(-1), NoAction
	for a := Greylist; a <= Reject; a++ {
		t, ok := p.Thresholds[a]
		if !ok {
			continue
		}
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("threshold for %q is not a number", a)
		}
		if t < prev {
			return fmt.Errorf("threshold for %q (%.2f) is below the one for %q (%.2f)", a, t, prevAct, prev)
		}
		prev, prevAct = t, a
	}
	return nil
}

// Next returns the lowest threshold above action a's (e.g. for greylist,
// the add header threshold), and false when no harder action has one.
func (p *Policy) Next(a Action) (float64, bool) {
	for b := a + 1; b <= Reject; b++ {
		if t, ok := p.Thresholds[b]; ok {
			return t, true
		}
	}
	return 0, false
}

// table holds the symbol definitions known to an engine.
type table map[string]SymbolDef

func (p *Policy) weight(t table, name string) (float64, string) {
	d := t[name]
	if w, ok := p.Weights[name]; ok {
		return w, d.Description
	}
	return d.Weight, d.Description
}

// compose applies a Composition to syms: the symbols it takes entirely
// are dropped, the others marked, and its symbols appended. A symbol that
// forces an action is never dropped or hidden, only unweighted: a
// composite must not undo a DMARC reject, a virus or a local rule's
// action (in rspamd those are pre-results, which composites do not touch).
//
// What is taken may be one of the composition's own symbols: a composite
// that names another composite ("C1 & X") takes it like any symbol.
func (e *Engine) compose(c Composition, syms []Symbol) []Symbol {
	if len(c.Remove) == 0 {
		return append(syms, c.Add...)
	}
	all := append(syms[:len(syms):len(syms)], c.Add...)
	forcing := map[string]bool{}
	for _, s := range all {
		if s.Force > NoAction || e.policy.Force[s.Name] > NoAction {
			forcing[s.Name] = true
		}
	}
	out := make([]Symbol, 0, len(all))
	for _, s := range all {
		rm := c.Remove[s.Name]
		if forcing[s.Name] {
			rm &^= RemoveSymbol
		}
		switch {
		case rm == RemoveWeight|RemoveSymbol:
			continue
		case rm&RemoveWeight != 0:
			s.unweighted = true
		case rm&RemoveSymbol != 0:
			s.hidden = true
		}
		out = append(out, s)
	}
	return out
}

// decide scores syms and sets v's Score, Symbols, Action, ForcedBy and
// Reply. Symbols with the same name are merged (options joined, the
// largest multiplier kept), as rspamd does.
func (p *Policy) decide(t table, syms []Symbol, v *Verdict) {
	merged := map[string]*Symbol{}
	var order []string
	for _, s := range syms {
		if m, ok := merged[s.Name]; ok {
			m.Options = append(m.Options, s.Options...)
			if mult(s) > mult(*m) {
				m.Multiplier = s.Multiplier
			}
			if s.Force > m.Force {
				m.Force, m.Message = s.Force, s.Message
			}
			m.unweighted = m.unweighted || s.unweighted
			m.hidden = m.hidden || s.hidden
			continue
		}
		c := s
		c.Options = append([]string(nil), s.Options...)
		merged[s.Name] = &c
		order = append(order, s.Name)
	}
	sort.Strings(order)
	v.Symbols = v.Symbols[:0]
	v.Score = 0
	forced, forcedBy, msg := NoAction, "", ""
	for _, name := range order {
		s := merged[name]
		w, desc := p.weight(t, name)
		sc := w * mult(*s)
		if s.unweighted {
			sc = 0
		}
		v.Score += sc
		if s.hidden {
			// Taken by a composite (remove_symbol): its weight
			// counts, it is not listed and forces nothing (a
			// forcing symbol is never hidden, see compose).
			continue
		}
		v.Symbols = append(v.Symbols, ScoredSymbol{
			Name: name, Score: round2(sc), Weight: w, Description: desc, Options: s.Options,
		})
		f := s.Force
		if pf, ok := p.Force[name]; ok && pf > f {
			f = pf
		}
		if f > forced {
			forced, forcedBy, msg = f, name, s.Message
		}
	}
	v.Score = round2(v.Score)
	v.RequiredScore = p.required()
	v.Action = p.scoreAction(v.Score)
	if forced > NoAction && forced >= v.Action {
		v.Action, v.ForcedBy = forced, forcedBy
		if msg != "" {
			v.Reply = msg
		}
	}
	if v.Reply == "" {
		switch v.Action {
		case Reject:
			v.Reply = p.RejectMessage
		case SoftReject, Greylist:
			v.Reply = p.SoftRejectMessage
		}
	}
}

// required is the score reported as required_score: the reject
// threshold, or the highest threshold set when reject is disabled.
func (p *Policy) required() float64 {
	if t, ok := p.Thresholds[Reject]; ok {
		return t
	}
	var max float64
	for _, t := range p.Thresholds {
		if t > max {
			max = t
		}
	}
	return max
}

// scoreAction returns the hardest action whose threshold score reaches.
func (p *Policy) scoreAction(score float64) Action {
	for a := Reject; a > NoAction; a-- {
		if t, ok := p.Thresholds[a]; ok && score >= t {
			return a
		}
	}
	return NoAction
}

// spamHeaders adds, for the add header and rewrite subject actions, the
// headers rspamd's milter_headers module writes for spam (X-Spam,
// X-Spam-Score, X-Spam-Status), which Sieve rules commonly test, and the
// rewritten Subject.
func (p *Policy) spamHeaders(v *Verdict, subject string) {
	if v.Action != AddHeader && v.Action != RewriteSubject {
		return
	}
	v.AddHeaders = append(v.AddHeaders,
		Header{Name: "X-Spam", Value: "Yes"},
		Header{Name: "X-Spam-Score", Value: fmt.Sprintf("%.2f", v.Score)},
		Header{Name: "X-Spam-Status", Value: fmt.Sprintf("Yes, score=%.2f required=%.2f", v.Score, v.RequiredScore)},
	)
	if v.Action == RewriteSubject && !strings.HasPrefix(subject, p.SubjectPrefix) {
		v.SubjectRewrite = p.SubjectPrefix + subject
	}
}

func mult(s Symbol) float64 {
	if s.Multiplier == 0 {
		return 1
	}
	return s.Multiplier
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
