package opensmtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// Config configures the filter.
type Config struct {
	// Milter is the address of hamlet serve's milter listener
	// ("127.0.0.1:11332", "unix:/run/hamlet/milter.sock").
	Milter string `toml:"milter"`
	// OnError is "tempfail" (default) or "accept": what smtpd is told when
	// hamlet cannot be reached or fails.
	OnError string `toml:"on_error"`
	// Timeout bounds each exchange with hamlet (0: 60 s). hamlet answers
	// within its own deadline; this only catches a daemon that hangs.
	Timeout time.Duration `toml:"-"`
	// DialTimeout bounds connecting to hamlet (0: 5 s).
	DialTimeout time.Duration `toml:"-"`
	// TempfailReply is the reply when on_error tempfails.
	TempfailReply string `toml:"-"`
}

// MaxLine bounds an input line. smtpd never sends longer ones (its SMTP
// lines are far shorter); a longer line is dropped whole, with a log line,
// instead of growing memory without end.
const MaxLine = 1 << 20

// maxOutLine is the longest line written to smtpd: it copies each filter
// response into a LINE_MAX (2048) buffer, so anything longer would be
// truncated. Header fields hamlet adds are folded to fit.
const maxOutLine = 2000

// reports and phases hamlet registers for. Every name exists since
// protocol 0.5 (OpenSMTPD 6.6); smtpd dies on a name it does not know.
var (
	reportEvents = []string{"link-connect", "link-disconnect", "link-identify", "link-auth", "tx-begin", "tx-reset", "tx-rollback", "tx-commit"}
	filterPhases = []string{"connect", "helo", "ehlo", "mail-from", "rcpt-to", "data-line", "commit"}
)

// Filter is one filter process's state. Run drives it.
type Filter struct {
	cfg Config
	log *slog.Logger

	out chan string // the single writer's queue

	// dial opens a milter session to hamlet; replaced in tests.
	dial func(ctx context.Context) (*milter.ClientSession, error)

	wg sync.WaitGroup

	// Owned by Run's goroutine: the protocol version announced in the
	// handshake (the fallback for a request whose version is unreadable)
	// and the count of lines dropped for sessions not known.
	proto   Version
	dropped int
	// live counts the sessions running, for tests and the session cap.
	live atomic.Int64
}

// MaxSessions bounds the SMTP sessions the filter follows at once (smtpd's
// own default is a few hundred). Past it a new session is not followed:
// its requests are answered by on_error at once.
const MaxSessions = 10000

// New returns a filter. logger may be nil (stderr, which smtpd logs).
func New(cfg Config, logger *slog.Logger) *Filter {
	if cfg.Milter == "" {
		cfg.Milter = milter.DefaultListen
	}
	if cfg.OnError == "" {
		cfg.OnError = milter.OnErrorTempfail
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.TempfailReply == "" {
		cfg.TempfailReply = milter.DefaultTempfailReply
	}
	if logger == nil {
		logger = slog.Default()
	}
	f := &Filter{cfg: cfg, log: logger.With("frontend", "opensmtpd"), out: make(chan string, 1024), proto: Version{0, 5}}
	f.dial = func(ctx context.Context) (*milter.ClientSession, error) {
		ctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
		defer cancel()
		return milter.Dial(ctx, f.cfg.Milter, milter.ClientOptions{Timeout: f.cfg.Timeout, Protocol: milter.ProtoAnswerEveryStage})
	}
	return f
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, _, err := milter.ParseListen(c.Milter); c.Milter != "" && err != nil {
		return fmt.Errorf("opensmtpd.milter: %w", err)
	}
	switch strings.ToLower(c.OnError) {
	case "", milter.OnErrorTempfail, milter.OnErrorAccept:
	default:
		return fmt.Errorf("opensmtpd.on_error: %q is neither %q nor %q", c.OnError, milter.OnErrorTempfail, milter.OnErrorAccept)
	}
	return nil
}

// Run speaks the protocol on r and w until r ends (smtpd closed the pipe)
// or ctx ends. It never returns on bad input: a malformed or unknown line
// is logged and skipped. One goroutine reads, one per SMTP session works,
// one writes, so a session waiting for hamlet holds up no other.
func (f *Filter) Run(ctx context.Context, r io.Reader, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	writerDone := make(chan error, 1)
	go func() { writerDone <- f.writer(ctx, w) }()

	sessions := map[string]*session{} // owned by this goroutine
	br := bufio.NewReaderSize(r, 64<<10)
	var readErr error
	for {
		line, err := readLine(br, MaxLine)
		if errors.Is(err, errLineTooLong) {
			f.log.Warn("input line too long, dropped", "max", MaxLine)
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		f.dispatch(ctx, sessions, line)
	}
	// smtpd is gone: end the sessions, then the writer.
	for id, s := range sessions {
		s.push(event{close: true})
		delete(sessions, id)
	}
	f.wg.Wait()
	cancel()
	if err := <-writerDone; err != nil && readErr == nil {
		readErr = err
	}
	return readErr
}

func (f *Filter) dispatch(ctx context.Context, sessions map[string]*session, text string) {
	l, err := ParseLine(text)
	if err != nil {
		if req, ok := salvageRequest(text, f.proto); ok {
			// A request that smtpd waits for: answer it, or the SMTP
			// session stalls until smtpd's timeout.
			f.log.Warn("malformed filter request, answered by on_error", "err", err, "on_error", f.cfg.OnError, "line", truncate(text, 200))
			if s := sessions[req.Session]; s != nil && req.Event == "data-line" {
				s.push(event{line: req}) // keeps the message's lines in order
				return
			}
			f.answerNow(req)
			return
		}
		f.log.Warn("unparsable line from smtpd, ignored", "err", err, "line", truncate(text, 200))
		return
	}
	switch l.Kind {
	case KindConfig:
		f.config(l)
		return
	}
	if l.Subsystem != "smtp-in" {
		if l.Kind == KindFilter {
			// Always answer a request, whatever it is.
			f.send(Result(l.Version, l.Session, l.Token, "proceed"))
		}
		return
	}
	s := sessions[l.Session]
	if s == nil {
		// Only link-connect starts a session (or a request, which must be
		// answered): reports of sessions never seen are dropped, so that
		// they cannot pile up sessions that never end.
		if l.Kind == KindReport && l.Event != "link-connect" {
			f.dropped++
			if f.dropped&(f.dropped-1) == 0 { // 1st, 2nd, 4th, 8th …
				f.log.Warn("report for a session not seen connecting, dropped", "event", l.Event, "session", l.Session, "dropped", f.dropped)
			}
			return
		}
		if len(sessions) >= MaxSessions {
			f.log.Warn("too many sessions followed at once; this one is answered by on_error", "max", MaxSessions, "session", l.Session)
			if l.Kind == KindFilter {
				f.answerNow(l)
			}
			return
		}
		s = newSession(f, l.Session)
		sessions[l.Session] = s
		f.wg.Add(1)
		f.live.Add(1)
		go func() {
			defer f.wg.Done()
			defer f.live.Add(-1)
			s.run(ctx)
		}()
	}
	s.push(event{line: l})
	if l.Kind == KindReport && l.Event == "link-disconnect" {
		s.push(event{close: true})
		delete(sessions, l.Session)
	}
}

// Sessions returns the number of SMTP sessions being followed.
func (f *Filter) Sessions() int { return int(f.live.Load()) }

// answerNow answers a request outside any session: by on_error, or, for a
// data line, by giving the line back unchanged.
func (f *Filter) answerNow(l Line) {
	if l.Event == "data-line" {
		f.send(DataLine(l.Version, l.Session, l.Token, l.Params))
		return
	}
	f.send(Result(l.Version, l.Session, l.Token, onErrorDecision(f.cfg)))
}

// salvageRequest reads a filter request that ParseLine refused (an
// unreadable version, a session id or token that is not 16 hex digits)
// when its session and token are still recognisable — non-empty printable
// words — so that it can be answered. proto stands in for a bad version.
func salvageRequest(text string, proto Version) (Line, bool) {
	f := strings.SplitN(text, "|", 8)
	if len(f) < 7 || f[0] != KindFilter {
		return Line{}, false
	}
	l := Line{Kind: KindFilter, Time: f[2], Subsystem: f[3], Event: f[4], Session: f[5], Token: f[6]}
	if len(f) == 8 {
		l.Params = f[7]
	}
	if !isWord(l.Session) || !isWord(l.Token) {
		return Line{}, false
	}
	v, err := ParseVersion(f[1])
	if err != nil {
		v = proto
	}
	l.Version = v
	return l, true
}

// isWord: 1 to 64 printable ASCII characters, none a space.
func isWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// config handles the handshake: on config|ready, register.
func (f *Filter) config(l Line) {
	switch l.Key {
	case "protocol":
		f.log.Debug("smtpd filter protocol", "version", l.Value)
		if v, err := ParseVersion(l.Value); err == nil {
			f.proto = v
		}
	case "smtpd-version":
		f.log.Debug("smtpd version", "version", l.Value)
	case "ready":
		for _, e := range reportEvents {
			f.send("register|report|smtp-in|" + e)
		}
		for _, p := range filterPhases {
			f.send("register|filter|smtp-in|" + p)
		}
		f.send("register|ready")
	}
}

// send queues one output line. The queue is drained by the one writer; a
// blocked writer (smtpd not reading) blocks senders, never the reader.
func (f *Filter) send(line string) { f.out <- line }

func (f *Filter) writer(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var werr error
	for {
		select {
		case line := <-f.out:
			if werr == nil {
				_, werr = bw.WriteString(line + "\n")
			}
			// Flush when nothing else is waiting.
			if len(f.out) == 0 && werr == nil {
				werr = bw.Flush()
			}
			if werr != nil {
				f.log.Error("writing to smtpd failed", "err", werr)
			}
		case <-ctx.Done():
			for {
				select {
				case line := <-f.out:
					if werr == nil {
						_, werr = bw.WriteString(line + "\n")
					}
				default:
					if werr == nil {
						werr = bw.Flush()
					}
					return werr
				}
			}
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its "\n" (and a "\r" before it),
// bounded by max; a longer line is consumed and errLineTooLong returned.
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+1 {
				tooLong = true
				buf = nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 && !tooLong {
				return strings.TrimSuffix(string(buf), "\r"), nil
			}
			return "", err
		}
		if tooLong {
			return "", errLineTooLong
		}
		s := string(buf[:len(buf)-1])
		return strings.TrimSuffix(s, "\r"), nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
