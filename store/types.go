package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AllowEntry is an allowlist entry. Keys are chosen by the user of the
// store (package greylist uses "net:192.0.2.0/24", "domain:example.org").
type AllowEntry struct {
	Key    string    `json:"key"`
	Reason string    `json:"reason,omitempty"` // e.g. "admin", "auto: 5 passes"
	Added  time.Time `json:"added"`
	// Expires is zero for an entry that never expires.
	Expires time.Time `json:"expires,omitzero"`
}

// Expired reports whether the entry no longer counts at now.
func (e AllowEntry) Expired(now time.Time) bool {
	return !e.Expires.IsZero() && now.After(e.Expires)
}

// Counter is the state of a counter.
type Counter struct {
	Value int64 `json:"value"`
	// Last is when Value was last incremented.
	Last time.Time `json:"last,omitzero"`
	// Expires is when the counter drops back to zero.
	Expires time.Time `json:"expires,omitzero"`
}

// CounterOp is one increment of a counter.
type CounterOp struct {
	Now time.Time
	// TTL: the counter expires TTL after its latest CounterIncr (even one
	// that MinInterval kept from incrementing).
	TTL time.Duration
	// MinInterval, when positive, makes the increment a no-op if the
	// previous one was less than MinInterval ago (a counter of "distinct
	// hours with a pass", say).
	MinInterval time.Duration
	// Delta is added to the value (zero means 1).
	Delta int64
}

// ApplyCounter is the counter rule both stores implement.
func ApplyCounter(old Counter, found bool, op CounterOp) Counter {
	now := FromMillis(Millis(op.Now))
	c := old
	if !found || (!c.Expires.IsZero() && now.After(c.Expires)) {
		c = Counter{}
	}
	d := op.Delta
	if d == 0 {
		d = 1
	}
	if c.Last.IsZero() || op.MinInterval <= 0 || now.Sub(c.Last) >= op.MinInterval {
		c.Value += d
		c.Last = now
	}
	c.Expires = now.Add(op.TTL)
	return c
}

// HistoryRecord is what the history keeps of one scanned message: never
// its body or headers; recipients only up to MaxHistoryRcpts (or as keyed
// hashes).
type HistoryRecord struct {
	// ID is unique within the store; assigned by HistoryAdd when empty.
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	QueueID  string    `json:"queue_id,omitempty"`
	ClientIP string    `json:"client_ip,omitempty"`
	From     string    `json:"from"`
	Rcpts    int       `json:"rcpts"`
	Action   string    `json:"action"`
	Score    float64   `json:"score"`
	Symbols  []string  `json:"symbols,omitempty"`

	// What the controller shows besides (all optional; older records
	// lack them). RcptList holds up to MaxHistoryRcpts recipients, or
	// their keyed hashes when [history] hash_addresses is set.
	Helo       string       `json:"helo,omitempty"`
	ClientHost string       `json:"host,omitempty"`
	RcptList   []string     `json:"rcpt,omitempty"`
	Required   float64      `json:"required,omitempty"`  // reject threshold at the time
	ForcedBy   string       `json:"forced_by,omitempty"` // symbol that forced Action
	Phase      string       `json:"phase,omitempty"`     // "connect" … "data": an early verdict's phase
	Class      string       `json:"class,omitempty"`     // "local", "outbound", "allowlisted" or "" (inbound)
	Elapsed    float64      `json:"elapsed,omitempty"`   // scan time in seconds
	Hits       []HistoryHit `json:"hits,omitempty"`      // Symbols' scores, in the same order
}

// HistoryHit is a symbol's score, weight and options in a record.
type HistoryHit struct {
	Score   float64  `json:"s"`
	Weight  float64  `json:"w"`
	Options []string `json:"o,omitempty"`
}

// MaxHistoryRcpts bounds the recipients a history record keeps.
const MaxHistoryRcpts = 10

// History bounds on the strings of a record: longer values are cut.
const (
	maxHistoryString  = 320
	maxHistorySymbols = 128
	maxHitOptions     = 5
	maxHitOption      = 100
)

// cutAll returns ss with at most n strings of at most max bytes each: ss
// itself (resliced) when none is longer, else a copy.
func cutAll(ss []string, n, max int) []string {
	if len(ss) > n {
		ss = ss[:n]
	}
	for i, s := range ss {
		if len(s) > max {
			out := slices.Clone(ss)
			for j := i; j < len(out); j++ {
				if len(out[j]) > max {
					out[j] = strings.ToValidUTF8(out[j][:max], "")
				}
			}
			return out
		}
	}
	return ss
}

// Normalize validates r and cuts over-long fields, so that a record never
// grows without bound.
func (r HistoryRecord) Normalize() (HistoryRecord, error) {
	if r.Time.IsZero() {
		return r, fmt.Errorf("%w: history record without time", ErrInvalid)
	}
	r.Time = FromMillis(Millis(r.Time))
	cut := func(s string) string {
		if len(s) > maxHistoryString {
			s = strings.ToValidUTF8(s[:maxHistoryString], "")
		}
		return s
	}
	r.ID, r.QueueID, r.ClientIP, r.From, r.Action = cut(r.ID), cut(r.QueueID), cut(r.ClientIP), cut(r.From), cut(r.Action)
	r.Helo, r.ClientHost, r.ForcedBy, r.Phase, r.Class = cut(r.Helo), cut(r.ClientHost), cut(r.ForcedBy), cut(r.Phase), cut(r.Class)
	// The slices are copied only when something in them is cut (the
	// record is written at once; most are within bounds).
	r.Symbols = cutAll(r.Symbols, maxHistorySymbols, maxHistoryString)
	r.RcptList = cutAll(r.RcptList, MaxHistoryRcpts, maxHistoryString)
	if len(r.Hits) > len(r.Symbols) {
		r.Hits = r.Hits[:len(r.Symbols)]
	}
	copied := false
	for i := range r.Hits {
		o := cutAll(r.Hits[i].Options, maxHitOptions, maxHitOption)
		if len(o) == len(r.Hits[i].Options) && (len(o) == 0 || &o[0] == &r.Hits[i].Options[0]) {
			continue
		}
		if !copied {
			r.Hits, copied = slices.Clone(r.Hits), true
		}
		r.Hits[i].Options = o
	}
	if len(r.RcptList) == 0 {
		r.RcptList = nil
	}
	if len(r.Hits) == 0 {
		r.Hits = nil
	}
	return r, nil
}

// HistoryQuery selects history records.
type HistoryQuery struct {
	// Before, when not zero, returns only records strictly older (paging).
	Before time.Time
	// After, when not zero, returns only records at or after it.
	After time.Time
	// Limit bounds the result (<= 0: 100).
	Limit int
	// Needles, when set, must each occur in a record's stored JSON for
	// it to be decoded at all: a cheap pre-filter a store applies before
	// Match. A needle with Fold matches ASCII letters in either case.
	Needles []Needle
	// Match, when not nil, keeps only the records it accepts.
	Match func(*HistoryRecord) bool
	// MaxScan, when positive, bounds the records a filtered query
	// examines; Scanned in the result says how far it got.
	MaxScan int
	// Terms, when set, are index terms (see HistoryTerms) that every
	// record the query returns has: a store with a history index skips
	// the hours whose records lack one (Match must still check them).
	Terms []string
}

// Needle is a byte string a filtered history query looks for.
type Needle struct {
	Bytes []byte
	Fold  bool // Bytes is lower case; match either case
}

// Filtered reports whether q filters (needles or Match).
func (q HistoryQuery) Filtered() bool { return len(q.Needles) > 0 || q.Match != nil }

// Pass reports whether raw, a record's stored JSON, contains every needle;
// fold is a scratch buffer (returned, maybe grown).
func (q HistoryQuery) Pass(raw, fold []byte) (bool, []byte) {
	lowered := false
	for _, n := range q.Needles {
		if !n.Fold {
			if !bytes.Contains(raw, n.Bytes) {
				return false, fold
			}
			continue
		}
		if !lowered {
			fold = foldJSON(fold[:0], raw)
			lowered = true
		}
		if !bytes.Contains(fold, n.Bytes) {
			return false, fold
		}
	}
	return true, fold
}

// foldJSON appends raw with its ASCII letters in lower case, and the two
// other letters that strings.EqualFold (the filters' Match) joins with an
// ASCII one as that letter: 'ſ' (U+017F) as "s", the Kelvin sign as "k";
// else a Fold needle would drop a record Match accepts.
func foldJSON(b, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == 0xc5 && i+1 < len(raw) && raw[i+1] == 0xbf:
			c, i = 's', i+1
		case c == 0xe2 && i+2 < len(raw) && raw[i+1] == 0x84 && raw[i+2] == 0xaa:
			c, i = 'k', i+2
		}
		b = append(b, c)
	}
	return b
}

// DefaultLimit returns the limit to use for a query limit.
func DefaultLimit(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// Resolution is the bucket size of statistics.
type Resolution int

// Statistics resolutions.
const (
	Hourly Resolution = iota
	Daily
)

func (r Resolution) String() string {
	if r == Daily {
		return "day"
	}
	return "hour"
}

// Truncate returns the start (UTC) of the bucket containing t.
func (r Resolution) Truncate(t time.Time) time.Time {
	t = t.UTC()
	if r == Daily {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

// StatsBucket counts scans per action in one hour or day.
type StatsBucket struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// MaxActionLen bounds the action names StatsAdd accepts.
const MaxActionLen = 64

// CheckAction validates an action name for StatsAdd.
func CheckAction(action string) error {
	if action == "" || len(action) > MaxActionLen {
		return fmt.Errorf("%w: action name %q", ErrInvalid, action)
	}
	return nil
}
