package rspamdtest

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// A real rspamd started by Start answers /checkv2: GTUBE is rejected
// with the GTUBE symbol, a plain message from the envelope given is not,
// and the envelope reaches it (its SPF check sees the IP and MAIL FROM:
// the test zone's SPF record allows the IP, so R_SPF_ALLOW).
func TestStartCheck(t *testing.T) {
	bin := sharedtest.RequireProgram(t, "rspamd", "rspamd", Bin)
	if os.Geteuid() != 0 {
		sharedtest.Missing(t, "rspamd drops to _rspamd: the test needs root")
	}
	dns, err := dnstest.NewServer("sender.test. TXT \"v=spf1 ip4:192.0.2.7 -all\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	srv, err := Start(Options{Bin: bin, Dir: t.TempDir(), DNS: dns.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	env := Envelope{IP: "192.0.2.7", Helo: "mx.sender.test", Hostname: "mx.sender.test", From: "a@sender.test", Rcpts: []string{"b@example.net"}, QueueID: "T1"}
	client := &http.Client{Timeout: time.Minute}
	for _, c := range []struct {
		name, body, action, symbol string
	}{
		{"gtube", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n", "reject", "GTUBE"},
		{"plain", "Hello Bob,\nsee you on Monday.\n", "no action", "R_SPF_ALLOW"},
	} {
		raw := "From: A <a@sender.test>\nTo: b@example.net\nSubject: test\nDate: " + time.Now().Format(time.RFC1123Z) +
			"\nMessage-ID: <" + c.name + "@sender.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n" + c.body
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r, err := Check(ctx, client, srv.URL, []byte(raw), env)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Action != c.action {
			t.Errorf("%s: action %q, want %q (symbols %v)", c.name, r.Action, c.action, r.Sorted())
		}
		if _, ok := r.Symbols[c.symbol]; !ok {
			t.Errorf("%s: no %s in %v", c.name, c.symbol, r.Sorted())
		}
	}
}
