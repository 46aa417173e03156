package milter

import (
	"bytes"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// TestInteropGoMilterClient drives hamlet's server with an independent
// implementation of the MTA side (github.com/d--j/go-milter's client), so
// that the wire format is not only checked against hamlet's own client.
func TestInteropGoMilterClient(t *testing.T) {
	rec := newRecorder()
	e := fakeEngine(t, rec, 5*time.Second)
	_, addr := startServer(t, func() *engine.Engine { return e }, Config{})

	client := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(10*time.Second))
	macros := gomilter.NewMacroBag()
	macros.Set(gomilter.MacroMTAFQDN, "mx.interop")
	macros.Set("{client_name}", "relay.example.org")
	macros.Set("{client_ptr}", "relay.example.org")
	macros.Set("{client_addr}", "198.51.100.77")
	macros.Set(gomilter.MacroQueueId, "IOQ1")
	s, err := client.Session(macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ok := func(what string, a *gomilter.Action, err error) {
		t.Helper()
		if err != nil || a.Type != gomilter.ActionContinue {
			t.Fatalf("%s: %+v %v", what, a, err)
		}
	}
	a, err := s.Conn("relay.example.org", gomilter.FamilyInet, 25, "198.51.100.77")
	ok("conn", a, err)
	a, err = s.Helo("relay.example.org")
	ok("helo", a, err)
	a, err = s.Mail("<sender@example.org>", "")
	ok("mail", a, err)
	a, err = s.Rcpt("<rcpt@example.net>", "")
	ok("rcpt", a, err)
	a, err = s.DataStart()
	ok("data", a, err)
	raw := []byte(hamMsg)
	m := message.Parse(raw)
	for _, f := range m.Fields {
		a, err = s.HeaderField(f.Name, f.Value(), nil)
		ok("header", a, err)
	}
	a, err = s.HeaderEnd()
	ok("eoh", a, err)
	mods, act, err := s.BodyReadFrom(bytes.NewReader(m.Body))
	if err != nil || act.Type != gomilter.ActionAccept && act.Type != gomilter.ActionContinue {
		t.Fatalf("end: %+v %v", act, err)
	}
	got, tx, found := rec.message("<ham-1@example.org>")
	if !found {
		t.Fatal("message not scanned")
	}
	if !bytes.Equal(got, raw) {
		t.Errorf("reassembled message differs:\n got %q\nwant %q", got, raw)
	}
	if tx.ClientIP.String() != "198.51.100.77" || tx.RDNS != engine.FCrDNSPass || tx.QueueID != "IOQ1" || tx.MTAName != "mx.interop" {
		t.Errorf("tx: ip %v rdns %v qid %q mta %q", tx.ClientIP, tx.RDNS, tx.QueueID, tx.MTAName)
	}
	if len(mods) != 1 || mods[0].Type != gomilter.ActionInsertHeader || mods[0].HeaderName != "Authentication-Results" ||
		!strings.HasPrefix(mods[0].HeaderValue, " mx.test;") {
		t.Errorf("modifications: %+v", mods)
	}
}
