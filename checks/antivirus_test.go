package checks

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
	"github.com/hamlet-mail/hamlet/message"
)

func TestAntivirusConfig(t *testing.T) {
	for _, bad := range []func(*AntivirusConfig){
		func(c *AntivirusConfig) { c.Clamd = "nonsense" },
		func(c *AntivirusConfig) { c.Timeout = 0 },
		func(c *AntivirusConfig) { c.MaxSize = 0 },
		func(c *AntivirusConfig) { c.Action = "greylist" },
		func(c *AntivirusConfig) { c.Action = "explode" },
	} {
		c := DefaultAntivirusConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	c := DefaultAntivirusConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if _, err := NewAntivirus(c, nil); err == nil {
		t.Error("NewAntivirus without clamd accepted")
	}
}

// TestAntivirusRealClamd runs the check through the engine against a real
// clamd: a virus is rejected with its name, a clean message passes, clamd
// stopped or paused gives CLAM_VIRUS_FAIL and no reject, within the
// configured timeout.
func TestAntivirusRealClamd(t *testing.T) {
	srv := clamdtest.Start(t, false)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	build := func(cfg AntivirusConfig) *engine.Engine {
		av, err := NewAntivirus(cfg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(engine.Options{Checks: []engine.Check{av}, Policy: engine.DefaultPolicy(), Timeout: 10 * time.Second, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cfg := DefaultAntivirusConfig()
	cfg.Clamd = "unix:" + srv.Socket
	cfg.Timeout = duration.Duration(2 * time.Second)
	e := build(cfg)
	scan := func(e *engine.Engine, msg []byte) *engine.Verdict {
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "a@example.com", Rcpts: []string{"b@example.org"}, Message: message.Parse(msg)}
		return e.Scan(context.Background(), tx)
	}
	v := scan(e, clamdtest.Message(true))
	if v.Action != engine.Reject || v.ForcedBy != SymClamVirus || !strings.Contains(v.Reply, clamdtest.Signature) || !strings.HasPrefix(v.Reply, "5.7.1 ") {
		t.Errorf("infected: %v forced by %q reply %q", v.Action, v.ForcedBy, v.Reply)
	}
	if i := slices.IndexFunc(v.Symbols, func(s engine.ScoredSymbol) bool { return s.Name == SymClamVirus }); i < 0 || !slices.Equal(v.Symbols[i].Options, []string{clamdtest.Signature}) {
		t.Errorf("infected: symbols %+v", v.Symbols)
	}
	if v := scan(e, clamdtest.Message(false)); v.Action != engine.NoAction || len(v.Symbols) != 0 {
		t.Errorf("clean: %v %+v", v.Action, v.Symbols)
	}

	// add_header instead of reject.
	tag := cfg
	tag.Action = "add_header"
	if v := scan(build(tag), clamdtest.Message(true)); v.Action != engine.AddHeader {
		t.Errorf("action add_header: %v", v.Action)
	}

	// Larger than max_size: not scanned, no symbol.
	small := cfg
	small.MaxSize = 100
	if v := scan(build(small), clamdtest.Message(true)); v.Action != engine.NoAction || len(v.Symbols) != 0 {
		t.Errorf("over max_size: %v %+v", v.Action, v.Symbols)
	}

	// Paused (slow) clamd: CLAM_VIRUS_FAIL [timeout] after the 2 s timeout,
	// and the log says that timeout ended it, not the scan's 10 s deadline.
	srv.Pause()
	start := time.Now()
	var log lockedBuffer // the check logs from its own goroutine
	quiet = slog.New(slog.NewTextHandler(&log, nil))
	v = scan(build(cfg), clamdtest.Message(true))
	if v.Action != engine.NoAction || !hasSymbolOpt(v, SymClamVirusFail, "timeout") {
		t.Errorf("paused clamd: %v %+v", v.Action, v.Symbols)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("paused clamd answered in %v, before the timeout", el)
	}
	if !strings.Contains(log.String(), `ended_by="antivirus timeout"`) {
		t.Errorf("paused clamd: the log does not say the antivirus timeout ended the scan:\n%s", log.String())
	}
	// With a timeout past the scan's deadline (here the caller's, 1 s),
	// the deadline ends it.
	long := cfg
	long.Timeout = duration.Duration(time.Hour)
	log.Reset()
	dl, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v = build(long).Scan(dl, &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "a@example.com", Rcpts: []string{"b@example.org"}, Message: message.Parse(clamdtest.Message(true))})
	if !hasSymbolOpt(v, SymClamVirusFail, "timeout") {
		t.Errorf("paused clamd, 1 h timeout: %+v", v.Symbols)
	}
	// The verdict comes at the deadline, maybe before the check itself has
	// returned and logged: wait for its line (it returns as soon as its
	// context ends).
	for i := 0; i < 200 && !strings.Contains(log.String(), `ended_by="scan deadline"`); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log.String(), `ended_by="scan deadline"`) {
		t.Errorf("paused clamd, 1 h timeout: the log does not say the scan deadline ended it:\n%s", log.String())
	}
	srv.Resume()
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

	// Stopped clamd: CLAM_VIRUS_FAIL [connect].
	srv.Stop()
	v = scan(e, clamdtest.Message(true))
	if v.Action != engine.NoAction || !hasSymbolOpt(v, SymClamVirusFail, "connect") {
		t.Errorf("stopped clamd: %v %+v", v.Action, v.Symbols)
	}
	cfg.Clamd = "unix:" + filepath.Join(t.TempDir(), "never.sock")
	if v := scan(build(cfg), clamdtest.Message(true)); !hasSymbolOpt(v, SymClamVirusFail, "connect") {
		t.Errorf("no socket: %+v", v.Symbols)
	}
}

func hasSymbolOpt(v *engine.Verdict, name, opt string) bool {
	for _, s := range v.Symbols {
		if s.Name == name && slices.Contains(s.Options, opt) {
			return true
		}
	}
	return false
}

// lockedBuffer is a bytes.Buffer that a logger may write to from other
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}
