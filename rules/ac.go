package rules

// acMatcher finds which of a set of byte strings occur in a text, in one
// pass over the text (Aho–Corasick). Small sets get a dense automaton
// over byte classes (one table look-up per text byte); large ones keep
// the trie's own edges and follow failure links.
type acMatcher struct {
	n       int // number of needles
	classes [256]uint8
	nclass  int
	// dense[s*nclass+class] is the next state; nil for a sparse matcher.
	dense []int32
	// edges of the trie (sparse form), fail links and outputs.
	edges [][]acEdge
	fail  []int32
	// out[s] lists the needles ending at s (including those reached by
	// failure links).
	out [][]int32
}

type acEdge struct {
	b  byte
	to int32
}

// maxDense bounds the dense table (states × classes).
const maxDense = 1 << 21

func (m *acMatcher) next(s int32, b byte) int32 {
	for _, e := range m.edges[s] {
		if e.b == b {
			return e.to
		}
	}
	return -1
}

// newAC builds a matcher for needles (none may be empty).
func newAC(needles []string) *acMatcher {
	m := &acMatcher{n: len(needles), edges: [][]acEdge{nil}, out: [][]int32{nil}}
	used := [256]bool{}
	for i, nd := range needles {
		s := int32(0)
		for j := 0; j < len(nd); j++ {
			b := nd[j]
			used[b] = true
			t := m.next(s, b)
			if t < 0 {
				t = int32(len(m.edges))
				m.edges = append(m.edges, nil)
				m.out = append(m.out, nil)
				m.edges[s] = append(m.edges[s], acEdge{b, t})
			}
			s = t
		}
		m.out[s] = append(m.out[s], int32(i))
	}
	m.nclass = 1
	for b := 0; b < 256; b++ {
		if used[b] {
			m.classes[b] = uint8(m.nclass)
			m.nclass++
			if m.nclass == 256 {
				break
			}
		}
	}
	if m.nclass == 256 {
		// Every byte value is used: classes cannot be compressed (the
		// last byte seen shares class 255 with none); stay sparse.
		m.nclass = 0
	}
	// Failure links, breadth first.
	m.fail = make([]int32, len(m.edges))
	queue := make([]int32, 0, len(m.edges))
	for _, e := range m.edges[0] {
		queue = append(queue, e.to)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range m.edges[s] {
			f := m.fail[s]
			for {
				if t := m.next(f, e.b); t >= 0 && t != e.to {
					m.fail[e.to] = t
					break
				}
				if f == 0 {
					m.fail[e.to] = 0
					break
				}
				f = m.fail[f]
			}
			m.out[e.to] = append(m.out[e.to], m.out[m.fail[e.to]]...)
			queue = append(queue, e.to)
		}
	}
	if m.nclass > 0 && len(m.edges)*m.nclass <= maxDense {
		m.buildDense()
	}
	return m
}

// buildDense fills the complete transition table, states in breadth-first
// order so that a state's failure target is done before it.
func (m *acMatcher) buildDense() {
	nc := m.nclass
	m.dense = make([]int32, len(m.edges)*nc)
	order := []int32{0}
	for i := 0; i < len(order); i++ {
		s := order[i]
		for c := 0; c < nc; c++ {
			if s != 0 {
				m.dense[int(s)*nc+c] = m.dense[int(m.fail[s])*nc+c]
			}
		}
		for _, e := range m.edges[s] {
			m.dense[int(s)*nc+int(m.classes[e.b])] = e.to
			order = append(order, e.to)
		}
	}
}

// scan calls found for each needle that occurs in text (each once, as
// seen[i] turns true; seen has one entry per needle).
func (m *acMatcher) scan(text []byte, seen []bool, found func(i int)) {
	emit := func(s int32) {
		for _, i := range m.out[s] {
			if !seen[i] {
				seen[i] = true
				found(int(i))
			}
		}
	}
	s := int32(0)
	if m.dense != nil {
		nc := m.nclass
		for _, b := range text {
			s = m.dense[int(s)*nc+int(m.classes[b])]
			if len(m.out[s]) > 0 {
				emit(s)
			}
		}
		return
	}
	for _, b := range text {
		for {
			if t := m.next(s, b); t >= 0 {
				s = t
				break
			}
			if s == 0 {
				break
			}
			s = m.fail[s]
		}
		if len(m.out[s]) > 0 {
			emit(s)
		}
	}
}
