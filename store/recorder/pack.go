package recorder

import (
	"math"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// packed is a history record as it waits for its batch: its strings
// joined in one, their lengths and its numbers in two arrays without
// pointers. The garbage collector marks every waiting record in each of
// its cycles, and a record as built holds some forty objects (its
// symbols, options and their arrays); packed, two, without pointers. Under load a
// thousand records wait (a linger's worth), and marking them cost more
// than writing them.
type packed struct {
	time  time.Time
	rcpts int
	nsym  int
	text  string   // the strings, in packedFields order, then each symbol and its options, then the recipients
	data  []uint64 // Score, Required, Elapsed and each hit's score and weight (float64 bits), then the strings' lengths (and, before a symbol's options and before the recipients, their number)
}

// packedFields are the record's single strings, in text's order.
func packedFields(r *store.HistoryRecord) [10]*string {
	return [10]*string{&r.ID, &r.QueueID, &r.ClientIP, &r.From, &r.Action, &r.Helo, &r.ClientHost, &r.ForcedBy, &r.Phase, &r.Class}
}

// packVerdict packs the history record of a verdict: what Record
// returns, with Elapsed and the addresses hashed with key (when not
// nil), without building it.
func packVerdict(tx *engine.Transaction, v *engine.Verdict, at time.Time, elapsed float64, key []byte) packed {
	from := tx.MailFrom
	if key != nil {
		from = HashAddress(key, from)
	}
	rcpts := tx.Rcpts[:min(len(tx.Rcpts), store.MaxHistoryRcpts)]
	phase, class := "", ""
	if !v.Final {
		phase = v.Phase.String()
	}
	switch {
	case tx.Local:
		class = "local"
	case tx.Outbound:
		class = "outbound"
	case tx.Allowlisted:
		class = "allowlisted"
	}
	action := v.Action.String()
	size := len(tx.QueueID) + 45 + len(from) + len(action) + len(tx.Helo) + len(tx.ClientPTR) + len(v.ForcedBy) + len(phase) + len(class)
	nopts := 0
	for _, s := range v.Symbols {
		size += len(s.Name)
		nopts += len(s.Options)
		for _, o := range s.Options {
			size += len(o)
		}
	}
	for _, a := range rcpts {
		size += len(a) + 30 // a hash is longer
	}
	n := len(v.Symbols)
	p := packed{time: at, rcpts: len(tx.Rcpts), nsym: n}
	p.data = make([]uint64, 3+2*n, 3+2*n+10+2*n+nopts+1+len(rcpts))
	p.data[0], p.data[1], p.data[2] = math.Float64bits(v.Score), math.Float64bits(v.RequiredScore), math.Float64bits(elapsed)
	text := make([]byte, 0, size)
	str := func(s string) {
		text = append(text, s...)
		p.data = append(p.data, uint64(len(s)))
	}
	str("") // ID: HistoryAdd's
	str(tx.QueueID)
	if tx.ClientIP.IsValid() {
		start := len(text)
		text = tx.ClientIP.AppendTo(text)
		p.data = append(p.data, uint64(len(text)-start))
	} else {
		str("")
	}
	str(from)
	str(action)
	str(tx.Helo)
	str(tx.ClientPTR)
	str(v.ForcedBy)
	str(phase)
	str(class)
	for i, s := range v.Symbols {
		p.data[3+2*i], p.data[4+2*i] = math.Float64bits(s.Score), math.Float64bits(s.Weight)
		str(s.Name)
		p.data = append(p.data, uint64(len(s.Options)))
		for _, o := range s.Options {
			str(o)
		}
	}
	p.data = append(p.data, uint64(len(rcpts)))
	for _, a := range rcpts {
		if key != nil {
			a = HashAddress(key, a)
		}
		str(a)
	}
	p.text = string(text)
	return p
}

// arena holds the arrays of a batch's unpacked records, for the next
// batch: the records are garbage once written (the stores keep none of
// their slices), and a batch's arrays allocated afresh each time made
// the heap swing by a megabyte per batch.
type arena struct {
	strs []string // symbols, options and recipients
	hits []store.HistoryHit
}

// reset empties a for the next batch (dropping what its arrays point to).
func (a *arena) reset() {
	clear(a.strs)
	clear(a.hits)
	a.strs, a.hits = a.strs[:0], a.hits[:0]
}

// take returns n of a's strings (or hits): the next ones of its array, or a
// new array's when it is full (earlier records keep the old one).
func (a *arena) take(n int) []string {
	if len(a.strs)+n > cap(a.strs) {
		a.strs = make([]string, 0, max(2*cap(a.strs), n, 4096))
	}
	a.strs = a.strs[:len(a.strs)+n]
	return a.strs[len(a.strs)-n : len(a.strs) : len(a.strs)]
}

func (a *arena) takeHits(n int) []store.HistoryHit {
	if len(a.hits)+n > cap(a.hits) {
		a.hits = make([]store.HistoryHit, 0, max(2*cap(a.hits), n, 1024))
	}
	a.hits = a.hits[:len(a.hits)+n]
	return a.hits[len(a.hits)-n : len(a.hits) : len(a.hits)]
}

// unpack returns the record p packs (its strings are p.text's, its
// arrays a's).
func (p *packed) unpack(a *arena) store.HistoryRecord {
	r := store.HistoryRecord{Time: p.time, Rcpts: p.rcpts}
	nsym := p.nsym
	num := func(i int) float64 { return math.Float64frombits(p.data[i]) }
	off, li := 0, 3+2*nsym
	next := func() string {
		n := int(p.data[li])
		li++
		s := p.text[off : off+n]
		off += n
		return s
	}
	for _, f := range packedFields(&r) {
		*f = next()
	}
	r.Score, r.Required, r.Elapsed = num(0), num(1), num(2)
	if nsym > 0 {
		r.Symbols = a.take(nsym)
		r.Hits = a.takeHits(nsym)
		for i := range nsym {
			r.Symbols[i] = next()
			h := &r.Hits[i]
			h.Score, h.Weight = num(3+2*i), num(4+2*i)
			n := int(p.data[li])
			li++
			if n > 0 {
				h.Options = a.take(n)
				for j := range h.Options {
					h.Options[j] = next()
				}
			}
		}
	}
	if n := int(p.data[li]); n > 0 {
		li++
		r.RcptList = a.take(n)
		for i := range r.RcptList {
			r.RcptList[i] = next()
		}
	}
	return r
}
