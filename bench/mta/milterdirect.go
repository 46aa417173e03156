package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hamlet-mail/hamlet/frontend/milter"
	"github.com/hamlet-mail/hamlet/internal/mtaenv"
)

// The milter and milter-unix targets play Postfix's smtpd and cleanup
// towards hamlet's milter listener, with no MTA in the way: one milter
// connection per message (Postfix opens one per SMTP session), the
// macros Postfix 3.7 sends for hamlet's macro lists (postfixMacros),
// written as Postfix's milter8 writes (mtaenv.VStreamWriter, Nagle on), and
// Postfix's two aborts and quit at the end. The same
// messages and connection data as the checkv2 target, so that hamlet's
// CPU per message on the two paths compares like for like.

// milterAddr is the listen address the target's driver dials.
func (w *world) milterAddr(target string) string {
	if target == "milter-unix" {
		return "unix:" + w.milterSocket()
	}
	return hamletMilter
}

// queueID is a Postfix-looking queue id for message j.
func queueID(j int) string { return fmt.Sprintf("4B%09X", j) }

// postfixMacros are the macros Postfix 3.7 sends before each event for
// hamlet's macro lists (milter.Answer), as captured from this benchmark's
// Postfix: the connect list with {client_resolve}, an empty HELO list,
// {mail_addr} and {rcpt_addr}, and from DATA on the queue id, before the
// (unsent) DATA event, every header field, the end of header, every body
// chunk and the end of message.
func postfixMacros(j int) map[byte][]string {
	ip := clientIP(j)
	name := fmt.Sprintf("mail%d.good.test", 1+j%clients)
	qid := []string{"i", queueID(j)}
	return map[byte][]string{
		milter.CmdConnect: {"j", "mx.bench.test", "{daemon_name}", "mx.bench.test", "{daemon_addr}", ip,
			"{client_addr}", ip, "{client_name}", name, "{client_ptr}", name, "{client_resolve}", "OK",
			"_", name + " [" + ip + "]"},
		milter.CmdHelo:   {},
		milter.CmdMail:   {"{mail_addr}", "bounce@good.test"},
		milter.CmdRcpt:   {"{rcpt_addr}", "user@" + rcptDomain},
		milter.CmdData:   qid,
		milter.CmdHeader: qid,
		milter.CmdEOH:    qid,
		milter.CmdBody:   qid,
		milter.CmdEOB:    qid,
	}
}

// milterOne scans message j over a new milter connection as Postfix
// would for one SMTP session, and fails unless hamlet lets it through.
func (w *world) milterOne(target string, j int, timeout time.Duration) error {
	network, addr, err := milter.ParseListen(w.milterAddr(target))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(false) // Postfix leaves Nagle on
	}
	c, err := milter.NewClientSession(mtaenv.VStreamWriter{Conn: conn}, milter.ClientOptions{Timeout: timeout})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetEventMacros(postfixMacros(j))
	name := fmt.Sprintf("mail%d.good.test", 1+j%clients)
	step := func(what string, r milter.Response, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if r.Code != milter.RespContinue {
			return fmt.Errorf("%s: %s", what, r)
		}
		return nil
	}
	r, err := c.Connect(name, '4', uint16(40000+j%20000), clientIP(j))
	if err := step("connect", r, err); err != nil {
		return err
	}
	r, err = c.Helo(name)
	if err := step("helo", r, err); err != nil {
		return err
	}
	r, err = c.Mail("bounce@good.test")
	if err := step("mail", r, err); err != nil {
		return err
	}
	r, err = c.Rcpt("user@" + rcptDomain)
	if err := step("rcpt", r, err); err != nil {
		return err
	}
	r, mods, err := c.Message(w.msgs[j%len(w.msgs)])
	if err := step("end of message", r, err); err != nil {
		return err
	}
	if len(mods) == 0 {
		return fmt.Errorf("end of message: no header added")
	}
	// Postfix aborts twice (end of the transaction, end of the session)
	// before its QUIT (Close).
	if err := c.Abort(); err != nil {
		return err
	}
	if err := c.Abort(); err != nil {
		return err
	}
	w.checked.Add(1)
	return nil
}
