package recorder

import (
	"maps"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// Aggregates are tallies (see store.TallyAdd) per hour, day and month,
// so that the dashboard's top lists over a year read a dozen tallies,
// not a year of history. Rows:
//
//	"s|SYMBOL"         verdicts with the symbol
//	"n|192.0.2.0/24"   rejected verdicts from the client network (/24, /64)
//	"d|example.org"    rejected verdicts from the envelope sender's domain
//	"g|greylisted"     greylisted attempts; "g|retry" retries that passed
const (
	AggHourPrefix  = "agg:h:"
	AggDayPrefix   = "agg:d:"
	AggMonthPrefix = "agg:m:"
)

// AggNames returns the tally names of the hour, the day and the month
// containing t (UTC).
func AggNames(t time.Time) (hour, day, month string) {
	t = t.UTC()
	return AggHourPrefix + t.Format("2006010215"), AggDayPrefix + t.Format("20060102"), AggMonthPrefix + t.Format("200601")
}

// StatGreylisted is the statistics row (the action of store.StatsAdd)
// of the messages greylisting deferred (see Greylisted): a part of
// "soft reject", which keeps counting them as rspamd does, so that
// rspamd's controller API stays rspamd's while hamlet's dashboard tells
// greylisted mail from the other soft rejects, per hour and per day.
// It is no action: a reader of the statistics that sums the actions
// skips it.
const StatGreylisted = "greylisted"

// Greylisted reports whether rec is a message that greylisting deferred:
// the greylist finisher made it "soft reject" and gave GREYLIST the
// option "greylisted" (checks.Greylist).
func Greylisted(rec *store.HistoryRecord) bool {
	if rec.Action != "soft reject" {
		return false
	}
	for i, s := range rec.Symbols {
		if s == "GREYLIST" && i < len(rec.Hits) {
			o := rec.Hits[i].Options
			return len(o) > 0 && o[0] == "greylisted"
		}
	}
	return false
}

// AggRows returns the aggregate rows of one record.
func AggRows(rec store.HistoryRecord, add func(row string)) {
	for i, s := range rec.Symbols {
		add(symbolRow(s))
		if s == "GREYLIST" && i < len(rec.Hits) && len(rec.Hits[i].Options) > 0 {
			o := rec.Hits[i].Options
			switch {
			case o[0] == "greylisted":
				add("g|greylisted")
			case o[0] == "pass" && len(o) > 1 && o[1] == "retry":
				add("g|retry")
			}
		}
	}
	if rec.Action != "reject" {
		return
	}
	if ip, err := netip.ParseAddr(rec.ClientIP); err == nil {
		bits := 24
		if ip.Is6() {
			bits = 64
		}
		p, _ := ip.Prefix(bits)
		add("n|" + p.String())
	}
	if i := strings.LastIndexByte(rec.From, '@'); i >= 0 && i+1 < len(rec.From) {
		add("d|" + strings.ToLower(rec.From[i+1:]))
	}
}

// tally is the rows one batch adds to one aggregate.
type tally struct {
	rows    map[string]int64
	expires time.Time
	owned   bool // rows is this tally's own map, not an hour's
}

// aggregates returns the rows the batch adds to each aggregate.
// symbolRow is the aggregate row of a symbol, "s|SYMBOL"; symbols are
// few and repeat in every record, so their rows are made once (up to
// maxInterned of them).
func symbolRow(s string) string {
	if v, ok := symbolRows.Load(s); ok {
		return v.(string)
	}
	row := "s|" + s
	if symbolRowsN.Add(1) <= maxInterned {
		symbolRows.Store(s, row)
	}
	return row
}

const maxInterned = 4096

var (
	symbolRows  sync.Map // symbol → its row
	symbolRowsN atomic.Int64
)

func (r *Recorder) aggregates(batch []store.HistoryRecord) map[string]*tally {
	// A record's rows are counted once, in its hour's map; the day's
	// and the month's tallies are the sums of their hours (the same map
	// when the batch has one hour of them, as it mostly has: tallies
	// are only read).
	type hour struct {
		start time.Time
		first time.Time // the batch's first record in the hour
		rows  map[string]int64
	}
	var hours []*hour
	var cur *hour
	for i := range batch {
		rec := &batch[i]
		hr := rec.Time.UTC().Truncate(time.Hour)
		if cur == nil || !hr.Equal(cur.start) {
			cur = nil
			for _, h := range hours {
				if h.start.Equal(hr) {
					cur = h
					break
				}
			}
			if cur == nil {
				cur = &hour{start: hr, first: rec.Time, rows: map[string]int64{}}
				hours = append(hours, cur)
			}
		}
		rows := cur.rows
		AggRows(*rec, func(row string) { rows[row]++ })
	}
	ts := map[string]*tally{}
	add := func(name string, exp time.Time, rows map[string]int64) {
		if len(rows) == 0 {
			return
		}
		t := ts[name]
		switch {
		case t == nil:
			ts[name] = &tally{rows: rows, expires: exp}
		default:
			if !t.owned { // shared with another tally: copy before adding
				t.rows, t.owned = maps.Clone(t.rows), true
			}
			for k, n := range rows {
				t.rows[k] += n
			}
		}
	}
	for _, h := range hours {
		hn, dn, mn := AggNames(h.start)
		add(hn, h.first.Add(r.keepH), h.rows)
		add(dn, h.first.Add(r.keepD), h.rows)
		add(mn, h.first.Add(r.keepD+31*24*time.Hour), h.rows)
	}
	return ts
}
