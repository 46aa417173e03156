package main

import (
	"bufio"
	"net"
	"os"

	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// nullMilter is a milter that decides nothing: it negotiates what hamlet
// negotiates (milter.Answer: the same events, no-reply flags, actions and
// macro lists) and continues at RCPT and end of message, adding no
// header. Like hamlet it sends the pending TCP acknowledgement at once
// after an event that gets no reply (milter.AckNow), so it does not suffer
// the delayed-ACK stall. Postfix + nullMilter is what any milter costs
// Postfix: the ceiling for Postfix + hamlet.
type nullMilter struct{ ln net.Listener }

func startNullMilter(network, addr string) (*nullMilter, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		// Postfix's smtpd runs as postfix: it needs write permission.
		if err := os.Chmod(addr, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveNull(c)
		}
	}()
	return &nullMilter{ln: ln}, nil
}

func (n *nullMilter) close() { n.ln.Close() }

func serveNull(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	unanswered := false
	for {
		if unanswered && r.Buffered() == 0 {
			milter.AckNow(c)
		}
		p, err := milter.ReadPacket(r)
		if err != nil {
			return
		}
		var out []byte
		switch p.Cmd {
		case milter.CmdOptNeg:
			neg, err := milter.DecodeNegotiation(p.Data)
			if err != nil {
				return
			}
			out = milter.AppendPacket(nil, milter.RespOptNeg, milter.Answer(neg).Encode())
		case milter.CmdRcpt, milter.CmdEOB:
			out = milter.AppendPacket(nil, milter.RespContinue)
		case milter.CmdQuit:
			return
		}
		unanswered = out == nil
		if out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}
