package checks

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
)

var updateGolden = flag.Bool("update", false, "rewrite the want sections of golden files")

// headersClock is the arrival time of every golden case without a "time"
// envelope line.
var headersClock = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// formatSymbol renders a symbol as the golden files list it:
// NAME, then its options in brackets, then ×multiplier when not 1.
func formatSymbol(s engine.Symbol) string {
	out := s.Name
	if len(s.Options) > 0 {
		out += " [" + strings.Join(s.Options, " | ") + "]"
	}
	if s.Multiplier != 0 && s.Multiplier != 1 {
		out += " x" + strconv.FormatFloat(s.Multiplier, 'f', 3, 64)
	}
	return out
}

// goldenTx builds the transaction of a golden case from its envelope and
// message sections.
func goldenTx(t *testing.T, sec map[string]string) *engine.Transaction {
	t.Helper()
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.10")}
	for _, l := range lines(sec["envelope"]) {
		key, val, _ := strings.Cut(l, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "ip":
			tx.ClientIP = netip.MustParseAddr(val)
		case "ptr":
			tx.ClientPTR, tx.RDNS = val, engine.FCrDNSPass
		case "noptr":
			tx.RDNS = engine.FCrDNSNone
		case "from":
			if val == "<>" {
				val = ""
			}
			tx.MailFrom = val
		case "rcpt":
			tx.Rcpts = append(tx.Rcpts, val)
		case "auth":
			tx.AuthUser, tx.Outbound = val, true
		case "time":
			tm, err := time.Parse(time.RFC3339, val)
			if err != nil {
				t.Fatal(err)
			}
			tx.Time = tm
		default:
			t.Fatalf("bad envelope line %q", l)
		}
	}
	raw := strings.ReplaceAll(sec["message"], "\n", "\r\n")
	tx.Message = message.Parse([]byte(raw))
	return tx
}

// TestHeadersGolden runs every testdata/headers/*.txt case through the
// header check and compares the symbols, options and multipliers with the
// case's want section (all of them, in the order emitted). go test
// -run HeadersGolden -update rewrites the want sections.
func TestHeadersGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "headers", "*.txt"))
	if err != nil || len(files) < 15 {
		t.Fatalf("want at least 15 golden cases, have %d (%v)", len(files), err)
	}
	c, err := NewHeaders(DefaultHeadersConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.WithClock(func() time.Time { return headersClock })
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := sections(t, string(data))
			tx := goldenTx(t, sec)
			res := c.Run(context.Background(), tx, nil)
			var got []string
			for _, s := range res.Symbols {
				got = append(got, formatSymbol(s))
			}
			if *updateGolden {
				text := string(data)
				i := strings.Index(text, "-- want --\n")
				if i < 0 {
					t.Fatal("no want section")
				}
				text = text[:i] + "-- want --\n" + strings.Join(got, "\n") + "\n"
				if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := lines(sec["want"]); !slices.Equal(got, want) {
				t.Errorf("symbols\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}

func TestHeadersFreemailConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "free.txt")
	if err := os.WriteFile(p, []byte("corp-free.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(cfg HeadersConfig, from string) bool {
		c, err := NewHeaders(cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		tx := &engine.Transaction{Message: message.Parse([]byte("From: " + from + "\r\n\r\n"))}
		for _, s := range c.Run(context.Background(), tx, nil).Symbols {
			if s.Name == SymFreemailFrom {
				return true
			}
		}
		return false
	}
	if !run(DefaultHeadersConfig(), "a@gmail.com") || run(DefaultHeadersConfig(), "a@corp-free.example") {
		t.Error("shipped list")
	}
	file := HeadersConfig{Enabled: true, FreemailFile: p}
	if run(file, "a@gmail.com") || !run(file, "a@corp-free.example") {
		t.Error("freemail_file does not replace the shipped list")
	}
	extra := HeadersConfig{Enabled: true, FreemailDomains: []string{"extra.example"}}
	if !run(extra, "a@gmail.com") || !run(extra, "a@extra.example") {
		t.Error("freemail_domains does not add to the list")
	}
	for _, bad := range []HeadersConfig{{FreemailFile: p + ".missing"}, {FreemailDomains: []string{"not a domain"}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}

// TestHeadersHostile: huge headers give bounded work and a defined answer.
func TestHeadersHostile(t *testing.T) {
	c, err := NewHeaders(DefaultHeadersConfig(), false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "Received: from h%d.example by mx.example; Thu, 19 Nov 2026 12:00:00 +0000\r\n", i)
	}
	b.WriteString("From: a@example.com\r\nTo: ")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "u%d@victim.example, ", i)
	}
	b.WriteString("last@victim.example\r\nSubject: =?utf-8?q?" + strings.Repeat("=C3", 100000) + "?=\r\n\r\nbody\r\n")
	rcpts := make([]string, 5000)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("r%d@ours.example", i)
	}
	tx := &engine.Transaction{MailFrom: "a@example.com", Rcpts: rcpts, Message: message.Parse([]byte(b.String()))}
	res := c.Run(context.Background(), tx, nil)
	names := map[string]bool{}
	for _, s := range res.Symbols {
		names[s.Name] = true
	}
	if !names["RCVD_COUNT_TWELVE"] {
		t.Errorf("5000 Received fields: symbols %v", names)
	}
}

func TestAllCaps(t *testing.T) {
	for s, want := range map[string]bool{
		"URGENT OFFER!!!": true, "ÜBERWEISUNG 100 €": true, "Urgent": false, "1234 !!": false,
		"ПРИВЕТ": true, "привет": false, "": false,
	} {
		if got := allCaps(s); got != want {
			t.Errorf("allCaps(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzHeaders: any header gives a defined answer (no panic), with every
// symbol declared.
func FuzzHeaders(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "headers", "*.txt"))
	for _, file := range files {
		data, _ := os.ReadFile(file)
		if _, msg, ok := strings.Cut(string(data), "-- message --\n"); ok {
			msg, _, _ = strings.Cut(msg, "-- want --")
			f.Add(msg, "a@example.com", "b@example.org")
		}
	}
	c, err := NewHeaders(DefaultHeadersConfig(), false)
	if err != nil {
		f.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range c.Symbols() {
		declared[d.Name] = true
	}
	f.Fuzz(func(t *testing.T, msg, from, rcpt string) {
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: from, Rcpts: []string{rcpt}, Message: message.Parse([]byte(msg))}
		for _, s := range c.Run(context.Background(), tx, nil).Symbols {
			if !declared[s.Name] {
				t.Fatalf("undeclared symbol %s", s.Name)
			}
		}
	})
}

// BenchmarkHeadersMUA is what the client and Message-Id rules
// (headers_mua.go) add to the header check, on the 10 KB newsletter's
// header and on a header with 30 Received fields.
func BenchmarkHeadersMUA(b *testing.B) {
	var rcvd strings.Builder
	for i := range 30 {
		fmt.Fprintf(&rcvd, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d]) by mx%d.example.org with ESMTPS id ABC%d; Fri, 20 Nov 2026 11:59:%02d +0000\r\n", i, i, i, i, i, i)
	}
	for name, raw := range map[string][]byte{
		"10KB":        samplemail.News10KB(),
		"30-received": []byte(rcvd.String() + "From: A <a@example.org>\r\nTo: b@example.net\r\nMessage-ID: <x1@example.org>\r\nX-Mailer: Microsoft Outlook 16.0\r\nSubject: s\r\n\r\nbody\r\n"),
	} {
		m := message.Parse(raw)
		tx := &engine.Transaction{Message: m, Rcpts: []string{"b@example.net"}}
		from, _ := parseAddrs(m, "From")
		to, _ := parseAddrs(m, "To")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				muaChecks(m, tx, &from[0], to, func(string, ...string) { n++ })
			}
		})
	}
}
