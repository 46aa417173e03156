package storetest

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// testHistoryIndex checks that a query with index terms returns what the
// same query answers by reading every record, over records spread across
// index blocks, before and after the count bound trims the oldest.
func testHistoryIndex(t *testing.T, s store.Store) {
	c := ctx(t)
	rec := func(i int) store.HistoryRecord {
		actions := []string{"no action", "add header", "reject", "soft reject"}
		return store.HistoryRecord{
			// 7 records an hour: blocks of several records, some hours
			// without any (i%50 >= 40 leaves gaps).
			Time:     T0.Add(time.Duration(i/7)*time.Hour + time.Duration(i%7)*time.Minute + time.Duration(i/50*10)*time.Hour),
			QueueID:  fmt.Sprintf("Q%04d", i),
			ClientIP: []string{fmt.Sprintf("192.0.%d.%d", i%5, i%3+1), fmt.Sprintf("2001:db8:%x::%x", i%4, i%9+1)}[i%2],
			From:     fmt.Sprintf("User%d@Domain%d.example", i%11, i%6),
			RcptList: []string{fmt.Sprintf("rcpt%d@example.com", i%13)},
			Action:   actions[i%len(actions)],
			Symbols:  []string{fmt.Sprintf("SYM_%d", i%17), "COMMON"},
		}
	}
	add := func(from, to int) {
		var rs []store.HistoryRecord
		for i := from; i < to; i++ {
			rs = append(rs, rec(i))
		}
		// Two batches, so that a block is written to twice.
		mid := len(rs) / 2
		if err := s.HistoryAdd(c, rs[:mid]...); err != nil {
			t.Fatal(err)
		}
		if err := s.HistoryAdd(c, rs[mid:]...); err != nil {
			t.Fatal(err)
		}
	}
	queries := []struct {
		name  string
		terms []string
	}{
		{"qid", []string{store.TermQueueID("q0042")}},
		{"qid absent", []string{store.TermQueueID("NOSUCH")}},
		{"action", []string{store.TermAction("reject")}},
		{"symbol", []string{store.TermSymbol("SYM_3")}},
		{"symbol absent", []string{store.TermSymbol("NONE")}},
		{"address", []string{store.TermAddr("user3@domain3.example")}},
		{"domain", []string{store.TermDomain("domain2.example")}},
		{"recipient", []string{store.TermAddr("rcpt5@example.com")}},
		{"ip", []string{store.NetTerm(netip.MustParsePrefix("192.0.2.1/32"))}},
		{"net /24", []string{store.NetTerm(netip.MustParsePrefix("192.0.3.0/24"))}},
		{"net /20 (by its /16)", []string{store.NetTerm(netip.MustParsePrefix("192.0.0.0/20"))}},
		{"net /64", []string{store.NetTerm(netip.MustParsePrefix("2001:db8:2::/64"))}},
		{"two terms", []string{store.TermAction("add header"), store.TermSymbol("SYM_5")}},
		{"two terms never together", []string{store.TermAction("reject"), store.TermSymbol("SYM_1")}},
	}
	check := func(stage string) {
		t.Helper()
		for _, qq := range queries {
			match := func(r *store.HistoryRecord) bool {
				terms := store.HistoryTerms(r)
				for _, want := range qq.terms {
					if !slices.Contains(terms, want) {
						return false
					}
				}
				return true
			}
			for _, bounds := range []struct {
				name          string
				before, after time.Time
				limit         int
			}{
				{"all", time.Time{}, time.Time{}, 1000},
				{"page of 3", time.Time{}, time.Time{}, 3},
				{"bounded", T0.Add(30 * time.Hour), T0.Add(5*time.Hour + 3*time.Minute), 1000},
			} {
				q := store.HistoryQuery{Before: bounds.before, After: bounds.after, Limit: bounds.limit, Match: match}
				want, err := s.HistoryList(c, q)
				if err != nil {
					t.Fatal(err)
				}
				q.Terms = qq.terms
				got, err := s.HistoryList(c, q)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, want, func(a, b store.HistoryRecord) bool { return a.ID == b.ID }) {
					t.Errorf("%s: %s, %s: the index answers %d records, a scan %d", stage, qq.name, bounds.name, len(got), len(want))
				}
			}
		}
	}
	add(0, 300)
	all, err := s.HistoryList(c, store.HistoryQuery{Limit: 1000})
	if err != nil || len(all) != 300 {
		t.Fatalf("history: %d records, %v", len(all), err)
	}
	byQID := func(r *store.HistoryRecord) bool { return r.QueueID == "Q0042" }
	// The terms skip blocks; Match picks the records.
	if got, _ := s.HistoryList(c, store.HistoryQuery{Limit: 10, Match: byQID, Terms: []string{store.TermQueueID("Q0042")}}); len(got) != 1 || got[0].QueueID != "Q0042" {
		t.Errorf("by queue id: %v", got)
	}
	check("300 records")
	// The count bound (400) drops the oldest 200: the blocks they were in
	// go, and queries still agree.
	add(300, 600)
	check("after trimming")
	if got, _ := s.HistoryList(c, store.HistoryQuery{Limit: 10, Match: byQID, Terms: []string{store.TermQueueID("Q0042")}}); len(got) != 0 {
		t.Errorf("a trimmed record is found by its queue id: %v", got)
	}
}
