package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/recorder"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// benchRows is the history size of the page benchmarks (issue 13: one
// million); HAMLET_BENCH_ROWS overrides it for a quicker run.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("HAMLET_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// fillHistory writes n records over the last 30 days, 10% rejected, 5%
// greylisted, with their statistics and aggregates, as the recorder
// would.
func fillHistory(b *testing.B, st store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	span := 30 * 24 * time.Hour
	const batch = 5000
	actions := []string{"no action", "no action", "no action", "no action", "no action", "add header", "add header", "greylist", "soft reject", "reject"}
	for done := 0; done < n; done += batch {
		var rs []store.HistoryRecord
		stats := map[[2]string]int64{}
		aggs := map[string]map[string]int64{}
		for i := done; i < min(done+batch, n); i++ {
			// (float: i×span overflows a Duration past 3,558 rows)
			at := now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n)))
			a := actions[i%len(actions)]
			rec := store.HistoryRecord{Time: at, QueueID: fmt.Sprintf("Q%08X", i), ClientIP: fmt.Sprintf("192.0.%d.%d", i%200, i%250+1),
				From: fmt.Sprintf("user%d@domain%d.example", i%5000, i%700), Rcpts: 1, RcptList: []string{"postmaster@example.com"},
				Helo: "mail.example.net", ClientHost: "mail.example.net", Action: a, Score: float64(i%20) - 2, Required: 15,
				Symbols: []string{"R_SPF_ALLOW", "RDNS_FCRDNS", fmt.Sprintf("SYM_%d", i%40)},
				Hits:    []store.HistoryHit{{Score: -0.2, Weight: -0.2}, {Score: 0, Weight: 0}, {Score: 1.5, Weight: 1.5, Options: []string{"x"}}}}
			if a == "soft reject" && i%20 == 8 { // half of them greylisted
				rec.Symbols = append(rec.Symbols, "GREYLIST")
				rec.Hits = append(rec.Hits, store.HistoryHit{Options: []string{"greylisted", at.Add(5 * time.Minute).Format(time.RFC1123)}})
			}
			rs = append(rs, rec)
			stats[[2]string{store.Hourly.Truncate(at).Format(time.RFC3339), a}]++
			if recorder.Greylisted(&rec) {
				stats[[2]string{store.Hourly.Truncate(at).Format(time.RFC3339), recorder.StatGreylisted}]++
			}
			h, d, m := recorder.AggNames(at)
			recorder.AggRows(rec, func(row string) {
				for _, name := range []string{h, d, m} {
					if aggs[name] == nil {
						aggs[name] = map[string]int64{}
					}
					aggs[name][row]++
				}
			})
		}
		if err := st.HistoryAdd(ctx, rs...); err != nil {
			b.Fatal(err)
		}
		for k, c := range stats {
			t, _ := time.Parse(time.RFC3339, k[0])
			if err := st.StatsAdd(ctx, t, k[1], c); err != nil {
				b.Fatal(err)
			}
		}
		for name, rows := range aggs {
			if err := st.TallyAdd(ctx, name, rows, now, now.Add(400*24*time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchStoreOpts() store.Options {
	return store.Options{HistoryMaxCount: 2 * benchRows(), HistoryMaxAge: 60 * 24 * time.Hour, SweepInterval: -1}
}

// BenchmarkPages renders the dashboard (a day and a year) and filtered
// history pages over a history of benchRows() records, in the embedded
// store and in Redis. Run: go test -bench Pages -benchtime 20x ./controller
func BenchmarkPages(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"bolt": func(b *testing.B) store.Store {
			st, err := bolt.Open(b.TempDir(), benchStoreOpts())
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
		"redis": func(b *testing.B) store.Store {
			srv := redistest.Start(b)
			// Long timeouts: the fill writes batches of 5,000 records on a
			// shared machine.
			st, err := redis.Open(srv.URL(0, "bench:")+"&read_timeout=60s&write_timeout=60s", benchStoreOpts())
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"bolt", "redis"} {
		b.Run(name, func(b *testing.B) {
			st := stores[name](b)
			defer st.Close()
			start := time.Now()
			fillHistory(b, st, benchRows())
			b.Logf("%s: %d records written in %v", name, benchRows(), time.Since(start).Round(time.Second))
			eng, _ := engine.New(engine.Options{Checks: []engine.Check{wordCheck{}}, Policy: engine.DefaultPolicy()})
			srv, err := New(Options{Sources: Sources{Store: st, Engine: func() *engine.Engine { return eng }}})
			if err != nil {
				b.Fatal(err)
			}
			e := &env{srv: srv}
			for _, page := range []struct{ name, path string }{
				{"dashboard-day", "/?p=day"},
				{"dashboard-year", "/?p=year"},
				{"dashboard-hour", "/?p=hour"},
				{"history", "/mail"},
				{"history-action", "/mail?action=reject"},
				{"history-greylisted", "/mail?action=greylisted"},
				{"history-greylisted-page2", "/mail?action=greylisted&before=" + strconv.FormatInt(time.Now().Add(-10*24*time.Hour).UnixMilli(), 10)},
				{"history-ip", "/mail?ip=192.0.7.0/24"},
				{"history-addr", "/mail?addr=" + url.QueryEscape("@domain7.example")},
				{"history-symbol-page2", "/mail?symbol=SYM_7&before=" + strconv.FormatInt(time.Now().Add(-10*24*time.Hour).UnixMilli(), 10)},
				{"history-qid", "/mail?qid=Q0000BEEF"},
				{"history-absent-qid", "/mail?qid=NOSUCHID"},
				{"history-absent-symbol", "/mail?symbol=NO_SUCH_SYMBOL"},
				{"history-absent-addr", "/mail?addr=" + url.QueryEscape("nobody@nowhere.example")},
				{"history-absent-domain", "/mail?addr=" + url.QueryEscape("@nowhere.example")},
				{"history-absent-ip", "/mail?ip=198.51.100.7"},
				{"history-absent-net", "/mail?ip=198.51.100.0/24"},
				{"history-absent-action", "/mail?action=rewrite+subject"},
			} {
				b.Run(page.name, func(b *testing.B) {
					for b.Loop() {
						w := e.do("GET", page.path, "", map[string]string{"Accept": "text/html"})
						if w.Code != 200 {
							b.Fatalf("%s: %d", page.path, w.Code)
						}
					}
				})
			}
		})
	}
}

var _ = httptest.NewRecorder
