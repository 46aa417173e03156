package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalRules: hamlet serve with a [[rules]] body rule whose
// expressions are in a list file, through real Postfix (milter) and
// OpenSMTPD (filter): the DKIM-signed ham, whose text the list names, is
// refused with the rule's own reply text; after the list file changes
// and hamlet gets SIGHUP, the same message is delivered.
func TestLocalRules(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf")
	list := filepath.Join(e.dir, "phrases.txt")
	if err := os.WriteFile(list, []byte("# scam phrases\n(?i)figures\\s+are\\s+attached\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.withConfig(t, `
[[rules]]
name = "LOCAL_PHRASE"
field = "body"
list = "`+list+`"
action = "reject"
message = "5.7.1 e2e local rule refuses this text"
`)
	for _, mta := range mtas {
		t.Run(mta+"/refused", func(t *testing.T) {
			id := newID(mta, "rule")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id))
			if r.dataAccepted() {
				t.Fatalf("accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 10))
			}
			if ref := r.firstRefusal(); !strings.HasPrefix(ref, "550") || !strings.Contains(ref, "e2e local rule refuses this text") {
				t.Errorf("refusal %q, want 550 with the rule's text:\n%s", ref, r.out)
			}
			if _, ok := e.delivered(mta, id, time.Second); ok {
				t.Error("refused message delivered")
			}
		})
	}
	if !strings.Contains(e.log("hamlet.log"), "LOCAL_PHRASE") {
		t.Errorf("hamlet's log does not name the rule:\n%s", tail(e.log("hamlet.log"), 10))
	}
	if err := os.WriteFile(list, []byte("(?i)nothing in this message\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(e.log("hamlet.log"), "configuration reloaded")
	if err := e.hamlet.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200 && strings.Count(e.log("hamlet.log"), "configuration reloaded") == before; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Count(e.log("hamlet.log"), "configuration reloaded") == before {
		t.Fatalf("no reload after SIGHUP:\n%s", tail(e.log("hamlet.log"), 10))
	}
	for _, mta := range mtas {
		t.Run(mta+"/after-reload", func(t *testing.T) {
			id := newID(mta, "rule-reloaded")
			r := e.send(ctxT(t), mta, hamClient, "alice@good.test", e.hamMessage(id))
			if !r.dataAccepted() {
				t.Fatalf("not accepted after the list changed:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 10))
			}
			if _, ok := e.delivered(mta, id, 20*time.Second); !ok {
				t.Error("not delivered")
			}
		})
	}
}
