package opensmtpd

import (
	"fmt"
	"strings"
	"testing"
)

// Issue 16 item 4: every request that carries a recognisable session and
// token is answered, whatever else is wrong with it; smtpd would otherwise
// hold that SMTP session until its own timeout.
func TestMalformedRequestsAnswered(t *testing.T) {
	addr, _ := startHamlet(t)
	for _, onError := range []string{"tempfail", "accept"} {
		t.Run(onError, func(t *testing.T) {
			h := newHarness(t, Config{Milter: addr, OnError: onError})
			h.handshake("config|protocol|0.7")
			d := "reject|451 4.7.1 Mail filter unavailable, try again later"
			if onError == "accept" {
				d = "proceed"
			}
			for _, c := range []struct{ line, want string }{
				// a version that is not a number: the handshake's 0.7 order
				{"filter|abc|1.2|smtp-in|connect|00000000000000a1|00000000000000b1|mx|1.2.3.4", "filter-result|00000000000000a1|00000000000000b1|" + d},
				// a session id that is not hex
				{"filter|0.6|1.2|smtp-in|helo|zz-session|00000000000000b2|mx.example.org", "filter-result|zz-session|00000000000000b2|" + d},
				// a session id too long for smtpd's 64 bits
				{"filter|0.6|1.2|smtp-in|mail-from|00000000000000000a1|00000000000000b3|<a@b>", "filter-result|00000000000000000a1|00000000000000b3|" + d},
				// a token that is not hex
				{"filter|0.6|1.2|smtp-in|rcpt-to|00000000000000a1|tok-4|<b@c>", "filter-result|00000000000000a1|tok-4|" + d},
				// version 0.4 puts the token first in the answer
				{"filter|0.4|1.2|smtp-in|commit|xyz|00000000000000b5", "filter-result|00000000000000b5|xyz|" + d},
				// a data line outside any session is given back as it came
				{"filter|0.x|1.2|smtp-in|data-line|00000000000000a9|00000000000000b6|Subject: hi", "filter-dataline|00000000000000a9|00000000000000b6|Subject: hi"},
			} {
				h.send(c.line)
				h.want(c.want)
			}
			// no token: nothing to answer with; logged and skipped, and
			// the next request is answered as usual
			h.send("filter|0.6|1.2|smtp-in|connect|00000000000000a1||x", "filter|0.6|1.2|smtp-in|connect")
			s := &smtp{v: "0.6", sid: "00000000000000c1"}
			h.send(s.report("link-connect", "mx.example.org", "pass", "198.51.100.1:1234", "127.0.0.1:25"))
			h.request(s, "proceed", "connect", "mx.example.org", "198.51.100.1")
		})
	}
}

// Issue 16 item 4: reports for sessions the filter never saw connecting
// start nothing; 50,000 of them used to leave 50,000 sessions (287 MB).
func TestUnknownSessionReportsBounded(t *testing.T) {
	addr, _ := startHamlet(t)
	h := newHarness(t, Config{Milter: addr})
	h.handshake()
	var b strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "report|0.6|1.2|smtp-in|tx-begin|%016x|%08x\n", 0x100000+i, i)
	}
	h.send(strings.TrimSuffix(b.String(), "\n"))
	// a request after them is answered, so the reader has passed them all
	s := &smtp{v: "0.6", sid: "00000000000000c2"}
	h.send(s.report("link-connect", "mx.example.org", "pass", "198.51.100.1:1234", "127.0.0.1:25"))
	h.request(s, "proceed", "connect", "mx.example.org", "198.51.100.1")
	if n := h.f.Sessions(); n != 1 {
		t.Fatalf("%d sessions followed after 50,000 reports of unknown sessions and one real session", n)
	}
	h.send(s.report("link-disconnect"))
}
