package rules

import (
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"unicode/utf8"
)

// reSet matches many regular expressions against one text without running
// each of them: every expression's required literals (strings that any
// match must contain, found in its syntax tree) go into one Aho–Corasick
// automaton, the text is scanned once (in ASCII lower case), and only the
// expressions whose required literals all occurred — and those that have
// none — are run.
// This is the hyperscan-style pre-filter the issue asks for; it never
// changes a result, it only skips expressions that cannot match.
type reSet struct {
	res   []*regexp.Regexp
	owner []int // per expression: who it belongs to (a rule or entry index)
	ac    *acMatcher
	// byLit lists, per literal, the expressions whose first clause
	// names it; clauses lists each expression's clauses (literal ids,
	// any of which satisfies the clause), all of which must hold.
	byLit   [][]int
	clauses [][][]int
	always  []int // expressions without a usable literal
}

// minLiteral is the shortest literal worth pre-filtering on.
const minLiteral = 3

// maxAlternatives bounds the literals one expression may require (one of
// a|b|c…); past it the expression always runs.
const maxAlternatives = 16

// newReSet builds a set; owners[i] is returned by each for res[i].
func newReSet(res []*regexp.Regexp, owners []int) *reSet {
	s := &reSet{res: res, owner: owners, clauses: make([][][]int, len(res))}
	litIndex := map[string]int{}
	var lits []string
	id := func(l string) int {
		j, ok := litIndex[l]
		if !ok {
			j = len(lits)
			litIndex[l] = j
			lits = append(lits, l)
			s.byLit = append(s.byLit, nil)
		}
		return j
	}
	for i, re := range res {
		cl := requiredClauses(re.String())
		if cl == nil {
			s.always = append(s.always, i)
			continue
		}
		for k, alts := range cl {
			ids := make([]int, len(alts))
			for a, l := range alts {
				ids[a] = id(l)
				if k == 0 {
					s.byLit[ids[a]] = append(s.byLit[ids[a]], i)
				}
			}
			s.clauses[i] = append(s.clauses[i], ids)
		}
	}
	if len(lits) > 0 {
		s.ac = newAC(lits)
	}
	return s
}

// each calls fn for every expression matching text, in expression order,
// with the expression and the matched text; fn returns false to stop.
func (s *reSet) each(text string, fn func(owner int, re *regexp.Regexp, match string) bool) {
	cand := append([]int(nil), s.always...)
	if s.ac != nil {
		seen := make([]bool, s.ac.n)
		var first []int
		s.ac.scan(asciiLower(text), seen, func(j int) { first = append(first, s.byLit[j]...) })
		for _, i := range first {
			if s.holds(i, seen) {
				cand = append(cand, i)
			}
		}
	}
	if len(cand) == 0 {
		return
	}
	sort.Ints(cand)
	prev := -1
	for _, i := range cand {
		if i == prev {
			continue
		}
		prev = i
		if loc := s.res[i].FindStringIndex(text); loc != nil {
			if !fn(s.owner[i], s.res[i], text[loc[0]:loc[1]]) {
				return
			}
		}
	}
}

// holds reports whether every clause of expression i has a literal in
// seen.
func (s *reSet) holds(i int, seen []bool) bool {
	for _, c := range s.clauses[i] {
		ok := false
		for _, j := range c {
			if seen[j] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func asciiLower(s string) []byte {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// requiredLiterals returns strings (in ASCII lower case) of which any
// match of expr contains at least one, or nil when it cannot tell: the
// best clause of requiredClauses.
func requiredLiterals(expr string) []string {
	cl := requiredClauses(expr)
	if cl == nil {
		return nil
	}
	return cl[0]
}

// requiredClauses returns what any match of expr contains: every clause
// (a set of literals in ASCII lower case, one of which occurs), the most
// selective first; nil when nothing usable is known.
func requiredClauses(expr string) [][]string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	var out [][]string
	seen := map[string]bool{}
	for _, c := range clauses(re) {
		k := strings.Join(c, "\x00")
		if shortest(c) >= minLiteral && !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.SliceStable(out, func(a, b int) bool { return better(out[a], out[b]) })
	return out
}

// clauses computes the required literals of a syntax tree as clauses,
// all of which hold for any match.
func clauses(re *syntax.Regexp) [][]string {
	switch re.Op {
	case syntax.OpLiteral:
		if l := literalOf(re); l != "" {
			return [][]string{{l}}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return clauses(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return clauses(re.Sub[0])
		}
	case syntax.OpConcat:
		var all [][]string
		for _, sub := range re.Sub {
			all = append(all, clauses(sub)...)
		}
		return append(all, runs(re.Sub)...)
	case syntax.OpAlternate:
		// One of the alternatives matched: its best clause holds.
		var any []string
		for _, sub := range re.Sub {
			var best []string
			for _, c := range clauses(sub) {
				if better(c, best) {
					best = c
				}
			}
			if best == nil {
				return nil
			}
			any = append(any, best...)
		}
		if len(any) > maxAlternatives {
			return nil
		}
		return [][]string{dedupe(any)}
	}
	return nil
}

// runs finds, among adjacent nodes of a concatenation, sequences of
// literals and small character classes, and expands each into the set of
// strings it can match (w[io]n: win, won): one of them occurs in any
// match. Sets larger than maxAlternatives are cut into shorter runs.
func runs(subs []*syntax.Regexp) [][]string {
	var out [][]string
	var cur []string
	flush := func() {
		if cur != nil && shortest(cur) >= minLiteral {
			out = append(out, dedupe(cur))
		}
		cur = nil
	}
	for _, sub := range subs {
		exp := expand(sub)
		if exp == nil {
			flush()
			continue
		}
		if cur == nil {
			cur = exp
			continue
		}
		if len(cur)*len(exp) > maxAlternatives {
			flush()
			cur = exp
			continue
		}
		next := make([]string, 0, len(cur)*len(exp))
		for _, a := range cur {
			for _, b := range exp {
				next = append(next, a+b)
			}
		}
		cur = next
	}
	flush()
	return out
}

// expand returns the strings (ASCII lower case) a literal or a small
// character class matches, or nil: case folding that reaches beyond ASCII
// (k, s, non-ASCII letters) is not expanded.
func expand(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if re.Flags&syntax.FoldCase != 0 && literalOf(re) != string(asciiLower(s)) {
			return nil
		}
		return []string{string(asciiLower(s))}
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			e := expand(sub)
			if e == nil {
				return nil
			}
			out = append(out, e...)
		}
		if len(out) > 8 {
			return nil
		}
		return dedupe(out)
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi >= utf8.RuneSelf || hi-lo > 8 {
				return nil
			}
			for r := lo; r <= hi; r++ {
				out = append(out, string(asciiLower(string(r))))
			}
			if len(out) > 8 {
				return nil
			}
		}
		if len(out) == 0 {
			return nil
		}
		return dedupe(out)
	}
	return nil
}

// better reports whether alternative set a filters more than b: a longer
// shortest literal, then fewer alternatives.
func better(a, b []string) bool {
	if a == nil {
		return false
	}
	if b == nil {
		return true
	}
	ma, mb := shortest(a), shortest(b)
	if ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func shortest(ss []string) int {
	m := -1
	for _, s := range ss {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

func dedupe(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// literalOf returns the longest piece of a literal node that a match
// must contain, in ASCII lower case. A case-folded literal is cut at
// runes whose folding reaches beyond ASCII lower-casing (non-ASCII, and k
// and s, which fold to the Kelvin sign and the long s).
func literalOf(re *syntax.Regexp) string {
	s := string(re.Rune)
	if re.Flags&syntax.FoldCase == 0 {
		return string(asciiLower(s))
	}
	best, cur := "", strings.Builder{}
	flush := func() {
		if cur.Len() > len(best) {
			best = cur.String()
		}
		cur.Reset()
	}
	for _, r := range s {
		if r >= utf8.RuneSelf || r == 'k' || r == 'K' || r == 's' || r == 'S' {
			flush()
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		cur.WriteRune(r)
	}
	flush()
	return best
}
