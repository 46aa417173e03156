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
// expressions whose literal occurred — and those that have none — are run.
// This is the hyperscan-style pre-filter the issue asks for; it never
// changes a result, it only skips expressions that cannot match.
type reSet struct {
	res    []*regexp.Regexp
	owner  []int // per expression: who it belongs to (a rule or entry index)
	ac     *acMatcher
	byLit  [][]int // per literal: the expressions requiring it
	always []int   // expressions without a usable literal
}

// minLiteral is the shortest literal worth pre-filtering on.
const minLiteral = 3

// maxAlternatives bounds the literals one expression may require (one of
// a|b|c…); past it the expression always runs.
const maxAlternatives = 16

// newReSet builds a set; owners[i] is returned by each for res[i].
func newReSet(res []*regexp.Regexp, owners []int) *reSet {
	s := &reSet{res: res, owner: owners}
	litIndex := map[string]int{}
	var lits []string
	for i, re := range res {
		alts := requiredLiterals(re.String())
		if alts == nil {
			s.always = append(s.always, i)
			continue
		}
		for _, l := range alts {
			j, ok := litIndex[l]
			if !ok {
				j = len(lits)
				litIndex[l] = j
				lits = append(lits, l)
				s.byLit = append(s.byLit, nil)
			}
			s.byLit[j] = append(s.byLit[j], i)
		}
	}
	if len(lits) > 0 {
		s.ac = newAC(lits)
	}
	return s
}

// each calls fn for every expression matching text, in expression order,
// with the matched text; fn returns false to stop.
func (s *reSet) each(text string, fn func(owner int, match string) bool) {
	cand := append([]int(nil), s.always...)
	if s.ac != nil {
		seen := make([]bool, s.ac.n)
		s.ac.scan(asciiLower(text), seen, func(j int) { cand = append(cand, s.byLit[j]...) })
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
			if !fn(s.owner[i], text[loc[0]:loc[1]]) {
				return
			}
		}
	}
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
// match of expr contains at least one, or nil when it cannot tell.
func requiredLiterals(expr string) []string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	alts := required(re)
	if alts == nil {
		return nil
	}
	for _, a := range alts {
		if len(a) < minLiteral {
			return nil
		}
	}
	return alts
}

// required computes the required literals of a syntax tree: nil for none,
// else a set of which one must occur.
func required(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if l := literalOf(re); l != "" {
			return []string{l}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if r := required(sub); better(r, best) {
				best = r
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			r := required(sub)
			if r == nil {
				return nil
			}
			all = append(all, r...)
		}
		if len(all) > maxAlternatives {
			return nil
		}
		return dedupe(all)
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
