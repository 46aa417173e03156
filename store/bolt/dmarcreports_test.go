package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/storetest"
)

func TestDMARCReports(t *testing.T) { storetest.RunDMARCReports(t, openTemp) }

// The store's housekeeping (Sweep, run every SweepInterval) removes
// received reports past their retention from the disk, not only from
// what is read.
func TestSweepDMARCReports(t *testing.T) {
	s := openTemp(t, store.Options{}).(*Store)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, keep := range []time.Duration{time.Hour, 48 * time.Hour} {
		r := store.DMARCReport{ID: []string{"a!1", "b!2"}[i], Domain: "example.org", Begin: t0, End: t0.Add(time.Hour),
			Received: t0, Expires: t0.Add(keep), Data: []byte(`{}`)}
		if _, err := s.DMARCReportAdd(ctx, r, t0); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Hour)
	if n, err := s.Sweep(ctx, now); err != nil || n != 1 {
		t.Fatalf("sweep: %d removed, %v; want 1", n, err)
	}
	// Asked as if it were before the expiry, only the kept one is there:
	// the other is gone from the disk.
	rs, err := s.DMARCReportList(ctx, store.DMARCReportQuery{Domain: "example.org", Now: t0})
	if err != nil || len(rs) != 1 || rs[0].ID != "b!2" {
		t.Fatalf("after the sweep: %+v %v", rs, err)
	}
}
