package daemon

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// testEngine builds the engine of `hamlet serve` from configuration text,
// asking the loopback DNS server srv.
func testEngine(t *testing.T, srv *dnstest.Server, text string) *engine.Engine {
	t.Helper()
	s, err := settingsFromText(t, text)
	if err != nil {
		t.Fatal(err)
	}
	s.DNS.Servers = []string{srv.Addr()}
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := BuildEngine(s, Deps{Resolver: res, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func settingsFromText(t *testing.T, text string) (*Settings, error) {
	t.Helper()
	f := t.TempDir() + "/hamlet.toml"
	if err := writeFile(f, text); err != nil {
		return nil, err
	}
	return LoadSettings(f, Overrides{})
}

func symbolNames(v *engine.Verdict) map[string]bool {
	m := map[string]bool{}
	for _, s := range v.Symbols {
		m[s.Name] = true
	}
	return m
}

// TestDeadlineWithDeadDNS: every DNS query hangs; the verdict still comes,
// ended by the configured deadline, with the checks' DNSFAIL symbols.
func TestDeadlineWithDeadDNS(t *testing.T) {
	srv, err := dnstest.NewServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, n := range []string{"example.org", "1.2.0.192.in-addr.arpa", "mx.example.org", "score.senderscore.com", "_dmarc.example.org"} {
		srv.Hang(n)
	}
	// DNS waits an hour per query: a verdict at all means the scan's
	// 1.5 s deadline ended the checks (one that ignored it would hang the
	// test until go test's -timeout fails it).
	eng := testEngine(t, srv, "[scan]\ntimeout = \"1500ms\"\n[dns]\ntimeout = \"1h\"\n")
	tx := &engine.Transaction{
		ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mx.example.org", MailFrom: "alice@example.org",
		Rcpts:   []string{"bob@example.net"},
		Message: message.Parse([]byte("From: alice@example.org\r\nSubject: x\r\n\r\nhi\r\n")),
	}
	start := time.Now()
	v := eng.Scan(context.Background(), tx)
	elapsed := time.Since(start)
	if !symbolNames(v)["R_SPF_DNSFAIL"] {
		t.Fatalf("no R_SPF_DNSFAIL in %+v", v.Symbols)
	}
	if v.Action == engine.Reject {
		t.Fatalf("a dead DNS server made the verdict reject: %+v", v)
	}
	if srv.Total() == 0 {
		t.Fatal("no query reached the DNS server")
	}
	t.Logf("verdict %s after %v: %s", v.Action, elapsed.Round(time.Millisecond), strings.Join(keys(symbolNames(v)), " "))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCorpusScans scans every message of the shared SpamAssassin fixtures
// with the full engine against a loopback DNS server that knows no names:
// each gets a final verdict without errors.
func TestCorpusScans(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus/spamassassin-testdata")
	srv, err := dnstest.NewServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	eng := testEngine(t, srv, "")
	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch d.Name() {
		case "LICENSE", "NOTICE", "SOURCE.md":
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("203.0.113.7"), Helo: "mail.example.com",
			MailFrom: "sender@example.com", Rcpts: []string{"user@example.net"}, Message: message.Parse(raw)}
		v := eng.Scan(context.Background(), tx)
		n++
		if !v.Final || len(v.Errors) > 0 {
			t.Errorf("%s: verdict %+v", path, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("scanned only %d messages", n)
	}
	t.Logf("scanned %d corpus messages", n)
}

func TestHistorySettings(t *testing.T) {
	s, err := settingsFromText(t, "[history]\nmax_records = 500\nmax_age = \"7d\"\n")
	if err != nil {
		t.Fatal(err)
	}
	o := s.History.StoreOptions()
	if o.HistoryMaxCount != 500 || o.HistoryMaxAge != 7*24*time.Hour || o.StatsDailyKeep != 400*24*time.Hour {
		t.Fatalf("store options = %+v", o)
	}
	if _, err := settingsFromText(t, "[history]\nmax_records = 0\n"); err == nil {
		t.Fatal("max_records = 0 accepted")
	}
}
