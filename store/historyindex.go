package store

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The history index. A filter that matches nothing, or little, would
// otherwise read every record. Both stores keep, per hour of history
// (an index block), the set of the terms its records have: queue ids,
// actions, symbols, client addresses and their networks, envelope
// addresses and their domains. A query whose HistoryQuery.Terms are not
// all in a block's set skips the block without reading it; the blocks
// that have them are read as before (Needles, then Match, decide). The
// index says which hours may match, never which records: a block is
// small (an hour), a set of terms per block is cheap to write, and
// trimming the history drops whole blocks.

// IndexBlock is the span of history one index block covers.
const IndexBlock = time.Hour

// IndexBlockStart returns the start of t's index block.
func IndexBlockStart(t time.Time) time.Time { return t.Truncate(IndexBlock) }

// maxTermLen bounds an indexed term: a longer value is not indexed, and
// a filter on it does not use the index (the same function decides both).
const maxTermLen = 200

func term(kind, v string) string {
	if v == "" || len(v)+len(kind) > maxTermLen {
		return ""
	}
	return kind + v
}

// TermQueueID is the index term of a queue id (case-insensitive).
func TermQueueID(qid string) string { return term("q:", caseFold(qid)) }

// TermAction is the index term of an action.
func TermAction(a string) string { return term("x:", a) }

// TermSymbol is the index term of a symbol. Symbols are few and
// repeat in every record: their terms are made once (up to
// maxInterned of them).
func TermSymbol(s string) string {
	if v, ok := symbolTerms.Load(s); ok {
		return v.(string)
	}
	t := term("s:", s)
	if symbolTermsN.Add(1) <= maxInterned {
		symbolTerms.Store(s, t)
	}
	return t
}

const maxInterned = 4096

var (
	symbolTerms  sync.Map // symbol → its term
	symbolTermsN atomic.Int64
)

// TermAddr is the index term of an envelope address, sender or
// recipient (case-insensitive; a hashed address as stored).
func TermAddr(a string) string { return term("a:", caseFold(a)) }

// TermDomain is the index term of an envelope address's domain.
func TermDomain(d string) string { return term("d:", caseFold(strings.TrimSuffix(d, "."))) }

// TermIP is the index term of a client address.
func TermIP(ip netip.Addr) string { return term("i:", ip.Unmap().String()) }

// Indexed network lengths: a client network filter uses the longest of
// these that covers it.
var (
	IndexNets4 = []int{24, 16}
	IndexNets6 = []int{64, 48}
)

// TermNet is the index term of a client network of an indexed length.
func TermNet(p netip.Prefix) string { return term("n:", p.Masked().String()) }

// NetTerm returns the index term that covers the network p: p's own
// when its length is indexed, else that of the longest indexed network
// containing it; "" when none does (a /8 is not indexed).
func NetTerm(p netip.Prefix) string {
	ip := p.Addr().Unmap()
	if p.Bits() == ip.BitLen() {
		return TermIP(ip)
	}
	lens := IndexNets4
	if ip.Is6() {
		lens = IndexNets6
	}
	for _, n := range lens {
		if n <= p.Bits() {
			q, err := ip.Prefix(n)
			if err != nil {
				return ""
			}
			return TermNet(q)
		}
	}
	return ""
}

// HistoryTerms returns the index terms of r, sorted, without duplicates.
func HistoryTerms(r *HistoryRecord) []string {
	out := make([]string, 0, 8+len(r.Symbols)+2*len(r.RcptList))
	EachHistoryTerm(r, func(t string) { out = append(out, t) })
	slices.Sort(out)
	return slices.Compact(out)
}

// EachHistoryTerm calls add with each index term of r, in no order and
// possibly twice: for a store that collects them in a set (what
// HistoryTerms returns, without its sorting).
func EachHistoryTerm(r *HistoryRecord, add func(string)) {
	AppendHistoryTerms(nil, r, func(t []byte) { add(string(t)) })
}

// AppendHistoryTerms calls add with each index term of r (as
// EachHistoryTerm), built in buf: a term is valid only during its call
// (a set keyed by string(t) allocates only for the terms it lacks). It
// returns buf for reuse.
func AppendHistoryTerms(buf []byte, r *HistoryRecord, add func([]byte)) []byte {
	// put appends kind and v (lower-cased when fold) and hands the term
	// to add, as term() would return it: nothing for an empty or too
	// long value.
	put := func(kind, v string, fold bool) {
		if v == "" {
			return
		}
		t := append(buf[:0], kind...)
		if fold {
			t = appendLower(t, v)
		} else {
			t = append(t, v...)
		}
		buf = t
		if len(t) == len(kind) || len(t) > maxTermLen {
			return
		}
		add(t)
	}
	put("q:", r.QueueID, true)
	put("x:", r.Action, false)
	for _, s := range r.Symbols {
		put("s:", s, false)
	}
	addr := func(a string) {
		if a == "" {
			return
		}
		put("a:", a, true)
		if i := strings.LastIndexByte(a, '@'); i >= 0 && i+1 < len(a) {
			put("d:", strings.TrimSuffix(a[i+1:], "."), true)
		}
	}
	addr(r.From)
	for _, a := range r.RcptList {
		addr(a)
	}
	if ip, err := netip.ParseAddr(r.ClientIP); err == nil {
		ip = ip.Unmap()
		buf = ip.AppendTo(append(buf[:0], "i:"...))
		if len(buf) <= maxTermLen {
			add(buf)
		}
		lens := IndexNets4
		if ip.Is6() {
			lens = IndexNets6
		}
		for _, n := range lens {
			if p, err := ip.Prefix(n); err == nil {
				buf = p.AppendTo(append(buf[:0], "n:"...))
				if len(buf) <= maxTermLen {
					add(buf)
				}
			}
		}
	}
	return buf
}

// caseFold maps s to one string of its strings.EqualFold class, so that
// the index terms of two values agree exactly when the filters' Match
// (EqualFold) does: each rune becomes the lower case of the smallest rune
// of its Unicode simple case folding orbit (or that rune, when its lower
// case is not in the orbit). That is strings.ToLower for ASCII and most
// letters, but not for the few where they differ: 'ſ' (U+017F) is "s",
// 'ς' is "σ" (EqualFold joins them, ToLower did not), 'İ' stays "İ"
// (ToLower made it "i", which EqualFold keeps apart).
func caseFold(s string) string { return strings.Map(foldRune, s) }

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	// The lower case, if it folds with r: not 'İ' → 'i', which would
	// join 'İ' and 'I', that EqualFold keeps apart.
	if l := unicode.ToLower(m); l != m {
		for f := unicode.SimpleFold(m); f != m; f = unicode.SimpleFold(f) {
			if f == l {
				return l
			}
		}
	}
	return m
}

// appendLower appends caseFold(s), without allocating for ASCII.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, caseFold(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// Decode decodes raw, a record's stored JSON, if it passes q's needles
// and Match; fold is the needles' scratch buffer.
func (q HistoryQuery) Decode(raw []byte, fold *[]byte) (HistoryRecord, bool) {
	var r HistoryRecord
	if len(q.Needles) > 0 {
		var ok bool
		if ok, *fold = q.Pass(raw, *fold); !ok {
			return r, false
		}
	}
	if json.Unmarshal(raw, &r) != nil {
		return r, false
	}
	if q.Match != nil && !q.Match(&r) {
		return r, false
	}
	return r, true
}
