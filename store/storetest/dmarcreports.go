package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// RunDMARCReports is the conformance suite of store.DMARCReports: stored
// once under its ID (also when hosts race), found by domain and period,
// gone after its expiry.
func RunDMARCReports(t *testing.T, open Opener) {
	t.Run("AddList", func(t *testing.T) { testDMARCAddList(t, open(t, store.Options{}).(store.DMARCReports)) })
	t.Run("Concurrent", func(t *testing.T) { testDMARCConcurrent(t, open(t, store.Options{}).(store.DMARCReports)) })
}

func dmarcReport(id, dom string, begin time.Time, keep time.Duration) store.DMARCReport {
	return store.DMARCReport{ID: id, Domain: dom, Begin: begin, End: begin.Add(24*time.Hour - time.Second),
		Received: T0, Expires: T0.Add(keep), Data: []byte(`{"id":"` + id + `"}`)}
}

func testDMARCAddList(t *testing.T, s store.DMARCReports) {
	ctx := context.Background()
	day := 24 * time.Hour
	for i := range 5 {
		r := dmarcReport(fmt.Sprint("org!", i), "example.org", T0.Add(-time.Duration(i)*day), time.Duration(i+1)*day)
		added, err := s.DMARCReportAdd(ctx, r, T0)
		if err != nil || !added {
			t.Fatalf("add %d: %v %v", i, added, err)
		}
	}
	if _, err := s.DMARCReportAdd(ctx, dmarcReport("other!1", "example.net", T0, day), T0); err != nil {
		t.Fatal(err)
	}
	// The same ID again is not stored a second time, even with new data.
	dup := dmarcReport("org!0", "example.org", T0, 9*day)
	dup.Data = []byte(`{"dup":true}`)
	if added, err := s.DMARCReportAdd(ctx, dup, T0); err != nil || added {
		t.Fatalf("duplicate: added=%v err=%v", added, err)
	}
	all, err := s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", Now: T0})
	if err != nil || len(all) != 5 {
		t.Fatalf("list all: %d %v", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Begin.Before(all[i-1].Begin) {
			t.Errorf("not oldest first: %v before %v", all[i].Begin, all[i-1].Begin)
		}
	}
	if string(all[4].Data) != `{"id":"org!0"}` {
		t.Errorf("newest report's data %s (the duplicate replaced it?)", all[4].Data)
	}
	// Period [T0-2d, T0-1d): the report of T0-2d (and none other: T0-3d
	// ends before T0-2d, T0-1d begins at the upper bound).
	got, err := s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", From: T0.Add(-2 * day), To: T0.Add(-day), Now: T0})
	if err != nil || len(got) != 1 || got[0].ID != "org!2" {
		t.Fatalf("period: %+v %v", got, err)
	}
	if got, _ := s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", Now: T0, Limit: 2}); len(got) != 2 {
		t.Errorf("limit 2: %d", len(got))
	}
	ds, err := s.DMARCReportDomains(ctx, T0)
	if err != nil || fmt.Sprint(ds) != "[example.net example.org]" {
		t.Errorf("domains %v %v", ds, err)
	}
	// Two and a half days later, the reports kept one and two days are
	// gone, logically at once and physically after the sweep.
	later := T0.Add(60 * time.Hour)
	got, _ = s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", Now: later})
	if len(got) != 3 {
		t.Fatalf("after expiry: %d reports", len(got))
	}
	if _, err := s.DMARCReportSweep(ctx, later); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", Now: later})
	if len(got) != 3 {
		t.Fatalf("after sweep: %d reports", len(got))
	}
	if ds, _ := s.DMARCReportDomains(ctx, later); fmt.Sprint(ds) != "[example.org]" {
		t.Errorf("domains after expiry %v", ds)
	}
	// An expired ID may be stored again.
	if added, err := s.DMARCReportAdd(ctx, dmarcReport("org!0", "example.org", T0, 9*day), later); err != nil || !added {
		t.Errorf("re-add after expiry: %v %v", added, err)
	}
}

func testDMARCConcurrent(t *testing.T, s store.DMARCReports) {
	ctx := context.Background()
	var added atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.DMARCReportAdd(ctx, dmarcReport("race!1", "example.org", T0, time.Hour), T0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				added.Add(1)
			}
		}()
	}
	wg.Wait()
	if added.Load() != 1 {
		t.Errorf("%d of 8 racing adds stored the report, want 1", added.Load())
	}
}
