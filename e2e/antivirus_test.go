package e2e

import (
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
	"github.com/hamlet-mail/hamlet/message"
)

// withConfig restarts hamlet serve with extra configuration, and back
// without it when the test ends.
func (e *env) withConfig(t *testing.T, extra string) {
	t.Helper()
	e.stopHamlet()
	e.extraConfig = extra
	if err := e.startHamlet(); err != nil {
		t.Fatalf("restarting hamlet: %v", err)
	}
	t.Cleanup(func() {
		e.stopHamlet()
		e.extraConfig = ""
		if err := e.startHamlet(); err != nil {
			t.Errorf("restarting hamlet: %v", err)
		}
	})
}

// attachmentMessage is clamdtest's message with an attachment (EICAR when
// infected), From good.test, DKIM-signed by good.test: ham by every other
// measure.
func (e *env) attachmentMessage(id string, infected bool) []byte {
	raw := strings.Replace(string(clamdtest.Message(infected)), "Message-ID: <clamdtest@example.com>", "Message-ID: "+id, 1)
	raw = strings.Replace(raw, "From: Alice <alice@example.com>", "From: Alice <alice@good.test>", 1)
	raw = strings.Replace(raw, "To: bob@example.org", "To: "+localPart+"@"+rcptDomain, 1)
	sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "good.test", Selector: "e2e", Signer: crypto.Signer(e.key)})
	if err != nil {
		panic(err)
	}
	return []byte("DKIM-Signature:" + sig + "\r\n" + raw)
}

// TestClamAV: hamlet serve with [antivirus] on a real clamd (clamdtest's
// own signature database), through real Postfix (milter) and OpenSMTPD
// (filter): the EICAR attachment is refused with a 5xx naming the
// signature; a clean attachment is delivered; with clamd paused (slow)
// or stopped the infected message is accepted on time with
// CLAM_VIRUS_FAIL — never a 5xx for our failure.
func TestClamAV(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	srv := clamdtest.Start(t, false)
	const avTimeout = 3 * time.Second
	e.withConfig(t, "\n[antivirus]\nclamd = \"unix:"+srv.Socket+"\"\ntimeout = \"3s\"\n")

	for _, mta := range mtas {
		t.Run(mta+"/virus", func(t *testing.T) {
			id := newID(mta, "virus")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.attachmentMessage(id, true))
			if r.dataAccepted() {
				t.Fatalf("infected message accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 10))
			}
			ref := r.firstRefusal()
			if !strings.HasPrefix(ref, "5") || !strings.Contains(ref, clamdtest.Signature) {
				t.Errorf("refusal %q, want a 5xx naming %s:\n%s", ref, clamdtest.Signature, r.out)
			}
			if _, ok := e.delivered(mta, id, time.Second); ok {
				t.Error("infected message delivered")
			}
		})
		t.Run(mta+"/clean", func(t *testing.T) {
			id := newID(mta, "clean")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.attachmentMessage(id, false))
			if !r.dataAccepted() {
				t.Fatalf("clean message not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 10))
			}
			if _, ok := e.delivered(mta, id, 20*time.Second); !ok {
				t.Error("clean message not delivered")
			}
		})
	}

	down := func(t *testing.T, state string) {
		for _, mta := range mtas {
			t.Run(mta, func(t *testing.T) {
				id := newID(mta, "av-"+state)
				before := len(e.log("hamlet.log"))
				start := time.Now()
				r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.attachmentMessage(id, true))
				elapsed := time.Since(start)
				if strings.Contains(r.out, "<** 5") || strings.Contains(r.out, "<-  5") {
					t.Fatalf("a 5xx with clamd %s:\n%s", state, r.out)
				}
				if !r.dataAccepted() {
					t.Fatalf("not accepted with clamd %s:\n%s\nhamlet log:\n%s", state, r.out, tail(e.log("hamlet.log"), 10))
				}
				if state == "paused" && elapsed < avTimeout {
					t.Errorf("clamd paused: answered in %v, before the antivirus timeout: was it scanned?", elapsed)
				}
				if _, ok := e.delivered(mta, id, 20*time.Second); !ok {
					t.Error("not delivered")
				}
				// What hamlet logged for this message: CLAM_VIRUS_FAIL, and for
				// the paused clamd, the [antivirus] timeout ended the scan, not
				// the 12 s scan deadline of hamletConfig.
				log := e.log("hamlet.log")
				if len(log) >= before {
					log = log[before:]
				}
				if !strings.Contains(log, "CLAM_VIRUS_FAIL") {
					t.Errorf("no CLAM_VIRUS_FAIL in hamlet's log:\n%s", tail(log, 10))
				}
				if state == "paused" && !strings.Contains(log, `ended_by="antivirus timeout"`) {
					t.Errorf("clamd paused: the log does not say the antivirus timeout ended the scan:\n%s", tail(log, 10))
				}
			})
		}
	}
	t.Run("paused", func(t *testing.T) {
		srv.Pause()
		defer srv.Resume()
		down(t, "paused")
	})
	t.Run("stopped", func(t *testing.T) {
		srv.Stop()
		down(t, "stopped")
	})
}
