package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
)

// Options are what Compile needs beyond the specs.
type Options struct {
	// Lists keeps list files across configuration reloads; nil reads
	// them into a registry of this set's own.
	Lists *Lists
	// ValidAction reports whether an action name (Spec.Action) is one
	// the policy knows; nil accepts rspamd's five.
	ValidAction func(string) bool
}

// Rule is a compiled rule.
type Rule struct {
	Spec
	info  fieldInfo
	names nameSet
	cidr  *cidrSet
	list  *List
	expr  *node
	group *group // holds the rule's inline glob and regex patterns
	k     fieldKey
}

// Composite reports whether the rule is a composite.
func (r *Rule) Composite() bool { return r.expr != nil }

// Needs returns what the rule's field reads of other checks.
func (r *Rule) Needs() Needs { return r.info.needs }

// Set is a compiled set of rules, safe for concurrent use. Its list
// files may be replaced underneath it (reload); the rules never change.
type Set struct {
	rules      []*Rule // field rules, in order
	composites []*Rule // in evaluation order (dependencies first)
	all        []*Rule // as written
	groups     []*group
	lists      *Lists
}

// group gathers the inline patterns of every rule reading the same
// values, so that one pass of the pre-filter serves them all (500 body
// regexes are one automaton scan of the body, not 500 regex runs).
type group struct {
	key   fieldKey
	res   []*regexp.Regexp
	owner []int // rule index in Set.rules
	set   *reSet
}

type fieldKey struct {
	field, header string
	raw           bool
}

func (r *Rule) key() fieldKey { return r.k }

// Rules returns every rule, in the order written.
func (s *Set) Rules() []*Rule { return s.all }

// Unfiltered returns the body rules with a regular expression that has
// no literal of 3 characters or more for the pre-filter: each such
// expression runs over every body (tens of microseconds per 10 KB).
func (s *Set) Unfiltered() []string {
	seen := map[string]bool{}
	var out []string
	add := func(i int) {
		if r := s.rules[i]; !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	for _, g := range s.groups {
		if g.key.field != "body" {
			continue
		}
		for _, i := range g.set.always {
			add(g.set.owner[i])
		}
	}
	for i, r := range s.rules {
		if r.Field == "body" && r.list != nil {
			if d := r.list.data.Load(); d != nil && d.pats != nil && len(d.pats.always) > 0 {
				add(i)
			}
		}
	}
	return out
}

// Needs returns what the set's fields read of other checks.
func (s *Set) Needs() Needs {
	var n Needs
	for _, r := range s.rules {
		n |= r.info.needs
	}
	return n
}

var symbolName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

var rspamdActions = map[string]bool{"reject": true, "soft_reject": true, "rewrite_subject": true, "add_header": true, "greylist": true}

// Compile checks and compiles specs. Every problem is reported, each as
// "file:line: rule NAME: problem".
func Compile(specs []Spec, opts Options) (*Set, error) {
	if opts.Lists == nil {
		opts.Lists = NewLists(nil)
	}
	if opts.ValidAction == nil {
		opts.ValidAction = func(a string) bool { return rspamdActions[strings.ToLower(a)] }
	}
	s := &Set{lists: opts.Lists}
	var errs []error
	seen := map[string]bool{}
	groups := map[fieldKey]*group{}
	read := map[string]*List{}
	for i := range specs {
		sp := specs[i]
		r, err := compileRule(&sp, opts, read)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[r.Name] {
			errs = append(errs, sp.errorf("name", "a rule of this name is written before"))
			continue
		}
		seen[r.Name] = true
		s.all = append(s.all, r)
		if r.expr != nil {
			continue
		}
		idx := len(s.rules)
		s.rules = append(s.rules, r)
		if pats, err := patterns(&sp, r.Match, sp.Values, "values"); err != nil {
			errs = append(errs, err)
		} else if len(pats) > 0 {
			g := groups[r.key()]
			if g == nil {
				g = &group{key: r.key()}
				groups[r.key()] = g
				s.groups = append(s.groups, g)
			}
			for _, p := range pats {
				g.res = append(g.res, p)
				g.owner = append(g.owner, idx)
			}
			r.group = g
		}
	}
	for _, g := range s.groups {
		g.set = newReSet(g.res, g.owner)
	}
	if err := s.orderComposites(seen); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func compileRule(sp *Spec, opts Options, read map[string]*List) (*Rule, error) {
	r := &Rule{Spec: *sp, k: fieldKey{sp.Field, strings.ToLower(sp.Header), sp.Raw}}
	if !symbolName.MatchString(sp.Name) {
		return nil, sp.errorf("name", "name %q is not a symbol name (upper case letters, digits, _)", sp.Name)
	}
	if sp.Action != "" {
		if !opts.ValidAction(sp.Action) || strings.EqualFold(sp.Action, "no_action") {
			return nil, sp.errorf("action", "%q is not an action (reject, soft_reject, rewrite_subject, add_header, greylist)", sp.Action)
		}
	} else if sp.Message != "" {
		return nil, sp.errorf("message", "a reply message needs an action")
	}
	switch sp.PreResult {
	case "", "accept", "skip_greylist":
	default:
		return nil, sp.errorf("pre_result", "%q is not accept or skip_greylist", sp.PreResult)
	}
	if sp.Expression != "" {
		if sp.Field != "" || len(sp.Values) > 0 || sp.List != "" || sp.Match != "" || sp.Header != "" {
			return nil, sp.errorf("expression", "a composite (expression) has no field, match, values, list or header")
		}
		e, err := parseExpr(sp.Expression)
		if err != nil {
			return nil, sp.errorf("expression", "%w", err)
		}
		if _, ok := policies[sp.Policy]; !ok {
			return nil, sp.errorf("policy", "%q is not remove_all, remove_weight, remove_symbol or leave", sp.Policy)
		}
		r.expr = e
		if r.Description == "" {
			r.Description = "Local composite: " + sp.Expression + effects(sp)
		}
		return r, nil
	}
	if sp.Policy != "" {
		return nil, sp.errorf("policy", "policy is for composites (rules with an expression)")
	}
	if sp.Field == "" {
		return nil, sp.errorf("", "no field (what the rule looks at) and no expression")
	}
	info, ok := fields[sp.Field]
	if !ok {
		return nil, sp.errorf("field", "unknown field %q (%s)", sp.Field, fieldNames())
	}
	r.info = info
	if (sp.Field == "header") != (sp.Header != "") {
		if sp.Header == "" {
			return nil, sp.errorf("field", `field "header" needs header = "Field-Name"`)
		}
		return nil, sp.errorf("header", `header is only for field "header"`)
	}
	if sp.Raw && sp.Field != "header" {
		return nil, sp.errorf("raw", `raw is only for field "header"`)
	}
	ok = false
	if r.Match == "" {
		r.Match = allowed[info.kind][0]
	}
	for _, m := range allowed[info.kind] {
		ok = ok || m == r.Match
	}
	if !ok {
		return nil, sp.errorf("match", "field %s cannot be matched by %q (%s)", sp.Field, r.Match, strings.Join(allowed[info.kind], ", "))
	}
	if len(sp.Values) == 0 && sp.List == "" {
		return nil, sp.errorf("", "neither values nor list")
	}
	switch r.Match {
	case "exact", "suffix":
		r.names = nameSet{}
		for _, v := range sp.Values {
			r.names[normEntry(info.kind, r.Match, v)] = struct{}{}
		}
	case "cidr":
		r.cidr = newCIDRSet()
		for _, v := range sp.Values {
			p, ok := parsePrefix(strings.TrimSpace(v))
			if !ok {
				return nil, sp.errorf("values", "%q is not an address or CIDR network", v)
			}
			r.cidr.add(p)
		}
	}
	if sp.List != "" {
		path := sp.List
		if !filepath.IsAbs(path) && sp.File != "" {
			path = filepath.Join(filepath.Dir(sp.File), path)
		}
		l, err := opts.Lists.get(path, listKind(info.kind, r.Match), read)
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return nil, &Error{File: le.file, Line: le.line, Rule: sp.Name, Err: errors.New(le.msg)}
			}
			return nil, sp.errorf("list", "%w", err)
		}
		r.list = l
	}
	if r.Description == "" {
		r.Description = describe(r)
	}
	return r, nil
}

// patterns compiles the glob or regex entries of a rule.
func patterns(sp *Spec, match string, entries []string, key string) ([]*regexp.Regexp, error) {
	if match != "glob" && match != "regex" {
		return nil, nil
	}
	out := make([]*regexp.Regexp, 0, len(entries))
	for _, e := range entries {
		re, err := compilePattern(match, e)
		if err != nil {
			return nil, sp.errorf(key, "%w", err)
		}
		out = append(out, re)
	}
	return out, nil
}

func compilePattern(match, e string) (*regexp.Regexp, error) {
	if match == "glob" {
		re, err := globRegexp(e)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", e, err)
		}
		return re, nil
	}
	re, err := regexp.Compile(e)
	if err != nil {
		// regexp/syntax says "error parsing regexp: missing closing ):
		// `(a`"; the problem and the whole expression say more.
		var se *syntax.Error
		if errors.As(err, &se) {
			if se.Expr == e {
				return nil, fmt.Errorf("regex `%s`: %s", e, se.Code)
			}
			return nil, fmt.Errorf("regex `%s`: %s at `%s`", e, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("regex `%s`: %w", e, err)
	}
	return re, nil
}

// normEntry is how an exact or suffix entry is stored.
func normEntry(k kind, match, v string) string {
	if k == kindText {
		return strings.ToLower(strings.TrimSpace(v))
	}
	v = normName(v)
	if match == "suffix" {
		v = strings.TrimPrefix(strings.TrimPrefix(v, "*"), ".")
	}
	return v
}

func listKind(k kind, match string) string {
	switch match {
	case "exact", "suffix":
		if k == kindText {
			return "text"
		}
		if match == "suffix" {
			return "suffix"
		}
		return "name"
	}
	return match
}

// describe is a rule's default description: what it looks at, how, and
// against what, and what it does beyond its weight (a forced action, a
// pre-result), so that a hit of weight 0 that decided the verdict says
// so beside its symbol.
func describe(r *Rule) string {
	what := r.Field
	if r.Field == "header" {
		what = "header " + r.Header
		if r.Raw {
			what += " (raw)"
		}
	}
	var from []string
	if n := len(r.Values); n == 1 {
		from = append(from, "1 value")
	} else if n > 1 {
		from = append(from, fmt.Sprintf("%d values", n))
	}
	if r.List != "" {
		from = append(from, "list "+filepath.Base(r.List))
	}
	return fmt.Sprintf("Local rule: %s matches (%s) %s", what, r.Match, strings.Join(from, " and ")) + effects(&r.Spec)
}

// effects is what a rule does beyond its weight, for its description.
func effects(sp *Spec) string {
	var d string
	if sp.Action != "" {
		d += "; forces " + strings.ToLower(sp.Action)
	}
	if sp.PreResult != "" {
		d += "; pre-result " + sp.PreResult
	}
	return d
}

func fieldNames() string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
