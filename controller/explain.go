package controller

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strings"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// Explanation is a verdict told in plain language, line by line: what
// each symbol added and why, which threshold or rule decided the action,
// and what would have changed it.
type Explanation struct {
	Summary string
	Symbols []SymbolLine
	// Decision says which setting decided the action.
	Decision []string
	// WouldChange lists what would have given another action.
	WouldChange []string
	// Notes are remarks (thresholds changed since, an early verdict).
	Notes []string
}

// SymbolLine is one symbol of a verdict.
type SymbolLine struct {
	Name        string
	Score       float64
	Weight      float64
	Description string
	Options     []string
	// Text is the line in words.
	Text string
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// actionFor is the action the thresholds give score.
func actionFor(th map[engine.Action]float64, score float64) engine.Action {
	a := engine.NoAction
	for b := engine.Greylist; b <= engine.Reject; b++ {
		if t, ok := th[b]; ok && score >= t {
			a = b
		}
	}
	return a
}

func fmtScore(f float64) string { return fmt.Sprintf("%.2f", f) }

// Explain explains rec with the engine's symbol descriptions and
// thresholds (today's: the record keeps the reject threshold of its time).
func Explain(rec store.HistoryRecord, eng *engine.Engine) Explanation {
	var ex Explanation
	p := eng.Policy()
	defs := map[string]engine.SymbolDef{}
	for _, d := range eng.Symbols() {
		defs[d.Name] = d
	}
	when := ""
	if rec.Phase != "" && rec.Phase != "data" {
		when = " at " + strings.ToUpper(rec.Phase) + " (before the message was sent)"
	}
	what := capital(rec.Action)
	if shownAction(&rec) == actGreylisted {
		what = "Greylisted (soft reject)"
	}
	ex.Summary = fmt.Sprintf("%s%s with a score of %s.", what, when, fmtScore(rec.Score))

	// Symbols, largest effect first.
	for i, name := range rec.Symbols {
		l := SymbolLine{Name: name, Description: defs[name].Description}
		scored := i < len(rec.Hits)
		if scored {
			l.Score, l.Weight, l.Options = rec.Hits[i].Score, rec.Hits[i].Weight, rec.Hits[i].Options
		} else if w, ok := p.Weights[name]; ok {
			l.Weight = w
		} else {
			l.Weight = defs[name].Weight
		}
		l.Text = symbolText(l, scored, name == rec.ForcedBy)
		ex.Symbols = append(ex.Symbols, l)
	}
	sort.SliceStable(ex.Symbols, func(i, j int) bool { return math.Abs(ex.Symbols[i].Score) > math.Abs(ex.Symbols[j].Score) })

	act, _ := engine.ParseAction(rec.Action)
	byScore := actionFor(p.Thresholds, rec.Score)
	greylisted, greyPass := greylistOf(rec)

	switch rec.Class {
	case "local":
		ex.Decision = append(ex.Decision, "The client is in local_networks (this host or its LAN): connection checks and greylisting were skipped.")
	case "outbound":
		ex.Decision = append(ex.Decision, "The mail was outbound (an authenticated client or an [outbound] network): inbound checks were skipped.")
	case "allowlisted":
		ex.Decision = append(ex.Decision, "The client matched the [allowlist] of the configuration: inbound checks and greylisting were skipped.")
	}
	if rec.ForcedBy != "" {
		ex.Decision = append(ex.Decision, forcedLine(rec, defs[rec.ForcedBy], p))
	}
	thr := func(a engine.Action) string {
		if t, ok := p.Thresholds[a]; ok {
			return fmtScore(t)
		}
		return "off"
	}
	switch {
	case rec.ForcedBy != "":
	case greylisted:
		ex.Decision = append(ex.Decision, fmt.Sprintf("The score %s is in the greylist band (greylist at %s, add header at %s), and this sender had not retried yet: hamlet answered 451 and expects a real mail server to come back after the greylist delay.", fmtScore(rec.Score), thr(engine.Greylist), thr(engine.AddHeader)))
	case greyPass != "":
		ex.Decision = append(ex.Decision, fmt.Sprintf("The score %s is in the greylist band, but greylisting let it pass (%s).", fmtScore(rec.Score), greyPass))
	case act == engine.NoAction && byScore == engine.NoAction:
		if t, ok := p.Thresholds[engine.Greylist]; ok {
			ex.Decision = append(ex.Decision, fmt.Sprintf("The score %s is below the lowest threshold in force (greylist at %s): no action.", fmtScore(rec.Score), fmtScore(t)))
		} else {
			ex.Decision = append(ex.Decision, fmt.Sprintf("The score %s is below every threshold in force: no action.", fmtScore(rec.Score)))
		}
	case act == byScore:
		line := fmt.Sprintf("The score %s reached the %s threshold (%s).", fmtScore(rec.Score), act, thr(act))
		if next, ok := p.Next(act); ok {
			line += fmt.Sprintf(" The next harder action starts at %s, %s away.", fmtScore(next), fmtScore(next-rec.Score))
		}
		ex.Decision = append(ex.Decision, line)
	default:
		ex.Decision = append(ex.Decision, fmt.Sprintf("The score %s alone would give %s today; a finisher (greylisting, outbound signing) or the thresholds of that time made it %s.", fmtScore(rec.Score), byScore, rec.Action))
	}
	if t, ok := p.Thresholds[engine.Reject]; ok && rec.Required != 0 && round2(t) != round2(rec.Required) {
		ex.Notes = append(ex.Notes, fmt.Sprintf("The reject threshold was %s then and is %s now: the explanation uses today's thresholds.", fmtScore(rec.Required), fmtScore(t)))
	}

	// What would have changed it.
	if rec.ForcedBy != "" {
		rest := rec.Score
		for _, l := range ex.Symbols {
			if l.Name == rec.ForcedBy {
				rest -= l.Score
			}
		}
		ex.WouldChange = append(ex.WouldChange, fmt.Sprintf("Without %s this would have been %s (score %s).", rec.ForcedBy, actionFor(p.Thresholds, round2(rest)), fmtScore(round2(rest))))
	} else if rec.Class == "" {
		cur := byScore
		if greylisted {
			cur = engine.Greylist
		}
		for _, l := range ex.Symbols {
			if l.Score == 0 {
				continue
			}
			alt := actionFor(p.Thresholds, round2(rec.Score-l.Score))
			if alt != cur && alt < cur {
				ex.WouldChange = append(ex.WouldChange, fmt.Sprintf("Without %s this would have been %s (score %s).", l.Name, alt, fmtScore(round2(rec.Score-l.Score))))
			}
		}
		if cur > engine.NoAction {
			if t, ok := p.Thresholds[cur]; ok {
				milder := actionFor(p.Thresholds, t-0.01)
				ex.WouldChange = append(ex.WouldChange, fmt.Sprintf("With the %s threshold above %s (it is %s), this would have been %s: [actions] %s = %s in the TOML file.", cur, fmtScore(rec.Score), fmtScore(t), milder, strings.ReplaceAll(cur.String(), " ", "_"), fmtScore(math.Floor(rec.Score)+1)))
			}
		}
		if greylisted {
			ex.WouldChange = append(ex.WouldChange, "An allowlist entry for the sender's network or authenticated domain would have let it through without waiting (the buttons below).")
		}
	}
	if len(ex.WouldChange) == 0 && act > engine.NoAction {
		ex.WouldChange = append(ex.WouldChange, "No single symbol decided it: several together did (see the what-if page to try other weights).")
	}
	return ex
}

// symbolText is l in words. A symbol of weight 0 only informs: it says
// what it means ("GREYLIST: greylisted until …"), not that it counted
// nothing — unless it forced the action (GTUBE, CLAM_VIRUS), which is then
// what it did. scored is false for an older record that kept no scores.
func symbolText(l SymbolLine, scored, forced bool) string {
	var b strings.Builder
	opts := func() {
		if len(l.Options) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(l.Options, ", "))
		}
	}
	desc := strings.TrimSuffix(l.Description, ".")
	switch {
	case l.Score > 0:
		fmt.Fprintf(&b, "%s added %s", l.Name, fmtScore(l.Score))
	case l.Score < 0:
		fmt.Fprintf(&b, "%s took off %s", l.Name, fmtScore(-l.Score))
	case !scored:
		fmt.Fprintf(&b, "%s (its score was not recorded)", l.Name)
	case l.Weight != 0:
		fmt.Fprintf(&b, "%s added nothing (weight %s, times 0)", l.Name, fmtScore(l.Weight))
	case forced:
		b.WriteString(l.Name)
		if desc != "" {
			b.WriteString(": " + desc)
		}
		opts()
		return b.String() + ". It adds nothing to the score, but it forced the action (see the decision)."
	default:
		if t := infoText(l.Name, l.Options); t != "" {
			return l.Name + ": " + t + "."
		}
		if desc == "" {
			b.WriteString(l.Name + ": for information only, it adds nothing to the score")
			opts()
			return b.String() + "."
		}
		b.WriteString(l.Name + ": " + desc)
		opts()
		return b.String() + ". For information only: it adds nothing to the score."
	}
	if l.Weight != 0 && l.Score != 0 && round2(l.Weight) != round2(l.Score) {
		fmt.Fprintf(&b, " (weight %s × %.2f)", fmtScore(l.Weight), l.Score/l.Weight)
	}
	if desc != "" {
		fmt.Fprintf(&b, ": %s", desc)
	}
	opts()
	return b.String() + "."
}

// infoText says in words what the options of an informational symbol
// mean, for those whose options are a code (GREYLIST's, as
// checks.Greylist writes them); "" for the others.
func infoText(name string, o []string) string {
	if name != "GREYLIST" || len(o) == 0 {
		return ""
	}
	switch o[0] {
	case "greylisted":
		if len(o) > 1 {
			return "greylisted until " + o[1] + "; a retry from then on passes"
		}
		return "greylisted; a retry after the delay passes"
	case "pass":
		reason := ""
		if len(o) > 1 {
			reason = o[1]
		}
		switch reason {
		case "retry":
			return "passed: retried after the delay"
		case "known":
			return "passed: this client, sender and recipient passed before"
		case "allowlisted":
			if len(o) > 2 {
				return "passed: allowlisted (" + o[2] + ")"
			}
			return "passed: allowlisted"
		case "no client address":
			return "passed: no client address to greylist"
		case "":
			return "passed"
		}
		return "passed: " + strings.Join(o[1:], ", ")
	}
	return ""
}

// forcedLine says which setting made rec.ForcedBy force the action: an
// entry of [force], a local rule's action ([[rules]], the rules check's
// symbols), or the check's own hard rule.
func forcedLine(rec store.HistoryRecord, def engine.SymbolDef, p engine.Policy) string {
	name, toml := rec.ForcedBy, strings.ReplaceAll(rec.Action, " ", "_") // the action as the TOML file spells it
	if a, ok := p.Force[name]; ok && a.String() == rec.Action {
		return fmt.Sprintf("%s forces %s whatever the score: [force] in the configuration says %s = %q.", name, rec.Action, name, toml)
	}
	if def.Group == "rules" {
		return fmt.Sprintf("%s forces %s whatever the score: it is a local rule, and its [[rules]] table (name = %q) says action = %q. Remove that action, or change the rule's values, to let such mail be scored instead.", name, rec.Action, name, toml)
	}
	return fmt.Sprintf("%s forces %s whatever the score: it is a hard rule of the check that gives it (that check's own section of the configuration sets it).", name, rec.Action)
}

func greylistOf(rec store.HistoryRecord) (greylisted bool, pass string) {
	for i, s := range rec.Symbols {
		if s != "GREYLIST" || i >= len(rec.Hits) || len(rec.Hits[i].Options) == 0 {
			continue
		}
		o := rec.Hits[i].Options
		if o[0] == "greylisted" {
			return true, ""
		}
		if o[0] == "pass" && len(o) > 1 {
			return false, strings.Join(o[1:], ", ")
		}
	}
	return false, ""
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Fix is a fix button of a detail or list page.
type Fix struct {
	Label  string
	Target string // what to allowlist
	// Drop lists the greylist keys to drop instead (the button drops
	// those that exist).
	Drop []string
}

// fixesFor offers the allowlist entries that would have helped rec and,
// for a greylisted message, dropping its greylist entries.
func fixesFor(rec store.HistoryRecord) []Fix {
	var out []Fix
	if keys := greylistKeys(rec); len(keys) > 0 {
		out = append(out, Fix{Label: "Drop its greylist entry", Drop: keys})
	}
	if i := strings.LastIndexByte(rec.From, '@'); i >= 0 && i+1 < len(rec.From) {
		d := strings.ToLower(rec.From[i+1:])
		out = append(out, Fix{Label: "Allowlist the sender domain " + d, Target: d})
	}
	if ip, err := netip.ParseAddr(rec.ClientIP); err == nil {
		out = append(out, Fix{Label: "Allowlist the client IP " + ip.String(), Target: ip.String()})
		bits := 24
		if ip.Is6() {
			bits = 48
		}
		p, _ := ip.Prefix(bits)
		out = append(out, Fix{Label: "Allowlist the network " + p.String(), Target: p.String()})
	}
	return out
}

// WriteText writes the explanation of rec as `hamlet why` prints it.
func WriteText(w io.Writer, rec store.HistoryRecord, ex Explanation) {
	fmt.Fprintf(w, "%s  queue id %s  from %s", rec.Time.Local().Format("2006-01-02 15:04:05"), orDash(rec.QueueID), orDash(rec.ClientIP))
	if rec.ClientHost != "" {
		fmt.Fprintf(w, " (%s)", rec.ClientHost)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  HELO %s  MAIL FROM <%s>  RCPT %s\n", orDash(rec.Helo), rec.From, rcptText(rec))
	fmt.Fprintf(w, "\n%s\n", ex.Summary)
	if len(ex.Symbols) > 0 {
		fmt.Fprintln(w, "\nSymbols:")
		for _, l := range ex.Symbols {
			fmt.Fprintf(w, "  %+7.2f  %s\n", l.Score, l.Text)
		}
	}
	fmt.Fprintln(w, "\nDecision:")
	for _, l := range ex.Decision {
		fmt.Fprintf(w, "  %s\n", l)
	}
	if len(ex.WouldChange) > 0 {
		fmt.Fprintln(w, "\nWhat would have changed it:")
		for _, l := range ex.WouldChange {
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
	for _, n := range ex.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rcptText(rec store.HistoryRecord) string {
	if len(rec.RcptList) == 0 {
		return fmt.Sprintf("%d recipient(s)", rec.Rcpts)
	}
	s := "<" + strings.Join(rec.RcptList, ">, <") + ">"
	if rec.Rcpts > len(rec.RcptList) {
		s += fmt.Sprintf(" and %d more", rec.Rcpts-len(rec.RcptList))
	}
	return s
}
