package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// TestHeadersWired: [headers] builds the header check into the engine of
// serve/check, freemail_domains reach it, and enabled = false removes it.
func TestHeadersWired(t *testing.T) {
	srv, err := dnstest.NewServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	date := time.Now().UTC().Format(time.RFC1123Z)
	msg := "Received: from x by mx; " + date + "\r\nFrom: Dr. Evil <evil@corp-free.example>\r\nTo: undisclosed-recipients:;\r\n" +
		"Subject: YOUR FUNDS\r\nDate: " + date + "\r\n\r\nbody\r\n"
	scan := func(cfg string) map[string]bool {
		eng := testEngine(t, srv, cfg)
		tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.7"), Helo: "x.example", MailFrom: "evil@corp-free.example",
			Rcpts: []string{"bob@example.org"}, Message: message.Parse([]byte(msg))}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return symbolNames(eng.Scan(ctx, tx))
	}
	base := "[dns]\ntimeout = \"200ms\"\n[greylist]\nenabled = false\n"
	got := scan(base + "[headers]\nfreemail_domains = [\"corp-free.example\"]\n")
	for _, want := range []string{"MISSING_MID", "R_UNDISC_RCPT", "FREEMAIL_FROM", "FREEMAIL_ENVFROM", "FROM_NAME_HAS_TITLE", "SUBJ_ALL_CAPS", "RCVD_COUNT_ONE"} {
		if !got[want] {
			t.Errorf("enabled: no %s in %v", want, got)
		}
	}
	if got["DATE_IN_PAST"] || got["DATE_IN_FUTURE"] {
		t.Errorf("a message dated now: %v", got)
	}
	got = scan(base + "[headers]\nenabled = false\n")
	for name := range got {
		if name == "MISSING_MID" || strings.HasPrefix(name, "FREEMAIL_") || strings.HasPrefix(name, "RCVD_COUNT_") {
			t.Errorf("disabled: %s emitted", name)
		}
	}
	// The section is validated when the file is read: the error names it.
	if _, err := settingsFromText(t, "[headers]\nfreemail_file = \"/nonexistent/free.txt\"\n"); err == nil || !strings.Contains(err.Error(), "headers.freemail_file") {
		t.Errorf("missing freemail_file: %v", err)
	}
}
