package recorder

import (
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// BenchmarkObserve is what recording history costs the scan path: the
// record built and queued by Observe (the store write is in the
// background). Compare with a scan's time (frontend/rspamdhttp
// BenchmarkCheckV2).
func BenchmarkObserve(b *testing.B) {
	st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, hashed := range []bool{false, true} {
		name := "plain"
		o := Options{Queue: 1 << 16}
		if hashed {
			name, o.HashKey = "hashed", make([]byte, 32)
		}
		b.Run(name, func(b *testing.B) {
			r := New(st, o)
			defer r.Close()
			tx := &engine.Transaction{QueueID: "4XyZ12", ClientIP: netip.MustParseAddr("192.0.2.1"), ClientPTR: "mail.example.net",
				Helo: "mail.example.net", MailFrom: "sender@example.org", Rcpts: []string{"a@example.com", "b@example.com"}}
			v := &engine.Verdict{Action: engine.AddHeader, Score: 7.5, RequiredScore: 15, Final: true, Phase: engine.PhaseData}
			for _, n := range []string{"R_SPF_ALLOW", "R_DKIM_ALLOW", "DMARC_POLICY_ALLOW", "RDNS_FCRDNS", "RBL_SPAMHAUS_ZEN", "MIME_GOOD", "ARC_NA", "HFILTER_HOSTNAME_UNKNOWN"} {
				v.Symbols = append(v.Symbols, engine.ScoredSymbol{Name: n, Score: 1, Weight: 1, Options: []string{"example.org"}})
			}
			for b.Loop() {
				r.Observe(tx, v, 3*time.Millisecond)
			}
		})
	}
}

// realisticVerdict is a verdict shaped as hamlet's on the SpamAssassin
// fixtures with loopback DNS (bench/compare): 18 symbols, most with
// options (addresses, hosts, a DNS error), ≈ 1.2 kB of history JSON; i
// varies the parts that differ from message to message.
func realisticVerdict(i int) (*engine.Transaction, *engine.Verdict) {
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mail.example.com",
		MailFrom: "sender@example.com", Rcpts: []string{"user@example.net"}}
	from := fmt.Sprintf("news%d@list%d.example.org", i%97, i%13)
	v := &engine.Verdict{Action: engine.AddHeader, Score: 8.6, RequiredScore: 15, Final: true, Phase: engine.PhaseData}
	if i%10 == 0 {
		v.Action = engine.Reject
	}
	for _, s := range []struct {
		name  string
		score float64
		opts  []string
	}{
		{"ARC_NA", 0, nil},
		{"BAYES_UNTRAINED", 0, []string{"spam 0/200", "ham 0/200"}},
		{"DATE_IN_PAST", 1, []string{fmt.Sprint(50000 + i*7)}},
		{"DMARC_NA", 0, []string{fmt.Sprintf("list%d.example.org", i%13)}},
		{"FORGED_RECIPIENTS", 2, []string{fmt.Sprintf("m:reader%d@example.net", i%31), "s:user@example.net"}},
		{"FORGED_SENDER", 0.3, []string{from, "sender@example.com"}},
		{"FROM_HAS_DN", 0, nil},
		{"FROM_NEQ_ENVFROM", 0, []string{from, "sender@example.com"}},
		{"HFILTER_HELO_NORES_A_OR_MX", 0.3, []string{"mail.example.com"}},
		{"HFILTER_HOSTNAME_UNKNOWN", 2.5, nil},
		{"MIME_GOOD", -0.1, []string{"text/plain"}},
		{"ONCE_RECEIVED", 0.1, nil},
		{"RCVD_COUNT_ZERO", 0, []string{"0"}},
		{"RDNS_NONE", 2, []string{"192.0.2.1"}},
		{"R_DKIM_NA", 0, nil},
		{"R_SPF_NA", 0, []string{"example.com", "no SPF record at example.com: dns: TXT example.com: nxdomain"}},
		{"TO_DOM_EQ_FROM_DOM", 0, nil},
		{fmt.Sprintf("URL_SYMBOL_%d", i%7), 0.5, []string{fmt.Sprintf("www%d.shortener.example", i%17)}},
	} {
		v.Symbols = append(v.Symbols, engine.ScoredSymbol{Name: s.name, Score: s.score, Weight: s.score, Options: s.opts})
	}
	return tx, v
}

// BenchmarkWrite is the recorder's whole background write on the
// embedded store: batches of realistic records (history with its index,
// statistics, the hour/day/month aggregates), as under load: a batch is
// what arrives within the linger time (128: 640 msg/s for 200 ms), up to
// maxBatch. cpu-µs/record is the process's CPU time (user and system,
// every goroutine, from getrusage) per record, sys-µs/record its system
// part: what recording takes from the scans on a busy machine, where the
// fdatasyncs' wall time is not.
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{128, 256, maxBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchWrite(b, batch) })
	}
}

func benchWrite(b *testing.B, batch int) {
	st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := New(st, Options{})
	defer r.Close()
	at := time.Now()
	recs := make([]store.HistoryRecord, 4*batch)
	for i := range recs {
		tx, v := realisticVerdict(i)
		recs[i] = Record(tx, v, at)
		recs[i].Elapsed = 0.000726
	}
	// The history is full (10,000 records by default): each batch
	// trims as many as it adds, as in a running daemon.
	for n := 0; n < 12000; n += batch {
		rs := recs[(n/batch)%4*batch:][:batch]
		for i := range rs {
			rs[i].Time = at.Add(time.Duration(n+i-12000) * time.Millisecond)
		}
		r.write(rs)
	}
	var cpu0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	n := 0
	for b.Loop() {
		rs := recs[(n/batch)%4*batch:][:batch]
		for i := range rs {
			rs[i].Time = at.Add(time.Duration(n) * time.Millisecond)
			n++
		}
		r.write(rs)
	}
	var cpu1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	cpu := time.Duration(cpu1.Utime.Nano() - cpu0.Utime.Nano() + cpu1.Stime.Nano() - cpu0.Stime.Nano())
	sys := time.Duration(cpu1.Stime.Nano() - cpu0.Stime.Nano())
	if _, failed, _ := r.Stats(); failed > 0 {
		b.Fatalf("%d records failed", failed)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/record")
	b.ReportMetric(float64(sys.Microseconds())/float64(n), "sys-µs/record")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/record")
}
