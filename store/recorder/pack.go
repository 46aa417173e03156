package recorder

import (
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// packed is a history record as it waits for its batch: its strings
// joined in one, their lengths and its numbers in two arrays without
// pointers. The garbage collector marks every waiting record in each of
// its cycles, and a record as built holds some forty objects (its
// symbols, options and their arrays); packed, three. Under load a
// thousand records wait (a linger's worth), and marking them cost more
// than writing them.
type packed struct {
	time  time.Time
	rcpts int
	text  string    // the strings, in packedFields order, then symbols and options, then recipients
	lens  []uint32  // their lengths; before a symbol's options and before the recipients, their number
	nums  []float64 // Score, Required, Elapsed, then each hit's score and weight
}

// packedFields are the record's single strings, in text's order.
func packedFields(r *store.HistoryRecord) [10]*string {
	return [10]*string{&r.ID, &r.QueueID, &r.ClientIP, &r.From, &r.Action, &r.Helo, &r.ClientHost, &r.ForcedBy, &r.Phase, &r.Class}
}

// pack packs r.
func pack(r *store.HistoryRecord) packed {
	fields := packedFields(r)
	size, nlens := 0, len(fields)+1+len(r.Symbols)+len(r.RcptList)
	for _, f := range fields {
		size += len(*f)
	}
	for i, s := range r.Symbols {
		size += len(s)
		nlens++
		if i < len(r.Hits) {
			nlens += len(r.Hits[i].Options)
			for _, o := range r.Hits[i].Options {
				size += len(o)
			}
		}
	}
	for _, a := range r.RcptList {
		size += len(a)
	}
	var sb strings.Builder
	sb.Grow(size)
	p := packed{time: r.Time, rcpts: r.Rcpts, lens: make([]uint32, 0, nlens), nums: make([]float64, 0, 3+2*len(r.Symbols))}
	str := func(s string) {
		sb.WriteString(s)
		p.lens = append(p.lens, uint32(len(s)))
	}
	for _, f := range fields {
		str(*f)
	}
	p.nums = append(p.nums, r.Score, r.Required, r.Elapsed)
	for i, s := range r.Symbols {
		str(s)
		var h store.HistoryHit
		if i < len(r.Hits) {
			h = r.Hits[i]
		}
		p.nums = append(p.nums, h.Score, h.Weight)
		p.lens = append(p.lens, uint32(len(h.Options)))
		for _, o := range h.Options {
			str(o)
		}
	}
	p.lens = append(p.lens, uint32(len(r.RcptList)))
	for _, a := range r.RcptList {
		str(a)
	}
	p.text = sb.String()
	return p
}

// unpack returns the record p packs (its strings are p.text's).
// Records with more symbols than hits get a hit for each (zero, without
// options), as they are written.
func (p *packed) unpack() store.HistoryRecord {
	r := store.HistoryRecord{Time: p.time, Rcpts: p.rcpts}
	off, li := 0, 0
	next := func() string {
		n := int(p.lens[li])
		li++
		s := p.text[off : off+n]
		off += n
		return s
	}
	for _, f := range packedFields(&r) {
		*f = next()
	}
	r.Score, r.Required, r.Elapsed = p.nums[0], p.nums[1], p.nums[2]
	nsym := (len(p.nums) - 3) / 2
	if nsym > 0 {
		r.Symbols = make([]string, nsym)
		r.Hits = make([]store.HistoryHit, nsym)
		// One array for every hit's options.
		opts := make([]string, 0, len(p.lens)-li-2*nsym)
		for i := range nsym {
			r.Symbols[i] = next()
			h := &r.Hits[i]
			h.Score, h.Weight = p.nums[3+2*i], p.nums[4+2*i]
			n := int(p.lens[li])
			li++
			if n > 0 {
				start := len(opts)
				for range n {
					opts = append(opts, next())
				}
				h.Options = opts[start:len(opts):len(opts)]
			}
		}
	}
	if n := int(p.lens[li]); n > 0 {
		li++
		r.RcptList = make([]string, n)
		for i := range r.RcptList {
			r.RcptList[i] = next()
		}
	}
	return r
}
