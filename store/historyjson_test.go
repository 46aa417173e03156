package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written encoder must write exactly what json.Marshal writes:
// stored records are read by json.Unmarshal and searched with needles
// built for json.Marshal's output.
func TestAppendJSON(t *testing.T) {
	at := time.UnixMilli(1764757551123).UTC()
	tests := []struct {
		name string
		r    HistoryRecord
	}{
		{"minimal", HistoryRecord{Time: at}},
		{"whole", HistoryRecord{ID: "0190abcd", Time: at, QueueID: "4XyZ12", ClientIP: "192.0.2.1", From: "a@example.org",
			Rcpts: 2, Action: "add header", Score: 7.5, Symbols: []string{"R_SPF_ALLOW", "BAYES_SPAM"},
			Helo: "mail.example.net", ClientHost: "mail.example.net", RcptList: []string{"b@example.com", "c@example.com"},
			Required: 15, ForcedBy: "GREYLIST", Phase: "data", Class: "outbound", Elapsed: 0.0031,
			Hits: []HistoryHit{{Score: 1, Weight: 1, Options: []string{"example.org"}}, {Score: -0.5, Weight: 2}}}},
		{"escapes", HistoryRecord{Time: at, From: "\"<a&b>\"\\\b\f\n\r\t\x00\x1f\x7f é \u2028\u2029 \xff\xc3 end",
			Symbols: []string{"</script>"}, Hits: []HistoryHit{{Options: []string{"\x01&"}}}}},
		{"floats", HistoryRecord{Time: at, Score: 1e21, Required: 1e-7, Elapsed: 123456789.125,
			Hits: []HistoryHit{{Score: math.Copysign(0, -1), Weight: 1e-300}, {Score: 0.1, Weight: -1e22}}}},
		{"empty slices", HistoryRecord{Time: at, Symbols: []string{}, RcptList: []string{}, Hits: []HistoryHit{{Options: []string{}}}}},
		{"negative zero omitted", HistoryRecord{Time: at, Required: math.Copysign(0, -1), Elapsed: math.Copysign(0, -1)}},
		{"local time", HistoryRecord{Time: time.Date(2026, 12, 3, 10, 0, 0, 5, time.FixedZone("x", 3600+1800))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.r.AppendJSON([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendJSON =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestAppendJSONErrors(t *testing.T) {
	at := time.UnixMilli(1764757551123).UTC()
	for _, r := range []HistoryRecord{
		{Time: at, Score: math.NaN()},
		{Time: at, Required: math.Inf(1)},
		{Time: at, Hits: []HistoryHit{{Weight: math.Inf(-1)}}},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		// RFC 3339 has no zone offset of 24 hours or more (json.Marshal
		// refuses it, and json.Unmarshal would not read it back).
		{Time: at.In(time.FixedZone("", 24*3600))},
		{Time: at.In(time.FixedZone("", -30*3600))},
	} {
		if _, err := json.Marshal(r); err == nil {
			t.Fatalf("json.Marshal(%+v) succeeded; the case is wrong", r)
		}
		if got, err := r.AppendJSON(nil); err == nil {
			t.Errorf("AppendJSON(%+v) = %s, want an error as json.Marshal gives", r, got)
		}
	}
}

// TestAppendJSONFloat checks the short-decimal path against
// json.Marshal on every decimal it may take, and the values around it.
func TestAppendJSONFloat(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		if math.IsInf(f, 0) {
			return // an error; TestAppendJSONErrors
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSONFloat(nil, f)
		if err != nil || string(got) != string(want) {
			t.Fatalf("appendJSONFloat(%v) = %q, %v; json.Marshal %q", f, got, err, want)
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.3, -0.1, 2.5, 8.600000000000001, 0.1 + 0.2, 1e-6, 1e-7, 9.999999e-7,
		0.000726, 0.0000005, 999999, 999999.5, 999999.999999, 1e6, -1e6, 1e6 + 0.5, 123456.123456, 1e21, 1e-300, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 15, 7.5, -0.05, 0.0031, 1.0000001} {
		check(f)
		check(math.Nextafter(f, math.Inf(1)))
		check(math.Nextafter(f, math.Inf(-1)))
	}
	for _, scale := range []float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7} {
		for i := -20000; i <= 20000; i++ {
			check(float64(i) / scale)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		check(float64(r.Int64N(2e12)-1e12) / []float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7}[r.IntN(8)])
		check((r.Float64() - 0.5) * 2e6)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("a@example.org", "R_SPF_ALLOW", "opt", 7.5, 0.003, int64(1764757551123))
	f.Add("\"<&>\\\xff\u2028", "\x00", "\t", 1e-9, 1e300, int64(-5))
	f.Fuzz(func(t *testing.T, s, sym, opt string, score, elapsed float64, ms int64) {
		r := HistoryRecord{ID: s, Time: time.UnixMilli(ms).UTC(), QueueID: sym, ClientIP: opt, From: s, Rcpts: int(ms % 100),
			Action: sym, Score: score, Symbols: []string{sym, s}, Helo: opt, ClientHost: s, RcptList: []string{opt},
			Required: score / 3, ForcedBy: sym, Phase: opt, Class: s, Elapsed: elapsed,
			Hits: []HistoryHit{{Score: score, Weight: elapsed, Options: []string{opt, s}}, {}}}
		want, werr := json.Marshal(r)
		got, gerr := r.AppendJSON(nil)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: json.Marshal %v, AppendJSON %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON =\n%s\nwant\n%s", got, want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	r := HistoryRecord{ID: "0190abcd00000001", Time: time.UnixMilli(1764757551123).UTC(), QueueID: "4XyZ12", ClientIP: "192.0.2.1",
		From: "sender@example.org", Rcpts: 2, Action: "add header", Score: 7.5, Helo: "mail.example.net", ClientHost: "mail.example.net",
		RcptList: []string{"a@example.com", "b@example.com"}, Required: 15, Phase: "data", Elapsed: 0.0031}
	for _, n := range []string{"R_SPF_ALLOW", "R_DKIM_ALLOW", "DMARC_POLICY_ALLOW", "RDNS_FCRDNS", "RBL_SPAMHAUS_ZEN", "MIME_GOOD", "ARC_NA", "HFILTER_HOSTNAME_UNKNOWN"} {
		r.Symbols = append(r.Symbols, n)
		r.Hits = append(r.Hits, HistoryHit{Score: 1, Weight: 1, Options: []string{"example.org"}})
	}
	// A record as hamlet writes for the SpamAssassin fixtures with
	// loopback DNS (bench/compare): 18 symbols, most with options.
	real := HistoryRecord{ID: "0190abcd00000001", Time: time.UnixMilli(1764757551123).UTC(), ClientIP: "192.0.2.1",
		From: "sender@example.com", Rcpts: 1, Action: "add header", Score: 8.600000000000001, Helo: "mail.example.com",
		RcptList: []string{"user@example.net"}, Required: 15, Elapsed: 0.000726}
	for _, h := range []struct {
		name  string
		score float64
		opts  []string
	}{
		{"ARC_NA", 0, nil}, {"BAYES_UNTRAINED", 0, []string{"spam 0/200", "ham 0/200"}}, {"DATE_IN_PAST", 1, []string{"53129"}},
		{"DMARC_NA", 0, []string{"dnsbltest.spamassassin.org"}}, {"FORGED_RECIPIENTS", 2, []string{"m:jm-google-news-alerts@jmason.org", "s:user@example.net"}},
		{"FORGED_SENDER", 0.3, []string{"newsalerts-noreply@dnsbltest.spamassassin.org", "sender@example.com"}}, {"FROM_HAS_DN", 0, nil},
		{"FROM_NEQ_ENVFROM", 0, []string{"newsalerts-noreply@dnsbltest.spamassassin.org", "sender@example.com"}},
		{"HFILTER_HELO_NORES_A_OR_MX", 0.3, []string{"mail.example.com"}}, {"HFILTER_HOSTNAME_UNKNOWN", 2.5, nil},
		{"MIME_GOOD", -0.1, []string{"text/plain"}}, {"ONCE_RECEIVED", 0.1, nil}, {"RCVD_COUNT_ZERO", 0, []string{"0"}},
		{"RDNS_NONE", 2, []string{"192.0.2.1"}}, {"R_DKIM_NA", 0, nil},
		{"R_SPF_NA", 0, []string{"dnsbltest.spamassassin.org", "no SPF record at dnsbltest.spamassassin.org: dns: TXT dnsbltest.spamassassin.org: nxdomain"}},
		{"TO_DOM_EQ_FROM_DOM", 0, nil}, {"URL_SHORTENER", 0.5, []string{"tinyurl.com"}},
	} {
		real.Symbols = append(real.Symbols, h.name)
		real.Hits = append(real.Hits, HistoryHit{Score: h.score, Weight: h.score, Options: h.opts})
	}
	b.Run("realistic", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = real.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes")
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = r.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
