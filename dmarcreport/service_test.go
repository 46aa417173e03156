package dmarcreport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func openService(t *testing.T, cfg Config) *Service {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return New(st, nil, cfg, nil)
}

// report builds an aggregate report of example.org with the given rows
// ("ip count dkim spf disposition authdkim authspf").
func reportXML(org, id string, begin int64, rows ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<feedback><report_metadata><org_name>%s</org_name><email>dmarc@%s</email><report_id>%s</report_id><date_range><begin>%d</begin><end>%d</end></date_range></report_metadata><policy_published><domain>example.org</domain><p>reject</p></policy_published>`, org, org, id, begin, begin+86399)
	for _, r := range rows {
		f := strings.Fields(r)
		fmt.Fprintf(&b, `<record><row><source_ip>%s</source_ip><count>%s</count><policy_evaluated><disposition>%s</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row><identifiers><header_from>example.org</header_from></identifiers><auth_results>`, f[0], f[1], f[4], f[2], f[3])
		if d, res, ok := strings.Cut(f[5], ":"); ok {
			fmt.Fprintf(&b, `<dkim><domain>%s</domain><result>%s</result></dkim>`, d, res)
		}
		if d, res, ok := strings.Cut(f[6], ":"); ok {
			fmt.Fprintf(&b, `<spf><domain>%s</domain><result>%s</result></spf>`, d, res)
		}
		b.WriteString(`</auth_results></record>`)
	}
	b.WriteString(`</feedback>`)
	return []byte(b.String())
}

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// TestSummaryOwnVsForeign: the sources that fail are split into the
// domain's own (in own_networks, a PTR name in the domain, or a DKIM or
// SPF pass for the domain that did not align) and the others.
func TestSummaryOwnVsForeign(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OwnNetworks = []string{"192.0.2.0/24"}
	svc := openService(t, cfg)
	res := &dnstest.Mock{PTR: map[string][]string{"198.51.100.9": {"mx9.mail.example.org."}},
		A: map[string][]string{"mx9.mail.example.org": {"198.51.100.9"}}}
	svc.ptr = newPTRCache(res)
	ctx := context.Background()
	in := [][]byte{
		reportXML("google.com", "g1", day0.Unix(),
			"203.0.113.1 10 pass pass none example.org:pass example.org:pass",        // own, passing
			"192.0.2.7 3 fail fail none - esp.example:pass",                          // own network, fails
			"198.51.100.5 4 fail fail reject - -",                                    // spoofer
			"198.51.100.6 2 fail fail none example.org:pass bounce.esp.example:pass", // forwarded/ESP, signs as us
			"198.51.100.9 1 fail fail none - -",                                      // PTR in our domain
		),
		reportXML("yahoo.com", "y1", day0.Add(24*time.Hour).Unix(),
			"198.51.100.5 6 fail fail reject - -",
			"203.0.113.1 5 pass fail none example.org:pass other.example:pass"),
	}
	for _, b := range in {
		if r, err := svc.Ingest(ctx, b); err != nil || r.Reports != 1 {
			t.Fatalf("ingest: %+v %v", r, err)
		}
	}
	// Again: stored once.
	if r, err := svc.Ingest(ctx, in[0]); err != nil || r.Reports != 0 || r.Duplicates != 1 {
		t.Fatalf("duplicate ingest: %+v %v", r, err)
	}
	sum, err := svc.Summarize(ctx, "Example.org", day0.Add(-time.Hour), day0.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reports != 2 || sum.Messages != 31 || sum.Pass != 15 || sum.Fail != 16 {
		t.Fatalf("totals %d reports %d msgs %d pass %d fail", sum.Reports, sum.Messages, sum.Pass, sum.Fail)
	}
	ips := func(l []*Source) string {
		var s []string
		for _, x := range l {
			s = append(s, x.IP.String())
		}
		return strings.Join(s, " ")
	}
	if got := ips(sum.ForeignFailing); got != "198.51.100.5" {
		t.Errorf("foreign failing %q", got)
	}
	if got := ips(sum.OwnFailing); got != "192.0.2.7 198.51.100.6 198.51.100.9" {
		t.Errorf("own failing %q", got)
	}
	if got := ips(sum.Sources); got != "203.0.113.1 198.51.100.5 192.0.2.7 198.51.100.6 198.51.100.9" {
		t.Errorf("sources by volume %q", got)
	}
	top := sum.Sources[0]
	if top.Messages != 15 || top.SPF["pass"] != 10 || top.SPF["fail"] != 5 || top.DKIM["pass"] != 15 || fmt.Sprint(top.Reporters) != "[google.com yahoo.com]" {
		t.Errorf("top source %+v", top)
	}
	if sp := sum.Sources[1]; sp.Dispositions["reject"] != 10 || sp.Own {
		t.Errorf("spoofer %+v", sp)
	}
	if p := sum.OwnFailing[2]; p.PTR != "mx9.mail.example.org" || !strings.Contains(p.OwnWhy, "name") {
		t.Errorf("PTR source %+v", p)
	}
	if len(sum.Days) != 2 || sum.Days[0].Pass != 10 || sum.Days[0].Fail != 10 || sum.Days[1].Pass != 5 || sum.Days[1].Fail != 6 {
		t.Errorf("days %+v", sum.Days)
	}
	if fmt.Sprint(sum.Reporters) != "[{google.com 1 20} {yahoo.com 1 11}]" {
		t.Errorf("reporters %v", sum.Reporters)
	}
	// Each source's PTR name was asked once (NXDOMAIN is cached too),
	// and the one name confirmed by its A record.
	before := res.Queries()
	if before != 6 {
		t.Errorf("%d queries for 5 sources and one name", before)
	}
	if _, err := svc.Summarize(ctx, "example.org", day0, day0.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if res.Queries() != before {
		t.Errorf("PTR names asked again: %d queries, then %d", before, res.Queries())
	}
	// A period without the first day.
	sum, _ = svc.Summarize(ctx, "example.org", day0.Add(36*time.Hour), day0.Add(72*time.Hour))
	if sum.Reports != 1 || sum.Messages != 11 {
		t.Errorf("second day only: %d reports %d messages", sum.Reports, sum.Messages)
	}
}

// TestImportMaildirMbox imports the samples as a Maildir, an mbox and a
// directory: every report counted once, the broken ones listed.
func TestImportMaildirMbox(t *testing.T) {
	dir := filepath.Join(sharedtest.Dir(t, "conformance/dmarc/parsedmarc-samples"), "aggregate")
	svc := openService(t, DefaultConfig())
	ctx := context.Background()
	md := t.TempDir()
	for _, s := range []string{"cur", "new", "tmp"} {
		os.Mkdir(filepath.Join(md, s), 0o700)
	}
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var mbox strings.Builder
	for i, f := range emls {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(md, "new", fmt.Sprintf("%d.host", i)), b, 0o600)
		fmt.Fprintf(&mbox, "From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n%s\n", strings.ReplaceAll(string(b), "\nFrom ", "\n>From "))
	}
	res, n, err := svc.Import(ctx, md, nil)
	if err != nil || n != 3 || res.Reports != 3 || res.Duplicates != 0 || len(res.Errors) != 0 {
		t.Fatalf("maildir: %d inputs %+v %v", n, res, err)
	}
	mb := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(mb, []byte(mbox.String()), 0o600)
	res, n, err = svc.Import(ctx, mb, nil)
	if err != nil || n != 3 || res.Reports != 0 || res.Duplicates != 3 {
		t.Fatalf("mbox: %d inputs %+v %v", n, res, err)
	}
	res, n, err = svc.Import(ctx, dir, nil)
	// 19 files, 3 .eml already in, invalid_utf_8.xml is the same report
	// as !example.com…xml, invalid_xml.xml refused.
	if err != nil || n != 19 || res.Reports != 14 || res.Duplicates != 4 || len(res.Errors) != 1 {
		t.Fatalf("directory: %d inputs %+v %v", n, res, err)
	}
	t.Logf("directory: %+v", res)
}

// TestRunSweeper: the daemon's sweeper removes reports past their
// retention from the store itself.
func TestRunSweeper(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention = duration.Duration(time.Hour)
	svc := openService(t, cfg)
	t0 := day0.Add(48 * time.Hour)
	svc.Now = func() time.Time { return t0 }
	if r, err := svc.Ingest(t.Context(), reportXML("google.com", "s1", day0.Unix(), "192.0.2.1 3 pass pass none - -")); err != nil || r.Reports != 1 {
		t.Fatalf("ingest: %+v %v", r, err)
	}
	later := t0.Add(2 * time.Hour)
	svc.Now = func() time.Time { return later }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { svc.RunSweeper(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	for i := 0; ; i++ {
		// Asked as of before the expiry: gone only once swept.
		rows, err := svc.st.DMARCReportList(t.Context(), store.DMARCReportQuery{Domain: "example.org", Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		if i == 3000 {
			t.Fatal("the sweeper did not remove the expired report")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
