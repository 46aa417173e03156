package rspamdhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// rawExchange writes req on a new connection to addr, half-closes it
// when closeWrite is set, and reads the response.
func rawExchange(t *testing.T, addr, req string, closeWrite bool) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type codeLog struct {
	mu    sync.Mutex
	codes []string
}

func (l *codeLog) Request(route string, code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes = append(l.codes, fmt.Sprintf("%s:%d", route, code))
}

func (l *codeLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.codes...)
}

func TestServerRaw(t *testing.T) {
	e := testEngine(t)
	metrics := &codeLog{}
	cfg := Config{MaxBody: 4096, MaxHeaderBytes: 4096, Metrics: metrics}
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)

	t.Run("rspamc request as sent", func(t *testing.T) {
		// The request rspamc 3.4 sends, byte for byte: HTTP/1.0, header
		// names as it spells them.
		body := msgWith("X-Test-Symbols: TEST_SPAM\r\n")
		req := "POST /checkv2 HTTP/1.0\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
			"Connection: close\r\nContent-Type: text/plain\r\nUser: bob\r\nDeliver-To: deliver@x\r\n" +
			"Filename: m.eml\r\nIp: 1.2.3.4\r\nUser-Agent: rspamc\r\nFlags: body_block\r\n" +
			"Helo: mx.example.org\r\nFrom: a@example.org\r\nHostname: mx.example.org\r\n" +
			"Rcpt: b@example.net\r\nRcpt: c@example.net\r\n\r\n" + body
		resp, got := rawExchange(t, addr, req, false)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, got)
		}
		if resp.ContentLength != int64(len(got)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("Content-Length %d for %d bytes, transfer encoding %v", resp.ContentLength, len(got), resp.TransferEncoding)
		}
		var r reply
		if err := json.Unmarshal([]byte(got), &r); err != nil {
			t.Fatal(err)
		}
		env := strings.Join(r.Symbols["TEST_ENVELOPE"].Options, "|")
		want := "ip=1.2.3.4|helo=mx.example.org|ptr=mx.example.org|rdns=1|from=a@example.org|rcpts=b@example.net;c@example.net|user=bob|queue=|mta="
		if r.Action != "add header" || env != want {
			t.Errorf("action %q envelope %s", r.Action, env)
		}
	})

	t.Run("truncated body", func(t *testing.T) {
		// Content-Length promises more than the client sends before it
		// stops writing: a 400, not a scan of half a message.
		req := "POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nFrom: a@example.org\r\n"
		resp, got := rawExchange(t, addr, req, true)
		if resp.StatusCode != 400 || !strings.Contains(got, `"error":"reading message`) {
			t.Errorf("%d %s", resp.StatusCode, got)
		}
	})

	t.Run("chunked oversized", func(t *testing.T) {
		chunk := strings.Repeat("x", 3000)
		req := "POST /checkv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk, len(chunk), chunk)
		resp, got := rawExchange(t, addr, req, false)
		if resp.StatusCode != 413 || !strings.Contains(got, "larger than the limit") {
			t.Errorf("%d %s", resp.StatusCode, got)
		}
	})

	t.Run("chunked within limit", func(t *testing.T) {
		body := hamMsg
		req := "POST /checkv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		resp, got := rawExchange(t, addr, req, false)
		if resp.StatusCode != 200 || !strings.Contains(got, `"message-id":"lunch.42@example.org"`) {
			t.Errorf("%d %s", resp.StatusCode, got)
		}
	})

	t.Run("header too large", func(t *testing.T) {
		req := "POST /checkv2 HTTP/1.1\r\nHost: x\r\nRcpt: " + strings.Repeat("a", 20000) + "@x\r\nContent-Length: 0\r\n\r\n"
		resp, _ := rawExchange(t, addr, req, false)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})

	t.Run("CR in header value", func(t *testing.T) {
		req := "POST /checkv2 HTTP/1.1\r\nHost: x\r\nHelo: a\rb\r\nContent-Length: 0\r\n\r\n"
		resp, _ := rawExchange(t, addr, req, false)
		if resp.StatusCode != 400 {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})

	t.Run("ping over HTTP/1.0", func(t *testing.T) {
		resp, got := rawExchange(t, addr, "GET /ping HTTP/1.0\r\n\r\n", false)
		if resp.StatusCode != 200 || got != "pong\r\n" {
			t.Errorf("%d %q", resp.StatusCode, got)
		}
	})

	codes := strings.Join(metrics.get(), " ")
	for _, want := range []string{"checkv2:200", "checkv2:400", "checkv2:413", "ping:200"} {
		if !strings.Contains(codes, want) {
			t.Errorf("metrics %s lack %s", codes, want)
		}
	}
}

// TestClientGone checks that a scan whose client disconnects ends, and is
// counted as 499, not as a reply.
func TestClientGone(t *testing.T) {
	started := make(chan struct{})
	slow := &blockingCheck{started: started, ended: make(chan error, 1)}
	// The engine's deadline is an hour: only the client leaving can end
	// the scan within the test.
	e, err := engine.New(engine.Options{Checks: []engine.Check{slow}, Policy: engine.DefaultPolicy(), Timeout: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	metrics := &codeLog{}
	cfg := Config{Metrics: metrics}
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(hamMsg), hamMsg)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the scan did not start")
	}
	c.Close()
	select {
	case err := <-slow.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the check's context ended with %v, want canceled by the client leaving", err)
		}
	case <-time.After(time.Minute): // a hang guard, not a speed claim
		t.Fatal("the scan did not end after the client left")
	}
	for range 3000 { // the reply is counted just after the check returns
		if got := metrics.get(); len(got) > 0 {
			if got[0] != "checkv2:499" {
				t.Errorf("metrics %v, want checkv2:499", got)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the scan that ended was never counted")
}

// blockingCheck waits until its context ends, and says why it ended.
type blockingCheck struct {
	started chan struct{}
	ended   chan error
}

func (*blockingCheck) Name() string                { return "blocking" }
func (*blockingCheck) Phase() engine.Phase         { return engine.PhaseData }
func (*blockingCheck) After() []string             { return nil }
func (*blockingCheck) Symbols() []engine.SymbolDef { return nil }
func (b *blockingCheck) Run(ctx context.Context, tx *engine.Transaction, _ engine.Results) engine.Result {
	close(b.started)
	<-ctx.Done()
	b.ended <- ctx.Err()
	return engine.Result{}
}
