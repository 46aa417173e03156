package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// cpuTime is the CPU time the process has used, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkScanHistory is what recording history costs the scan path:
// the engine `hamlet serve` builds from the default configuration (every
// check it enables; DNS answered by an in-memory resolver that knows no
// name, so the scan is as cheap as it gets and the share of the history
// as large), scanning a 10 KB newsletter from parallel goroutines, with
// no history ("off") and with the recorder the daemon uses, writing to
// the embedded store in the background ("on", its store writes and their
// history index included: the recorder is closed, so flushed, inside the
// measurement). Compare cpu-ns/op (and ns/op on a quiet machine):
// on/off − 1 is the cost.
//
//	go test -run '^$' -bench ScanHistory -count 5 ./daemon
func BenchmarkScanHistory(b *testing.B) {
	s, err := LoadSettings("", Overrides{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	raw := samplemail.News10KB()
	for _, mode := range []string{"off", "on"} {
		b.Run("history-"+mode, func(b *testing.B) {
			var obs []engine.Observer
			var rec *recorder.Recorder
			if mode == "on" {
				st, err := bolt.Open(b.TempDir(), s.History.StoreOptions())
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				rec = recorder.New(st, recorder.Options{Logger: quiet, KeepHourly: s.History.KeepHourly.D(), KeepDaily: s.History.KeepDaily.D()})
				obs = append(obs, rec)
			}
			e, err := BuildEngine(s, Deps{Resolver: &dnstest.Mock{}, Logger: quiet, Observers: obs})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					tx := &engine.Transaction{QueueID: fmt.Sprintf("Q%X", i), ClientIP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}),
						Helo: "mail.example.net", MailFrom: fmt.Sprintf("news%d@list.example", i%97), Rcpts: []string{"user@example.com"},
						Message: message.Parse(raw)}
					e.Scan(context.Background(), tx)
				}
			})
			if rec != nil {
				rec.Close() // the writes still queued are part of the cost
			}
			b.StopTimer()
			// CPU time (all threads: the scans, the recorder's writer, GC)
			// per scan: on 2 shared cores the wall clock measures the
			// neighbours more than us.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if rec != nil {
				written, failed, dropped := rec.Stats()
				if failed > 0 || written == 0 {
					b.Fatalf("history: %d written, %d failed", written, failed)
				}
				// Verdicts the queue had no room for were not recorded:
				// say so, the figure would flatter the history.
				b.ReportMetric(float64(dropped), "dropped")
			}
		})
	}
}
