package opensmtpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/engine/enginetest"
	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// seen records the transactions the engine saw at end of message, by
// Message-ID.
type seen struct {
	mu  sync.Mutex
	txs map[string]engine.Transaction
	raw map[string]string
}

func (s *seen) get(id string) (engine.Transaction, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[id]
	return tx, s.raw[id], ok
}

// startHamlet runs a milter server with a fake engine: connect-stage
// reject for 192.0.2.66, a connect check that hangs for 192.0.2.99, and a
// data check scoring X-Test-Score.
func startHamlet(t *testing.T) (string, *seen) {
	t.Helper()
	rec := &seen{txs: map[string]engine.Transaction{}, raw: map[string]string{}}
	checks := []engine.Check{
		&enginetest.Check{Label: "conn", Stage: engine.PhaseConnect, Defs: []engine.SymbolDef{{Name: "BLOCKED"}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				switch tx.ClientIP.String() {
				case "192.0.2.66":
					return engine.Result{Symbols: []engine.Symbol{{Name: "BLOCKED", Force: engine.Reject, Message: "5.7.1 Blocked, 100% sure"}}}
				case "192.0.2.99":
					<-ctx.Done() // DNS that never answers
				}
				return engine.Result{}
			}},
		&enginetest.Check{Label: "data", Stage: engine.PhaseData, Defs: []engine.SymbolDef{{Name: "TEST_SCORE", Weight: 1}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				id, _ := tx.Message.First("Message-ID")
				rec.mu.Lock()
				rec.txs[strings.TrimSpace(id)] = *tx
				rec.raw[strings.TrimSpace(id)] = string(tx.Message.Raw)
				rec.mu.Unlock()
				if v, ok := tx.Message.First("X-Test-Score"); ok {
					f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
					return engine.Result{Symbols: []engine.Symbol{{Name: "TEST_SCORE", Multiplier: f}}}
				}
				return engine.Result{}
			}},
	}
	e, err := engine.New(engine.Options{Checks: checks, Finishers: []engine.Finisher{enginetest.AuthResults(func(tx *engine.Transaction) string { return "mx.test; iprev=pass" })}, Policy: engine.DefaultPolicy(),
		Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(func() *engine.Engine { return e }, milter.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), rec
}

// harness runs a Filter on pipes, as smtpd would.
type harness struct {
	t     *testing.T
	f     *Filter
	in    *io.PipeWriter
	lines chan string
	done  chan error
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	f := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h := &harness{t: t, f: f, in: inW, lines: make(chan string, 10000), done: make(chan error, 1)}
	go func() {
		h.done <- f.Run(context.Background(), inR, outW)
		outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its input closed")
		}
	})
	return h
}

func (h *harness) send(lines ...string) {
	h.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(h.in, l+"\n"); err != nil {
			h.t.Fatal(err)
		}
	}
}

// next returns the next output line.
func (h *harness) next() string {
	h.t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			h.t.Fatal("filter output closed")
		}
		return l
	case <-time.After(10 * time.Second):
		h.t.Fatal("no output line within 10 s")
	}
	return ""
}

func (h *harness) want(line string) {
	h.t.Helper()
	if got := h.next(); got != line {
		h.t.Fatalf("got  %q\nwant %q", got, line)
	}
}

func (h *harness) handshake(lines ...string) {
	h.t.Helper()
	h.send(lines...)
	h.send("config|ready")
	for _, e := range reportEvents {
		h.want("register|report|smtp-in|" + e)
	}
	for _, p := range filterPhases {
		h.want("register|filter|smtp-in|" + p)
	}
	h.want("register|ready")
}

// smtp builds protocol lines for one session of a given version.
type smtp struct {
	v, sid string
	tok    int
}

func (s *smtp) report(event string, params ...string) string {
	l := "report|" + s.v + "|1576146008.006099|smtp-in|" + event + "|" + s.sid
	for _, p := range params {
		l += "|" + p
	}
	return l
}

// filter returns a request line and its token.
func (s *smtp) filter(phase string, params ...string) (string, string) {
	s.tok++
	tok := fmt.Sprintf("%016x", s.tok)
	l := "filter|" + s.v + "|1576146008.006099|smtp-in|" + phase + "|" + s.sid + "|" + tok
	for _, p := range params {
		l += "|" + p
	}
	return l, tok
}

func (s *smtp) result(tok, decision string) string {
	v, _ := ParseVersion(s.v)
	return Result(v, s.sid, tok, decision)
}

// request sends a filter request and checks the answer.
func (h *harness) request(s *smtp, want, phase string, params ...string) {
	h.t.Helper()
	l, tok := s.filter(phase, params...)
	h.send(l)
	h.want(s.result(tok, want))
}

func (h *harness) message(s *smtp, lines []string, wantOut []string) {
	h.t.Helper()
	tok := fmt.Sprintf("%016x", s.tok+1)
	s.tok++
	v, _ := ParseVersion(s.v)
	for _, l := range append(lines, ".") {
		h.send("filter|" + s.v + "|1576146008.006099|smtp-in|data-line|" + s.sid + "|" + tok + "|" + l)
	}
	for _, l := range append(wantOut, ".") {
		h.want(DataLine(v, s.sid, tok, l))
	}
}

var hamLines = []string{
	"From: alice@example.org",
	"To: bob@example.net",
	"Subject: hello | pipes",
	"Message-ID: <m1@example.org>",
	"",
	"..a line that starts with a dot",
	"last line",
}

func TestSessionAllVersions(t *testing.T) {
	addr, rec := startHamlet(t)
	for i, v := range []string{"0.4", "0.5", "0.6", "0.7"} {
		t.Run(v, func(t *testing.T) {
			h := newHarness(t, Config{Milter: addr})
			if v == "0.7" {
				h.handshake("config|smtpd-version|7.6.0", "config|protocol|0.7", "config|smtp-session-timeout|300", "config|subsystem|smtp-in")
			} else {
				h.handshake("config|smtpd-version|6.8.0p2", "config|smtp-session-timeout|300", "config|subsystem|smtp-in", "config|admd|mx.test")
			}
			s := &smtp{v: v, sid: fmt.Sprintf("7641df9771b4ed%02x", i)}
			h.send(s.report("link-connect", "mail.example.org", "pass", "203.0.113.5:33174", "127.0.0.1:25"))
			h.request(s, "proceed", "connect", "mail.example.org", "203.0.113.5")
			h.send(s.report("link-identify", "EHLO", "mail.example.org"))
			h.request(s, "proceed", "ehlo", "mail.example.org")
			if v == "0.7" {
				h.send(s.report("link-auth", "pass", "us|er"))
			} else {
				h.send(s.report("link-auth", "us|er", "pass"))
			}
			h.send(s.report("tx-begin", "0000000a"))
			h.request(s, "proceed", "mail-from", "<alice@example.org>")
			h.request(s, "proceed", "rcpt-to", "bob@example.net")
			id := "<v" + v + "@example.org>"
			lines := append([]string(nil), hamLines...)
			lines[3] = "Message-ID: " + id
			out := append([]string{"Authentication-Results: mx.test; iprev=pass"}, lines...)
			h.message(s, lines, out)
			h.request(s, "proceed", "commit")
			h.send(s.report("tx-commit", "0000000a", "200"), s.report("link-disconnect"))

			tx, raw, ok := rec.get(id)
			if !ok {
				t.Fatal("hamlet never saw the message")
			}
			wantRaw := strings.Join(lines, "\r\n") + "\r\n"
			wantRaw = strings.Replace(wantRaw, "\r\n..a line", "\r\n.a line", 1) // dot-unstuffed
			if raw != wantRaw {
				t.Errorf("message as scanned:\n got %q\nwant %q", raw, wantRaw)
			}
			if tx.ClientIP.String() != "203.0.113.5" || tx.ClientPTR != "mail.example.org" || tx.RDNS != engine.FCrDNSPass ||
				tx.Helo != "mail.example.org" || tx.MailFrom != "alice@example.org" || len(tx.Rcpts) != 1 || tx.AuthUser != "us|er" ||
				tx.QueueID != "0000000a" {
				t.Errorf("transaction: %+v", tx)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	addr, _ := startHamlet(t)
	h := newHarness(t, Config{Milter: addr})
	h.handshake()

	// a client refused at connect, and at every later phase
	s := &smtp{v: "0.6", sid: "00000000000000b1"}
	h.send(s.report("link-connect", "<unknown>", "fail", "192.0.2.66:1234", "127.0.0.1:25"))
	h.request(s, "reject|550 5.7.1 Blocked, 100% sure", "connect", "<unknown>", "192.0.2.66")
	h.request(s, "reject|550 5.7.1 Blocked, 100% sure", "helo", "spammer")
	h.send(s.report("link-disconnect"))

	// a message in the reject band: echoed unchanged, refused at commit
	s = &smtp{v: "0.6", sid: "00000000000000b2"}
	h.send(s.report("link-connect", "mx.example.org", "pass", "198.51.100.1:1234", "127.0.0.1:25"))
	h.request(s, "proceed", "connect", "mx.example.org", "198.51.100.1")
	h.request(s, "proceed", "helo", "mx.example.org")
	h.request(s, "proceed", "mail-from", "a@example.org")
	h.request(s, "proceed", "rcpt-to", "b@example.net")
	spam := []string{"Subject: spam", "X-Test-Score: 30", "Message-ID: <spam>", "", "buy"}
	h.message(s, spam, spam)
	h.request(s, "reject|550 5.7.1 Message rejected as spam", "commit")
	h.send(s.report("tx-rollback", "0000000b"))

	// the next message on the same session: add header band
	h.request(s, "proceed", "mail-from", "a@example.org")
	h.request(s, "proceed", "rcpt-to", "b@example.net")
	tag := []string{"Subject: maybe", "X-Test-Score: 7", "Message-ID: <tag>", "", "hm"}
	h.message(s, tag, append([]string{"Authentication-Results: mx.test; iprev=pass", "X-Spam: Yes", "X-Spam-Score: 7.00",
		"X-Spam-Status: Yes, score=7.00 required=15.00"}, tag...))
	h.request(s, "proceed", "commit")
}

func TestHamletDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, mode := range []string{"tempfail", "accept"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, Config{Milter: dead, OnError: mode, DialTimeout: time.Second})
			h.handshake()
			want := "reject|451 " + milter.DefaultTempfailReply
			if mode == "accept" {
				want = "proceed"
			}
			s := &smtp{v: "0.6", sid: "00000000000000c1"}
			h.send(s.report("link-connect", "mx.example.org", "pass", "198.51.100.1:1234", "127.0.0.1:25"))
			h.request(s, want, "connect", "mx.example.org", "198.51.100.1")
			h.request(s, want, "helo", "mx.example.org")
			h.request(s, want, "mail-from", "a@example.org")
			h.request(s, want, "rcpt-to", "b@example.net")
			msg := []string{"Subject: x", "", "y"}
			h.message(s, msg, msg)
			h.request(s, want, "commit")
		})
	}
}

func TestBadInputNeverStops(t *testing.T) {
	addr, _ := startHamlet(t)
	h := newHarness(t, Config{Milter: addr})
	h.handshake()
	h.send(
		"",
		"garbage",
		"report|x",
		"report|zero.six|1|smtp-in|link-connect|00000000000000d1|a|pass|1.2.3.4:1|5.6.7.8:25",
		"filter|0.6|1|smtp-in|connect|not-hex|0000000000000001|a|1.2.3.4",
		"report|0.6|1576146008.006099|smtp-in|link-greeting|00000000000000d1|mx.test",
		"report|0.6|1576146008.006099|smtp-in|some-future-event|00000000000000d1|x|y|z",
		"report|0.6|1576146008.006099|smtp-in|link-disconnect|00000000000000d9",
		strings.Repeat("x", MaxLine+10),
	)
	// the request with a session id that is not hex is answered (by
	// on_error), not left for smtpd to time out
	h.want("filter-result|not-hex|0000000000000001|reject|451 4.7.1 Mail filter unavailable, try again later")
	// an unknown phase and another subsystem are still answered
	s := &smtp{v: "0.6", sid: "00000000000000d1"}
	h.request(s, "proceed", "noop")
	l, tok := s.filter("connect", "x", "1.2.3.4")
	h.send(strings.Replace(l, "smtp-in", "smtp-out", 1))
	h.want(s.result(tok, "proceed"))
	// and a normal session goes on
	s = &smtp{v: "0.6", sid: "00000000000000d2"}
	h.send(s.report("link-connect", "mx.example.org", "pass", "198.51.100.1:1234", "127.0.0.1:25"))
	h.request(s, "proceed", "connect", "mx.example.org", "198.51.100.1")
}

func TestHangingSessionDoesNotBlockOthers(t *testing.T) {
	addr, _ := startHamlet(t)
	h := newHarness(t, Config{Milter: addr})
	h.handshake()
	slow := &smtp{v: "0.6", sid: "00000000000000e1"}
	h.send(slow.report("link-connect", "slow.example.org", "pass", "192.0.2.99:1", "127.0.0.1:25"))
	slowConnect, slowTok := slow.filter("connect", "slow.example.org", "192.0.2.99")
	h.send(slowConnect)

	// Several quick sessions, interleaved, all finish while the slow
	// one waits for its DNS.
	const n = 5
	fast := make([]*smtp, n)
	for i := range fast {
		fast[i] = &smtp{v: "0.6", sid: fmt.Sprintf("00000000000000f%d", i)}
		h.send(fast[i].report("link-connect", "ok.example.org", "pass", fmt.Sprintf("198.51.100.%d:1", i+1), "127.0.0.1:25"))
	}
	want := map[string]bool{}
	for _, s := range fast {
		l, tok := s.filter("connect", "ok.example.org", "198.51.100.1")
		h.send(l)
		want[s.result(tok, "proceed")] = true
	}
	for len(want) > 0 {
		got := h.next()
		if got == slow.result(slowTok, "proceed") {
			t.Fatal("the hanging session answered before the quick ones: it was not hanging, the test proves nothing")
		}
		if !want[got] {
			t.Fatalf("unexpected line %q", got)
		}
		delete(want, got)
	}
	// the slow one ends with the engine's deadline (a check timeout is
	// not an error) and proceeds
	h.want(slow.result(slowTok, "proceed"))
}

func TestRDNSMacros(t *testing.T) {
	for _, tc := range []struct{ rdns, fcrdns, name, ptr, resolve string }{
		{"mx.example.org", "pass", "mx.example.org", "mx.example.org", "OK"},
		{"mx.example.org", "fail", "unknown", "mx.example.org", "FORGED"},
		{"<unknown>", "fail", "unknown", "unknown", "FAIL"},
		{"", "fail", "unknown", "unknown", "FAIL"},
		{"<unknown>", "error", "unknown", "unknown", "TEMP"},
		{"mx.example.org", "", "unknown", "mx.example.org", ""},
	} {
		n, p, r := rdnsMacros(tc.rdns, tc.fcrdns)
		if n != tc.name || p != tc.ptr || r != tc.resolve {
			t.Errorf("rdnsMacros(%q, %q) = %q %q %q, want %q %q %q", tc.rdns, tc.fcrdns, n, p, r, tc.name, tc.ptr, tc.resolve)
		}
	}
}

func TestParsers(t *testing.T) {
	l, err := ParseLine("report|0.5|1.2|smtp-in|tx-mail|00000000000000aa|0000000b|a|b@example.org|ok")
	if err != nil {
		t.Fatal(err)
	}
	if id, res, a := ParseTxAddress(l); id != "0000000b" || res != "ok" || a != "a|b@example.org" {
		t.Errorf("0.5 tx-mail: %q %q %q", id, res, a)
	}
	l, _ = ParseLine("report|0.6|1.2|smtp-in|tx-mail|00000000000000aa|0000000b|ok|a|b@example.org")
	if id, res, a := ParseTxAddress(l); id != "0000000b" || res != "ok" || a != "a|b@example.org" {
		t.Errorf("0.6 tx-mail: %q %q %q", id, res, a)
	}
	l, _ = ParseLine("filter|0.6|1.2|smtp-in|data-line|00000000000000aa|0000000000000001|a|b||")
	if l.Params != "a|b||" || l.Token != "0000000000000001" {
		t.Errorf("data-line params %q token %q", l.Params, l.Token)
	}
	l, _ = ParseLine("filter|0.6|1.2|smtp-in|commit|00000000000000aa|0000000000000001")
	if l.Event != "commit" || l.Params != "" {
		t.Errorf("commit: %+v", l)
	}
	v, _ := ParseVersion("0.10")
	if !v.AtLeast(0, 7) || (Version{0, 6}).AtLeast(0, 7) {
		t.Error("versions compared as strings")
	}
	for _, src := range [][2]string{{"1.2.3.4:25", "1.2.3.4"}, {"[2001:db8::1]:25", "2001:db8::1"}, {"[2001:db8::1]", "2001:db8::1"}, {"unix:/var/run/smtpd.sock", ""}, {"local", ""}, {"1.2.3.4", "1.2.3.4"}} {
		if got := ParseSrc(src[0]); got != src[1] {
			t.Errorf("ParseSrc(%q) = %q, want %q", src[0], got, src[1])
		}
	}
	long := "x=" + strings.Repeat("a ", 1500)
	folded := foldValue("Authentication-Results", long, 900)
	for _, ln := range strings.Split(folded, "\n") {
		if len(ln) > 900 {
			t.Errorf("folded line of %d bytes", len(ln))
		}
	}
	if strings.ReplaceAll(folded, "\n", "") != long {
		t.Error("folding changed the value")
	}
}

func TestResultOrder(t *testing.T) {
	// smtpd-filters(7): "filter-result|session|token|decision" since 0.5;
	// 0.4 (OpenSMTPD 6.6) parsed the token first.
	if got := Result(Version{0, 6}, "sid", "tok", "proceed"); got != "filter-result|sid|tok|proceed" {
		t.Errorf("0.6: %q", got)
	}
	if got := Result(Version{0, 4}, "sid", "tok", "proceed"); got != "filter-result|tok|sid|proceed" {
		t.Errorf("0.4: %q", got)
	}
	if got := DataLine(Version{0, 7}, "sid", "tok", "a|b"); got != "filter-dataline|sid|tok|a|b" {
		t.Errorf("dataline: %q", got)
	}
}
