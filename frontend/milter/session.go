package milter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// What hamlet asks of the MTA at negotiation.
//
// The events hamlet takes, and the checks that need them:
//
//	connect      client address and Postfix's {client_name}/{client_ptr}:
//	             iprev/FCrDNS, Senderscore, DNS lists, local/outbound class
//	HELO         the HELO name: HELO checks, SPF's HELO identity
//	MAIL         the sender and {auth_authen}: SPF, outbound (signing)
//	RCPT         the recipients: greylisting's triplet; and the one early
//	             reply (forced rejects of every check so far)
//	header, EOH, body, end of message
//	             the message: DKIM, DMARC, ARC, content; the final verdict
//
// DATA and unknown commands are not sent at all. Only RCPT and the end of
// message are answered: the MTA does not wait at connect, HELO, MAIL,
// each header, the end of the header or each body chunk. A forced reject
// found at connect, HELO or MAIL is given at RCPT, as Postfix's own
// smtpd_delay_reject does for its restrictions; the checks themselves
// start as soon as their event arrives.
const (
	// wantActions: add/insert headers (X-Spam, Authentication-Results,
	// DKIM-Signature), change/delete headers (Subject rewrite, removals),
	// and naming the macros it needs.
	wantActions = ActAddHeaders | ActChgHeaders | ActSetSymList
	// wantProto: no UNKNOWN and DATA events, no reply but to RCPT and end
	// of message, and header values with their leading space so that the
	// message is reassembled byte for byte (DKIM hashes those bytes).
	wantProto = ProtoNoUnknown | ProtoNoData |
		ProtoNRConn | ProtoNRHelo | ProtoNRMail | ProtoNRHeader | ProtoNREOH | ProtoNRBody |
		ProtoHdrLeadSpc
)

// requestedMacros are the macros hamlet names per stage. A milter's list
// for a stage replaces Postfix's default list for that stage (Postfix
// MILTER_README, "Sendmail macro emulation"), so each list carries
// everything hamlet reads at that stage. client_resolve is Sendmail's,
// the others are common to both MTAs.
var requestedMacros = map[int][]string{
	StageConnect: {"j", "{daemon_name}", "{daemon_addr}", "{client_addr}", "{client_name}", "{client_ptr}", "{client_resolve}", "_"},
	StageHelo:    {"{tls_version}", "{cipher}"},
	StageMail:    {"{auth_authen}", "{auth_type}", "{mail_addr}", "i"},
	StageRcpt:    {"{rcpt_addr}", "i"},
	StageEOH:     {"i"},
	StageEOM:     {"i"},
}

var errProtocol = errors.New("milter: protocol error")

// session is one milter connection from the MTA. It is driven by a single
// goroutine (serve); only closeIfIdle is called from elsewhere.
type session struct {
	srv  *Server
	conn net.Conn
	rd   *bufio.Reader
	log  *slog.Logger

	// negotiated
	proto   uint32
	actions uint32

	ctx    context.Context
	cancel context.CancelFunc
	eng    *engine.Engine
	scan   *engine.Scan

	macros map[byte]map[string]string // by the command they came with

	inTx     bool // MAIL seen since the last end of message/abort
	txUsed   bool // the scan has seen a MAIL: the next MAIL needs Next()
	connDone bool // a connect/helo-stage reject ended the connection's use
	// earlyErr is an engine failure at an event the MTA expects no reply
	// to (connect, HELO, MAIL): on_error applies at the next answered
	// event.
	earlyErr string
	msg      bytes.Buffer
	oversize bool
	// held is what msg holds of the server's in-flight budget;
	// overBudget says the message did not fit it.
	held       int64
	overBudget bool
	pkt        []byte // the packet buffer, reused

	mu      sync.Mutex
	reading bool // blocked waiting for the MTA's next packet
	closed  bool
}

// readers are the sessions' read buffers. Postfix opens a milter
// connection per SMTP connection, so most sessions carry one message: a
// buffer per session was garbage per message.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func getReader(c net.Conn) *bufio.Reader {
	r := readers.Get().(*bufio.Reader)
	r.Reset(c)
	return r
}

func putReader(r *bufio.Reader) {
	r.Reset(nil)
	readers.Put(r)
}

func newSession(s *Server, c net.Conn) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		srv: s, conn: c, rd: getReader(c),
		log:    s.log.With("remote", c.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
		macros: map[byte]map[string]string{},
	}
}

// closeIfIdle closes the connection when the session waits for the MTA
// between messages (called by Shutdown).
func (m *session) closeIfIdle() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reading && !m.inTx && !m.closed {
		m.closed = true
		m.conn.Close()
	}
}

func (m *session) setReading(r bool) {
	m.mu.Lock()
	m.reading = r
	m.mu.Unlock()
}

func (m *session) serve() {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("milter session panicked", "panic", p)
		}
		m.endScan()
		m.resetMessage()
		m.cancel()
		m.conn.Close()
		putReader(m.rd)
		m.rd = nil
	}()
	w := bufio.NewWriterSize(m.conn, 4096)
	unanswered := false // the last event read got no reply
	for {
		if unanswered && m.rd.Buffered() == 0 {
			// The MTA waits for our ACK before its next write (see
			// ackNow); nothing of ours is going to carry it.
			ackNow(m.conn)
		}
		m.setReading(true)
		_ = m.conn.SetReadDeadline(time.Now().Add(time.Duration(m.srv.cfg.IdleTimeout)))
		var p Packet
		var err error
		p, m.pkt, err = readPacket(m.rd, m.pkt)
		if cap(m.pkt) > 64<<10 {
			m.pkt = nil // a rare large packet: do not keep its buffer
		}
		m.setReading(false)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log.Debug("milter connection ended", "err", err, "in_transaction", m.inTx)
			}
			return
		}
		out, quit, err := m.handle(p)
		if err != nil {
			m.log.Warn("milter protocol error, closing", "cmd", string(rune(p.Cmd)), "err", err)
			return
		}
		unanswered = len(out) == 0
		if len(out) > 0 {
			_ = m.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := w.Write(out); err == nil {
				err = w.Flush()
			}
			if err != nil {
				m.log.Debug("milter write failed", "err", err)
				return
			}
		}
		if quit {
			return
		}
	}
}

// handle processes one packet and returns the reply bytes (possibly
// several packets, possibly none).
func (m *session) handle(p Packet) (out []byte, quit bool, err error) {
	switch p.Cmd {
	case CmdOptNeg:
		n, err := DecodeNegotiation(p.Data)
		if err != nil {
			return nil, false, err
		}
		return m.negotiate(n), false, nil
	case CmdMacro:
		cmd, kv, err := DecodeMacros(p.Data)
		if err != nil {
			return nil, false, err
		}
		m.macros[cmd] = kv
		return nil, false, nil
	case CmdConnect:
		c, err := DecodeConnect(p.Data)
		if err != nil {
			return nil, false, err
		}
		return m.connect(c), false, nil
	case CmdHelo:
		return m.helo(DecodeString(p.Data)), false, nil
	case CmdMail:
		addr, _, err := DecodeAddress(p.Data)
		if err != nil {
			return nil, false, err
		}
		return m.mail(addr), false, nil
	case CmdRcpt:
		addr, _, err := DecodeAddress(p.Data)
		if err != nil {
			return nil, false, err
		}
		return m.rcpt(addr), false, nil
	case CmdData:
		return m.reply(ProtoNRData, RespContinue), false, nil
	case CmdHeader:
		name, value, err := DecodeHeader(p.Data)
		if err != nil {
			return nil, false, err
		}
		m.header(name, value)
		return m.reply(ProtoNRHeader, RespContinue), false, nil
	case CmdEOH:
		m.appendBody([]byte("\r\n"))
		return m.reply(ProtoNREOH, RespContinue), false, nil
	case CmdBody:
		m.appendBody(p.Data)
		return m.reply(ProtoNRBody, RespContinue), false, nil
	case CmdEOB:
		m.appendBody(p.Data)
		return m.endOfMessage(), false, nil
	case CmdAbort:
		m.resetMessage()
		m.clearMacros(CmdMail)
		m.mu.Lock()
		m.inTx = false
		m.mu.Unlock()
		return nil, false, nil
	case CmdUnknown:
		return m.reply(ProtoNRUnknown, RespContinue), false, nil
	case CmdQuitNC:
		// The MTA reuses this milter connection for a new SMTP
		// connection: forget everything but the negotiation.
		m.endScan()
		m.macros = map[byte]map[string]string{}
		m.resetMessage()
		m.mu.Lock()
		m.inTx = false
		m.mu.Unlock()
		m.connDone, m.txUsed, m.earlyErr = false, false, ""
		return nil, false, nil
	case CmdQuit:
		return nil, true, nil
	default:
		return nil, false, fmt.Errorf("%w: unknown command %q", errProtocol, p.Cmd)
	}
}

// negotiate answers the MTA's offer with what hamlet needs and the MTA
// offers (Sendmail 8.14 libmilter: the filter may only ask for what is
// offered).
func (m *session) negotiate(n Negotiation) []byte {
	version := min(n.Version, 6)
	m.actions = wantActions & n.Actions
	m.proto = wantProto & n.Protocol
	reply := Negotiation{Version: version, Actions: m.actions, Protocol: m.proto}
	if n.Actions&ActSetSymList != 0 {
		reply.Macros = requestedMacros
	}
	m.log.Debug("milter negotiated", "version", version, "actions", fmt.Sprintf("%#x", m.actions), "protocol", fmt.Sprintf("%#x", m.proto))
	return AppendPacket(nil, RespOptNeg, reply.Encode())
}

// reply returns a one-byte reply unless the negotiation said the MTA
// expects none for this event.
func (m *session) reply(noReplyFlag uint32, code byte) []byte {
	if m.proto&noReplyFlag != 0 {
		return nil
	}
	return AppendPacket(nil, code)
}

// clearMacros forgets the macros of the message stages from stage cmd on
// (Sendmail's order: MAIL, RCPT, DATA, header, EOH, body, EOM), so that a
// value from one message never leaks into the next.
func (m *session) clearMacros(from byte) {
	order := []byte{CmdMail, CmdRcpt, CmdData, CmdHeader, CmdEOH, CmdBody, CmdEOB}
	on := false
	for _, c := range order {
		if c == from {
			on = true
		}
		if on {
			delete(m.macros, c)
		}
	}
}

func (m *session) macro(name string, cmds ...byte) string {
	for _, c := range cmds {
		if v, ok := m.macros[c][name]; ok {
			return v
		}
	}
	return ""
}

// ensureScan starts the connection's scan with the current engine.
func (m *session) ensureScan() bool {
	if m.scan != nil {
		return true
	}
	if m.eng == nil {
		m.eng = m.srv.engine()
	}
	if m.eng == nil {
		return false
	}
	m.scan = m.eng.NewScan(m.ctx)
	return true
}

func (m *session) endScan() {
	if m.scan != nil {
		m.scan.Close()
		m.scan = nil
	}
	m.eng = nil
}

// failEarly applies on_error to an engine failure at an event answered
// unless the MTA expects no reply (noReply negotiated): then the failure
// waits for the next answered event.
func (m *session) failEarly(noReply uint32, why string) []byte {
	if m.proto&noReply != 0 {
		m.earlyErr = why
		return nil
	}
	return m.fail("early", why)
}

func (m *session) connect(c Connect) []byte {
	m.endScan() // a new SMTP connection on this milter connection
	m.connDone, m.txUsed, m.earlyErr = false, false, ""
	if !m.ensureScan() {
		return m.failEarly(ProtoNRConn, "no engine")
	}
	ip := clientIP(c, m.macro("client_addr", CmdConnect))
	ptr, rdns := clientRDNS(c, m.macros[CmdConnect])
	m.scan.Update(engine.PhaseConnect, func(tx *engine.Transaction) {
		tx.ClientIP = ip
		tx.ClientPTR = ptr
		tx.RDNS = rdns
		tx.MTAName = m.macro("j", CmdConnect)
	})
	return m.early(ProtoNRConn, true)
}

func (m *session) helo(name string) []byte {
	if m.connDone {
		return m.reply(ProtoNRHelo, RespContinue)
	}
	if !m.ensureScan() {
		return m.failEarly(ProtoNRHelo, "no engine")
	}
	m.scan.Update(engine.PhaseHelo, func(tx *engine.Transaction) { tx.Helo = name })
	return m.early(ProtoNRHelo, true)
}

func (m *session) mail(from string) []byte {
	if !m.ensureScan() {
		return m.failEarly(ProtoNRMail, "no engine")
	}
	if m.txUsed {
		m.scan = m.scan.Next()
	}
	m.txUsed = true
	m.clearMacros(CmdRcpt)
	m.mu.Lock()
	m.inTx = true
	m.mu.Unlock()
	m.resetMessage()
	auth := m.macro("auth_authen", CmdMail)
	qid := m.macro("i", CmdMail)
	m.scan.Update(engine.PhaseMail, func(tx *engine.Transaction) {
		tx.MailFrom = from
		tx.AuthUser = auth
		tx.QueueID = qid
	})
	return m.early(ProtoNRMail, false)
}

func (m *session) rcpt(to string) []byte {
	if m.earlyErr != "" {
		return m.fail("early", m.earlyErr)
	}
	if !m.ensureScan() {
		return m.fail("early", "no engine")
	}
	qid := m.macro("i", CmdRcpt, CmdMail)
	m.scan.Update(engine.PhaseRcpt, func(tx *engine.Transaction) {
		tx.Rcpts = append(tx.Rcpts, to)
		if qid != "" {
			tx.QueueID = qid
		}
	})
	return m.early(ProtoNRRcpt, false)
}

// header appends one header field to the message being reassembled. With
// SMFIP_HDR_LEADSPC the value is exactly what followed the colon; multi-line
// values come with LF (Postfix, Sendmail) or CRLF between lines.
func (m *session) header(name, value string) {
	if m.proto&ProtoHdrLeadSpc == 0 && value != "" && value[0] != ' ' && value[0] != '\t' {
		// Without the option the MTA ate one space after the colon.
		value = " " + value
	}
	var b bytes.Buffer
	b.Grow(len(name) + len(value) + 3)
	b.WriteString(name)
	b.WriteByte(':')
	b.WriteString(toCRLF(value))
	b.WriteString("\r\n")
	m.appendBody(b.Bytes())
}

func (m *session) appendBody(p []byte) {
	if m.oversize || m.overBudget || len(p) == 0 {
		return
	}
	if int64(m.msg.Len()+len(p)) > m.srv.cfg.MaxMessageSize {
		m.oversize = true
		m.dropMessage()
		return
	}
	if !m.srv.reserve(int64(len(p))) {
		m.overBudget = true
		m.dropMessage()
		return
	}
	m.held += int64(len(p))
	m.msg.Write(p)
}

// dropMessage forgets the message bytes and gives their share of the
// in-flight budget back.
func (m *session) dropMessage() {
	m.msg.Reset()
	m.srv.release(m.held)
	m.held = 0
}

func (m *session) resetMessage() {
	m.dropMessage()
	m.oversize, m.overBudget = false, false
}

// early asks the engine for an early verdict and answers the stage: a
// forced reject is 550 5.7.1, a forced soft reject 451 4.7.1; anything
// else continues (greylisting and tagging wait for the full message).
func (m *session) early(noReply uint32, connStage bool) []byte {
	if m.proto&noReply != 0 {
		return nil
	}
	v, err := m.verdict(false)
	if err != nil {
		return m.failEarly(noReply, err.Error())
	}
	switch v.Action {
	case engine.Reject:
		m.srv.early.Add(1)
		if connStage {
			m.connDone = true
		}
		return replyCode(550, "5.7.1", v.Reply)
	case engine.SoftReject:
		m.srv.early.Add(1)
		if connStage {
			m.connDone = true
		}
		return replyCode(451, "4.7.1", v.Reply)
	}
	return AppendPacket(nil, RespContinue)
}

// fail applies on_error when the engine fails or misses its deadline, at
// stage ("early" or "end of message"): continue, or 451 — never a 5xx.
func (m *session) fail(stage, why string) []byte {
	m.srv.errs.Add(1)
	if strings.EqualFold(m.srv.cfg.OnError, OnErrorAccept) {
		m.log.Warn("engine failed, accepting (on_error = accept)", "stage", stage, "err", why)
		return AppendPacket(nil, RespContinue)
	}
	m.log.Warn("engine failed, tempfailing (on_error = tempfail)", "stage", stage, "err", why)
	return replyCode(451, "4.7.1", m.srv.cfg.TempfailReply)
}

var errDeadline = errors.New("engine missed the front end's deadline")

// verdict runs the engine's verdict under the front end's own deadline
// (the checks' deadline plus [milter] timeout), recovering from a panic. At end of message it keeps the MTA waiting with
// progress packets (SMFIR_PROGRESS) so that its command timeout does not
// fire first.
func (m *session) verdict(final bool) (*engine.Verdict, error) {
	if m.scan == nil {
		return nil, errors.New("no scan")
	}
	type res struct {
		v   *engine.Verdict
		err error
	}
	ch := make(chan res, 1)
	scan := m.scan
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- res{err: fmt.Errorf("engine panicked: %v", p)}
			}
		}()
		ch <- res{v: scan.Verdict(m.ctx, final)}
	}()
	// [milter] timeout is the wait beyond the checks' own deadline: the
	// engine answers by then with timeout symbols for the checks that did
	// not, so on_error is for an engine that does not answer at all.
	timer := time.NewTimer(m.eng.Timeout() + time.Duration(m.srv.cfg.Timeout))
	defer timer.Stop()
	var tick <-chan time.Time
	if final {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case r := <-ch:
			if r.err == nil && r.v == nil {
				r.err = errors.New("engine returned no verdict")
			}
			return r.v, r.err
		case <-timer.C:
			return nil, errDeadline
		case <-tick:
			_ = m.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := m.conn.Write(AppendPacket(nil, RespProgress)); err != nil {
				return nil, fmt.Errorf("progress: %w", err)
			}
		}
	}
}

// endOfMessage gives the final verdict and the header edits.
func (m *session) endOfMessage() []byte {
	defer func() {
		m.resetMessage()
		m.mu.Lock()
		m.inTx = false
		m.mu.Unlock()
	}()
	if m.oversize {
		m.log.Info("message too large, not scanned", "max", m.srv.cfg.MaxMessageSize, "queue_id", m.macro("i", CmdEOB, CmdEOH, CmdRcpt, CmdMail))
		return AppendPacket(nil, RespContinue)
	}
	if m.overBudget {
		return m.fail("end of message", fmt.Sprintf("messages in flight exceed max_inflight_bytes (%d)", m.srv.cfg.MaxInflightBytes))
	}
	if !m.ensureScan() {
		return m.fail("end of message", "no engine")
	}
	// The message takes the buffer (message.Parse keeps it); the next
	// one starts a new buffer.
	raw := m.msg.Bytes()
	m.msg = bytes.Buffer{}
	msg := message.Parse(raw)
	qid := m.macro("i", CmdEOB, CmdEOH, CmdRcpt, CmdMail)
	m.scan.Update(engine.PhaseData, func(tx *engine.Transaction) {
		tx.Message = msg
		if qid != "" {
			tx.QueueID = qid
		}
	})
	v, err := m.verdict(true)
	if err != nil {
		return m.fail("end of message", err.Error())
	}
	m.srv.messages.Add(1)
	switch v.Action {
	case engine.Reject:
		return replyCode(550, "5.7.1", v.Reply)
	case engine.SoftReject, engine.Greylist:
		// A greylist verdict that no greylist finisher resolved is a
		// soft reject, as rspamd's milter does.
		return replyCode(451, "4.7.1", v.Reply)
	}
	out := m.edits(v, msg)
	return AppendPacket(out, RespContinue)
}

// edits turns the verdict's header changes into milter modification
// packets: removals and the Subject rewrite (SMFIR_CHGHEADER, 1-based
// index per field name, empty value deletes), then the added fields and
// DKIM signatures inserted at the top (SMFIR_INSHEADER index 0) so that
// they end up in the verdict's order with the signatures first.
func (m *session) edits(v *engine.Verdict, msg *message.Message) []byte {
	var out []byte
	if m.actions&ActChgHeaders != 0 {
		for _, r := range v.RemoveHeaders {
			if r.Index > 0 {
				out = AppendPacket(out, RespChgHeader, u32(uint32(r.Index)), cstr(r.Name), cstr(""))
				continue
			}
			n := len(msg.Get(r.Name))
			for i := n; i >= 1; i-- {
				out = AppendPacket(out, RespChgHeader, u32(uint32(i)), cstr(r.Name), cstr(""))
			}
		}
		if v.SubjectRewrite != "" {
			if len(msg.Get("Subject")) > 0 {
				out = AppendPacket(out, RespChgHeader, u32(1), cstr("Subject"), cstr(m.hdrValue(v.SubjectRewrite)))
			} else if m.actions&ActAddHeaders != 0 {
				out = AppendPacket(out, RespAddHeader, cstr("Subject"), cstr(m.hdrValue(v.SubjectRewrite)))
			}
		}
	}
	if m.actions&ActAddHeaders != 0 {
		for i := len(v.AddHeaders) - 1; i >= 0; i-- {
			h := v.AddHeaders[i]
			out = AppendPacket(out, RespInsHeader, u32(0), cstr(h.Name), cstr(m.hdrValue(h.Value)))
		}
		for i := len(v.DKIMSignatures) - 1; i >= 0; i-- {
			out = AppendPacket(out, RespInsHeader, u32(0), cstr("DKIM-Signature"), cstr(m.hdrValue(v.DKIMSignatures[i])))
		}
	}
	return out
}

// hdrValue formats a field value for the MTA: lines separated by LF as
// Sendmail and Postfix expect, and, when leading spaces were negotiated,
// the space after the colon included (Postfix inserts none then).
func (m *session) hdrValue(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.TrimLeft(v, " ")
	if m.proto&ProtoHdrLeadSpc != 0 {
		v = " " + v
	}
	return v
}

// replyCode builds an SMFIR_REPLYCODE packet: "550 5.7.1 text". The text's
// own enhanced status code is kept when its class matches the reply code's;
// control characters are removed and '%' doubled (Sendmail and Postfix
// treat the reply as a format string).
func replyCode(code int, enh, text string) []byte {
	return AppendPacket(nil, RespReplyCode, cstr(FormatReply(code, enh, text)))
}

// FormatReply formats a one-line SMTP reply "ddd x.y.z text" (RFC 5321
// §4.2, RFC 3463 enhanced status codes) from a policy's reply text, which
// may start with its own enhanced code.
func FormatReply(code int, enh, text string) string {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	text = strings.TrimSpace(text)
	if e, rest, ok := splitEnhanced(text); ok {
		if e[0] == byte('0'+code/100) {
			enh = e
		}
		text = strings.TrimSpace(rest)
	}
	if text == "" {
		if code >= 500 {
			text = "Message rejected"
		} else {
			text = "Try again later"
		}
	}
	text = strings.ReplaceAll(text, "%", "%%")
	return fmt.Sprintf("%d %s %s", code, enh, text)
}

// splitEnhanced splits a leading RFC 3463 status code ("5.7.1 ...").
func splitEnhanced(s string) (code, rest string, ok bool) {
	f, rest, _ := strings.Cut(s, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || (f[0] != '2' && f[0] != '4' && f[0] != '5') || len(parts[0]) != 1 {
		return "", s, false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 {
			return "", s, false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return "", s, false
			}
		}
	}
	return f, rest, true
}

// toCRLF turns LF and CRLF line breaks into CRLF.
func toCRLF(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// clientIP takes the client address from the connect packet, or from the
// {client_addr} macro when the packet has none.
func clientIP(c Connect, macroAddr string) netip.Addr {
	for _, a := range []string{c.Addr, macroAddr} {
		if c.Family == 'L' && a == c.Addr {
			continue
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "IPv6:"), "ipv6:")
		a = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
		if ip, err := netip.ParseAddr(a); err == nil {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// clientRDNS maps what the MTA knows of the client's reverse DNS to the
// engine's FCrDNS state:
//   - Sendmail's {client_resolve} says it outright (OK, FAIL, FORGED, TEMP);
//   - Postfix's {client_name} is the verified name, "unknown" when the PTR
//     lookup or its forward confirmation failed; {client_ptr} is the
//     unverified PTR name, "unknown" when there is none.
//
// Postfix says "unknown" alike for a missing PTR and a DNS failure, so when
// both are "unknown" the state stays FCrDNSUnknown and the engine's own
// check asks DNS, which tells the two apart (RFC 8601 §3 none vs temperror).
func clientRDNS(c Connect, mac map[string]string) (string, engine.FCrDNS) {
	name, hasName := mac["client_name"]
	if !hasName {
		name = c.Hostname
	}
	ptr := mac["client_ptr"]
	known := func(s string) bool {
		return s != "" && !strings.EqualFold(s, "unknown") && !strings.HasPrefix(s, "[")
	}
	switch strings.ToUpper(mac["client_resolve"]) {
	case "OK":
		if known(name) {
			return strings.TrimSuffix(name, "."), engine.FCrDNSPass
		}
	case "FORGED":
		p := ptr
		if !known(p) {
			p = name
		}
		if !known(p) {
			p = ""
		}
		return strings.TrimSuffix(p, "."), engine.FCrDNSFail
	case "FAIL":
		return "", engine.FCrDNSNone
	case "TEMP":
		return "", engine.FCrDNSTempError
	}
	if known(name) {
		return strings.TrimSuffix(name, "."), engine.FCrDNSPass
	}
	if known(ptr) {
		return strings.TrimSuffix(ptr, "."), engine.FCrDNSFail
	}
	return "", engine.FCrDNSUnknown
}
