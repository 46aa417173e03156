package rules

import (
	"errors"
	"fmt"
	"strings"
)

// node is a composite expression: a symbol name, or !a, a & b, a | b.
type node struct {
	op   byte // 'n' (name), '!', '&', '|'
	name string
	// prefix is what is written before a name: ~ (take the weight
	// only), - (take nothing), ^ (take all, whatever other composites
	// say), as rspamd's composite atoms.
	prefix string
	a, b   *node
}

// maxExprDepth bounds nesting, so that a hostile expression cannot
// exhaust the stack.
const maxExprDepth = 64

// parseExpr parses a composite expression:
//
//	expr  = and { "|" and }
//	and   = unary { "&" unary }
//	unary = "!" unary | "(" expr ")" | { "~" | "-" | "^" } NAME
//
// NAME is a symbol name (letters, digits, _). "&&" and "||" are read as
// "&" and "|". The prefixes say what the composite takes from the symbol
// when it holds (see Policy).
func parseExpr(s string) (*node, error) {
	p := &exprParser{s: s}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i:p.i+1], p.i)
	}
	return n, nil
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// op consumes operator c (doubled or not) if it comes next.
func (p *exprParser) op(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		if p.i < len(p.s) && p.s[p.i] == c {
			p.i++
		}
		return true
	}
	return false
}

func (p *exprParser) or(depth int) (*node, error) {
	n, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.op('|') {
		m, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		n = &node{op: '|', a: n, b: m}
	}
	return n, nil
}

func (p *exprParser) and(depth int) (*node, error) {
	n, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.op('&') {
		m, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		n = &node{op: '&', a: n, b: m}
	}
	return n, nil
}

func (p *exprParser) unary(depth int) (*node, error) {
	if depth > maxExprDepth {
		return nil, errors.New("expression nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("expression ends where a symbol name is expected")
	}
	switch c := p.s[p.i]; {
	case c == '!':
		p.i++
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{op: '!', a: n}, nil
	case c == '(':
		p.i++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("missing ) for the ( at offset %d", p.i)
		}
		p.i++
		return n, nil
	case isNameByte(c) || isPrefixByte(c):
		k := p.i
		for p.i < len(p.s) && isPrefixByte(p.s[p.i]) {
			p.i++
		}
		j := p.i
		for p.i < len(p.s) && isNameByte(p.s[p.i]) {
			p.i++
		}
		if j == p.i {
			return nil, fmt.Errorf("%q at offset %d is not followed by a symbol name", p.s[k:j], k)
		}
		return &node{op: 'n', prefix: p.s[k:j], name: p.s[j:p.i]}, nil
	default:
		return nil, fmt.Errorf("unexpected %q at offset %d", string(c), p.i)
	}
}

func isPrefixByte(c byte) bool { return c == '~' || c == '-' || c == '^' }

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func (n *node) eval(has func(string) bool) bool {
	switch n.op {
	case 'n':
		return has(n.name)
	case '!':
		return !n.a.eval(has)
	case '&':
		return n.a.eval(has) && n.b.eval(has)
	default:
		return n.a.eval(has) || n.b.eval(has)
	}
}

func (n *node) names(fn func(string)) {
	switch n.op {
	case 'n':
		fn(n.name)
	case '!':
		n.a.names(fn)
	default:
		n.a.names(fn)
		n.b.names(fn)
	}
}

func (n *node) String() string {
	switch n.op {
	case 'n':
		return n.prefix + n.name
	case '!':
		return "!" + n.a.String()
	default:
		return "(" + n.a.String() + " " + string(n.op) + " " + n.b.String() + ")"
	}
}

// orderComposites puts the composites in an order where a composite that
// names another comes after it, and refuses cycles.
func (s *Set) orderComposites(ruleNames map[string]bool) error {
	byName := map[string]*Rule{}
	for _, r := range s.all {
		if r.expr != nil {
			byName[r.Name] = r
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(r *Rule, path []string) error
	visit = func(r *Rule, path []string) error {
		switch state[r.Name] {
		case 1:
			return r.errorf("expression", "composites name each other: %s", strings.Join(append(path, r.Name), " → "))
		case 2:
			return nil
		}
		state[r.Name] = 1
		var err error
		r.expr.names(func(n string) {
			if d, ok := byName[n]; ok && err == nil {
				err = visit(d, append(path, r.Name))
			}
		})
		if err != nil {
			return err
		}
		state[r.Name] = 2
		s.composites = append(s.composites, r)
		return nil
	}
	for _, r := range s.all {
		if r.expr != nil {
			if err := visit(r, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Referenced returns the symbol names the composites name that are not
// rules of the set, for the caller to check against the symbols it knows.
func (s *Set) Referenced() []string {
	own := map[string]bool{}
	for _, r := range s.all {
		own[r.Name] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range s.composites {
		r.expr.names(func(n string) {
			if !own[n] && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		})
	}
	return out
}

// Removal is what the composites that hold take from a symbol they
// combine.
type Removal uint8

const (
	// RemoveWeight: the symbol scores nothing.
	RemoveWeight Removal = 1 << iota
	// RemoveSymbol: the symbol is not shown; its weight still counts
	// unless RemoveWeight is set too.
	RemoveSymbol
	// RemoveAll: the symbol is gone, as if it had not matched.
	RemoveAll = RemoveWeight | RemoveSymbol
)

// The composite policies (Spec.Policy), as rspamd's: what a composite that
// holds takes from each symbol it names that is present, unless the
// name's prefix says otherwise.
const (
	PolicyRemoveAll    = "remove_all" // the default: the symbol and its weight
	PolicyRemoveSymbol = "remove_symbol"
	PolicyRemoveWeight = "remove_weight"
	PolicyLeave        = "leave"
)

var policies = map[string]Removal{
	"":                 RemoveAll,
	PolicyRemoveAll:    RemoveAll,
	PolicyRemoveSymbol: RemoveSymbol,
	PolicyRemoveWeight: RemoveWeight,
	PolicyLeave:        0,
}

// Compose returns the composites that hold, given the symbols present
// (has), each composite seeing those before it in dependency order, and
// what they take from the symbols they combine (rspamd's semantics):
//
//   - a composite that holds takes from each name it uses that is
//     present, and not under a "!", what its policy says (default:
//     remove_all); a "~" before the name keeps the symbol (the weight
//     goes), a "-" keeps both, a "^" takes both whatever the others say;
//   - a symbol loses its weight only if every composite that holds and
//     names it takes the weight (or one writes "^"), and is hidden only
//     if every one takes the symbol (or one writes "^").
//
// Every composite is decided on the symbols as they were before any
// removal; removed is nil when nothing is taken.
func (s *Set) Compose(has func(string) bool) (held []*Rule, removed map[string]Removal) {
	in := map[string]bool{}
	look := func(n string) bool { return in[n] || has(n) }
	type take struct{ all, forced Removal }
	var takes map[string]*take
	for _, r := range s.composites {
		if !r.expr.eval(look) {
			continue
		}
		in[r.Name] = true
		held = append(held, r)
		base := policies[r.Policy]
		r.expr.atoms(false, func(n *node) {
			if !look(n.name) {
				return
			}
			rm, forced := n.removal(base)
			if takes == nil {
				takes = map[string]*take{}
			}
			t, ok := takes[n.name]
			if !ok {
				t = &take{all: RemoveAll}
				takes[n.name] = t
			}
			t.all &= rm
			if forced {
				t.forced = RemoveAll
			}
		})
	}
	for name, t := range takes {
		if rm := t.all | t.forced; rm != 0 {
			if removed == nil {
				removed = map[string]Removal{}
			}
			removed[name] = rm
		}
	}
	return held, removed
}

// removal applies the name's prefix to what the policy takes (base);
// forced is a "^".
func (n *node) removal(base Removal) (rm Removal, forced bool) {
	rm = base
	for i := 0; i < len(n.prefix); i++ {
		switch n.prefix[i] {
		case '~':
			rm &^= RemoveSymbol
		case '-':
			rm = 0
		case '^':
			forced = true
		}
	}
	return rm, forced
}

// atoms calls fn for every name of the expression not under a "!": a
// symbol that must be absent is not taken from (rspamd skips those too).
func (n *node) atoms(negated bool, fn func(*node)) {
	switch n.op {
	case 'n':
		if !negated {
			fn(n)
		}
	case '!':
		n.a.atoms(true, fn)
	default:
		n.a.atoms(negated, fn)
		n.b.atoms(negated, fn)
	}
}
