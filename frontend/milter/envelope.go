package milter

// The envelope stages of a session: connect, HELO, MAIL and RCPT feed the
// engine's scan, early verdicts (forced rejects) are asked for at the
// stages the MTA waits on, and on_error applies when the engine fails or
// misses the front end's deadline. Also what the MTA's connect data and
// macros say of the client.

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/gopool"
)

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
		m.log().Warn("engine failed, accepting (on_error = accept)", "stage", stage, "err", why)
		return AppendPacket(nil, RespContinue)
	}
	m.log().Warn("engine failed, tempfailing (on_error = tempfail)", "stage", stage, "err", why)
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
	gopool.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- res{err: fmt.Errorf("engine panicked: %v", p)}
			}
		}()
		ch <- res{v: scan.Verdict(m.ctx, final)}
	})
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
