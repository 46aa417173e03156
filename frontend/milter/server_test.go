package milter

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/engine"
)

// A message with the shapes that break naive reassembly: a folded field,
// a field with two spaces after the colon, one with a tab, an empty value,
// and a body without a final line break.
const hamMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject:  two spaces\r\n" +
	"X-Folded: first line\r\n\tsecond line\r\n  third line\r\n" +
	"X-Tab:\tvalue after tab\r\n" +
	"X-Empty:\r\n" +
	"Message-ID: <ham-1@example.org>\r\n" +
	"\r\n" +
	"Hello Bob,\r\n\r\n.leading dot stays\r\nno final newline"

func msgWith(id string, extra ...string) []byte {
	return []byte("From: alice@example.org\r\nTo: bob@example.net\r\nSubject: test " + id + "\r\n" +
		strings.Join(extra, "") + "Message-ID: <" + id + ">\r\n\r\nbody of " + id + "\r\n")
}

func dial(t *testing.T, addr string) *ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// open plays a Postfix SMTP connection up to HELO, with Postfix's macros.
func open(t *testing.T, c *ClientSession, ip, name, ptr string) {
	t.Helper()
	must(t, c.Macros(CmdConnect, "j", "mx.test", "{daemon_name}", "smtpd", "{client_addr}", ip, "{client_name}", name, "{client_ptr}", ptr))
	fam := byte('4')
	if strings.Contains(ip, ":") {
		fam = '6'
	}
	expect(t, "connect")(c.Connect(name, fam, 40000, ip))
	expect(t, "helo")(c.Helo("client.example.org"))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// expect returns a checker that the response continues the transaction.
func expect(t *testing.T, what string) func(Response, error) {
	return func(r Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.Code != RespContinue {
			t.Fatalf("%s: got %v, want continue", what, r)
		}
	}
}

// send plays one transaction and returns the end-of-message result.
func send(t *testing.T, c *ClientSession, from string, rcpts []string, qid string, raw []byte) (Response, []Modification) {
	t.Helper()
	must(t, c.Macros(CmdMail, "{auth_authen}", "", "{mail_addr}", from))
	expect(t, "mail")(c.Mail(from))
	for _, r := range rcpts {
		must(t, c.Macros(CmdRcpt, "{rcpt_addr}", r))
		expect(t, "rcpt")(c.Rcpt(r))
	}
	must(t, c.Macros(CmdEOB, "{i}", qid))
	resp, mods, err := c.Message(raw)
	if err != nil {
		t.Fatal(err)
	}
	return resp, mods
}

func TestNegotiation(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{})

	c := dial(t, addr)
	n := c.Negotiated()
	if n.Version != 6 {
		t.Errorf("version %d, want 6", n.Version)
	}
	if n.Actions != wantActions {
		t.Errorf("actions %#x, want %#x", n.Actions, wantActions)
	}
	if n.Protocol != wantProto {
		t.Errorf("protocol %#x, want %#x", n.Protocol, wantProto)
	}
	for _, want := range []string{"{client_addr}", "{client_name}", "{client_ptr}", "j", "{daemon_name}"} {
		if !slices.Contains(n.Macros[StageConnect], want) {
			t.Errorf("connect macros %v lack %s", n.Macros[StageConnect], want)
		}
	}
	if !slices.Contains(n.Macros[StageMail], "{auth_authen}") || !slices.Contains(n.Macros[StageEOM], "i") {
		t.Errorf("macros %v lack {auth_authen} at mail or i at eom", n.Macros)
	}

	// An MTA that offers less gets asked for no more than it offers, and
	// no macro lists when it cannot take them.
	ctx := context.Background()
	old, err := Dial(ctx, addr, ClientOptions{Actions: ActAddHeaders, Protocol: ProtoNoUnknown | ProtoNRHeader})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := old.Negotiated(); got.Actions != ActAddHeaders || got.Protocol != ProtoNoUnknown|ProtoNRHeader || got.Macros != nil {
		t.Errorf("limited offer: got %+v", got)
	}
}

func TestHamReassembledExactly(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	for _, lead := range []bool{true, false} {
		t.Run(map[bool]string{true: "leadspace", false: "no-leadspace"}[lead], func(t *testing.T) {
			opts := ClientOptions{Timeout: 10 * time.Second}
			if !lead {
				opts.Protocol = allProto &^ ProtoHdrLeadSpc
			}
			c, err := Dial(context.Background(), addr, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			open(t, c, "203.0.113.5", "mail.example.org", "mail.example.org")
			raw := []byte(hamMsg)
			if !lead {
				// Without SMFIP_HDR_LEADSPC the MTA eats one space;
				// only single-space fields survive exactly.
				raw = []byte(strings.Replace(hamMsg, "Subject:  two", "Subject: two", 1))
			}
			resp, mods := send(t, c, "alice@example.org", []string{"bob@example.net", "carol@example.net"}, "4XyZ1", raw)
			if resp.Code != RespContinue {
				t.Fatalf("final %v, want continue", resp)
			}
			got, tx, ok := rec.message("<ham-1@example.org>")
			if !ok {
				t.Fatal("the engine never saw the message")
			}
			want := raw
			if !bytes.Equal(got, want) {
				t.Errorf("reassembled message differs:\n got %q\nwant %q", got, want)
			}
			if tx.ClientIP.String() != "203.0.113.5" || tx.ClientPTR != "mail.example.org" || tx.RDNS != engine.FCrDNSPass {
				t.Errorf("connect data: ip %v ptr %q rdns %v", tx.ClientIP, tx.ClientPTR, tx.RDNS)
			}
			if tx.Helo != "client.example.org" || tx.MailFrom != "alice@example.org" || !slices.Equal(tx.Rcpts, []string{"bob@example.net", "carol@example.net"}) {
				t.Errorf("envelope: helo %q from %q rcpts %v", tx.Helo, tx.MailFrom, tx.Rcpts)
			}
			if tx.QueueID != "4XyZ1" || tx.MTAName != "mx.test" {
				t.Errorf("queue id %q, mta %q", tx.QueueID, tx.MTAName)
			}
			if len(mods) != 1 || mods[0].Code != RespInsHeader || mods[0].Index != 0 || mods[0].Name != "Authentication-Results" {
				t.Fatalf("modifications %+v, want one Authentication-Results insert at the top", mods)
			}
			out := ApplyHeaderEdits(raw, mods, c.LeadingSpace())
			if !bytes.HasPrefix(out, []byte("Authentication-Results: mx.test; iprev=pass smtp.remote-ip=203.0.113.5\r\nFrom: Alice")) {
				t.Errorf("edited message starts %q", out[:min(len(out), 120)])
			}
			if bytes.Contains(out, []byte("X-Spam")) {
				t.Error("ham got an X-Spam field")
			}
		})
	}
}

func TestFinalActions(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	c := dial(t, addr)
	open(t, c, "198.51.100.7", "mx.example.org", "mx.example.org")

	// add header band (6 ≤ score < 8)
	raw := msgWith("spam-1", "X-Test-Score: 7\r\n")
	resp, mods := send(t, c, "s@example.org", []string{"bob@example.net"}, "Q1", raw)
	if resp.Code != RespContinue {
		t.Fatalf("add header band: final %v", resp)
	}
	out := string(ApplyHeaderEdits(raw, mods, c.LeadingSpace()))
	wantTop := "Authentication-Results: mx.test; iprev=pass smtp.remote-ip=198.51.100.7\r\n" +
		"X-Spam: Yes\r\nX-Spam-Score: 7.00\r\nX-Spam-Status: Yes, score=7.00 required=15.00\r\nFrom: "
	if !strings.HasPrefix(out, wantTop) {
		t.Errorf("add header band: message starts\n%q\nwant\n%q", out[:min(len(out), len(wantTop))], wantTop)
	}

	// rewrite subject band (8 ≤ score < 15)
	raw = msgWith("spam-2", "X-Test-Score: 9\r\n")
	resp, mods = send(t, c, "s@example.org", []string{"bob@example.net"}, "Q2", raw)
	if resp.Code != RespContinue {
		t.Fatalf("rewrite subject band: final %v", resp)
	}
	out = string(ApplyHeaderEdits(raw, mods, c.LeadingSpace()))
	if !strings.Contains(out, "\r\nSubject: *** SPAM *** test spam-2\r\n") || strings.Count(out, "Subject:") != 1 {
		t.Errorf("rewrite subject: got\n%s", out)
	}

	// reject band
	resp, _ = send(t, c, "s@example.org", []string{"bob@example.net"}, "Q3", msgWith("spam-3", "X-Test-Score: 20\r\n"))
	if resp.Code != RespReplyCode || resp.Text != "550 5.7.1 Message rejected as spam" {
		t.Errorf("reject band: got %v", resp)
	}

	// greylist band: without a greylist finisher it is a soft reject
	resp, _ = send(t, c, "s@example.org", []string{"bob@example.net"}, "Q4", msgWith("spam-4", "X-Test-Score: 4.5\r\n"))
	if resp.Code != RespReplyCode || !strings.HasPrefix(resp.Text, "451 4.7.1 ") {
		t.Errorf("greylist band: got %v", resp)
	}

	// each message on the connection had its own envelope and queue id
	for i, id := range []string{"spam-1", "spam-2", "spam-3", "spam-4"} {
		_, tx, ok := rec.message("<" + id + ">")
		if !ok || len(tx.Rcpts) != 1 || tx.QueueID != "Q"+string(rune('1'+i)) || tx.ClientIP.String() != "198.51.100.7" || tx.Helo == "" {
			t.Errorf("%s: ok %v rcpts %v qid %q ip %v helo %q", id, ok, tx.Rcpts, tx.QueueID, tx.ClientIP, tx.Helo)
		}
	}
}

func TestEarlyVerdicts(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{})

	// Postfix offers the no-reply flags: a forced verdict of the connect
	// or MAIL stage comes at RCPT, the first event the MTA waits for.
	t.Run("connect", func(t *testing.T) {
		c := dial(t, addr)
		must(t, c.Macros(CmdConnect, "{client_addr}", "192.0.2.66", "{client_name}", "unknown", "{client_ptr}", "unknown"))
		expect(t, "connect")(c.Connect("unknown", '4', 1234, "192.0.2.66"))
		expect(t, "helo")(c.Helo("x.example.org"))
		expect(t, "mail")(c.Mail("x@example.org"))
		r, err := c.Rcpt("bob@example.net")
		must(t, err)
		if r.Code != RespReplyCode || r.Text != "550 5.7.1 Client blocked by reputation" {
			t.Errorf("got %v", r)
		}
	})
	// An MTA without them (older Sendmail) hears it at connect.
	t.Run("connect, replies at every stage", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := Dial(ctx, addr, ClientOptions{Timeout: 10 * time.Second, Protocol: allProto &^ (ProtoNRConn | ProtoNRHelo | ProtoNRMail | ProtoNREOH)})
		must(t, err)
		defer c.Close()
		must(t, c.Macros(CmdConnect, "{client_addr}", "192.0.2.66", "{client_name}", "unknown", "{client_ptr}", "unknown"))
		r, err := c.Connect("unknown", '4', 1234, "192.0.2.66")
		must(t, err)
		if r.Code != RespReplyCode || r.Text != "550 5.7.1 Client blocked by reputation" {
			t.Errorf("got %v", r)
		}
	})
	t.Run("mail soft reject then next message", func(t *testing.T) {
		c := dial(t, addr)
		open(t, c, "203.0.113.9", "a.example.org", "a.example.org")
		expect(t, "mail")(c.Mail("soft@example.org"))
		r, err := c.Rcpt("bob@example.net")
		must(t, err)
		if r.Code != RespReplyCode || r.Text != "451 4.7.1 Come back later" {
			t.Errorf("mail: got %v", r)
		}
		must(t, c.Abort())
		resp, _ := send(t, c, "fine@example.org", []string{"bob@example.net"}, "Q9", msgWith("after-soft"))
		if resp.Code != RespContinue {
			t.Errorf("next message: got %v", resp)
		}
		if _, tx, _ := rec.message("<after-soft>"); tx.MailFrom != "fine@example.org" {
			t.Errorf("next message sender %q", tx.MailFrom)
		}
	})
	t.Run("rcpt", func(t *testing.T) {
		c := dial(t, addr)
		open(t, c, "203.0.113.10", "b.example.org", "b.example.org")
		expect(t, "mail")(c.Mail("x@example.org"))
		r, err := c.Rcpt("bad@example.net")
		must(t, err)
		if r.Code != RespReplyCode || r.Text != "550 5.7.1 Message rejected as spam" {
			t.Errorf("rcpt: got %v", r)
		}
	})
	if got := srv.Stats().EarlyRejects; got != 4 {
		t.Errorf("early rejects counted %d, want 4", got)
	}
}

func TestAbortAndReuse(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	c := dial(t, addr)
	open(t, c, "203.0.113.20", "c.example.org", "c.example.org")

	// A transaction aborted in the middle of the header (RSET / client gone).
	must(t, c.Macros(CmdMail, "{i}", "OLDQ"))
	expect(t, "mail")(c.Mail("first@example.org"))
	expect(t, "rcpt")(c.Rcpt("r1@example.net"))
	expect(t, "header")(c.Header("Subject", " partial"))
	must(t, c.Abort())

	resp, _ := send(t, c, "second@example.org", []string{"r2@example.net"}, "NEWQ", msgWith("after-abort"))
	if resp.Code != RespContinue {
		t.Fatalf("got %v", resp)
	}
	raw, tx, _ := rec.message("<after-abort>")
	if tx.MailFrom != "second@example.org" || !slices.Equal(tx.Rcpts, []string{"r2@example.net"}) || tx.QueueID != "NEWQ" {
		t.Errorf("envelope leaked from the aborted transaction: %q %v %q", tx.MailFrom, tx.Rcpts, tx.QueueID)
	}
	if bytes.Contains(raw, []byte("partial")) {
		t.Error("header of the aborted message leaked into the next one")
	}

	// The MTA reuses the milter connection for another SMTP connection.
	must(t, c.QuitNewConn())
	open(t, c, "198.51.100.99", "d.example.org", "d.example.org")
	send(t, c, "third@example.org", []string{"r3@example.net"}, "Q3", msgWith("new-conn"))
	if _, tx, _ := rec.message("<new-conn>"); tx.ClientIP.String() != "198.51.100.99" || tx.ClientPTR != "d.example.org" {
		t.Errorf("after QUIT_NC: ip %v ptr %q", tx.ClientIP, tx.ClientPTR)
	}
}

func TestDropMidway(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	for _, stage := range []string{"negotiation", "connect", "mail", "header", "body"} {
		conn, err := net.Dial("tcp", addr)
		must(t, err)
		if stage != "negotiation" {
			c, err := NewClientSession(conn, ClientOptions{Timeout: 5 * time.Second})
			must(t, err)
			open(t, c, "203.0.113.30", "e.example.org", "e.example.org")
			if stage != "connect" {
				expect(t, "mail")(c.Mail("x@example.org"))
			}
			if stage == "header" || stage == "body" {
				expect(t, "header")(c.Header("Subject", " half"))
			}
			if stage == "body" {
				expect(t, "eoh")(c.EOH())
				expect(t, "body")(c.Body([]byte("half a bo")))
			}
		} else {
			conn.Write([]byte{0, 0, 0, 13, 'O', 0, 0}) // a truncated packet
		}
		conn.Close()
	}
	// a half-written packet: the server must not wait forever for it
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.sessions)
		srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open after their connections dropped", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// and the server still serves
	c := dial(t, addr)
	open(t, c, "203.0.113.31", "f.example.org", "f.example.org")
	if r, _ := send(t, c, "y@example.org", []string{"z@example.net"}, "Q", msgWith("still-serving")); r.Code != RespContinue {
		t.Errorf("after drops: %v", r)
	}
}

func TestOnError(t *testing.T) {
	rec := newRecorder()
	e200 := fakeEngine(t, rec, 200*time.Millisecond)
	for _, mode := range []string{OnErrorTempfail, OnErrorAccept} {
		t.Run(mode+"/no engine", func(t *testing.T) {
			_, addr := startServer(t, func() *engine.Engine { return nil }, Config{OnError: mode})
			c := dial(t, addr)
			must(t, c.Macros(CmdConnect, "{client_addr}", "203.0.113.40"))
			expect(t, "connect")(c.Connect("x", '4', 1, "203.0.113.40"))
			expect(t, "mail")(c.Mail("a@example.org"))
			r, err := c.Rcpt("b@example.net")
			must(t, err)
			checkOnError(t, mode, r)
		})
		// [milter] timeout is beyond the checks' deadline: checks that
		// time out give the engine's verdict (with timeout symbols), not
		// on_error. (It was absolute: 150 ms here tempfailed.)
		t.Run(mode+"/checks time out, engine answers", func(t *testing.T) {
			slow := fakeEngine(t, rec, 400*time.Millisecond)
			srv, addr := startServer(t, func() *engine.Engine { return slow }, Config{OnError: mode, Timeout: duration.Duration(150 * time.Millisecond)})
			c := dial(t, addr)
			open(t, c, "203.0.113.41", "g.example.org", "g.example.org")
			expect(t, "mail")(c.Mail("slow@example.org"))
			r, err := c.Rcpt("b@example.net")
			must(t, err)
			if r.Code != RespContinue {
				t.Errorf("rcpt: got %v, want the engine's verdict (continue)", r)
			}
			raw := []byte("Subject: hang\r\nMessage-ID: <hang-2>\r\n\r\nx\r\n")
			resp, mods, err := c.Message(raw)
			must(t, err)
			if resp.Code != RespContinue || len(mods) == 0 {
				t.Errorf("end of message: got %v with %d edits, want the engine's verdict", resp, len(mods))
			}
			if n := srv.Stats().Errors; n != 0 {
				t.Errorf("on_error applied %d times", n)
			}
		})
		t.Run(mode+"/engine stuck at end of message", func(t *testing.T) {
			srv, addr := startServer(t, func() *engine.Engine { return e200 }, Config{OnError: mode, Timeout: duration.Duration(200 * time.Millisecond)})
			c := dial(t, addr)
			open(t, c, "203.0.113.42", "h.example.org", "h.example.org")
			raw := []byte("Subject: stuck\r\nMessage-ID: <stuck>\r\n\r\nx\r\n")
			r, mods := send(t, c, "a@example.org", []string{"b@example.net"}, "Q", raw)
			checkOnError(t, mode, r)
			if len(mods) != 0 {
				t.Errorf("modifications after a failed scan: %+v", mods)
			}
			if srv.Stats().Errors != 1 {
				t.Errorf("errors counted %d, want 1", srv.Stats().Errors)
			}
		})
	}
}

func checkOnError(t *testing.T, mode string, r Response) {
	t.Helper()
	if r.SMTPCode() >= 500 {
		t.Fatalf("on_error gave a permanent failure: %v", r)
	}
	switch mode {
	case OnErrorTempfail:
		if r.Code != RespReplyCode || r.Text != "451 "+DefaultTempfailReply {
			t.Errorf("tempfail: got %v", r)
		}
	case OnErrorAccept:
		if r.Code != RespContinue {
			t.Errorf("accept: got %v", r)
		}
	}
}

func TestUnixSocketAndShutdown(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	path := filepath.Join(t.TempDir(), "milter.sock")
	ln, err := net.Listen("unix", path) // as the daemon does, umask and all
	must(t, err)
	srv := NewServer(func() *engine.Engine { return e }, Config{}, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(path)
		must(t, err)
		if fi.Mode().Perm() == 0o666 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket mode %v: the MTA's user could not connect", fi.Mode().Perm())
		}
		time.Sleep(10 * time.Millisecond)
	}

	c, err := Dial(context.Background(), "unix:"+path, ClientOptions{})
	must(t, err)
	open(t, c, "203.0.113.50", "i.example.org", "i.example.org")
	// An idle connection between messages is closed by Shutdown at once:
	// the client never closes it, so a Shutdown that waited for it would
	// end with ctx's error, not nil.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with only an idle connection: %v", err)
	}
	if err := <-done; err != ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	c.Mail("x@example.org")
	if _, err := c.Rcpt("y@example.net"); err == nil {
		t.Error("connection still served after Shutdown")
	}
	// A stale socket file does not stop the next start.
	ln2, err := Listen("unix:" + path)
	if err != nil {
		t.Fatalf("relisten: %v", err)
	}
	ln2.Close()
}

func TestShutdownWaitsForMessage(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	c := dial(t, addr)
	open(t, c, "203.0.113.51", "j.example.org", "j.example.org")
	expect(t, "mail")(c.Mail("x@example.org"))
	expect(t, "rcpt")(c.Rcpt("y@example.net"))

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown with a message in flight returned %v, want the deadline", err)
	}
}

func TestClientRDNS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hostname string
		mac      map[string]string
		ptr      string
		want     engine.FCrDNS
	}{
		{"postfix verified", "mx.example.org", map[string]string{"client_name": "mx.example.org", "client_ptr": "mx.example.org"}, "mx.example.org", engine.FCrDNSPass},
		{"postfix unverified ptr", "unknown", map[string]string{"client_name": "unknown", "client_ptr": "dyn.example.net"}, "dyn.example.net", engine.FCrDNSFail},
		{"postfix nothing", "unknown", map[string]string{"client_name": "unknown", "client_ptr": "unknown"}, "", engine.FCrDNSUnknown},
		{"no macros, name in connect", "mx.example.org.", nil, "mx.example.org", engine.FCrDNSPass},
		{"no macros, bracketed address", "[192.0.2.1]", nil, "", engine.FCrDNSUnknown},
		{"sendmail ok", "mx.example.org", map[string]string{"client_name": "mx.example.org", "client_resolve": "OK"}, "mx.example.org", engine.FCrDNSPass},
		{"sendmail forged", "[192.0.2.1]", map[string]string{"client_name": "[192.0.2.1]", "client_ptr": "fake.example.org", "client_resolve": "FORGED"}, "fake.example.org", engine.FCrDNSFail},
		{"sendmail fail", "[192.0.2.1]", map[string]string{"client_resolve": "FAIL"}, "", engine.FCrDNSNone},
		{"sendmail temp", "[192.0.2.1]", map[string]string{"client_resolve": "TEMP"}, "", engine.FCrDNSTempError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ptr, st := clientRDNS(Connect{Hostname: tc.hostname, Family: '4'}, tc.mac)
			if ptr != tc.ptr || st != tc.want {
				t.Errorf("got (%q, %v), want (%q, %v)", ptr, st, tc.ptr, tc.want)
			}
		})
	}
}

func TestFormatReply(t *testing.T) {
	for _, tc := range []struct {
		code      int
		enh, text string
		want      string
	}{
		{550, "5.7.1", "5.7.1 Message rejected as spam", "550 5.7.1 Message rejected as spam"},
		{550, "5.7.1", "5.7.26 DMARC policy", "550 5.7.26 DMARC policy"},
		{550, "5.7.1", "Rejected", "550 5.7.1 Rejected"},
		{451, "4.7.1", "5.7.1 mismatched class", "451 4.7.1 mismatched class"},
		{451, "4.7.1", "", "451 4.7.1 Try again later"},
		{550, "5.7.1", "100% spam\r\n250 injected", "550 5.7.1 100%% spam  250 injected"},
	} {
		if got := FormatReply(tc.code, tc.enh, tc.text); got != tc.want {
			t.Errorf("FormatReply(%d, %q, %q) = %q, want %q", tc.code, tc.enh, tc.text, got, tc.want)
		}
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if !slices.Equal(c.Listen, []string{"127.0.0.1:11332"}) || c.OnError != "tempfail" || c.Timeout == 0 || c.MaxMessageSize == 0 {
		t.Errorf("defaults: %+v", c)
	}
	must(t, c.Validate())
	for _, bad := range []Config{
		{Listen: []string{"nohost"}},
		{Listen: []string{"unix:"}},
		{OnError: "reject"},
		{TempfailReply: "5.7.1 no"},
		{Timeout: -1},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
	for in, want := range map[string][2]string{
		"127.0.0.1:11332":      {"tcp", "127.0.0.1:11332"},
		"inet:127.0.0.1:11332": {"tcp", "127.0.0.1:11332"},
		"inet6:[::1]:11332":    {"tcp", "[::1]:11332"},
		"unix:/run/h.sock":     {"unix", "/run/h.sock"},
		"/run/h.sock":          {"unix", "/run/h.sock"},
	} {
		n, a, err := ParseListen(in)
		if err != nil || n != want[0] || a != want[1] {
			t.Errorf("ParseListen(%q) = %q %q %v", in, n, a, err)
		}
	}
	for in, want := range map[string]string{
		"127.0.0.1:99999":      "port 99999 is out of range",
		"inet:127.0.0.1:65536": "port 65536 is out of range",
		"127.0.0.1:":           "no port",
		"unix:":                "empty socket path",
	} {
		if _, _, err := ParseListen(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseListen(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestOversizeNotScanned(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{MaxMessageSize: 200})
	c := dial(t, addr)
	open(t, c, "203.0.113.60", "k.example.org", "k.example.org")
	raw := msgWith("big", "X-Test-Score: 20\r\n")
	raw = append(raw, bytes.Repeat([]byte("0123456789\r\n"), 100)...)
	resp, mods := send(t, c, "a@example.org", []string{"b@example.net"}, "Q", raw)
	if resp.Code != RespContinue || len(mods) != 0 {
		t.Errorf("oversize: %v %+v", resp, mods)
	}
	if _, _, ok := rec.message("<big>"); ok {
		t.Error("an oversize message was scanned")
	}
}

func TestApplyHeaderEdits(t *testing.T) {
	raw := []byte("Received: a\r\nSubject: old\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n")
	mods := []Modification{
		{Code: RespChgHeader, Index: 2, Name: "X-A", Value: ""},
		{Code: RespChgHeader, Index: 1, Name: "Subject", Value: " new\n\tfolded"},
		{Code: RespInsHeader, Index: 0, Name: "Top", Value: " t"},
		{Code: RespInsHeader, Index: 2, Name: "Third", Value: " 3"},
		{Code: RespAddHeader, Name: "Last", Value: " l"},
		{Code: RespChgHeader, Index: 1, Name: "X-Missing", Value: " m"},
	}
	got := string(ApplyHeaderEdits(raw, mods, true))
	want := "Top: t\r\nReceived: a\r\nThird: 3\r\nSubject: new\r\n\tfolded\r\nX-A: 1\r\nLast: l\r\nX-Missing: m\r\n\r\nbody\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}

	// A header ended by a line that is no field (found end to end through
	// OpenSMTPD): everything from that line on is kept, unchanged.
	raw = []byte("From: a\r\nSubject: offer\r\n.dot line\r\nMessage-ID: <x>\r\n\r\nbody\r\n")
	got = string(ApplyHeaderEdits(raw, []Modification{{Code: RespInsHeader, Name: "X-Spam", Value: " Yes"}}, true))
	if want := "X-Spam: Yes\r\n" + string(raw); got != want {
		t.Errorf("malformed header:\n got %q\nwant %q", got, want)
	}
	// and with no header edit at all, the message is returned as it came
	for _, r := range []string{string(raw), "no header at all\r\n", "", "A: b\r\n"} {
		if got := string(ApplyHeaderEdits([]byte(r), nil, true)); got != r {
			t.Errorf("no edits: %q became %q", r, got)
		}
	}
}
