package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Spec is one [[rules]] table as written in the configuration: a rule
// that matches a field of the transaction, or (with Expression) a
// composite of other symbols.
type Spec struct {
	// Name is the symbol the rule emits: upper case letters, digits and
	// underscores (rspamd's convention), unique among the rules.
	Name string `toml:"name"`
	// Description is shown beside the symbol; default: the field and
	// where the values come from.
	Description string `toml:"description"`
	// Field is what the rule looks at (see Fields).
	Field string `toml:"field"`
	// Header names the header field for Field "header".
	Header string `toml:"header"`
	// Raw matches the header field as written (encoded words not
	// decoded) rather than decoded to UTF-8.
	Raw bool `toml:"raw"`
	// Match is how values are compared: exact (the default; cidr for
	// the client IP), suffix (domain names and their subdomains), cidr,
	// glob (* and ?, whole value, case-insensitive) or regex (RE2,
	// unanchored; body rules must use regex).
	Match string `toml:"match"`
	// Values are the entries to match.
	Values []string `toml:"values"`
	// List is a file of further entries, one a line, # comments;
	// relative to the file that names it. It is read again on SIGHUP
	// and when it changes on disk.
	List string `toml:"list"`
	// Weight is the symbol's score.
	Weight float64 `toml:"weight"`
	// Action, when set, is forced whenever the rule matches (reject,
	// soft_reject, rewrite_subject, add_header, greylist), with Message
	// as the SMTP reply text.
	Action  string `toml:"action"`
	Message string `toml:"message"`
	// PreResult is "accept" (the message is accepted whatever the score
	// and the other checks' forced actions; local rules' forced actions
	// still apply) or "skip_greylist" (a greylist action becomes no
	// action).
	PreResult string `toml:"pre_result"`
	// Expression makes the rule a composite: symbol names combined with
	// & (and), | (or), ! (not) and parentheses, as rspamd's composites
	// (e.g. "DMARC_POLICY_REJECT & !R_DKIM_ALLOW"). A composite has no
	// Field.
	Expression string `toml:"expression"`
	// Policy says what a composite that holds takes from the symbols it
	// names (rspamd's policies): remove_all (the default: they are gone
	// and score nothing), remove_weight (shown, scoring nothing),
	// remove_symbol (not shown, their weight still counts) or leave. A
	// prefix before a name overrides it for that name: ~NAME takes the
	// weight only, -NAME nothing, ^NAME everything.
	Policy string `toml:"policy"`

	// File and Line say where the rule is written (its [[rules]] line).
	File string `toml:"-"`
	Line int    `toml:"-"`
	// lines are the lines of its keys.
	lines map[string]int
}

// Error is a problem of a rule, placed at the file and line it is
// written on: "file:line: rule NAME: problem".
type Error struct {
	File string
	Line int
	Rule string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": rule %s", e.Rule)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errorf makes an error placed on key's line (the rule's line when the
// key is not written or key is "").
func (s *Spec) errorf(key, format string, args ...any) *Error {
	line := s.Line
	if l, ok := s.lines[key]; ok {
		line = l
	}
	name := s.Name
	if name == "" {
		name = "(no name)"
	}
	return &Error{File: s.File, Line: line, Rule: name, Err: fmt.Errorf(format, args...)}
}

// Locate sets File and Line (and the lines of each key) of specs decoded
// from the [[rules]] tables of TOML text, the i-th spec from the i-th
// [[rules]] header.
func Locate(file, text string, specs []Spec) {
	i := -1
	in := false
	for n, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if j := strings.IndexByte(l, '#'); j == 0 {
			continue
		}
		if strings.HasPrefix(l, "[") {
			h := l
			if j := strings.IndexByte(h, '#'); j >= 0 {
				h = strings.TrimSpace(h[:j])
			}
			in = strings.ReplaceAll(h, " ", "") == "[[rules]]"
			if in {
				i++
				if i < len(specs) {
					specs[i].File, specs[i].Line, specs[i].lines = file, n+1, map[string]int{}
				}
			}
			continue
		}
		if !in || i < 0 || i >= len(specs) {
			continue
		}
		if k, _, ok := strings.Cut(l, "="); ok {
			specs[i].lines[strings.Trim(strings.TrimSpace(k), `"`)] = n + 1
		}
	}
	for j := range specs {
		if specs[j].File == "" {
			specs[j].File = file
		}
	}
}

// ruleFile is the shape of an included rule file.
type ruleFile struct {
	Rules []Spec `toml:"rules"`
}

// Parse reads an included rule file's text: [[rules]] tables and nothing
// else. Its errors name the file and line.
func Parse(file string, text []byte) ([]Spec, error) {
	var rf ruleFile
	md, err := toml.Decode(string(text), &rf)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Line: pe.Position.Line, Err: errors.New(pe.Message)}
		}
		return nil, &Error{File: file, Err: err}
	}
	Locate(file, string(text), rf.Rules)
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		for i, k := range und {
			if i+1 < len(und) && strings.HasPrefix(und[i+1].String(), k.String()+".") {
				continue // a table whose keys are reported
			}
			errs = append(errs, unknownKey(file, rf.Rules, k))
		}
		return nil, errors.Join(errs...)
	}
	return rf.Rules, nil
}

// unknownKey places an undecoded key ("rules.3.foo" has the index
// elided by the decoder, so the key is searched in every rule).
func unknownKey(file string, specs []Spec, k toml.Key) error {
	last := k[len(k)-1]
	if len(k) >= 2 && k[0] == "rules" {
		for i := range specs {
			if _, ok := specs[i].lines[last]; ok {
				return specs[i].errorf(last, "unknown option %q", last)
			}
		}
	}
	return &Error{File: file, Err: fmt.Errorf("unknown option %q (a rule file holds [[rules]] tables only)", k.String())}
}

// LoadFiles reads the rule files that patterns (file names or globs,
// relative to dir) name, in name order within each pattern.
//
// A file name without glob characters (*, ? or [) that names no file is
// an error, so that a typo does not silently drop rules. A glob that
// matches nothing is not: a conf.d-style directory whose last file was
// removed has no rules, as nginx's include and rspamd's
// .include(glob=true; try=true) treat it. Such globs are returned in
// empty (as joined with dir) for the caller to warn about.
func LoadFiles(dir string, patterns []string) (specs []Spec, empty []string, err error) {
	for _, p := range patterns {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		files, err := filepath.Glob(p)
		if err != nil {
			return nil, nil, fmt.Errorf("rule files %q: %w", p, err)
		}
		if len(files) == 0 {
			if !isGlob(p) {
				return nil, nil, fmt.Errorf("rule file %q: no such file", p)
			}
			empty = append(empty, p)
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, fmt.Errorf("rule file: %w", err)
			}
			s, err := Parse(f, b)
			if err != nil {
				return nil, nil, err
			}
			specs = append(specs, s...)
		}
	}
	return specs, empty, nil
}

// isGlob reports whether filepath.Match would treat p as a pattern
// rather than a name.
func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }
