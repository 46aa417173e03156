package milter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/message"
)

// The MTA side of the protocol: a client that plays Postfix towards a milter.
// hamlet uses it in tests, in the throughput benchmark and in the OpenSMTPD
// filter, which hands each SMTP transaction to the running daemon.

// Everything a version 6 MTA may offer.
const (
	allActions = ActAddHeaders | ActChgBody | ActAddRcpt | ActDelRcpt | ActChgHeaders |
		ActQuarantine | ActChgFrom | ActAddRcptPar | ActSetSymList
	allProto = 0x1fffff
)

// ProtoAnswerEveryStage is an offer for a client that must answer its own
// MTA at each stage with the filter's verdict (the OpenSMTPD filter): all
// of version 6 but the no-reply flags of connect, HELO, MAIL and end of
// header, so that a forced reject comes at the stage that found it.
const ProtoAnswerEveryStage = allProto &^ (ProtoNRConn | ProtoNRHelo | ProtoNRMail | ProtoNREOH)

// ClientOptions tune a client session.
type ClientOptions struct {
	// Timeout bounds each command's round trip (write and read of the
	// reply). Zero means 60 s.
	Timeout time.Duration
	// Actions and Protocol are offered at negotiation; zero offers all of
	// version 6.
	Actions  uint32
	Protocol uint32
}

// Response is the filter's answer to one event.
type Response struct {
	Code byte   // RespContinue, RespAccept, RespReject, RespTempFail, RespReplyCode, RespDiscard, RespSkip, ...
	Text string // for RespReplyCode: "550 5.7.1 text"
}

// SMTPCode returns the SMTP reply code the MTA would give the client for
// this response: 0 when the transaction goes on.
func (r Response) SMTPCode() int {
	switch r.Code {
	case RespReject:
		return 550
	case RespTempFail:
		return 451
	case RespReplyCode:
		if len(r.Text) >= 3 {
			if n, err := strconv.Atoi(r.Text[:3]); err == nil {
				return n
			}
		}
		return 451
	case RespShutdown:
		return 421
	}
	return 0
}

// Rejected reports whether the response refuses the event (4xx or 5xx).
func (r Response) Rejected() bool { return r.SMTPCode() >= 400 }

func (r Response) String() string {
	if r.Code == RespReplyCode {
		return r.Text
	}
	return string(rune(r.Code))
}

// Modification is a message edit requested at end of message.
type Modification struct {
	Code  byte // RespAddHeader, RespInsHeader, RespChgHeader, RespChgFrom, RespAddRcpt, RespDelRcpt, RespReplBody, RespQuarantine
	Index uint32
	Name  string
	Value string
	Data  []byte // body replacement chunk
}

// ClientSession is one milter connection, seen from the MTA. It is not safe
// for concurrent use.
type ClientSession struct {
	conn    net.Conn
	rd      *bufio.Reader
	bw      *bufio.Writer // events without replies are sent together
	timeout time.Duration
	neg     Negotiation
	skip    byte // event type the filter asked to skip (SMFIR_SKIP)
	// evMacros are sent before each event (SetEventMacros).
	evMacros map[byte][]string
}

// Dial connects to a milter at a listen address ("host:port",
// "inet:host:port", "unix:/path") and negotiates.
func Dial(ctx context.Context, address string, opts ClientOptions) (*ClientSession, error) {
	network, addr, err := ParseListen(address)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c, err := NewClientSession(conn, opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClientSession negotiates on conn.
func NewClientSession(conn net.Conn, opts ClientOptions) (*ClientSession, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Actions == 0 {
		opts.Actions = allActions
	}
	if opts.Protocol == 0 {
		opts.Protocol = allProto
	}
	c := &ClientSession{conn: conn, rd: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 64<<10), timeout: opts.Timeout}
	offer := Negotiation{Version: 6, Actions: opts.Actions, Protocol: opts.Protocol}
	if err := c.send(CmdOptNeg, offer.Encode()); err != nil {
		return nil, err
	}
	p, err := c.read()
	if err != nil {
		return nil, err
	}
	if p.Cmd != RespOptNeg {
		return nil, fmt.Errorf("milter client: negotiation answered with %q", p.Cmd)
	}
	n, err := DecodeNegotiation(p.Data)
	if err != nil {
		return nil, err
	}
	if n.Version < 2 || n.Version > 6 {
		return nil, fmt.Errorf("milter client: filter speaks version %d", n.Version)
	}
	if n.Actions&^opts.Actions != 0 || n.Protocol&^opts.Protocol != 0 {
		return nil, fmt.Errorf("milter client: filter asked for more than offered (actions %#x, protocol %#x)", n.Actions, n.Protocol)
	}
	c.neg = n
	return c, nil
}

// Negotiated returns the filter's negotiation reply: what it will do and
// which macros it wants per stage.
func (c *ClientSession) Negotiated() Negotiation { return c.neg }

// send buffers one packet; it goes out with the next flush, at the latest
// before a reply is read.
func (c *ClientSession) send(cmd byte, data ...[]byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.bw.Write(AppendPacket(nil, cmd, data...))
	return err
}

func (c *ClientSession) flush() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.bw.Flush()
}

func (c *ClientSession) read() (Packet, error) {
	if err := c.flush(); err != nil {
		return Packet{}, err
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	return ReadPacket(c.rd)
}

// readResponse reads replies until a decision, skipping progress packets.
func (c *ClientSession) readResponse() (Response, error) {
	for {
		p, err := c.read()
		if err != nil {
			return Response{}, err
		}
		switch p.Cmd {
		case RespProgress:
			continue
		case RespReplyCode:
			return Response{Code: p.Cmd, Text: DecodeString(p.Data)}, nil
		case RespContinue, RespAccept, RespReject, RespTempFail, RespDiscard, RespSkip, RespShutdown:
			return Response{Code: p.Cmd}, nil
		default:
			return Response{}, fmt.Errorf("milter client: unexpected reply %q", p.Cmd)
		}
	}
}

// event sends one event unless negotiated away, and reads its reply unless
// the filter said it sends none.
func (c *ClientSession) event(cmd byte, noSend, noReply uint32, data ...[]byte) (Response, error) {
	if err := c.eventMacros(cmd); err != nil {
		return Response{}, err
	}
	if c.neg.Protocol&noSend != 0 {
		return Response{Code: RespContinue}, nil
	}
	if c.skip == cmd {
		return Response{Code: RespContinue}, nil
	}
	if err := c.send(cmd, data...); err != nil {
		return Response{}, err
	}
	if noReply != 0 && c.neg.Protocol&noReply != 0 {
		return Response{Code: RespContinue}, nil
	}
	r, err := c.readResponse()
	if err == nil && r.Code == RespSkip {
		c.skip = cmd
		r.Code = RespContinue
	}
	return r, err
}

// SetEventMacros makes the session send, before each event of a command
// in m, that command's macros (name/value pairs, possibly none) the way
// Postfix does: before every header field and body chunk, and before
// DATA even when the filter asked not to get the DATA event. nil stops it.
func (c *ClientSession) SetEventMacros(m map[byte][]string) { c.evMacros = m }

func (c *ClientSession) eventMacros(cmd byte) error {
	kv, ok := c.evMacros[cmd]
	if !ok {
		return nil
	}
	return c.Macros(cmd, kv...)
}

// Macros sends macro definitions for the next event cmd, as name/value
// pairs ("{client_addr}", "192.0.2.1", ...).
func (c *ClientSession) Macros(cmd byte, kv ...string) error {
	if len(kv)%2 != 0 {
		return errors.New("milter client: odd number of macro arguments")
	}
	data := []byte{cmd}
	for _, s := range kv {
		data = append(data, cstr(s)...)
	}
	return c.send(CmdMacro, data)
}

// Connect sends the connection event. family is '4', '6', 'L' or 'U'.
func (c *ClientSession) Connect(hostname string, family byte, port uint16, addr string) (Response, error) {
	c.skip = 0
	return c.event(CmdConnect, ProtoNoConnect, ProtoNRConn, Connect{Hostname: hostname, Family: family, Port: port, Addr: addr}.Encode())
}

// Helo sends HELO/EHLO.
func (c *ClientSession) Helo(name string) (Response, error) {
	return c.event(CmdHelo, ProtoNoHelo, ProtoNRHelo, cstr(name))
}

// Mail sends MAIL FROM; from is without angle brackets.
func (c *ClientSession) Mail(from string, args ...string) (Response, error) {
	c.skip = 0
	data := cstr("<" + from + ">")
	for _, a := range args {
		data = append(data, cstr(a)...)
	}
	return c.event(CmdMail, ProtoNoMail, ProtoNRMail, data)
}

// Rcpt sends RCPT TO; to is without angle brackets.
func (c *ClientSession) Rcpt(to string, args ...string) (Response, error) {
	data := cstr("<" + to + ">")
	for _, a := range args {
		data = append(data, cstr(a)...)
	}
	return c.event(CmdRcpt, ProtoNoRcpt, ProtoNRRcpt, data)
}

// Data sends the DATA event.
func (c *ClientSession) Data() (Response, error) {
	return c.event(CmdData, ProtoNoData, ProtoNRData)
}

// Header sends one header field. value is what follows the colon; the
// client strips one leading space unless the filter negotiated
// SMFIP_HDR_LEADSPC, and sends line breaks as LF, as Postfix does.
func (c *ClientSession) Header(name, value string) (Response, error) {
	if c.neg.Protocol&ProtoHdrLeadSpc == 0 {
		value = strings.TrimPrefix(value, " ")
	}
	value = strings.ReplaceAll(value, "\r\n", "\n")
	return c.event(CmdHeader, ProtoNoHeaders, ProtoNRHeader, cstr(name), cstr(value))
}

// EOH sends the end of the header.
func (c *ClientSession) EOH() (Response, error) {
	return c.event(CmdEOH, ProtoNoEOH, ProtoNREOH)
}

// Body sends one body chunk (at most 65535 bytes, CRLF line ends).
func (c *ClientSession) Body(chunk []byte) (Response, error) {
	return c.event(CmdBody, ProtoNoBody, ProtoNRBody, chunk)
}

// EOM sends the end of the message and collects the modifications that
// precede the filter's final decision.
func (c *ClientSession) EOM() (Response, []Modification, error) {
	if err := c.eventMacros(CmdEOB); err != nil {
		return Response{}, nil, err
	}
	if err := c.send(CmdEOB); err != nil {
		return Response{}, nil, err
	}
	var mods []Modification
	for {
		p, err := c.read()
		if err != nil {
			return Response{}, mods, err
		}
		switch p.Cmd {
		case RespProgress:
		case RespReplyCode:
			return Response{Code: p.Cmd, Text: DecodeString(p.Data)}, mods, nil
		case RespContinue, RespAccept, RespReject, RespTempFail, RespDiscard, RespShutdown:
			return Response{Code: p.Cmd}, mods, nil
		case RespAddHeader:
			name, value, err := DecodeHeader(p.Data)
			if err != nil {
				return Response{}, mods, err
			}
			mods = append(mods, Modification{Code: p.Cmd, Name: name, Value: value})
		case RespInsHeader, RespChgHeader:
			if len(p.Data) < 5 {
				return Response{}, mods, fmt.Errorf("milter client: short %q packet", p.Cmd)
			}
			idx := uint32(p.Data[0])<<24 | uint32(p.Data[1])<<16 | uint32(p.Data[2])<<8 | uint32(p.Data[3])
			name, value, err := DecodeHeader(p.Data[4:])
			if err != nil {
				return Response{}, mods, err
			}
			mods = append(mods, Modification{Code: p.Cmd, Index: idx, Name: name, Value: value})
		case RespReplBody:
			mods = append(mods, Modification{Code: p.Cmd, Data: p.Data})
		case RespChgFrom, RespAddRcpt, RespDelRcpt, RespQuarantine, '2':
			parts := splitCStrings(p.Data)
			m := Modification{Code: p.Cmd}
			if len(parts) > 0 {
				m.Value = parts[0]
			}
			mods = append(mods, m)
		default:
			return Response{}, mods, fmt.Errorf("milter client: unexpected reply %q at end of message", p.Cmd)
		}
	}
}

// Message sends a whole message as the MTA would: each header field, the
// end of header, the body in chunks, the end of message.
func (c *ClientSession) Message(raw []byte) (Response, []Modification, error) {
	if r, err := c.Data(); err != nil || r.Code != RespContinue {
		return r, nil, err
	}
	m := message.Parse(raw)
	for _, f := range m.Fields {
		r, err := c.Header(f.Name, f.Value())
		if err != nil || r.Code != RespContinue {
			return r, nil, err
		}
	}
	if r, err := c.EOH(); err != nil || r.Code != RespContinue {
		return r, nil, err
	}
	body := m.Body
	for len(body) > 0 {
		n := min(len(body), 65535)
		r, err := c.Body(body[:n])
		if err != nil || r.Code != RespContinue {
			return r, nil, err
		}
		body = body[n:]
	}
	return c.EOM()
}

// Abort aborts the current message (SMTP RSET).
func (c *ClientSession) Abort() error { c.skip = 0; return c.sendNow(CmdAbort) }

func (c *ClientSession) sendNow(cmd byte) error {
	if err := c.send(cmd); err != nil {
		return err
	}
	return c.flush()
}

// QuitNewConn ends this SMTP connection but keeps the milter connection for
// another one.
func (c *ClientSession) QuitNewConn() error { return c.sendNow(CmdQuitNC) }

// Close sends QUIT and closes the connection.
func (c *ClientSession) Close() error {
	_ = c.sendNow(CmdQuit)
	return c.conn.Close()
}

// LeadingSpace reports whether header values in modifications carry the
// space after the colon (SMFIP_HDR_LEADSPC was negotiated).
func (c *ClientSession) LeadingSpace() bool { return c.neg.Protocol&ProtoHdrLeadSpc != 0 }

// ApplyHeaderEdits applies the header modifications of mods to raw (a
// message with CRLF line ends) as Postfix does, and returns the new message:
// SMFIR_INSHEADER index i inserts after the i-th field (0: at the top);
// SMFIR_ADDHEADER appends to the header; SMFIR_CHGHEADER replaces the
// index-th field of that name (1-based; 0 counts as 1), deletes it when the
// value is empty, and appends the field when there is no such instance.
// Other modifications are ignored. leadSpace says whether values include
// the space after the colon.
func ApplyHeaderEdits(raw []byte, mods []Modification, leadSpace bool) []byte {
	m := message.Parse(raw)
	fields := make([][]byte, len(m.Fields))
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		fields[i] = f.Raw
		names[i] = f.Name
	}
	format := func(name, value string) []byte {
		if !leadSpace {
			value = " " + value
		}
		return []byte(name + ":" + toCRLF(value) + "\r\n")
	}
	for _, mod := range mods {
		switch mod.Code {
		case RespInsHeader:
			i := min(int(mod.Index), len(fields))
			fields = append(fields[:i], append([][]byte{format(mod.Name, mod.Value)}, fields[i:]...)...)
			names = append(names[:i], append([]string{mod.Name}, names[i:]...)...)
		case RespAddHeader:
			fields = append(fields, format(mod.Name, mod.Value))
			names = append(names, mod.Name)
		case RespChgHeader:
			idx := max(int(mod.Index), 1)
			pos := -1
			for i, n := range names {
				if strings.EqualFold(n, mod.Name) {
					idx--
					if idx == 0 {
						pos = i
						break
					}
				}
			}
			switch {
			case pos >= 0 && mod.Value == "":
				fields = append(fields[:pos], fields[pos+1:]...)
				names = append(names[:pos], names[pos+1:]...)
			case pos >= 0:
				fields[pos] = format(mod.Name, mod.Value)
			case mod.Value != "":
				fields = append(fields, format(mod.Name, mod.Value))
				names = append(names, mod.Name)
			}
		}
	}
	// The fields are replaced in place: what precedes them (an mbox
	// "From " line) and what follows (the empty line and the body, or,
	// for a malformed header, everything from the first line that is no
	// field) is kept byte for byte.
	start, end := headerSpan(m)
	var b bytes.Buffer
	b.Write(m.Raw[:start])
	for _, f := range fields {
		b.Write(f)
	}
	b.Write(m.Raw[end:])
	return b.Bytes()
}

// headerSpan returns where the header fields of m start and end in m.Raw.
// Fields are subslices of Raw, so their offsets follow from capacities.
func headerSpan(m *message.Message) (start, end int) {
	if len(m.Fields) == 0 {
		if bytes.HasPrefix(m.Raw, []byte("From ")) {
			if i := bytes.Index(m.Raw, []byte("\r\n")); i >= 0 {
				return i + 2, i + 2
			}
		}
		return 0, 0
	}
	first, last := m.Fields[0].Raw, m.Fields[len(m.Fields)-1].Raw
	start = cap(m.Raw) - cap(first)
	end = cap(m.Raw) - cap(last) + len(last)
	return start, end
}
