package clamd_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/clamd"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"unix:/run/clamav/clamd.ctl", "unix:/run/clamav/clamd.ctl"},
		{"/run/clamav/clamd.ctl", "unix:/run/clamav/clamd.ctl"},
		{"tcp:127.0.0.1:3310", "tcp:127.0.0.1:3310"},
		{"127.0.0.1:3310", "tcp:127.0.0.1:3310"},
		{"[::1]:3310", "tcp:[::1]:3310"},
	} {
		c, err := clamd.New(tc.in)
		if err != nil || c.String() != tc.want {
			t.Errorf("New(%q) = %v, %v; want %s", tc.in, c, err, tc.want)
		}
	}
	for _, bad := range []string{"", "unix:", "clamd", "127.0.0.1", ":3310"} {
		if _, err := clamd.New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

// TestRealClamd streams clean and infected messages to a real clamd over
// its unix socket and over TCP.
func TestRealClamd(t *testing.T) {
	srv := clamdtest.Start(t, true)
	for _, addr := range []string{"unix:" + srv.Socket, srv.TCP} {
		c, err := clamd.New(addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("%s: ping: %v", addr, err)
		}
		res, err := c.Scan(ctx, clamdtest.Message(false))
		if err != nil || res.Found() {
			t.Errorf("%s: clean message: %+v %v", addr, res, err)
		}
		res, err = c.Scan(ctx, clamdtest.Message(true))
		if err != nil || res.Virus != clamdtest.Signature {
			t.Errorf("%s: infected message: %+v %v, want %s", addr, res, err, clamdtest.Signature)
		}
		// The raw string, and one spanning the 64 KiB chunk boundary.
		big := append(bytes.Repeat([]byte("a"), 64<<10-20), clamdtest.EICAR...)
		res, err = c.Scan(ctx, big)
		if err != nil || res.Virus != clamdtest.Signature {
			t.Errorf("%s: EICAR across chunks: %+v %v", addr, res, err)
		}
		if res, err := c.Scan(ctx, nil); err != nil || res.Found() {
			t.Errorf("%s: empty stream: %+v %v", addr, res, err)
		}
	}
	// Beyond the server's StreamMaxLength (2M in clamdtest): ErrSizeLimit.
	c, _ := clamd.New("unix:" + srv.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Scan(ctx, bytes.Repeat([]byte("x"), 3<<20))
	if !errors.Is(err, clamd.ErrSizeLimit) {
		t.Errorf("3 MB stream: %v, want ErrSizeLimit", err)
	}
}

// TestPausedClamd: a clamd that accepts and never answers costs the
// caller its deadline, not more.
func TestPausedClamd(t *testing.T) {
	srv := clamdtest.Start(t, false)
	c, _ := clamd.New("unix:" + srv.Socket)
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Scan(ctx, clamdtest.Message(true))
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("paused clamd: %v, want a deadline error", err)
	}
}

func TestDown(t *testing.T) {
	c, _ := clamd.New("unix:" + filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Scan(context.Background(), []byte("x")); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("no clamd: %v", err)
	}
}

// TestReplies: what a peer may answer (a fake peer: the real clamd's
// replies are covered above; these are the odd ones).
func TestReplies(t *testing.T) {
	for _, tc := range []struct {
		reply  string
		virus  string
		errIs  error
		anyErr bool
	}{
		{"stream: OK\x00", "", nil, false},
		{"stream: Win.Test.EICAR_HDB-1 FOUND\x00", "Win.Test.EICAR_HDB-1", nil, false},
		{"stream: Heuristics.Encrypted.Zip FOUND\n", "Heuristics.Encrypted.Zip", nil, false},
		{"INSTREAM size limit exceeded. ERROR\x00", "", clamd.ErrSizeLimit, true},
		{"stream: lstat() failed ERROR\x00", "", nil, true},
		{"UNKNOWN COMMAND\x00", "", clamd.ErrProtocol, true},
		{"stream:  FOUND\x00", "", clamd.ErrProtocol, true},
		{strings.Repeat("x", 5000), "", clamd.ErrProtocol, true},
		{"", "", nil, true}, // closed without a word
	} {
		sock := filepath.Join(t.TempDir(), "fake.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			for { // read until the zero-length chunk's bytes arrive
				n, err := conn.Read(buf)
				if err != nil || bytes.HasSuffix(buf[:n], []byte{0, 0, 0, 0}) {
					break
				}
			}
			conn.Write([]byte(tc.reply))
			conn.Close()
		}()
		c, _ := clamd.New("unix:" + sock)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.Scan(ctx, []byte("data"))
		cancel()
		l.Close()
		if res.Virus != tc.virus || (err != nil) != tc.anyErr || (tc.errIs != nil && !errors.Is(err, tc.errIs)) {
			t.Errorf("reply %.40q: %+v %v", tc.reply, res, err)
		}
	}
}
