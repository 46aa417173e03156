package main

import (
	"bufio"
	"net"

	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// nullMilter is a milter that decides nothing: it negotiates what hamlet
// negotiates (the same events, the same no-reply flags, no macros) and
// continues at RCPT and end of message. Postfix + nullMilter is what any
// milter costs Postfix, the ceiling for Postfix + hamlet.
type nullMilter struct{ ln net.Listener }

const nullProto = milter.ProtoNoUnknown | milter.ProtoNoData |
	milter.ProtoNRConn | milter.ProtoNRHelo | milter.ProtoNRMail | milter.ProtoNRHeader |
	milter.ProtoNREOH | milter.ProtoNRBody | milter.ProtoHdrLeadSpc

func startNullMilter(addr string) (*nullMilter, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
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
	for {
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
			reply := milter.Negotiation{Version: 6, Actions: milter.ActAddHeaders & neg.Actions, Protocol: nullProto & neg.Protocol}
			out = milter.AppendPacket(nil, milter.RespOptNeg, reply.Encode())
		case milter.CmdRcpt, milter.CmdEOB:
			out = milter.AppendPacket(nil, milter.RespContinue)
		case milter.CmdQuit:
			return
		}
		if out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}
