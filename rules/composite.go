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
	a, b *node
}

// maxExprDepth bounds nesting, so that a hostile expression cannot
// exhaust the stack.
const maxExprDepth = 64

// parseExpr parses a composite expression:
//
//	expr  = and { "|" and }
//	and   = unary { "&" unary }
//	unary = "!" unary | "(" expr ")" | NAME
//
// NAME is a symbol name (letters, digits, _). "&&" and "||" are read as
// "&" and "|".
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
	case isNameByte(c):
		j := p.i
		for p.i < len(p.s) && isNameByte(p.s[p.i]) {
			p.i++
		}
		return &node{op: 'n', name: p.s[j:p.i]}, nil
	default:
		return nil, fmt.Errorf("unexpected %q at offset %d", string(c), p.i)
	}
}

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
		return n.name
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

// Compose returns the composites that hold, given the symbols present
// (has), each composite seeing those before it in dependency order.
func (s *Set) Compose(has func(string) bool) []*Rule {
	var out []*Rule
	held := map[string]bool{}
	look := func(n string) bool { return held[n] || has(n) }
	for _, r := range s.composites {
		if r.expr.eval(look) {
			held[r.Name] = true
			out = append(out, r)
		}
	}
	return out
}
