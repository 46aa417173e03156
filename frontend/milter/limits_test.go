package milter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/engine"
)

// A declared length reserves nothing: a packet announcing 1 MiB whose
// first 5 bytes arrived costs a few KiB (issue 16: 300 connections
// sending 9 bytes each held ~290 MB).
func TestPacketNotReservedBeforeItArrives(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<20)
	in := append(hdr[:], 'B', 1, 2, 3, 4)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadPacket(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated packet: %v, want unexpected EOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("reading 5 bytes of a declared 1 MiB packet allocated %d bytes", got)
	}
	// and a packet that does arrive whole, in pieces, is read whole
	body := bytes.Repeat([]byte("x"), 300000)
	var full bytes.Buffer
	full.Write(AppendPacket(nil, CmdBody, body))
	p, err := ReadPacket(io.MultiReader(bytes.NewReader(full.Bytes()[:10]), iotestHalf{bytes.NewReader(full.Bytes()[10:])}))
	if err != nil || p.Cmd != CmdBody || !bytes.Equal(p.Data, body) {
		t.Fatalf("whole packet: cmd %q, %d bytes, %v", p.Cmd, len(p.Data), err)
	}
}

// iotestHalf returns at most 1000 bytes per Read, as a slow network does.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 1000)]) }

// The same through the server: 100 connections that announce 1 MiB
// packets and stall after 9 bytes hold little heap.
func TestStalledFramesHoldLittleMemory(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{})
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<20)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(append(hdr[:], 'B', 1, 2, 3, 4))
		conns = append(conns, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Connections < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let every session read its 9 bytes
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 20<<20 {
		t.Errorf("%d stalled 1 MiB frames hold %d MB of heap", n, grown>>20)
	}
}

// Messages in flight share a budget: past it a message gets on_error
// (451 by default) instead of more memory, and the budget comes back when
// the messages holding it end.
func TestInflightBudget(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{MaxInflightBytes: 100 << 10})
	big := bytes.Repeat([]byte("0123456789abcdef\r\n"), 4000) // 72 KB

	a := dial(t, addr)
	open(t, a, "203.0.113.60", "a.example.org", "a.example.org")
	expect(t, "mail")(a.Mail("a@example.org"))
	expect(t, "rcpt")(a.Rcpt("b@example.net"))
	expect(t, "header")(a.Header("Message-ID", " <held>"))
	expect(t, "eoh")(a.EOH())
	expect(t, "body")(a.Body(big)) // held: no end of message yet
	if err := a.flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.inflight.Load() < int64(len(big)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	b := dial(t, addr)
	open(t, b, "203.0.113.61", "b.example.org", "b.example.org")
	r, _ := send(t, b, "b@example.org", []string{"c@example.net"}, "Q1", append([]byte("Message-ID: <over>\r\n\r\n"), big[:40000]...))
	if r.Code != RespReplyCode || !strings.HasPrefix(r.Text, "451 ") {
		t.Errorf("message past the budget: got %v, want 451", r)
	}
	if _, _, ok := rec.message("<over>"); ok {
		t.Error("the message past the budget was scanned")
	}

	resp, _, err := a.EOM()
	must(t, err)
	if resp.Code != RespContinue {
		t.Errorf("held message: got %v", resp)
	}
	r, _ = send(t, b, "b@example.org", []string{"c@example.net"}, "Q2", append([]byte("Message-ID: <after>\r\n\r\n"), big[:40000]...))
	if r.Code != RespContinue {
		t.Errorf("after the budget came back: got %v", r)
	}
	if got := srv.inflight.Load(); got != 0 {
		t.Errorf("%d bytes still accounted in flight", got)
	}
}

// flakyListener fails Accept with err n times, then accepts.
type flakyListener struct {
	net.Listener
	mu  sync.Mutex
	n   int
	err error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, l.err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// Out of descriptors is not the end: the accept loop backs off and goes
// on (issue 16: `ulimit -n 64` and 70 idle connections made hamlet serve
// exit with "accept: too many open files").
func TestAcceptErrorsAreRetried(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			ln := &flakyListener{Listener: inner, n: 3, err: &net.OpError{Op: "accept", Net: "tcp", Err: errno}}
			srv := NewServer(func() *engine.Engine { return e }, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			c, err := Dial(context.Background(), inner.Addr().String(), ClientOptions{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("after accept errors: %v", err)
			}
			c.Close()
			select {
			case err := <-done:
				t.Fatalf("Serve returned %v on a temporary accept error", err)
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			must(t, srv.Shutdown(ctx))
			if err := <-done; err != ErrServerClosed {
				t.Errorf("Serve: %v", err)
			}
		})
		var ierr error
		inner, ierr = net.Listen("tcp", "127.0.0.1:0")
		must(t, ierr)
	}
	inner.Close()
}

// Past max_connections new connections wait (in the listen queue) until a
// served one ends.
func TestConnectionCap(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	srv, addr := startServer(t, func() *engine.Engine { return e }, Config{MaxConnections: 2})
	first := dial(t, addr)
	dial(t, addr)
	third := make(chan error, 1)
	go func() {
		c, err := Dial(context.Background(), addr, ClientOptions{Timeout: 20 * time.Second})
		if err == nil {
			c.Close()
		}
		third <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-third:
		t.Fatalf("a third connection was served past max_connections = 2 (err %v)", err)
	default:
	}
	if got := srv.Stats().Connections; got != 2 {
		t.Errorf("%d connections accepted, want 2", got)
	}
	first.Close()
	if err := <-third; err != nil {
		t.Fatalf("third connection after one ended: %v", err)
	}
}

// An idle connection is closed after idle_timeout.
func TestIdleTimeout(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{IdleTimeout: duration.Duration(200 * time.Millisecond)})
	c := dial(t, addr)
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := ReadPacket(c.rd)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
	}
}

func TestDefaultMaxConnections(t *testing.T) {
	if n := DefaultMaxConnections(); n < 16 {
		t.Errorf("default max_connections %d", n)
	}
	if c := (Config{}).WithDefaults(); c.MaxConnections != DefaultMaxConnections() || time.Duration(c.IdleTimeout) != DefaultIdleTimeout {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []Config{{MaxConnections: -1}, {IdleTimeout: -1}, {MaxInflightBytes: -1}, {Timeout: duration.Duration(time.Millisecond)}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
