package dmarcreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/spf"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// writeMaildir writes a Maildir of n report mails of rows records each
// (a gzip attachment, as Google and others send them).
func writeMaildir(tb testing.TB, dir string, n, rows int) {
	for _, s := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range n {
		var rs []string
		for j := range rows {
			rs = append(rs, fmt.Sprintf("10.%d.%d.%d %d fail fail none - x.example:pass", i/256%256, i%256, j, j+1))
		}
		x := reportXML(fmt.Sprintf("org%d.example", i%50), fmt.Sprint("r", i), day0.Unix()+int64(i)*3600, rs...)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(x)
		zw.Close()
		msg := fmt.Sprintf("From: r@org.example\r\nTo: dmarc@example.org\r\nSubject: Report Domain: example.org\r\nMIME-Version: 1.0\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r%d.xml.gz\"\r\n\r\n%s\r\n", i, base64.StdEncoding.EncodeToString(gz.Bytes()))
		if err := os.WriteFile(filepath.Join(dir, "new", fmt.Sprintf("%d.bench", i)), []byte(msg), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkImport10k imports a Maildir of 1,000 report mails of 10
// records each (10,000 records) into the embedded store. Set
// HAMLET_DMARC_BENCH_DIR to keep the Maildir there, for timing
// `hamlet dmarc import` on it.
func BenchmarkImport10k(b *testing.B) {
	dir := os.Getenv("HAMLET_DMARC_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	writeMaildir(b, dir, 1000, 10)
	for b.Loop() {
		b.StopTimer()
		st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		svc := New(st, nil, DefaultConfig(), nil)
		b.StartTimer()
		res, n, err := svc.Import(context.Background(), dir, nil)
		if err != nil || n != 1000 || res.Records != 10000 {
			b.Fatalf("%d inputs %+v %v", n, res, err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "mails/s")
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCollect: what counting one message for the reports hamlet
// sends ([dmarc.reports.send] enabled) costs the scan, on the embedded
// store: one message from one of 100 sources.
func BenchmarkCollect(b *testing.B) {
	st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := NewCollector(st, SendConfig{Enabled: true, Interval: DefaultConfig().Send.Interval, MaxDomains: 100})
	tx, deps, v := collectInput(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tx.ClientIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 100)})
		if err := c.Finish(context.Background(), tx, deps, v); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 { // Run syncs every 5 s: here every 1,000 messages
			if err := c.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// collectInput is one passing message from example.org as the collector
// gets it.
func collectInput(tb testing.TB) (*engine.Transaction, results, *engine.Verdict) {
	rec, err := dmarc.Parse(policyTXT)
	if err != nil {
		tb.Fatal(err)
	}
	r := dmarc.Result{Status: dmarc.StatusPass, DKIMAligned: true, FromDomain: "example.org", RecordDomain: "example.org", Record: rec,
		Policy: dmarc.PolicyReject, Disposition: dmarc.PolicyNone}
	deps := results{
		checks.CheckDMARC: &checks.DMARCOutcome{Result: r, All: []dmarc.Result{r}},
		"spf":             &spf.Result{Code: spf.Code("pass"), Domain: "example.org", Identity: spf.IdentityMailFrom},
		"dkim":            []dkim.Result{{Status: dkim.Status("pass"), Domain: "example.org", Selector: "s1"}},
	}
	tx := &engine.Transaction{MailFrom: "x@example.org", Rcpts: []string{"u@example.com"}}
	return tx, deps, &engine.Verdict{Final: true, Action: engine.NoAction}
}
