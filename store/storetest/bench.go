package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// BenchOpener opens a fresh store for a benchmark.
type BenchOpener func(b *testing.B) store.Store

// Bench runs the store benchmarks: recorded greylist attempts and
// allowlist lookups from concurrent goroutines, and history batches.
func Bench(b *testing.B, open BenchOpener) {
	b.Run("GreylistAttempt/parallel", func(b *testing.B) {
		s := open(b)
		var n atomic.Int64
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := fmt.Sprint("net:10.0.0.0/24|s", n.Add(1), "@example.org|u@example.net")
				if _, err := s.GreylistAttempt(context.Background(), k, T0, Params); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("AllowLookup/parallel", func(b *testing.B) {
		s := open(b)
		for i := range 100 {
			if err := s.AllowAdd(context.Background(), store.AllowEntry{Key: fmt.Sprint("net:10.0.", i, ".0/24"), Added: T0}); err != nil {
				b.Fatal(err)
			}
		}
		keys := []string{"net:192.0.2.7/32", "net:192.0.2.0/24", "net:192.0.0.0/16", "net:192.0.0.0/8", "domain:example.org"}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok, err := s.AllowLookup(context.Background(), keys, T0); err != nil || ok {
					b.Error(ok, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	b.Run("HistoryAdd/batch100", func(b *testing.B) {
		s := open(b)
		batch := make([]store.HistoryRecord, 100)
		for i := range batch {
			batch[i] = store.HistoryRecord{Time: T0.Add(time.Duration(i) * time.Millisecond), QueueID: "Q", ClientIP: "192.0.2.1",
				From: "a@example.org", Rcpts: 1, Action: "no action", Score: 1.5, Symbols: []string{"R_SPF_ALLOW", "R_DKIM_ALLOW", "DMARC_POLICY_ALLOW"}}
		}
		for range b.N {
			if err := s.HistoryAdd(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
