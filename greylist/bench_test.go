package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// BenchmarkDecide measures greylisting decisions per second: each one an
// allowlist lookup and a recorded attempt (a durable write), for new
// triplets ("first") and for retries that pass ("pass", which also counts
// towards auto-allowlisting); serially and from many goroutines, as
// concurrent SMTP sessions would.
//
//	go test -run='^$' -bench=Decide -benchtime=2s ./greylist
func BenchmarkDecide(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"bolt": func(b *testing.B) store.Store {
			s, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1, MaxEntries: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
	srv := redistest.Shared(b)
	n := 0
	stores["redis"] = func(b *testing.B) store.Store {
		n++
		s, err := redis.Open(srv(b).URL(0, fmt.Sprintf("b%d:", n)), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	for _, name := range []string{"bolt", "redis"} {
		open := stores[name]
		for _, mode := range []string{"first", "pass"} {
			for _, par := range []bool{false, true} {
				label := name + "/" + mode + "/serial"
				if par {
					label = name + "/" + mode + "/parallel"
				}
				b.Run(label, func(b *testing.B) { benchDecide(b, open(b), mode == "pass", par) })
			}
		}
	}
}

func benchDecide(b *testing.B, st store.Store, pass, parallel bool) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	cfg := DefaultConfig()
	g, err := New(st, cfg, Options{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	mk := func(i int64) Request {
		return Request{
			ClientIP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			MailFrom: fmt.Sprintf("s%d@example.org", i), Rcpts: []string{"u@example.net"},
		}
	}
	var seq atomic.Int64
	if pass {
		// Prime b.N triplets, then let the delay pass: each timed
		// decision is a retry that passes.
		for i := range int64(b.N) {
			g.Decide(ctx, mk(i))
		}
		now.Add(int64(cfg.Delay.D()))
	} else {
		seq.Store(1 << 30) // fresh triplets
	}
	want := Greylisted
	if pass {
		want = Pass
	}
	b.ResetTimer()
	one := func() {
		d := g.Decide(ctx, mk(seq.Add(1)-1))
		if d.Outcome != want {
			b.Errorf("decision %v %v, want %v", d.Outcome, d.Err, want)
		}
	}
	if parallel {
		b.SetParallelism(16) // 16 × GOMAXPROCS concurrent sessions
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one()
			}
		})
	} else {
		for range b.N {
			one()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
