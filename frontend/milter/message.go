package milter

// The message stages of a session: header fields, end of header and body
// chunks reassembled into the message byte for byte (within the size
// limit and the server's in-flight budget), the final verdict at end of
// message, and the header edits and replies it turns into.

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// header appends one header field to the message being reassembled. With
// SMFIP_HDR_LEADSPC the value is exactly what followed the colon; multi-line
// values come with LF (Postfix, Sendmail) or CRLF between lines.
func (m *session) header(name, value []byte) {
	b := append(m.field[:0], name...)
	b = append(b, ':')
	if m.proto&ProtoHdrLeadSpc == 0 && len(value) > 0 && value[0] != ' ' && value[0] != '\t' {
		// Without the option the MTA ate one space after the colon.
		b = append(b, ' ')
	}
	b = appendCRLF(b, value)
	b = append(b, "\r\n"...)
	m.appendBody(b)
	if cap(b) <= 4<<10 {
		m.field = b // kept for the next field; a rare huge one is not
	}
}

// appendCRLF appends v to b with its LF and CRLF line breaks as CRLF.
func appendCRLF(b, v []byte) []byte {
	for {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			return append(b, v...)
		}
		line := v[:i]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		b = append(b, line...)
		b = append(b, "\r\n"...)
		v = v[i+1:]
	}
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

// endOfMessage gives the final verdict and the header edits.
func (m *session) endOfMessage() []byte {
	defer func() {
		m.resetMessage()
		m.mu.Lock()
		m.inTx = false
		m.mu.Unlock()
	}()
	if m.oversize {
		m.log().Info("message too large, not scanned", "max", m.srv.cfg.MaxMessageSize, "queue_id", m.macro("i", CmdEOB, CmdEOH, CmdRcpt, CmdMail))
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
