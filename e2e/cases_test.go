package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var mtas = []string{"postfix", "opensmtpd"}

var idSeq atomic.Int64

// newID is a unique Message-ID. Its right-hand side is a host of its own,
// as a mail client writes, not the recipient domain e2e.test (that would
// be MID_RHS_MATCH_TO, 1.0, on mail from elsewhere).
func newID(mta, what string) string {
	return fmt.Sprintf("<%s-%s-%d-%d@mua.e2e.test>", what, mta, time.Now().UnixNano(), idSeq.Add(1))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var (
	hamClient     = client{IP: hamIP, Name: "mail.good.test", Helo: "mail.good.test"}
	softClient    = client{IP: softIP, Name: "mail.soft.test", Helo: "mail.soft.test"}
	forgerClient  = client{IP: forgerIP, Name: "mail.evil.test", Helo: "mail.evil.test"}
	blockedClient = client{IP: blockedIP, Name: "mail.blocked.test", Helo: "mail.blocked.test"}
	hangClient    = client{IP: hangIP, Name: "mail.hang.test", Helo: "mail.hang.test"}
)

// 1. Ham from a sender with valid SPF, DKIM and DMARC is delivered with
// Authentication-Results and without X-Spam.
func TestHamDelivered(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			id := newID(mta, "ham")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id))
			if !r.dataAccepted() {
				t.Fatalf("ham not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 20))
			}
			msg, ok := e.delivered(mta, id, 20*time.Second)
			if !ok {
				t.Fatalf("ham accepted but not delivered")
			}
			h := header(msg)
			t.Logf("checks in hamlet serve: %v; delivered header:\n%s", e.features, h)
			if strings.Contains(h, "X-Spam:") {
				t.Errorf("ham was tagged:\n%s", h)
			}
			if e.features["authres"] {
				if !strings.Contains(h, "Authentication-Results: mx.e2e.test") {
					t.Errorf("no Authentication-Results of mx.e2e.test:\n%s", h)
				}
				if !strings.Contains(h, "spf=pass") {
					t.Errorf("Authentication-Results lacks spf=pass:\n%s", h)
				}
				if e.features["dkim"] && !strings.Contains(h, "dkim=pass") {
					t.Errorf("Authentication-Results lacks dkim=pass (the DKIM signature must survive the MTA and the front end byte for byte):\n%s", h)
				}
				if e.features["dmarc"] && !strings.Contains(h, "dmarc=pass") {
					t.Errorf("Authentication-Results lacks dmarc=pass:\n%s", h)
				}
			} else {
				t.Log("hamlet serve does not add Authentication-Results yet (no authres finisher): only delivery and no X-Spam checked")
			}
		})
	}
}

// 2. A message scoring in the add header band is delivered with X-Spam.
func TestAddHeaderBand(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			id := newID(mta, "tag")
			r := e.send(ctxT(t), mta, softClient, "bob@soft.test", plainMessage("Bob <bob@soft.test>", id, "cheap offer"))
			if !r.dataAccepted() {
				t.Fatalf("not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 20))
			}
			msg, ok := e.delivered(mta, id, 20*time.Second)
			if !ok {
				t.Fatal("accepted but not delivered")
			}
			h := header(msg)
			if !strings.Contains(h, "\nX-Spam: Yes\n") {
				t.Errorf("no X-Spam: Yes:\n%s", h)
			}
			if !strings.Contains(h, "X-Spam-Score: ") || !strings.Contains(h, "X-Spam-Status: Yes, score=") {
				t.Errorf("no X-Spam-Score/X-Spam-Status:\n%s", h)
			}
		})
	}
}

// 3. A forged From of a p=reject domain is rejected with 550 and nothing
// is delivered.
func TestForgedFromRejected(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf", "dmarc")
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			id := newID(mta, "forged")
			r := e.send(ctxT(t), mta, forgerClient, "mallory@evil.test", plainMessage("CEO <ceo@reject.test>", id, "urgent wire transfer"))
			if r.dataAccepted() {
				t.Fatalf("forged message accepted:\n%s", r.out)
			}
			if ref := r.firstRefusal(); !strings.HasPrefix(ref, "550") {
				t.Errorf("refusal %q, want 550:\n%s", ref, r.out)
			}
			if _, ok := e.delivered(mta, id, 2*time.Second); ok {
				t.Error("the rejected message was delivered")
			}
		})
	}
}

// 4. A client in the Senderscore block band is refused before DATA.
func TestSenderscoreBlockedBeforeData(t *testing.T) {
	e := getEnv(t)
	e.need(t, "senderscore")
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			id := newID(mta, "blocked")
			r := e.send(ctxT(t), mta, blockedClient, "x@blocked.test", plainMessage("x@blocked.test", id, "hello"))
			if r.reachedData() {
				t.Fatalf("the blocked client reached DATA:\n%s", r.out)
			}
			if ref := r.firstRefusal(); !strings.HasPrefix(ref, "5") {
				t.Errorf("refusal %q, want 5xx:\n%s", ref, r.out)
			}
			if _, ok := e.delivered(mta, id, time.Second); ok {
				t.Error("delivered")
			}
		})
	}
}

// 5. With hamlet stopped, mail is tempfailed: not bounced, not lost, not
// accepted unscanned. (Postfix: milter_default_action = tempfail; the
// OpenSMTPD filter: on_error = tempfail.) smtpd must survive it.
func TestHamletDownTempfails(t *testing.T) {
	e := getEnv(t)
	e.stopHamlet()
	defer func() {
		if err := e.startHamlet(); err != nil {
			t.Fatalf("restarting hamlet: %v", err)
		}
	}()
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			id := newID(mta, "down")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id))
			if r.dataAccepted() {
				t.Fatalf("accepted while hamlet was down:\n%s", r.out)
			}
			ref := r.firstRefusal()
			if !strings.HasPrefix(ref, "4") {
				t.Errorf("refusal %q, want a 4xx tempfail:\n%s", ref, r.out)
			}
			if strings.Contains(r.out, "<** 5") || strings.Contains(r.out, "<-  5") {
				t.Errorf("a 5xx while hamlet was down:\n%s", r.out)
			}
			if _, ok := e.delivered(mta, id, time.Second); ok {
				t.Error("delivered unscanned")
			}
		})
	}
	if !e.smtpdAlive() {
		t.Fatalf("smtpd died while hamlet was down:\n%s", tail(e.log("smtpd.log"), 30))
	}
}

// 6. Two sessions in parallel, one of whose DNS answers hang: the other
// is not delayed. The hanging session's sender domain has an SPF record
// whose lookup never returns; while hamlet waits for it, a ham session
// must complete.
func TestHangingDNSDoesNotDelayOthers(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	e.dns.Hang("hang.test.")
	defer e.dns.Reset()
	for _, mta := range mtas {
		t.Run(mta, func(t *testing.T) {
			before := e.dns.Count("TXT", "hang.test.")
			slowDone := make(chan result, 1)
			slowID := newID(mta, "slow")
			go func() {
				slowDone <- e.send(ctxT(t), mta, hangClient, "x@hang.test", plainMessage("x@hang.test", slowID, "slow"))
			}()
			// Wait until hamlet is stuck on the hanging lookup.
			deadline := time.Now().Add(20 * time.Second)
			for e.dns.Count("TXT", "hang.test.") == before {
				if time.Now().After(deadline) {
					t.Fatal("hamlet never asked for hang.test's SPF record")
				}
				time.Sleep(20 * time.Millisecond)
			}
			id := newID(mta, "fast")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id))
			select {
			case s := <-slowDone:
				t.Fatalf("the hanging session finished before the other one was served, so this proves nothing:\n%s", s.out)
			default:
			}
			if !r.dataAccepted() {
				t.Fatalf("the parallel session was not accepted:\n%s", r.out)
			}
			if _, ok := e.delivered(mta, id, 20*time.Second); !ok {
				t.Error("the parallel session's message was not delivered")
			}
			// The hanging one ends too, by hamlet's deadline, with a
			// defined answer.
			select {
			case s := <-slowDone:
				if s.firstRefusal() != "" && strings.HasPrefix(s.firstRefusal(), "5") {
					t.Errorf("the hanging session got a 5xx: %s", s.firstRefusal())
				}
			case <-time.After(90 * time.Second):
				t.Error("the hanging session never ended")
			}
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Postfix reaching hamlet over its unix socket from a chrooted smtpd, as
// on Debian (the socket inside the queue directory, writable by the
// postfix user).
func TestPostfixUnixSocket(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	id := newID("postfix-unix", "ham")
	r := e.send(ctxT(t), "postfix-unix", hamClient, "alice@good.test", e.hamMessage(id))
	if !r.dataAccepted() {
		t.Fatalf("not accepted over the unix socket:\n%s\nPostfix log:\n%s", r.out, tail(e.log("postfix/maillog"), 15))
	}
	msg, ok := e.delivered("postfix-unix", id, 20*time.Second)
	if !ok {
		t.Fatal("not delivered")
	}
	if h := header(msg); e.features["authres"] && !strings.Contains(h, "Authentication-Results: mx.e2e.test") {
		t.Errorf("no Authentication-Results: the milter was not used over the socket:\n%s", h)
	}
}

// OpenSMTPD with hamlet chained after its builtin rDNS filters (the
// README's second configuration): a client without reverse DNS is refused
// by the builtin filter; ham passes through the chain, hamlet's header
// fields included.
func TestOpenSMTPDChain(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	id := newID("chain", "noptr")
	r := e.send(ctxT(t), "opensmtpd-chain", client{IP: noPTRIP, Name: "unknown", Helo: "noptr.example"}, "x@good.test", plainMessage("x@good.test", id, "no ptr"))
	if ref := r.firstRefusal(); !strings.HasPrefix(ref, "550 5.7.1 no rDNS") || r.reachedData() {
		t.Errorf("client without rDNS: refusal %q, want the builtin filter's 550:\n%s", ref, r.out)
	}
	id = newID("chain", "ham")
	r = e.send(ctxT(t), "opensmtpd-chain", hamClient, "alice@good.test", e.hamMessage(id))
	if !r.dataAccepted() {
		t.Fatalf("ham not accepted through the chain:\n%s", r.out)
	}
	msg, ok := e.delivered("opensmtpd-chain", id, 20*time.Second)
	if !ok {
		t.Fatal("not delivered")
	}
	if h := header(msg); e.features["authres"] && !strings.Contains(h, "Authentication-Results: mx.e2e.test") {
		t.Errorf("hamlet's Authentication-Results missing behind the chain:\n%s", h)
	}
}

// Mail submitted locally with Postfix's sendmail(1) goes through hamlet
// too (non_smtpd_milters): Postfix's non-SMTP milter session has no HELO
// and a made-up client. It is not inbound mail, so hamlet adds no
// Authentication-Results, but it still removes fields that forge its own
// authserv-id (RFC 8601 §5): here the second of two, by index, through
// Postfix's header editing.
func TestPostfixLocalSubmission(t *testing.T) {
	e := getEnv(t)
	e.need(t, "authres")
	id := newID("postfix-local", "submit")
	msg := []byte("Authentication-Results: other.example; spf=pass smtp.mailfrom=kept@example.org\r\n" +
		"Authentication-Results: mx.e2e.test; dkim=pass header.d=forged.example\r\n" +
		string(plainMessage("Local <local@e2e.test>", id, "from cron")))
	cmd := exec.Command("sendmail", "-C", e.postfixConf, "-f", "local@e2e.test", "-i", localPart+"@"+rcptDomain)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v: %s", err, out)
	}
	got, ok := e.delivered("postfix", id, 30*time.Second)
	if !ok {
		t.Fatalf("locally submitted mail not delivered; Postfix log:\n%s", tail(e.log("postfix/maillog"), 15))
	}
	h := header(got)
	if strings.Contains(h, "forged.example") {
		t.Errorf("the forged Authentication-Results of hamlet's authserv-id survived:\n%s", h)
	}
	if !strings.Contains(h, "Authentication-Results: other.example; spf=pass smtp.mailfrom=kept@example.org") {
		t.Errorf("another host's Authentication-Results was removed too:\n%s", h)
	}
}

// One daemon, one view: messages scanned for Postfix (milter) and for
// OpenSMTPD (the filter delegating over milter) are counted by the same
// hamlet serve.
func TestOneDaemonForBothMTAs(t *testing.T) {
	e := getEnv(t)
	before := scansTotal(t)
	for _, mta := range mtas {
		id := newID(mta, "count")
		if r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id)); !r.dataAccepted() {
			t.Fatalf("%s: not accepted:\n%s", mta, r.out)
		}
	}
	// The metrics observer counts a verdict as it is given; allow it a
	// moment to land.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := scansTotal(t)
		if after-before == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hamlet_scans_total went from %v to %v for one message through each MTA, want +2", before, after)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
