package recorder

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// TestAggregates checks a batch's tallies against counting each record
// into its hour, day and month one by one, for a batch across hours, a
// day and a month, out of order; and that the store holds those counts.
func TestAggregates(t *testing.T) {
	at := func(s string) time.Time {
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	rec := func(ts, action, ip string, syms ...string) store.HistoryRecord {
		r := store.HistoryRecord{Time: at(ts), Action: action, ClientIP: ip, From: "a@Example.ORG", Symbols: syms}
		for range syms {
			r.Hits = append(r.Hits, store.HistoryHit{Score: 1})
		}
		return r
	}
	batch := []store.HistoryRecord{
		rec("2026-01-31T23:30:00Z", "reject", "192.0.2.1", "A", "B"),
		rec("2026-01-31T23:50:00Z", "no action", "192.0.2.2", "A"),
		rec("2026-02-01T00:10:00Z", "reject", "198.51.100.7", "B", "C"),
		rec("2026-02-01T00:20:00Z", "add header", "192.0.2.3", "A", "C"),
		rec("2026-02-01T01:10:00Z", "reject", "2001:db8::1", "C"),
		rec("2026-02-01T00:40:00Z", "reject", "192.0.2.9", "A"),
		rec("2026-01-31T23:59:00Z", "no action", "", "B"),
	}
	batch[2].Symbols = append(batch[2].Symbols, "GREYLIST")
	batch[2].Hits = append(batch[2].Hits, store.HistoryHit{Options: []string{"greylisted"}})
	r := &Recorder{keepH: time.Hour, keepD: 24 * time.Hour}
	type want struct {
		rows    map[string]int64
		expires time.Time
	}
	wants := map[string]*want{}
	for _, rec := range batch {
		h, d, m := AggNames(rec.Time)
		for name, keep := range map[string]time.Duration{h: r.keepH, d: r.keepD, m: r.keepD + 31*24*time.Hour} {
			w := wants[name]
			if w == nil {
				w = &want{rows: map[string]int64{}, expires: rec.Time.Add(keep)}
				wants[name] = w
			}
			AggRows(rec, func(row string) { w.rows[row]++ })
		}
	}
	got := r.aggregates(batch)
	if len(got) != len(wants) {
		t.Errorf("%d tallies, want %d (%v)", len(got), len(wants), slices.Collect(maps.Keys(got)))
	}
	for name, w := range wants {
		g := got[name]
		if g == nil {
			t.Errorf("tally %s missing", name)
			continue
		}
		if !maps.Equal(g.rows, w.rows) || !g.expires.Equal(w.expires) {
			t.Errorf("tally %s = %v, expires %v; want %v, %v", name, g.rows, g.expires, w.rows, w.expires)
		}
	}
	if got["agg:m:202602"].rows["n|192.0.2.0/24"] != 1 || got["agg:d:20260201"].rows["s|A"] != 2 || got["agg:h:2026020100"].rows["g|greylisted"] != 1 {
		t.Errorf("spot checks: %v, %v, %v", got["agg:m:202602"].rows, got["agg:d:20260201"].rows, got["agg:h:2026020100"].rows)
	}

	// Through the store: what the dashboard reads.
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := at("2026-02-01T01:15:00Z")
	rr := New(st, Options{Now: func() time.Time { return now }})
	rr.write(batch)
	rr.write(batch[:2])
	rr.Close()
	stored := map[string]map[string]int64{}
	for _, rec := range append(slices.Clone(batch), batch[:2]...) {
		h, d, m := AggNames(rec.Time)
		for _, name := range []string{h, d, m} {
			if stored[name] == nil {
				stored[name] = map[string]int64{}
			}
			AggRows(rec, func(row string) { stored[name][row]++ })
		}
	}
	for name, w := range stored {
		rows, err := st.TallyGet(context.Background(), name, now)
		if err != nil || !maps.Equal(rows, w) {
			t.Errorf("stored %s = %v, %v; want %v", name, rows, err, w)
		}
	}
}

// A record packed while it waits is the record unpacked.
func TestPack(t *testing.T) {
	tx, v := realisticVerdict(3)
	full := Record(tx, v, t0)
	full.Elapsed, full.ForcedBy, full.Phase, full.Class, full.QueueID = 0.0031, "R_SPF_FAIL", "rcpt", "outbound", "4XyZ"
	full.RcptList = []string{"a@example.com", "", "b@exämple.com"}
	for _, r := range []store.HistoryRecord{
		{Time: t0},
		{Time: t0, Action: "reject", Symbols: []string{"A", "B"}, Hits: []store.HistoryHit{{Score: 1, Weight: 2, Options: []string{"x", ""}}, {Score: -0.5}}},
		{Time: t0, ID: "0001", From: "\xff<a>", Rcpts: 3, Score: 1e300, Required: 15, Symbols: []string{""}, Hits: []store.HistoryHit{{Options: []string{"\u2028"}}}},
		full,
	} {
		p := pack(&r)
		got := p.unpack()
		want, _ := r.AppendJSON(nil)
		have, _ := got.AppendJSON(nil)
		if string(have) != string(want) || !got.Time.Equal(r.Time) || got.Time.Location() != r.Time.Location() {
			t.Errorf("unpacked\n%s\nwant\n%s", have, want)
		}
	}
}
