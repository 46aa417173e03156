package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The milter protocol (Sendmail 8.14 libmilter, version 6, as Postfix 3.x
// speaks it) frames every packet as a 4-byte big-endian length, a 1-byte
// command and length-1 bytes of data. Strings are NUL-terminated.

// Commands from the MTA to the filter (SMFIC_*).
const (
	CmdAbort   byte = 'A' // abort the current message
	CmdBody    byte = 'B' // body chunk
	CmdConnect byte = 'C' // connection information
	CmdMacro   byte = 'D' // macro definitions for the next command
	CmdEOB     byte = 'E' // end of body (end of message)
	CmdHelo    byte = 'H' // HELO/EHLO
	CmdQuitNC  byte = 'K' // quit this connection, a new one follows
	CmdHeader  byte = 'L' // one header field
	CmdMail    byte = 'M' // MAIL FROM
	CmdEOH     byte = 'N' // end of header
	CmdOptNeg  byte = 'O' // option negotiation
	CmdQuit    byte = 'Q' // quit
	CmdRcpt    byte = 'R' // RCPT TO
	CmdData    byte = 'T' // DATA
	CmdUnknown byte = 'U' // unknown SMTP command
)

// Replies from the filter to the MTA (SMFIR_*).
const (
	RespAddRcpt    byte = '+'
	RespDelRcpt    byte = '-'
	RespAccept     byte = 'a'
	RespReplBody   byte = 'b'
	RespContinue   byte = 'c'
	RespDiscard    byte = 'd'
	RespChgHeader  byte = 'm'
	RespProgress   byte = 'p'
	RespReject     byte = 'r'
	RespTempFail   byte = 't'
	RespShutdown   byte = '4'
	RespAddHeader  byte = 'h'
	RespInsHeader  byte = 'i'
	RespReplyCode  byte = 'y'
	RespQuarantine byte = 'q'
	RespSkip       byte = 's'
	RespChgFrom    byte = 'e'
	RespOptNeg     byte = 'O'
)

// Action flags (SMFIF_*): what the filter may do at end of message.
const (
	ActAddHeaders uint32 = 1 << 0 // add (and insert) header fields
	ActChgBody    uint32 = 1 << 1
	ActAddRcpt    uint32 = 1 << 2
	ActDelRcpt    uint32 = 1 << 3
	ActChgHeaders uint32 = 1 << 4 // change and delete header fields
	ActQuarantine uint32 = 1 << 5
	ActChgFrom    uint32 = 1 << 6
	ActAddRcptPar uint32 = 1 << 7
	ActSetSymList uint32 = 1 << 8 // the filter may name the macros it wants
)

// Protocol flags (SMFIP_*): events the filter does not want and replies it
// will not send.
const (
	ProtoNoConnect  uint32 = 1 << 0
	ProtoNoHelo     uint32 = 1 << 1
	ProtoNoMail     uint32 = 1 << 2
	ProtoNoRcpt     uint32 = 1 << 3
	ProtoNoBody     uint32 = 1 << 4
	ProtoNoHeaders  uint32 = 1 << 5
	ProtoNoEOH      uint32 = 1 << 6
	ProtoNRHeader   uint32 = 1 << 7 // no reply to each header
	ProtoNoUnknown  uint32 = 1 << 8
	ProtoNoData     uint32 = 1 << 9
	ProtoSkip       uint32 = 1 << 10
	ProtoRcptRej    uint32 = 1 << 11
	ProtoNRConn     uint32 = 1 << 12
	ProtoNRHelo     uint32 = 1 << 13
	ProtoNRMail     uint32 = 1 << 14
	ProtoNRRcpt     uint32 = 1 << 15
	ProtoNRData     uint32 = 1 << 16
	ProtoNRUnknown  uint32 = 1 << 17
	ProtoNREOH      uint32 = 1 << 18
	ProtoNRBody     uint32 = 1 << 19
	ProtoHdrLeadSpc uint32 = 1 << 20 // header values keep their leading space
)

// Macro stages (SMFIM_*) for the symbol lists sent at negotiation.
const (
	StageConnect = 0
	StageHelo    = 1
	StageMail    = 2
	StageRcpt    = 3
	StageData    = 4
	StageEOM     = 5
	StageEOH     = 6
)

// MaxPacket bounds the size of a packet this package reads. The protocol's
// largest negotiated chunk is 1 MiB; anything larger is an error, not an
// allocation.
const MaxPacket = 1<<20 + 1024

// ErrTooLarge is returned for a packet longer than MaxPacket.
var ErrTooLarge = errors.New("milter: packet too large")

// Packet is one milter packet.
type Packet struct {
	Cmd  byte
	Data []byte
}

// ReadPacket reads one packet from r. The packet's buffer grows as its
// bytes arrive: a declared length reserves nothing.
func ReadPacket(r io.Reader) (Packet, error) {
	p, _, err := readPacket(r, nil)
	return p, err
}

// readPacket reads one packet into buf (reused when large enough) and
// returns the buffer for the next call. Memory follows the bytes that
// arrived, not the length the peer declared: a peer that announces 1 MiB
// and sends 9 bytes costs 9 bytes rounded up to firstChunk, not 1 MiB.
func readPacket(r io.Reader, buf []byte) (Packet, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Packet{}, buf, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n == 0 {
		return Packet{}, buf, errors.New("milter: empty packet")
	}
	if n > MaxPacket {
		return Packet{}, buf, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	buf = buf[:0]
	if cap(buf) < min(n, firstChunk) {
		buf = make([]byte, 0, min(n, firstChunk))
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			// Double what has arrived, never beyond the declared length.
			buf = slices.Grow(buf, min(n, 2*cap(buf))-len(buf))
		}
		k, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Packet{}, buf, err
		}
	}
	return Packet{Cmd: buf[0], Data: buf[1:]}, buf, nil
}

// firstChunk is the buffer a packet starts with.
const firstChunk = 4 << 10

// AppendPacket appends the encoding of a packet to b.
func AppendPacket(b []byte, cmd byte, data ...[]byte) []byte {
	n := 1
	for _, d := range data {
		n += len(d)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, cmd)
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

// cstr returns s as a NUL-terminated byte string.
func cstr(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// splitCStrings splits data into its NUL-terminated strings. A missing final
// NUL is tolerated (the last string ends with the data).
func splitCStrings(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	data = bytes.TrimSuffix(data, []byte{0})
	parts := bytes.Split(data, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// Negotiation is the content of an option negotiation packet (SMFIC_OPTNEG
// from the MTA, SMFIR_OPTNEG from the filter).
type Negotiation struct {
	Version  uint32
	Actions  uint32
	Protocol uint32
	// Macros maps a stage (StageConnect...) to the macro names the filter
	// wants at that stage; only in the filter's reply.
	Macros map[int][]string
}

// DecodeNegotiation decodes option negotiation data.
func DecodeNegotiation(data []byte) (Negotiation, error) {
	if len(data) < 12 {
		return Negotiation{}, fmt.Errorf("milter: negotiation: %d bytes, want at least 12", len(data))
	}
	n := Negotiation{
		Version:  binary.BigEndian.Uint32(data[0:]),
		Actions:  binary.BigEndian.Uint32(data[4:]),
		Protocol: binary.BigEndian.Uint32(data[8:]),
	}
	rest := data[12:]
	for len(rest) >= 4 {
		stage := int(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			end = len(rest)
		}
		if n.Macros == nil {
			n.Macros = map[int][]string{}
		}
		n.Macros[stage] = strings.Fields(string(rest[:end]))
		if end < len(rest) {
			end++
		}
		rest = rest[end:]
	}
	return n, nil
}

// Encode returns the negotiation's packet data.
func (n Negotiation) Encode() []byte {
	b := u32(n.Version)
	b = binary.BigEndian.AppendUint32(b, n.Actions)
	b = binary.BigEndian.AppendUint32(b, n.Protocol)
	for stage := 0; stage <= StageEOH; stage++ {
		names, ok := n.Macros[stage]
		if !ok {
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(stage))
		b = append(b, strings.Join(names, " ")...)
		b = append(b, 0)
	}
	return b
}

// Connect is the content of an SMFIC_CONNECT packet.
type Connect struct {
	Hostname string
	Family   byte // 'U' unknown, 'L' unix, '4' IPv4, '6' IPv6
	Port     uint16
	Addr     string
}

// DecodeConnect decodes SMFIC_CONNECT data.
func DecodeConnect(data []byte) (Connect, error) {
	end := bytes.IndexByte(data, 0)
	if end < 0 {
		return Connect{}, errors.New("milter: connect: hostname not terminated")
	}
	c := Connect{Hostname: string(data[:end])}
	rest := data[end+1:]
	if len(rest) < 1 {
		return Connect{}, errors.New("milter: connect: no address family")
	}
	c.Family = rest[0]
	rest = rest[1:]
	switch c.Family {
	case 'U':
		return c, nil
	case 'L', '4', '6':
	default:
		return Connect{}, fmt.Errorf("milter: connect: unknown address family %q", c.Family)
	}
	if len(rest) < 2 {
		return Connect{}, errors.New("milter: connect: no port")
	}
	c.Port = binary.BigEndian.Uint16(rest)
	rest = rest[2:]
	if end := bytes.IndexByte(rest, 0); end >= 0 {
		rest = rest[:end]
	}
	c.Addr = string(rest)
	return c, nil
}

// Encode returns the packet data of c.
func (c Connect) Encode() []byte {
	b := cstr(c.Hostname)
	b = append(b, c.Family)
	if c.Family == 'U' {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, c.Port)
	return append(b, cstr(c.Addr)...)
}

// DecodeMacros decodes SMFIC_MACRO data: the command the macros are for,
// then name/value pairs. Names lose their braces ("{client_addr}" becomes
// "client_addr") so that both spellings match.
func DecodeMacros(data []byte) (byte, map[string]string, error) {
	if len(data) < 1 {
		return 0, nil, errors.New("milter: macro: no command")
	}
	parts := splitCStrings(data[1:])
	m := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		m[MacroName(parts[i])] = parts[i+1]
	}
	return data[0], m, nil
}

// sameMacros reports whether macro data (name/value pairs after the
// command byte) defines exactly the macros of have, with the same values:
// then decoding it would change nothing. It allocates nothing.
func sameMacros(have map[string]string, data []byte) bool {
	if have == nil {
		return false
	}
	data = bytes.TrimSuffix(data, []byte{0})
	var names [16][]byte // the names seen: a repeated one is not simple
	n := 0
	for len(data) > 0 {
		name, rest, ok := bytes.Cut(data, []byte{0})
		if !ok || n == len(names) {
			// A name without value, or many macros: DecodeMacros.
			return false
		}
		value, rest, _ := bytes.Cut(rest, []byte{0})
		if len(name) >= 2 && name[0] == '{' && name[len(name)-1] == '}' {
			name = name[1 : len(name)-1]
		}
		if v, ok := have[string(name)]; !ok || v != string(value) {
			return false
		}
		for _, seen := range names[:n] {
			if bytes.Equal(seen, name) {
				return false
			}
		}
		names[n] = name
		n++
		data = rest
	}
	return n == len(have)
}

// MacroName strips the braces of a long macro name.
func MacroName(s string) string {
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
		return s[1 : len(s)-1]
	}
	return s
}

// DecodeAddress decodes SMFIC_MAIL and SMFIC_RCPT data: the address in
// angle brackets, then ESMTP arguments.
func DecodeAddress(data []byte) (addr string, args []string, err error) {
	parts := splitCStrings(data)
	if len(parts) == 0 {
		return "", nil, errors.New("milter: address missing")
	}
	return StripAngles(parts[0]), parts[1:], nil
}

// StripAngles removes the angle brackets around an SMTP path and an
// RFC 5321 §4.1.2 source route ("<@a,@b:user@c>").
func StripAngles(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	if strings.HasPrefix(s, "@") {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}

// decodeHeader is DecodeHeader without copies: name and value are
// slices of data.
func decodeHeader(data []byte) (name, value []byte, err error) {
	name, rest, ok := bytes.Cut(data, []byte{0})
	if !ok {
		return nil, nil, errors.New("milter: header: name not terminated")
	}
	if len(name) == 0 {
		return nil, nil, errors.New("milter: header: empty name")
	}
	if e := bytes.IndexByte(rest, 0); e >= 0 {
		rest = rest[:e]
	}
	return name, rest, nil
}

// DecodeHeader decodes SMFIC_HEADER data: name and value.
func DecodeHeader(data []byte) (name, value string, err error) {
	end := bytes.IndexByte(data, 0)
	if end < 0 {
		return "", "", errors.New("milter: header: name not terminated")
	}
	name = string(data[:end])
	rest := data[end+1:]
	if e := bytes.IndexByte(rest, 0); e >= 0 {
		rest = rest[:e]
	}
	if name == "" {
		return "", "", errors.New("milter: header: empty name")
	}
	return name, string(rest), nil
}

// DecodeString decodes data holding one NUL-terminated string (SMFIC_HELO,
// SMFIC_UNKNOWN).
func DecodeString(data []byte) string {
	if end := bytes.IndexByte(data, 0); end >= 0 {
		data = data[:end]
	}
	return string(data)
}
