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
	"sync"
	"syscall"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
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
	// lg is the session's logger (log), made when first used: most
	// sessions log nothing, and a logger With an attribute per
	// connection was a cost per message.
	lg *slog.Logger
	// readBy is when the read deadline set last ends (setReadDeadline).
	readBy time.Time
	// ack is the connection rd reads from when it is TCP.
	ack *ackConn

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
	field      []byte // a header field being formatted, reused

	mu      sync.Mutex
	reading bool // blocked waiting for the MTA's next packet
	closed  bool
}

// readers are the sessions' read buffers. Postfix opens a milter
// connection per SMTP connection, so most sessions carry one message: a
// buffer per session was garbage per message.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func getReader(c io.Reader) *bufio.Reader {
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
	m := &session{
		srv: s, conn: c,
		ctx:    ctx,
		cancel: cancel,
		macros: map[byte]map[string]string{},
	}
	m.rd = getReader(c)
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			m.ack = &ackConn{Conn: c, raw: raw}
			m.rd.Reset(m.ack)
		}
	}
	return m
}

// log returns the session's logger, naming the MTA's end of the
// connection.
func (m *session) log() *slog.Logger {
	if m.lg == nil {
		m.lg = m.srv.log.With("remote", m.conn.RemoteAddr().String())
	}
	return m.lg
}

// setReadDeadline gives the MTA IdleTimeout for its next packet. The
// deadline is moved only when less than 7/8 of it is left: setting it
// costs a timer update, and Postfix sends dozens of packets per message
// within milliseconds. So the wait allowed is between 7/8 of IdleTimeout
// and all of it.
func (m *session) setReadDeadline() {
	idle := time.Duration(m.srv.cfg.IdleTimeout)
	now := time.Now()
	if m.readBy.Sub(now) > idle-idle/8 {
		return
	}
	m.readBy = now.Add(idle)
	_ = m.conn.SetReadDeadline(m.readBy)
}

// ackConn is the session's TCP connection as its read buffer sees it: a
// read from the socket first sends the ACK still owed for what the last
// read got (AckNow), unless a reply of ours has carried it since.
//
// Postfix writes its no-reply events without waiting for us, 4 KiB at a
// time (its VSTREAM buffer), with Nagle's algorithm on: each write after
// the first waits until the one before is acknowledged, and Linux holds
// back the acknowledgement of data that gets no answer (delayed ACK, up
// to 40 ms). Acknowledging before every read that may block covers a
// next packet as well as the rest of a packet cut at a 4 KiB boundary.
type ackConn struct {
	net.Conn
	raw  syscall.RawConn
	owed bool // data was read and not yet acknowledged by a reply
}

func (a *ackConn) Read(p []byte) (int, error) {
	if a.owed {
		ackRaw(a.raw)
		a.owed = false
	}
	n, err := a.Conn.Read(p)
	if n > 0 {
		a.owed = true
	}
	return n, err
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
			m.log().Error("milter session panicked", "panic", p)
		}
		m.endScan()
		m.resetMessage()
		m.cancel()
		m.conn.Close()
		putReader(m.rd)
		m.rd = nil
	}()
	for {
		m.setReading(true)
		m.setReadDeadline()
		var p Packet
		var err error
		p, m.pkt, err = readPacket(m.rd, m.pkt)
		if cap(m.pkt) > 64<<10 {
			m.pkt = nil // a rare large packet: do not keep its buffer
		}
		m.setReading(false)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log().Debug("milter connection ended", "err", err, "in_transaction", m.inTx)
			}
			return
		}
		out, quit, err := m.handle(p)
		if err != nil {
			m.log().Warn("milter protocol error, closing", "cmd", string(rune(p.Cmd)), "err", err)
			return
		}
		if len(out) > 0 {
			// out is the whole reply (all packets of it): one write,
			// which acknowledges what was read.
			_ = m.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := m.conn.Write(out); err != nil {
				m.log().Debug("milter write failed", "err", err)
				return
			}
			if m.ack != nil {
				m.ack.owed = false
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
		if len(p.Data) > 0 && sameMacros(m.macros[p.Data[0]], p.Data[1:]) {
			// Postfix repeats the queue id before every header
			// field and body chunk: nothing new, nothing to decode.
			return nil, false, nil
		}
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
		name, value, err := decodeHeader(p.Data)
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

// Answer is hamlet's answer to the MTA's offer n: what hamlet needs and
// the MTA offers (Sendmail 8.14 libmilter: the filter may only ask for
// what is offered), with hamlet's macro lists when the MTA lets a filter
// name them. Exported so that a milter measured beside hamlet (bench/mta's
// null milter) can make the MTA do exactly the same work.
func Answer(n Negotiation) Negotiation {
	reply := Negotiation{Version: min(n.Version, 6), Actions: wantActions & n.Actions, Protocol: wantProto & n.Protocol}
	if n.Actions&ActSetSymList != 0 {
		reply.Macros = requestedMacros
	}
	return reply
}

// negotiate answers the MTA's offer (Answer) and keeps what was agreed.
func (m *session) negotiate(n Negotiation) []byte {
	reply := Answer(n)
	m.actions, m.proto = reply.Actions, reply.Protocol
	if m.srv.log.Enabled(context.Background(), slog.LevelDebug) {
		m.log().Debug("milter negotiated", "version", reply.Version, "actions", fmt.Sprintf("%#x", m.actions), "protocol", fmt.Sprintf("%#x", m.proto))
	}
	// Every connection from one MTA offers the same: its answer is
	// encoded once.
	key := [3]uint32{n.Version, n.Actions, n.Protocol}
	if c := m.srv.negotiated.Load(); c != nil && c.offer == key {
		return c.packet
	}
	pkt := AppendPacket(nil, RespOptNeg, reply.Encode())
	m.srv.negotiated.Store(&negotiated{offer: key, packet: pkt})
	return pkt
}

// negotiated is the answer packet to an offer (version, actions,
// protocol), kept by the server for the next connection. It is never
// modified.
type negotiated struct {
	offer  [3]uint32
	packet []byte
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
