package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sink is the SMTP server OpenSMTPD relays to: it accepts everything and
// keeps nothing but a count (Postfix's discard transport for OpenSMTPD).
type sink struct {
	ln        net.Listener
	delivered atomic.Int64
	wg        sync.WaitGroup
}

func startSink(addr string) (*sink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *sink) close() { s.ln.Close(); s.wg.Wait() }

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(l string) bool {
		w.WriteString(l + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 sink.bench.test ESMTP") {
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		switch verb {
		case "EHLO":
			if !reply("250-sink.bench.test\r\n250-PIPELINING\r\n250 8BITMIME") {
				return
			}
		case "DATA":
			if !reply("354 go ahead") {
				return
			}
			for {
				l, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if bytes.Equal(l, []byte(".\r\n")) {
					break
				}
			}
			s.delivered.Add(1)
			if !reply("250 2.0.0 discarded") {
				return
			}
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			if !reply("250 2.0.0 ok") {
				return
			}
		}
	}
}

// smtpClient sends one message over one SMTP connection, the way an MX
// sees most of its mail: connect, EHLO, MAIL, RCPT, DATA, QUIT.
type smtpClient struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// sendOne sends msg to addr as client helo; it returns the final reply
// line to the message (250 when accepted) or an error.
func sendOne(addr, helo, from, rcpt string, msg []byte, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	s := &smtpClient{c: c, r: bufio.NewReader(c), w: bufio.NewWriterSize(c, 32<<10)}
	if l, err := s.expect("", '2'); err != nil {
		return l, err
	}
	if l, err := s.expect("EHLO "+helo, '2'); err != nil {
		return l, err
	}
	if l, err := s.expect("MAIL FROM:<"+from+">", '2'); err != nil {
		return l, err
	}
	if l, err := s.expect("RCPT TO:<"+rcpt+">", '2'); err != nil {
		return l, err
	}
	if l, err := s.expect("DATA", '3'); err != nil {
		return l, err
	}
	writeDotStuffed(s.w, msg)
	l, err := s.expect(".", '2')
	if err != nil {
		return l, err
	}
	s.w.WriteString("QUIT\r\n")
	s.w.Flush()
	return l, nil
}

// expect sends cmd (none when empty) and reads the reply, failing unless
// it starts with class.
func (s *smtpClient) expect(cmd string, class byte) (string, error) {
	if cmd != "" {
		s.w.WriteString(cmd + "\r\n")
		if err := s.w.Flush(); err != nil {
			return "", err
		}
	}
	var last string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return last, fmt.Errorf("after %q: %w", cmd, err)
		}
		last = strings.TrimRight(l, "\r\n")
		if len(last) < 4 || last[3] != '-' {
			break
		}
	}
	if len(last) == 0 || last[0] != class {
		return last, fmt.Errorf("after %q: %s", cmd, last)
	}
	return last, nil
}

// writeDotStuffed writes msg (CRLF lines) with leading dots doubled
// (RFC 5321 §4.5.2) and a final CRLF if it lacks one.
func writeDotStuffed(w *bufio.Writer, msg []byte) {
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		defer w.WriteString("\r\n")
	}
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		line := msg
		if i >= 0 {
			line = msg[:i+1]
		}
		if line[0] == '.' {
			w.WriteByte('.')
		}
		w.Write(line)
		msg = msg[len(line):]
	}
}
