package daemon

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// exampleRules returns hamlet.example.toml with its rule examples
// uncommented (the "# " taken off every line between the markers).
func exampleRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "hamlet.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	in, n := false, 0
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# >>> rules examples"):
			in = true
		case strings.HasPrefix(l, "# <<< rules examples"):
			in = false
		case in:
			lines[i] = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
			if strings.HasPrefix(lines[i], "[[rules]]") {
				n++
			}
		}
	}
	if n != 10 {
		t.Fatalf("hamlet.example.toml has %d example rules, want 10", n)
	}
	return strings.Join(lines, "\n")
}

// TestExampleRules loads hamlet.example.toml with its ten example rules
// in force (and the list files they name) and runs, for each, a message
// that should hit it, through the whole engine of `hamlet serve` asking
// a loopback DNS server.
func TestExampleRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lists"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"lists/deny-domains.txt":  "# deny\nbulk-offers.example  # since March\n",
		"lists/phish-domains.txt": "# seen in phishing\nsecure-login.example\n",
	} {
		if err := writeFile(filepath.Join(dir, name), text); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "hamlet.toml")
	if err := writeFile(conf, exampleRules(t)); err != nil {
		t.Fatal(err)
	}
	srv, err := dnstest.NewServer(`
partner.example. TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc.partner.example. TXT "v=DMARC1; p=none"
strict.example. TXT "v=spf1 -all"
_dmarc.strict.example. TXT "v=DMARC1; p=quarantine"
`)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := LoadSettings(conf, Overrides{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.DNS.Servers = []string{srv.Addr()}
	// Everything below add header is greylisted, to see greylisting
	// skipped. (Every test message scores about 4.8 for its unknown
	// client and HELO.)
	s.Actions["greylist"] = -100.0
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := BuildEngine(s, Deps{Resolver: res, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}

	exe := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"invoice.ZIP\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		zipWith(t, "invoice.pdf.exe") + "\r\n--b--\r\n"
	tests := []struct {
		rule   string
		ip     string
		from   string // envelope and header
		rcpt   string
		header string // more header fields
		body   string
		option string
		action engine.Action
	}{
		{rule: "LOCAL_DENY_DOMAIN", from: "news@mx.spam.example", option: "from_domain=mx.spam.example", action: engine.Reject},
		{rule: "LOCAL_DENY_DOMAIN", from: "deals@bulk-offers.example", option: "from_domain=bulk-offers.example", action: engine.Reject},
		{rule: "LOCAL_ALLOW_NETWORK", ip: "198.51.100.7", header: "Subject: urgent wire transfer\r\n", option: "ip=198.51.100.7", action: engine.NoAction},
		{rule: "LOCAL_EXECUTABLE", ip: "198.51.100.7", body: exe, option: "attachment_name=invoice.pdf.exe", action: engine.Reject},
		{rule: "LOCAL_FREEMAIL_REPLYTO", header: "Reply-To: ceo.private@GMail.com\r\n", option: "reply_to_domain=gmail.com", action: engine.AddHeader},
		{rule: "LOCAL_SCAM_SUBJECT", header: "Subject: =?utf-8?q?URGENT:_confirm_the_wire_transfer?=\r\n", option: "Subject=URGENT: confirm the wire transfer", action: engine.AddHeader},
		{rule: "LOCAL_BODY_SCAM", body: "\r\nHello,\r\nYou have WON a prize!\r\n", option: "body=/(?i)you have (won|been selected)/", action: engine.AddHeader},
		{rule: "LOCAL_PHISH_URL", body: "\r\nLog in at https://www.secure-login.example/verify now\r\n", option: "url_domain=secure-login.example", action: engine.AddHeader},
		{rule: "LOCAL_NO_GREYLIST", rcpt: "postmaster@example.org", option: "rcpt=postmaster@example.org", action: engine.NoAction},
		{rule: "LOCAL_PARTNER_DMARC", ip: "203.0.113.5", from: "bob@partner.example", option: "dmarc_domain=partner.example", action: engine.NoAction},
		{rule: "LOCAL_QUARANTINE_UNSIGNED", from: "alice@strict.example", option: "DMARC_POLICY_QUARANTINE & !R_DKIM_ALLOW", action: engine.AddHeader},
	}
	// The control: a message no rule hits is greylisted.
	plain := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mail.sender.example", MailFrom: "a@sender.example",
		Rcpts: []string{"bob@example.org"}, Message: message.Parse([]byte("From: <a@sender.example>\r\nTo: <bob@example.org>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\n" +
			"Message-ID: <1@x.example>\r\nSubject: hello\r\n\r\nHello Bob, see you tomorrow.\r\n"))}
	if v := eng.Scan(context.Background(), plain); v.Action != engine.Greylist {
		t.Fatalf("a message no rule hits: %v, want greylist (%.2f %+v)", v.Action, v.Score, v.Symbols)
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			if tt.ip == "" {
				tt.ip = "192.0.2.1"
			}
			if tt.from == "" {
				tt.from = "someone@sender.example"
			}
			if tt.rcpt == "" {
				tt.rcpt = "bob@example.org"
			}
			if tt.body == "" {
				tt.body = "\r\nHello Bob, see you tomorrow.\r\n"
			}
			raw := "From: <" + tt.from + ">\r\nTo: <" + tt.rcpt + ">\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@x.example>\r\n" + tt.header
			if !strings.Contains(tt.header, "Subject:") {
				raw += "Subject: hello\r\n"
			}
			raw += tt.body
			tx := &engine.Transaction{ClientIP: netip.MustParseAddr(tt.ip), Helo: "mail.sender.example",
				MailFrom: tt.from, Rcpts: []string{tt.rcpt}, Message: message.Parse([]byte(raw))}
			v := eng.Scan(context.Background(), tx)
			var hit *engine.ScoredSymbol
			for i := range v.Symbols {
				if v.Symbols[i].Name == tt.rule {
					hit = &v.Symbols[i]
				}
			}
			if hit == nil {
				t.Fatalf("no %s in %+v", tt.rule, v.Symbols)
			}
			if tt.rule == "LOCAL_QUARANTINE_UNSIGNED" {
				// The composite takes the symbol it combines
				// (policy remove_all), as rspamd's do.
				for _, s := range v.Symbols {
					if s.Name == "DMARC_POLICY_QUARANTINE" {
						t.Errorf("DMARC_POLICY_QUARANTINE kept by the composite: %+v", s)
					}
				}
			}
			if len(hit.Options) == 0 || hit.Options[0] != tt.option {
				t.Errorf("options %q, want %q first", hit.Options, tt.option)
			}
			if v.Action != tt.action {
				t.Errorf("action %v, want %v (score %.2f, forced by %q, symbols %+v)", v.Action, tt.action, v.Score, v.ForcedBy, v.Symbols)
			}
			if tt.action == engine.Reject && v.ForcedBy != tt.rule {
				t.Errorf("forced by %q, want %s", v.ForcedBy, tt.rule)
			}
			if hit.Description == "" {
				t.Errorf("no description")
			}
		})
	}
}

// zipWith returns a zip archive holding one small file called name, in
// base64 lines.
func zipWith(t *testing.T, name string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("MZ not really a program"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(buf.Bytes())
	var out strings.Builder
	for len(b64) > 76 {
		out.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	out.WriteString(b64)
	return out.String()
}

// TestRulesErrors: a bad rule in hamlet.toml stops the build with its
// file, line and name; an unknown option of a rule stops the load.
func TestRulesErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hamlet.toml")
	text := "[greylist]\nenabled = false\n\n[[rules]]\nname = \"GOOD\"\nfield = \"helo\"\nvalues = [\"x\"]\n\n" +
		"[[rules]]\nname = \"BAD\"\nfield = \"body\"\nvalues = [\"(unclosed\"]\n"
	if err := writeFile(conf, text); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSettings(conf, Overrides{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = BuildEngine(s, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	want := conf + ":12: rule BAD: regex `(unclosed`: missing closing )"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if err := writeFile(conf, "[[rules]]\nname = \"X\"\nfield = \"helo\"\nvalue = [\"x\"]\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSettings(conf, Overrides{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "hamlet.toml:4: rules.value: unknown option") {
		t.Fatalf("unknown rule option: %v", err)
	}
	inc := filepath.Join(dir, "more.toml")
	if err := writeFile(inc, "[[rules]]\nname = \"INC\"\nfield = \"rcpt\"\nmatch = \"suffix\"\nvalues = [\"x\"]\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(conf, "[rule_files]\ninclude = [\"more.toml\"]\n"); err != nil {
		t.Fatal(err)
	}
	s, err = LoadSettings(conf, Overrides{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = BuildEngine(s, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.HasPrefix(err.Error(), inc+":4: rule INC: field rcpt cannot be matched by \"suffix\"") {
		t.Fatalf("error in an included file: %v", err)
	}
}

// TestRulesStartupWarnings: start-up warns of a composite naming a
// symbol no check declares (a typo would make "!X" always true) and of a
// body rule whose expression the pre-filter cannot skip, naming each; a
// set with neither warns of nothing.
func TestRulesStartupWarnings(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hamlet.toml")
	build := func(rules string) string {
		t.Helper()
		if err := writeFile(conf, "[greylist]\nenabled = false\n\n"+rules); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSettings(conf, Overrides{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if _, err := BuildEngine(s, Deps{Logger: slog.New(slog.NewTextHandler(&log, nil))}); err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	log := build(`[[rules]]
name = "LOCAL_TYPO"
expression = "DMARC_POLICY_REJECT & !R_DKIM_ALOW"

[[rules]]
name = "LOCAL_CODES"
field = "body"
values = ['[A-Z]{12}\d{4}']

[[rules]]
name = "LOCAL_FINE"
field = "body"
values = ['(?i)wire\s+transfer']
`)
	for _, want := range []string{
		`level=WARN msg="composite rules name symbols no check emits" symbols=[R_DKIM_ALOW]`,
		`level=WARN msg="body rules with a regular expression without a literal of 3+ characters run on every message" rules=[LOCAL_CODES]`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("start-up log lacks %s:\n%s", want, log)
		}
	}
	if log := build(`[[rules]]
name = "LOCAL_OK"
expression = "DMARC_POLICY_REJECT & !R_DKIM_ALLOW"
`); strings.Contains(log, "WARN") {
		t.Errorf("warnings for a set without a problem:\n%s", log)
	}
}

// TestRulesEmptyIncludeDir (issue 14): removing the last file of a
// conf.d-style directory named by a glob removes its rules and logs a
// warning naming the glob; the engine is still built. A missing file named
// without a glob stays an error.
func TestRulesEmptyIncludeDir(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hamlet.toml")
	if err := os.Mkdir(filepath.Join(dir, "rules.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	rule := filepath.Join(dir, "rules.d", "10-helo.toml")
	if err := writeFile(rule, "[[rules]]\nname = \"LOCAL_HELO\"\nfield = \"helo\"\nvalues = [\"bad.example\"]\naction = \"reject\"\n"); err != nil {
		t.Fatal(err)
	}
	build := func(include string) (*engine.Engine, string, error) {
		t.Helper()
		if err := writeFile(conf, "[greylist]\nenabled = false\n[rule_files]\ninclude = ["+include+"]\n"); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSettings(conf, Overrides{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		eng, err := BuildEngine(s, Deps{Resolver: &dnstest.Mock{}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		return eng, log.String(), err
	}
	forced := func(eng *engine.Engine) string {
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "bad.example", MailFrom: "a@x.example",
			Rcpts: []string{"b@y.example"}, Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))}
		return eng.Scan(context.Background(), tx).ForcedBy
	}
	eng, log, err := build(`"rules.d/*.toml"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := forced(eng); got != "LOCAL_HELO" || strings.Contains(log, "match no file") {
		t.Fatalf("with the file: forced by %q, log:\n%s", got, log)
	}
	if err := os.Remove(rule); err != nil {
		t.Fatal(err)
	}
	eng, log, err = build(`"rules.d/*.toml"`)
	if err != nil {
		t.Fatalf("a glob matching no file refused: %v", err)
	}
	if got := forced(eng); got != "" {
		t.Errorf("the removed file's rule still forces: %q", got)
	}
	want := `level=WARN msg="rule_files include patterns match no file; they add no rules" patterns=[` + filepath.Join(dir, "rules.d/*.toml") + `]`
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %s:\n%s", want, log)
	}
	if _, _, err := build(`"rules.d/10-helo.toml"`); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file named without a glob: %v", err)
	}
}

// TestRulesListSIGHUP: the running daemon reads a rule's list file again
// on SIGHUP; a list made unreadable keeps its contents across the next
// SIGHUP, and the daemon goes on.
func TestRulesListSIGHUP(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "deny.txt")
	if err := writeFile(list, "old.example\n"); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "hamlet.toml")
	if err := writeFile(conf, `data_dir = "`+filepath.Join(dir, "data")+`"
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = []
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
timeout = "100ms"
[rule_files]
check_interval = "0s"
[[rules]]
name = "LOCAL_DENY_HELO"
field = "helo"
list = "deny.txt"
action = "reject"
`); err != nil {
		t.Fatal(err)
	}
	d, err := New(conf, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	d.Ready = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-d.Ready:
	case err := <-done:
		t.Fatal(err)
	}
	rejected := func(helo string) bool {
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: helo, MailFrom: "a@x.example",
			Rcpts: []string{"b@y.example"}, Message: message.Parse([]byte("Subject: x\r\n\r\nhi\r\n"))}
		v := d.Engine().Scan(ctx, tx)
		return v.Action == engine.Reject && v.ForcedBy == "LOCAL_DENY_HELO"
	}
	hup := func() {
		t.Helper()
		old := d.Engine()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 500 && d.Engine() == old; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if d.Engine() == old {
			t.Fatal("SIGHUP did not rebuild the engine")
		}
	}
	if !rejected("old.example") || rejected("new.example") {
		t.Fatal("the list is not in force")
	}
	if err := writeFile(list, "new.example\n"); err != nil {
		t.Fatal(err)
	}
	hup()
	if rejected("old.example") || !rejected("new.example") {
		t.Fatal("SIGHUP did not read the list again")
	}
	if err := os.Chmod(list, 0); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		// root reads anything: remove the file instead.
		os.Remove(list)
	}
	hup()
	if !rejected("new.example") {
		t.Fatal("an unreadable list lost its contents on SIGHUP")
	}
}
