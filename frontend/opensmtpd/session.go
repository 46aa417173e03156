package opensmtpd

import (
	"context"
	"strings"
	"sync"

	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// event is one line for a session, or the order to end it.
type event struct {
	line  Line
	close bool
}

// session is one SMTP session of smtpd. Its events are queued by the
// reader (never blocking it) and handled in order by the session's own
// goroutine, which alone touches the fields below mu.
type session struct {
	f  *Filter
	id string

	mu    sync.Mutex
	queue []event
	wake  chan struct{}

	// state, owned by run's goroutine
	version  Version
	conn     LinkConnect
	haveConn bool
	authUser string
	msgid    string // smtpd's transaction id (tx-begin), hamlet's queue id

	mc      *milter.ClientSession
	failed  bool   // hamlet unusable for the rest of the session
	refused string // a connect/helo-stage refusal repeated for later phases
	inTx    bool   // a MAIL was passed to hamlet

	data      []string // unescaped message lines
	dataBytes int
	decision  string // filter-result decision for commit
}

func newSession(f *Filter, id string) *session {
	return &session{f: f, id: id, wake: make(chan struct{}, 1)}
}

func (s *session) push(e event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) run(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.f.log.Error("opensmtpd session panicked", "session", s.id, "panic", p)
		}
		s.closeMilter()
	}()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		for _, e := range batch {
			if e.close {
				return
			}
			s.handle(ctx, e.line)
		}
	}
}

func (s *session) handle(ctx context.Context, l Line) {
	s.version = l.Version
	if l.Kind == KindReport {
		s.report(l)
		return
	}
	defer func() {
		// A request must always be answered, even if handling panicked.
		if p := recover(); p != nil {
			s.f.log.Error("filter request panicked", "session", s.id, "phase", l.Event, "panic", p)
			if l.Event != "data-line" {
				s.answer(l, s.onError())
			}
		}
	}()
	switch l.Event {
	case "connect":
		s.connect(ctx, l)
	case "helo", "ehlo":
		s.stage(l, func(mc *milter.ClientSession) (milter.Response, error) { return mc.Helo(l.Params) })
	case "mail-from":
		addr := milter.StripAngles(l.Params)
		s.data, s.dataBytes, s.decision = nil, 0, ""
		if s.inTx && s.mc != nil && !s.failed {
			if err := s.mc.Abort(); err != nil {
				s.fail(err)
			}
		}
		s.stage(l, func(mc *milter.ClientSession) (milter.Response, error) {
			if err := mc.Macros(milter.CmdMail, "{auth_authen}", s.authUser, "{mail_addr}", addr); err != nil {
				return milter.Response{}, err
			}
			s.inTx = true
			return mc.Mail(addr)
		})
	case "rcpt-to":
		addr := milter.StripAngles(l.Params)
		s.stage(l, func(mc *milter.ClientSession) (milter.Response, error) {
			if s.msgid != "" {
				if err := mc.Macros(milter.CmdRcpt, "i", s.msgid); err != nil {
					return milter.Response{}, err
				}
			}
			return mc.Rcpt(addr)
		})
	case "data-line":
		s.dataLine(l)
	case "commit":
		d := s.decision
		if d == "" {
			d = "proceed"
		}
		s.decision = ""
		s.answer(l, d)
	default:
		s.answer(l, "proceed")
	}
}

func (s *session) report(l Line) {
	switch l.Event {
	case "link-connect":
		s.conn = ParseLinkConnect(l)
		s.haveConn = true
	case "link-auth":
		user, result := ParseLinkAuth(l)
		if result == "pass" {
			s.authUser = user
		}
	case "tx-reset", "tx-rollback":
		s.data, s.dataBytes, s.decision = nil, 0, ""
		if s.inTx && s.mc != nil && !s.failed {
			if err := s.mc.Abort(); err != nil {
				s.fail(err)
			}
		}
		s.inTx = false
	case "tx-begin":
		s.msgid = l.Fields(1)[0]
	case "tx-commit":
		s.inTx = false
	}
}

// connect opens the milter session to hamlet and passes the client.
func (s *session) connect(ctx context.Context, l Line) {
	f := l.Fields(2)
	rdns, src := f[0], f[1]
	fcrdns := ""
	if s.haveConn {
		fcrdns = s.conn.FCrDNS
		if s.conn.RDNS != "" {
			rdns = s.conn.RDNS
		}
		if ip := ParseSrc(s.conn.Src); ip != "" {
			src = ip
		}
	}
	ip := ParseSrc(src)
	if s.mc == nil && !s.failed {
		mc, err := s.f.dial(ctx)
		if err != nil {
			s.fail(err)
		} else {
			s.mc = mc
		}
	}
	s.stage(l, func(mc *milter.ClientSession) (milter.Response, error) {
		name, ptr, resolve := rdnsMacros(rdns, fcrdns)
		fam := byte('4')
		switch {
		case ip == "":
			fam = 'L'
		case strings.Contains(ip, ":"):
			fam = '6'
		}
		kv := []string{"{client_addr}", ip, "{client_name}", name, "{client_ptr}", ptr, "{daemon_name}", "opensmtpd"}
		if resolve != "" {
			kv = append(kv, "{client_resolve}", resolve)
		}
		if err := mc.Macros(milter.CmdConnect, kv...); err != nil {
			return milter.Response{}, err
		}
		return mc.Connect(name, fam, 0, ip)
	})
}

// rdnsMacros translates OpenSMTPD's rdns and fcrdns into the macros hamlet's
// milter reads: Postfix's {client_name} (verified name or "unknown") and
// {client_ptr}, and Sendmail's {client_resolve} (OK, FORGED, FAIL, TEMP),
// which says outright what fcrdns says.
func rdnsMacros(rdns, fcrdns string) (name, ptr, resolve string) {
	known := rdns != "" && rdns != "<unknown>"
	name, ptr = "unknown", "unknown"
	if known {
		ptr = rdns
	}
	switch fcrdns {
	case "pass":
		if known {
			name = rdns
			resolve = "OK"
		}
	case "fail":
		if known {
			resolve = "FORGED"
		} else {
			resolve = "FAIL"
		}
	case "error":
		resolve = "TEMP"
	}
	return name, ptr, resolve
}

// stage passes one SMTP phase to hamlet and answers smtpd.
func (s *session) stage(l Line, do func(*milter.ClientSession) (milter.Response, error)) {
	if s.refused != "" {
		s.answer(l, s.refused)
		return
	}
	if s.failed || s.mc == nil {
		s.answer(l, s.onError())
		return
	}
	r, err := do(s.mc)
	if err != nil {
		s.fail(err)
		s.answer(l, s.onError())
		return
	}
	d := decision(r)
	if d != "proceed" && (l.Event == "connect" || l.Event == "helo" || l.Event == "ehlo") {
		// A milter refusing the connection is done with it (Postfix
		// closes the milter connection); repeat the refusal.
		s.refused = d
		s.closeMilter()
	}
	s.answer(l, d)
}

// decision maps a milter response to a filter-result decision.
func decision(r milter.Response) string {
	code := r.SMTPCode()
	if code < 400 {
		return "proceed"
	}
	text := r.Text
	if r.Code != milter.RespReplyCode || text == "" {
		if code >= 500 {
			text = "550 5.7.1 Command rejected"
		} else {
			text = "451 4.7.1 Service unavailable - try again later"
		}
	}
	// The milter doubled '%' for Sendmail's and Postfix's printf; smtpd
	// takes the text as it is.
	text = strings.ReplaceAll(text, "%%", "%")
	if code == 421 {
		return "disconnect|" + text
	}
	return "reject|" + text
}

func (s *session) onError() string { return onErrorDecision(s.f.cfg) }

// onErrorDecision is the filter-result decision of on_error.
func onErrorDecision(cfg Config) string {
	if strings.EqualFold(cfg.OnError, milter.OnErrorAccept) {
		return "proceed"
	}
	return "reject|" + milter.FormatReply(451, "4.7.1", cfg.TempfailReply)
}

func (s *session) fail(err error) {
	if !s.failed {
		s.f.log.Warn("hamlet unavailable for this session, on_error applies", "session", s.id, "on_error", s.f.cfg.OnError, "err", err)
	}
	s.failed = true
	s.closeMilter()
}

func (s *session) closeMilter() {
	if s.mc != nil {
		s.mc.Close()
		s.mc = nil
	}
}

func (s *session) answer(l Line, d string) {
	s.f.send(Result(l.Version, l.Session, l.Token, d))
}

// dataLine collects the message; at its end it has hamlet scan it, writes
// the message back with hamlet's header edits, and keeps the decision for
// commit. RFC 5321 §4.5.2: lines arrive dot-stuffed and go back so.
func (s *session) dataLine(l Line) {
	line := l.Params
	if line != "." {
		line = strings.TrimPrefix(line, ".")
		s.dataBytes += len(line) + 2
		s.data = append(s.data, line)
		return
	}
	lines := s.data
	s.data, s.dataBytes = nil, 0
	var raw strings.Builder
	for _, x := range lines {
		raw.WriteString(x)
		raw.WriteString("\r\n")
	}
	out := []byte(raw.String())
	switch {
	case s.refused != "":
		s.decision = s.refused
	case s.failed || s.mc == nil:
		s.decision = s.onError()
	default:
		var err error
		if s.msgid != "" {
			err = s.mc.Macros(milter.CmdEOB, "i", s.msgid)
		}
		var r milter.Response
		var mods []milter.Modification
		if err == nil {
			r, mods, err = s.mc.Message(out)
		}
		if err != nil {
			s.fail(err)
			s.decision = s.onError()
			break
		}
		s.decision = decision(r)
		if s.decision == "proceed" && len(mods) > 0 {
			out = milter.ApplyHeaderEdits(out, foldMods(mods), s.mc.LeadingSpace())
		}
	}
	text := strings.TrimSuffix(string(out), "\r\n")
	if len(out) > 0 {
		for _, x := range strings.Split(text, "\r\n") {
			if strings.HasPrefix(x, ".") {
				x = "." + x
			}
			if len(x)+60 > maxOutLine {
				s.f.log.Warn("message line longer than smtpd's filter line limit; smtpd will truncate it", "session", s.id, "len", len(x))
			}
			s.f.send(DataLine(l.Version, l.Session, l.Token, x))
		}
	}
	s.f.send(DataLine(l.Version, l.Session, l.Token, "."))
}

// foldMods folds header values hamlet adds so that no output line exceeds
// smtpd's filter line limit (RFC 5322 §2.2.3 folding at white space).
func foldMods(mods []milter.Modification) []milter.Modification {
	out := make([]milter.Modification, len(mods))
	for i, m := range mods {
		m.Value = foldValue(m.Name, m.Value, 900)
		out[i] = m
	}
	return out
}

func foldValue(name, v string, limit int) string {
	lines := strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n")
	var b strings.Builder
	for i, ln := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		prefix := 0
		if i == 0 {
			prefix = len(name) + 1
		}
		for prefix+len(ln) > limit && limit-prefix > 1 {
			cut := strings.LastIndexAny(ln[:limit-prefix], " \t")
			if cut <= 0 {
				break // no white space to fold at
			}
			b.WriteString(ln[:cut])
			b.WriteString("\n")
			ln = ln[cut:]
			prefix = 0
		}
		b.WriteString(ln)
	}
	return b.String()
}
