package dmarcreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

type results map[string]any

func (r results) Get(n string) (any, bool) { v, ok := r[n]; return v, ok }

const policyTXT = "v=DMARC1; p=reject; rua=mailto:dmarc@example.net,mailto:agg@reports.example,mailto:small@reports.example!1k"

// collectSome runs the collector over messages from three sources.
func collectSome(t *testing.T, st store.Store, now time.Time) {
	t.Helper()
	collectSomeWith(t, NewCollector(st, SendConfig{Enabled: true, Interval: DefaultConfig().Send.Interval, MaxDomains: 100}), now)
}

// collectSomeWith has c count six messages at now.
func collectSomeWith(t *testing.T, c *Collector, now time.Time) {
	t.Helper()
	rec, err := dmarc.Parse(policyTXT)
	if err != nil {
		t.Fatal(err)
	}
	c.Now = func() time.Time { return now }
	msgs := []struct {
		ip      string
		pass    bool
		n       int
		action  engine.Action
		dkimDom string
	}{
		{"192.0.2.10", true, 3, engine.NoAction, "example.org"},
		{"198.51.100.7", false, 2, engine.Reject, ""},
		{"2001:db8::25", true, 1, engine.NoAction, "example.org"},
	}
	for _, m := range msgs {
		for range m.n {
			r := dmarc.Result{Status: dmarc.StatusFail, FromDomain: "example.org", RecordDomain: "example.org", Record: rec,
				Policy: dmarc.PolicyReject, Disposition: dmarc.PolicyReject}
			if m.pass {
				r.Status, r.DKIMAligned, r.Disposition = dmarc.StatusPass, true, dmarc.PolicyNone
			}
			deps := results{
				checks.CheckDMARC: &checks.DMARCOutcome{Result: r, All: []dmarc.Result{r}},
				"spf":             &spf.Result{Code: spf.Code("softfail"), Domain: "bounce.example.com", Identity: spf.IdentityMailFrom},
			}
			if m.dkimDom != "" {
				deps["dkim"] = []dkim.Result{{Status: dkim.Status("pass"), Domain: m.dkimDom, Selector: "s1"}}
			}
			tx := &engine.Transaction{ClientIP: netip.MustParseAddr(m.ip), MailFrom: "x@bounce.example.com", Rcpts: []string{"u@example.com"}}
			if err := c.Finish(context.Background(), tx, deps, &engine.Verdict{Final: true, Action: m.action}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// readReports is a Deliver that reads each report mail back into got.
func readReports(t *testing.T, got *[]*Report) func(context.Context, string, []string, []byte) error {
	return func(_ context.Context, _ string, _ []string, msg []byte) error {
		reps, err := Extract(msg, Limits{})
		if err != nil || len(reps) != 1 {
			t.Fatalf("reading our own report: %v", err)
		}
		*got = append(*got, reps[0])
		return nil
	}
}

// newSendWorld opens a store holding what collectSome counted at now and
// a sender for it: example.org asks for reports at three addresses, of
// which reports.example accepts them for it (RFC 7489 §7.1; example.net
// publishes no such record). enabled turns sending on.
func newSendWorld(t *testing.T, now time.Time, enabled bool) (store.Store, *Sender) {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return st, newSendWorldIn(t, st, now, enabled)
}

// newSendWorldIn is newSendWorld in st, which it closes at the end.
func newSendWorldIn(t *testing.T, st store.Store, now time.Time, enabled bool) *Sender {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	collectSome(t, st, now)
	res := &dnstest.Mock{TXT: map[string][]string{
		"_dmarc.example.org":                         {policyTXT},
		"example.org._report._dmarc.reports.example": {"v=DMARC1"},
	}}
	cfg := DefaultConfig().Send
	cfg.Enabled, cfg.OrgName, cfg.From = enabled, "mx.example.com", "dmarc-reports@example.com"
	return NewSender(st, res, cfg, "mx.example.com", nil)
}

func TestSendReports(t *testing.T) {
	now := time.Date(2026, 11, 3, 15, 0, 0, 0, time.UTC)
	st, s := newSendWorld(t, now, true)
	type sent struct {
		to  []string
		msg []byte
	}
	var out []sent
	fail := true
	s.Deliver = func(_ context.Context, from string, to []string, msg []byte) error {
		if fail {
			return errors.New("sendmail: exit status 75")
		}
		out = append(out, sent{to, msg})
		return nil
	}
	ctx := context.Background()
	// The period is not over: nothing is sent.
	s.Now = func() time.Time { return now }
	if n, err := s.SendDue(ctx); n != 0 || err != nil {
		t.Fatalf("during the period: %d sent, %v", n, err)
	}
	// Over, but the MTA fails: the data is kept.
	s.Now = func() time.Time { return now.Add(24 * time.Hour) }
	if n, _ := s.SendDue(ctx); n != 0 {
		t.Fatalf("failing MTA: %d sent", n)
	}
	if names, _ := st.TallyList(ctx, tallyPrefix, s.Now(), 10); len(names) != 1 {
		t.Fatalf("data after a failed send: %v", names)
	}
	fail = false
	if n, err := s.SendDue(ctx); n != 1 || err != nil {
		t.Fatalf("sent %d, %v", n, err)
	}
	if names, _ := st.TallyList(ctx, tallyPrefix, s.Now(), 10); len(names) != 0 {
		t.Errorf("data kept after sending: %v", names)
	}
	// Only the authorised destination without a size limit got it:
	// example.net has no authorisation record, small@ has !1k.
	if len(out) != 1 || strings.Join(out[0].to, ",") != "agg@reports.example" {
		t.Fatalf("sent to %v", out)
	}
	msg := out[0].msg
	m := message.Parse(msg)
	subj, _ := m.First("Subject")
	if !strings.HasPrefix(subj, "Report Domain: example.org Submitter: mx.example.com Report-ID: <") {
		t.Errorf("subject %q", subj)
	}
	mm := message.ParseMIME(m, message.Limits{})
	var gz []byte
	for _, p := range mm.Parts {
		if p.Type == "application/gzip" {
			gz = p.Body
			if !strings.HasPrefix(p.Filename, "mx.example.com!example.org!1793664000!1793750399!") || !strings.HasSuffix(p.Filename, ".xml.gz") {
				t.Errorf("filename %q", p.Filename)
			}
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	xmlData, _ := io.ReadAll(zr)
	// What we send, we can read: the same counts come back.
	reps, err := Extract(msg, Limits{})
	if err != nil || len(reps) != 1 {
		t.Fatalf("reading our own report: %v", err)
	}
	r := reps[0]
	if r.Messages() != 6 || len(r.Records) != 3 || r.Policy.Domain != "example.org" || r.Policy.P != "reject" || r.Org != "mx.example.com" {
		t.Errorf("report %+v", r)
	}
	for _, rec := range r.Records {
		switch rec.SourceIP.String() {
		case "198.51.100.7":
			if rec.Count != 2 || rec.Disposition != "reject" || rec.DKIM != "fail" || len(rec.AuthDKIM) != 0 || rec.AuthSPF[0].Result != "softfail" {
				t.Errorf("failing row %+v", rec)
			}
		case "192.0.2.10":
			if rec.Count != 3 || rec.Disposition != "pass" || rec.DKIM != "pass" || rec.AuthDKIM[0].Selector != "s1" {
				t.Errorf("passing row %+v", rec)
			}
		}
	}
	// And it validates against RFC 9990's schema.
	xsd := filepath.Join(sharedtest.Dir(t, "conformance/dmarc/schema"), "rfc9990-draft32-dmarc-xml-0.2.xsd")
	xmllint := sharedtest.Require(t, "xmllint", "libxml2-utils")
	f := filepath.Join(t.TempDir(), "report.xml")
	os.WriteFile(f, xmlData, 0o600)
	if b, err := exec.Command(xmllint, "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s\n%s", err, b, xmlData)
	}
}

// TestFlush: a flush sends the current period so far, ending at the
// flush; what is counted afterwards goes into a tally of its own and is
// sent with the rest of the period — nothing counted twice or lost.
func TestFlush(t *testing.T) {
	ctx := context.Background()
	begin := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	now := begin.Add(15 * time.Hour)
	st, s := newSendWorld(t, now, true) // 6 messages
	var got []*Report
	s.Deliver = readReports(t, &got)
	c := NewCollector(st, s.config())
	flushAt := now.Add(time.Hour + 500*time.Millisecond)
	s.Now = func() time.Time { return flushAt }
	if n, err := s.Flush(ctx, c); n != 1 || err != nil {
		t.Fatalf("flush: %d sent, %v", n, err)
	}
	if r := got[0]; r.Messages() != 6 || !r.Begin.Equal(begin) || !r.End.Equal(flushAt.Truncate(time.Second)) {
		t.Fatalf("flushed report: %d messages, %v – %v", r.Messages(), r.Begin, r.End)
	}
	// Counted after the flush, in the same period: 6 more messages.
	collectSomeWith(t, c, flushAt.Add(time.Minute))
	s.Now = func() time.Time { return flushAt.Add(time.Hour) }
	if n, err := s.SendDue(ctx); n != 0 || err != nil {
		t.Fatalf("before the period's end: %d sent, %v", n, err)
	}
	s.Now = func() time.Time { return begin.Add(24 * time.Hour) }
	if n, err := s.SendDue(ctx); n != 0 || err != nil {
		t.Fatalf("at the period's end, before the grace: %d sent, %v", n, err)
	}
	s.Now = func() time.Time { return begin.Add(24*time.Hour + sendGrace) }
	if n, err := s.SendDue(ctx); n != 1 || err != nil {
		t.Fatalf("after the period's end: %d sent, %v", n, err)
	}
	r := got[1]
	if r.Messages() != 6 || !r.Begin.Equal(flushAt.Truncate(time.Second)) || !r.End.Equal(begin.Add(24*time.Hour-time.Second)) {
		t.Fatalf("rest of the period: %d messages, %v – %v", r.Messages(), r.Begin, r.End)
	}
	if r.ReportID == got[0].ReportID {
		t.Errorf("both reports have the id %s", r.ReportID)
	}
	if names, _ := st.TallyList(ctx, tallyPrefix, s.Now(), 10); len(names) != 0 {
		t.Errorf("data kept after sending: %v", names)
	}
}

// TestHandleSend: POST /api/dmarc/send refuses while sending is off and
// flushes on flush=1.
func TestHandleSend(t *testing.T) {
	now := time.Date(2026, 11, 3, 15, 0, 0, 0, time.UTC)
	_, s := newSendWorld(t, now, false)
	s.Now = func() time.Time { return now.Add(time.Hour) }
	sent := 0
	s.Deliver = func(context.Context, string, []string, []byte) error { sent++; return nil }
	post := func(url string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.HandleSend(nil)(w, httptest.NewRequest("POST", url, nil))
		return w
	}
	if w := post("/api/dmarc/send?flush=1"); w.Code != http.StatusConflict || sent != 0 {
		t.Errorf("sending off: %d %s, %d sent", w.Code, w.Body, sent)
	}
	cfg := s.config()
	cfg.Enabled = true
	s.SetConfig(cfg)
	if w := post("/api/dmarc/send"); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"sent":0}` {
		t.Errorf("nothing due: %d %s", w.Code, w.Body)
	}
	if w := post("/api/dmarc/send?flush=1"); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"sent":1}` || sent != 1 {
		t.Errorf("flush: %d %s, %d sent", w.Code, w.Body, sent)
	}
}

// failingTallies fails TallyAdd while fail is set.
type failingTallies struct {
	store.Store
	fail bool
}

func (f *failingTallies) TallyAdd(ctx context.Context, name string, rows map[string]int64, now, expires time.Time) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.TallyAdd(ctx, name, rows, now, expires)
}

// TestCollectorSync: counts wait in memory until Sync (one write per
// tally, not per message); a failed write keeps them for the next Sync.
func TestCollectorSync(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := &failingTallies{Store: st}
	c := NewCollector(fs, SendConfig{Enabled: true, Interval: DefaultConfig().Send.Interval, MaxDomains: 100})
	now := time.Date(2026, 11, 3, 15, 0, 0, 0, time.UTC)
	c.Now = func() time.Time { return now }
	ctx := context.Background()
	tx, deps, v := collectInput(t)
	tx.ClientIP = netip.MustParseAddr("192.0.2.1")
	for range 5 {
		if err := c.Finish(ctx, tx, deps, v); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := st.TallyList(ctx, tallyPrefix, now, 10)
	if len(names) != 0 {
		t.Fatalf("written before Sync: %v", names)
	}
	fs.fail = true
	if err := c.Sync(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("failing Sync: %v", err)
	}
	fs.fail = false
	if err := c.Finish(ctx, tx, deps, v); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	names, _ = st.TallyList(ctx, tallyPrefix, now, 10)
	if len(names) != 1 {
		t.Fatalf("tallies %v", names)
	}
	rows, _ := st.TallyGet(ctx, names[0], now)
	var total int64
	for _, n := range rows {
		total += n
	}
	if len(rows) != 1 || total != 6 {
		t.Errorf("rows %v: want the 6 messages in one row", rows)
	}
	// At collectMaxRows distinct rows, Finish writes at once.
	for i := range collectMaxRows {
		tx.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := c.Finish(ctx, tx, deps, v); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ = st.TallyGet(ctx, names[0], now)
	if len(rows) != collectMaxRows+1 {
		t.Errorf("%d rows written at the bound, want %d", len(rows), collectMaxRows+1)
	}
}

// TestFlushTwiceInASecond: a message counted just after a flush, then a
// restart (a new collector) and a second flush in the same second: the
// message is in the second report, whose range does not end before it
// begins.
func TestFlushTwiceInASecond(t *testing.T) {
	ctx := context.Background()
	f1 := time.Date(2026, 11, 3, 15, 0, 0, 200e6, time.UTC)
	st, s := newSendWorld(t, f1.Add(-time.Hour), true)
	var got []*Report
	s.Deliver = readReports(t, &got)
	c1 := NewCollector(st, s.config())
	s.Now = func() time.Time { return f1 }
	if n, err := s.Flush(ctx, c1); n != 1 || err != nil {
		t.Fatalf("first flush: %d, %v", n, err)
	}
	collectSomeWith(t, c1, f1.Add(50*time.Millisecond))
	s.Now = func() time.Time { return f1.Add(300 * time.Millisecond) }
	if n, err := s.Flush(ctx, NewCollector(st, s.config())); n != 1 || err != nil {
		t.Fatalf("second flush: %d, %v", n, err)
	}
	r := got[1]
	if r.Messages() != 6 || !r.Begin.Equal(f1.Truncate(time.Second)) || r.End.Before(r.Begin) || r.ReportID == got[0].ReportID {
		t.Errorf("second report: %d messages, %v – %v, id %s (first %s)", r.Messages(), r.Begin, r.End, r.ReportID, got[0].ReportID)
	}
}

func TestParseTallyName(t *testing.T) {
	at := time.Date(2026, 11, 3, 15, 0, 0, 250e6, time.UTC)
	if b, d, ok := parseTallyName(tallyName(at, "example.org")); !ok || !b.Equal(at) || d != "example.org" {
		t.Errorf("round trip: %v %q %v", b, d, ok)
	}
	// A name of whole seconds, as written before milliseconds.
	if b, d, ok := parseTallyName("dmarcout:001793718000:example.org"); !ok || !b.Equal(at.Truncate(time.Second)) || d != "example.org" {
		t.Errorf("seconds: %v %q %v", b, d, ok)
	}
	for _, bad := range []string{"dmarcout:", "dmarcout:x:example.org", "dmarcout:123"} {
		if _, _, ok := parseTallyName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestReceiverDomain: the file name's receiver and the Subject's
// Submitter are domain names (RFC 7489 §7.2.1.1) even when org_name is a
// name with spaces; the XML keeps org_name as written.
func TestReceiverDomain(t *testing.T) {
	begin := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ org, from, want string }{
		{"mx.example.com", "dmarc@example.com", "mx.example.com"},
		{"Example Org", "dmarc-reports@example.com", "example.com"},
		{"", "postmaster@mx.example.net", "mx.example.net"},
		{"Example Org", "nobody", "invalid"},
		{"xn--abc.example", "dmarc@example.com", "example.com"}, // not an A-label
		{"reports.xn--bcher-kva.example", "dmarc@example.com", "reports.xn--bcher-kva.example"},
	} {
		cfg := DefaultConfig().Send
		cfg.OrgName, cfg.From = tt.org, tt.from
		rep := BuildReport(cfg, "example.org", begin, begin.Add(24*time.Hour), nil)
		if name := ReportFilename(rep); !strings.HasPrefix(name, tt.want+"!example.org!") {
			t.Errorf("org %q from %q: file name %q, want receiver %s", tt.org, tt.from, name, tt.want)
		}
		m := message.Parse(ReportMail(cfg, rep, "agg@reports.example", []byte("x"), begin))
		subj, _ := m.First("Subject")
		if want := "Report Domain: example.org Submitter: " + tt.want + " Report-ID: <"; !strings.HasPrefix(subj, want) {
			t.Errorf("org %q from %q: subject %q, want %q…", tt.org, tt.from, subj, want)
		}
		if rep.Org != tt.org {
			t.Errorf("org_name %q became %q", tt.org, rep.Org)
		}
	}
}

// TestNilCollector: a nil *Collector, which the daemon passes as an
// engine.Finisher when its store keeps no DMARC reports, neither counts
// nor panics.
func TestNilCollector(t *testing.T) {
	var c *Collector
	var f engine.Finisher = c
	if err := f.Finish(context.Background(), &engine.Transaction{}, nil, &engine.Verdict{Final: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestRelayErrorNamesRelay: a relay that refuses says so with its address
// and its reply, for the log line that says the report will be retried.
func TestRelayErrorNamesRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "554 5.7.1 no relaying for you\r\n")
			c.Close()
		}
	}()
	cfg := DefaultConfig().Send
	cfg.Enabled, cfg.Relay = true, ln.Addr().String()
	s := NewSender(nil, nil, cfg, "mx.example.com", nil)
	err = s.deliver(context.Background(), "r@example.com", []string{"agg@reports.example"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "SMTP relay "+ln.Addr().String()) || !strings.Contains(err.Error(), "554") {
		t.Fatalf("error %v, want the relay's address and its 554", err)
	}
}

// TestRetryFailedDestination: of a domain's two destinations the second
// fails (sendmail exits 75, EX_TEMPFAIL); the retry — another flush, or
// the next round of a restarted sender after more counts — sends the
// same report (same id, same range, same counts) to the second only, so
// that neither receiver counts those messages twice. The messages
// counted after the restart are reported on their own later. On both
// stores (the retry state is kept where the counts are).
func TestRetryFailedDestination(t *testing.T) {
	srv := redistest.Start(t)
	stores := []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"bolt", func(t *testing.T) store.Store {
			st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"redis", func(t *testing.T) store.Store {
			st, err := redis.Open(srv.URL(0, strings.NewReplacer("/", ":", " ", "_", ",", "").Replace(t.Name())+":"), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	}
	for _, tt := range []struct {
		name    string
		restart bool // retry from a new sender and collector, after more counts
	}{
		{"flush again", false},
		{"restart, next round", true},
	} {
		for _, sto := range stores {
			t.Run(sto.name+"/"+tt.name, func(t *testing.T) {
				testRetryFailedDestination(t, sto.open(t), tt.restart)
			})
		}
	}
}

func testRetryFailedDestination(t *testing.T, st store.Store, restart bool) {
	ctx := context.Background()
	begin := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	now := begin.Add(15 * time.Hour)
	s := newSendWorldIn(t, st, now, true) // 6 messages
	res := &dnstest.Mock{TXT: map[string][]string{
		"_dmarc.example.org":                         {"v=DMARC1; p=reject; rua=mailto:a@reports.example,mailto:b@reports.example"},
		"example.org._report._dmarc.reports.example": {"v=DMARC1"},
	}}
	// sendmail -t: keeps each message in dir; exits 75 for b@
	// while dir/fail exists.
	dir := t.TempDir()
	sendmail := filepath.Join(dir, "sendmail")
	script := "#!/bin/sh\nm=$(cat)\ncase \"$m\" in *\"To: b@reports.example\"*) [ -e " + dir + "/fail ] && { echo 'queue file write error' >&2; exit 75; } ;; esac\n" +
		"printf '%s\\n' \"$m\" > $(mktemp " + dir + "/msg.XXXXXX)\n"
	if err := os.WriteFile(sendmail, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "fail"), nil, 0o600)
	cfg := s.config()
	cfg.Sendmail, cfg.Relay = sendmail, ""
	newSender := func() *Sender { return NewSender(st, res, cfg, "mx.example.com", nil) }
	// received reads what sendmail kept: report id → receivers.
	received := func() map[string][]string {
		got := map[string][]string{}
		msgs, _ := filepath.Glob(filepath.Join(dir, "msg.*"))
		for _, f := range msgs {
			b, _ := os.ReadFile(f)
			reps, err := Extract(b, Limits{})
			if err != nil || len(reps) != 1 {
				t.Fatalf("%s: %v", f, err)
			}
			to, _ := message.Parse(b).First("To")
			got[reps[0].ReportID] = append(got[reps[0].ReportID], fmt.Sprintf("%s %d %d-%d", to, reps[0].Messages(), reps[0].Begin.Unix(), reps[0].End.Unix()))
		}
		for _, v := range got {
			sort.Strings(v)
		}
		return got
	}
	s = newSender()
	c := NewCollector(st, cfg)
	flushAt := now.Add(time.Hour + 500*time.Millisecond)
	s.Now = func() time.Time { return flushAt }
	if n, err := s.Flush(ctx, c); n != 1 || err != nil {
		t.Fatalf("flush with b@ failing: %d sent, %v", n, err)
	}
	got := received()
	if len(got) != 1 {
		t.Fatalf("after the first flush: %v", got)
	}
	var id string
	for k := range got {
		id = k
	}
	first := fmt.Sprintf("a@reports.example 6 %d-%d", begin.Unix(), flushAt.Unix())
	if strings.Join(got[id], ",") != first {
		t.Fatalf("first flush delivered %v, want %s", got[id], first)
	}
	os.Remove(filepath.Join(dir, "fail"))
	retryAt := flushAt.Add(10 * time.Minute)
	var n int
	var err error
	if restart {
		// A new collector has no cut: its 6 messages go into
		// the tally the flush reported.
		collectSome(t, st, retryAt.Add(-time.Minute))
		s = newSender()
		s.Now = func() time.Time { return retryAt }
		n, err = s.SendDue(ctx)
	} else {
		s.Now = func() time.Time { return retryAt }
		n, err = s.Flush(ctx, c)
	}
	if n != 1 || err != nil {
		t.Fatalf("retry: %d sent, %v", n, err)
	}
	got = received()
	want := first + "," + fmt.Sprintf("b@reports.example 6 %d-%d", begin.Unix(), flushAt.Unix())
	if len(got) != 1 || strings.Join(got[id], ",") != want {
		t.Fatalf("after the retry: %v, want %s: %s", got, id, want)
	}
	// Nothing left to retry; what was counted after the
	// restart is reported after the period, once to each.
	s.Now = func() time.Time { return begin.Add(24*time.Hour + sendGrace) }
	n, err = s.SendDue(ctx)
	wantLater := 0
	if restart {
		wantLater = 2
	}
	if n != wantLater || err != nil {
		t.Fatalf("after the period: %d sent, %v; want %d", n, err, wantLater)
	}
	if got := received(); len(got) != 1+wantLater/2 {
		t.Errorf("reports after the period: %v", got)
	} else if restart {
		for k, v := range got {
			if k != id && (len(v) != 2 || !strings.Contains(v[0], " 6 ") || !strings.Contains(v[1], " 6 ")) {
				t.Errorf("later report %s: %v", k, v)
			}
		}
	}
	for _, p := range []string{tallyPrefix, sentPrefix} {
		if names, _ := st.TallyList(ctx, p, s.Now(), 10); len(names) != 0 {
			t.Errorf("%s data kept after sending: %v", p, names)
		}
	}
}
