package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// smtpConn is a raw SMTP client for dialogues swaks cannot script: several
// messages and a RSET on one connection.
type smtpConn struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

// dialSMTP connects to mta presenting client c: XCLIENT for Postfix, a
// PROXY protocol v2 header for OpenSMTPD. It returns after the greeting
// (and, for Postfix, after the XCLIENT's new greeting).
func dialSMTP(t *testing.T, mta string, c client) *smtpConn {
	t.Helper()
	addr := postfixAddr
	if mta == "opensmtpd" {
		addr = osmtpdAddr
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	s := &smtpConn{t: t, c: conn, rd: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if mta == "opensmtpd" {
		if _, err := conn.Write(proxyV2(c.IP, "127.0.0.1", 40001, 2526)); err != nil {
			t.Fatal(err)
		}
		s.expect("220")
		return s
	}
	s.expect("220")
	s.cmd("EHLO localhost", "250")
	s.cmd(fmt.Sprintf("XCLIENT ADDR=%s NAME=%s HELO=%s", c.IP, c.Name, c.Helo), "220")
	return s
}

// proxyV2 builds a PROXY protocol version 2 header for TCP over IPv4
// (haproxy's proxy-protocol.txt §2.2).
func proxyV2(src, dst string, sport, dport uint16) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11) // version 2, PROXY; AF_INET, STREAM
	b = binary.BigEndian.AppendUint16(b, 12)
	s4, d4 := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// reply reads one (possibly multi-line) reply.
func (s *smtpConn) reply() string {
	s.t.Helper()
	var all []string
	for {
		l, err := s.rd.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v (so far %q)", err, all)
		}
		l = strings.TrimRight(l, "\r\n")
		all = append(all, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(all, "\n")
		}
	}
}

func (s *smtpConn) expect(code string) string {
	s.t.Helper()
	r := s.reply()
	if !strings.HasPrefix(r, code) {
		s.t.Fatalf("got %q, want %s", r, code)
	}
	return r
}

func (s *smtpConn) cmd(line, code string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		s.t.Fatal(err)
	}
	return s.expect(code)
}

// data sends a message (dot-stuffed) and returns the final reply.
func (s *smtpConn) data(msg []byte) string {
	s.t.Helper()
	s.cmd("DATA", "354")
	var b bytes.Buffer
	for _, l := range strings.SplitAfter(string(msg), "\r\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	b.WriteString(".\r\n")
	if _, err := s.c.Write(b.Bytes()); err != nil {
		s.t.Fatal(err)
	}
	return s.reply()
}

// Several messages and an abort (RSET) on one SMTP connection: each
// message is judged on its own envelope, none inherits the previous one's.
func TestSeveralMessagesOneSession(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			s := dialSMTP(t, mta, hamClient)
			s.cmd("EHLO mail.good.test", "250")
			// an aborted transaction
			s.cmd("MAIL FROM:<bob@soft.test>", "250")
			s.cmd("RCPT TO:<"+localPart+"@"+rcptDomain+">", "250")
			s.cmd("RSET", "250")
			// a message in the add header band (SPF softfail)
			tagID := newID(mta, "multi-tag")
			s.cmd("MAIL FROM:<bob@soft.test>", "250")
			s.cmd("RCPT TO:<"+localPart+"@"+rcptDomain+">", "250")
			first := append(plainMessage("Bob <bob@soft.test>", tagID, "offer"), ".a line starting with a dot\r\n.\r\n..\r\nend\r\n"...)
			if r := s.data(first); !strings.HasPrefix(r, "250") {
				t.Fatalf("first message: %q", r)
			}
			// then ham on the same connection
			hamID := newID(mta, "multi-ham")
			s.cmd("MAIL FROM:<alice@good.test>", "250")
			s.cmd("RCPT TO:<"+localPart+"@"+rcptDomain+">", "250")
			if r := s.data(e.hamMessage(hamID)); !strings.HasPrefix(r, "250") {
				t.Fatalf("second message: %q", r)
			}
			s.cmd("QUIT", "221")

			tag, ok := e.delivered(mta, tagID, 20*time.Second)
			if !ok {
				t.Fatal("first message not delivered")
			}
			if !strings.Contains(header(tag), "\nX-Spam: Yes\n") {
				t.Errorf("first message not tagged:\n%s", header(tag))
			}
			// dot-stuffing undone once, by the MTA, not twice or never
			if !strings.Contains(tag, "\n.a line starting with a dot\n.\n..\nend\n") {
				t.Errorf("body lines starting with dots were changed:\n%s", tag)
			}
			ham, ok := e.delivered(mta, hamID, 20*time.Second)
			if !ok {
				t.Fatal("second message not delivered")
			}
			h := header(ham)
			if strings.Contains(h, "X-Spam:") {
				t.Errorf("the second message inherited the first one's verdict:\n%s", h)
			}
			if e.features["authres"] && !strings.Contains(h, "smtp.mailfrom=alice@good.test") {
				t.Errorf("the second message's Authentication-Results do not name its own sender:\n%s", h)
			}
		})
	}
}
