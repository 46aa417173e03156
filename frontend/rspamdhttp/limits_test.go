package rspamdhttp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// stalledBody opens a connection that sends the headers of a /checkv2
// request declaring length bytes, then sent bytes of body, and stops.
func stalledBody(t *testing.T, addr string, length, sent int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", length)
	if _, err := c.Write([]byte(strings.Repeat("x", sent))); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitInflight waits until the handler holds at least n body bytes.
func waitInflight(t *testing.T, h *Handler, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.Inflight() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("handler holds %d body bytes, want at least %d", h.Inflight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Issue 16 item 1: ten connections declaring 50 MiB and stalling used to
// make the handler reserve 500 MiB; the buffer now grows as bytes arrive.
func TestDeclaredLengthReservesNothing(t *testing.T) {
	e := testEngine(t)
	cfg := Config{} // defaults: max_size 50 MiB, 256 MiB in flight
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)
	before := heapInUse()
	const conns = 10
	for range conns {
		stalledBody(t, addr, 50<<20, 61)
	}
	waitInflight(t, h, conns*readChunk)
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d stalled 50 MiB requests: heap +%d KiB, %d body bytes held", conns, grown>>10, h.Inflight())
	if grown > 16<<20 {
		t.Errorf("heap grew by %d MiB for %d stalled requests of 61 body bytes", grown>>20, conns)
	}
	if got := h.Inflight(); got > conns*readChunk {
		t.Errorf("%d body bytes held, want at most %d", got, conns*readChunk)
	}
}

func TestInflightBound(t *testing.T) {
	e := testEngine(t)
	metrics := &codeLog{}
	cfg := Config{MaxBody: 1 << 20, MaxInflight: 1 << 20, Metrics: metrics}
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)

	a := stalledBody(t, addr, 1<<20, 900<<10)
	waitInflight(t, h, 900<<10)
	body := msgWith("") + strings.Repeat("y", 200<<10)
	req := fmt.Sprintf("POST /checkv2 HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, got := rawExchange(t, addr, req, false)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(got, "max_inflight_bytes") {
		t.Fatalf("second request past the bound: %d %s", resp.StatusCode, got)
	}
	a.Close()
	for deadline := time.Now().Add(10 * time.Second); h.Inflight() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still held after the stalled client left", h.Inflight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, got = rawExchange(t, addr, req, false)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the stalled client left: %d %s", resp.StatusCode, got)
	}
	if h.Inflight() != 0 {
		t.Errorf("%d bytes held after the reply", h.Inflight())
	}
}

// A body that stops arriving is cut off by the body timeout (408), not
// held for the five minutes of the old read timeout.
func TestBodyTimeout(t *testing.T) {
	e := testEngine(t)
	cfg := Config{BodyTimeout: 200 * time.Millisecond}
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)
	c := stalledBody(t, addr, 1000, 10)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %d %s", resp.StatusCode, b)
	}
	if h.Inflight() != 0 {
		t.Errorf("%d bytes held after the timeout", h.Inflight())
	}
}

// slowCheck takes its time at end of message, as a clamd or DNS check on
// a slow night would, and says whether it finished or was cancelled.
type slowCheck struct{ d time.Duration }

func (slowCheck) Name() string        { return "slow" }
func (slowCheck) Phase() engine.Phase { return engine.PhaseData }
func (slowCheck) After() []string     { return nil }
func (slowCheck) Symbols() []engine.SymbolDef {
	return []engine.SymbolDef{
		{Name: "SLOW_DONE", Weight: 0, Description: "The slow check finished"},
		{Name: "SLOW_CANCELLED", Weight: 0, Description: "The slow check was cancelled"},
	}
}
func (c slowCheck) Run(ctx context.Context, _ *engine.Transaction, _ engine.Results) engine.Result {
	select {
	case <-time.After(c.d):
		return engine.Result{Symbols: []engine.Symbol{{Name: "SLOW_DONE"}}}
	case <-ctx.Done():
		return engine.Result{Symbols: []engine.Symbol{{Name: "SLOW_CANCELLED"}}}
	}
}

// The body timeout bounds the wait for the body, not the scan: once the
// body is in, a scan that runs past body_timeout is neither cancelled nor
// cut off. (net/http also clears the read deadline when it starts its
// background read at the end of the body; the handler lifts it itself.)
func TestScanLongerThanBodyTimeout(t *testing.T) {
	e, err := engine.New(engine.Options{
		Checks: []engine.Check{slowCheck{d: 800 * time.Millisecond}}, Policy: engine.DefaultPolicy(),
		Timeout: 10 * time.Second, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{BodyTimeout: 100 * time.Millisecond}
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	addr := serve(t, h, cfg)
	resp, err := http.Post("http://"+addr+"/checkv2", "message/rfc822", strings.NewReader("From: a@example.org\r\nSubject: slow\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatalf("a scan longer than body_timeout: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"SLOW_DONE"`) {
		t.Fatalf("a scan longer than body_timeout: %d %s", resp.StatusCode, b)
	}
}
