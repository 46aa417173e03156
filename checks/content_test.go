package checks

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// Through the engine, the content check scores a phishing link, and with
// WithDMARC it leaves alone a link to the From domain of a message that
// passed DMARC (a newsletter's tracking link under its own domain), as
// rspamd does.
func TestContentCheckPhishingDMARC(t *testing.T) {
	c, err := NewContent(DefaultContentConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Checks: []engine.Check{fakeDMARC{}, c.WithDMARC()}, Policy: engine.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.After(), []string{CheckDMARC}) {
		t.Fatalf("after %v", c.After())
	}
	raw := "From: news@partner.example\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n" +
		`<a href="https://click.partner.example/t/1">https://www.shop.example/</a>`
	scan := func(from string) []string {
		v := e.Scan(context.Background(), &engine.Transaction{MailFrom: from, Message: message.Parse([]byte(raw))})
		var names []string
		for _, s := range v.Symbols {
			names = append(names, s.Name)
		}
		return names
	}
	if got := scan("news@partner.example"); slices.Contains(got, "PHISHING") {
		t.Errorf("DMARC pass for partner.example, link to partner.example: %v", got)
	}
	if got := scan("someone@forged.example"); !slices.Contains(got, "PHISHING") {
		t.Errorf("no DMARC pass: PHISHING missing from %v", got)
	}
	if err := (&ContentConfig{}).Validate(); err == nil {
		t.Error("zero bounds accepted")
	}
}

// GTUBE in a short text part forces reject through the engine, whatever
// the score (rspamd's behaviour); the same pattern quoted in a long text,
// or absent, does not.
func TestContentCheckGTUBE(t *testing.T) {
	c, err := NewContent(DefaultContentConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Checks: []engine.Check{c}, Policy: engine.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, body string
		want       engine.Action
	}{
		{"gtube", "This is the GTUBE.\r\n" + content.GTUBEPattern + "\r\n", engine.Reject},
		{"gtube in base64", "", engine.Reject},
		{"gtube quoted in a long text", strings.Repeat("a long discussion of spam filters. ", 300) + content.GTUBEPattern, engine.NoAction},
		{"no gtube", "Hello, see you tomorrow.\r\n", engine.NoAction},
		{"gtube in an inline octet-stream part", "inline", engine.Reject},
		{"gtube in an attached file", "attachment", engine.NoAction},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\nContent-Type: text/plain\r\n\r\n" + tt.body
			if tt.body == "inline" || tt.body == "attachment" {
				raw = "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
					"--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b\r\nContent-Type: application/octet-stream; name=gtube.txt\r\n" +
					"Content-Disposition: " + tt.body + "; filename=gtube.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
					base64.StdEncoding.EncodeToString([]byte(content.GTUBEPattern+"\n")) + "\r\n--b--\r\n"
			} else if tt.body == "" {
				raw = "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
					base64.StdEncoding.EncodeToString([]byte(content.GTUBEPattern+"\n")) + "\r\n"
			}
			v := e.Scan(context.Background(), &engine.Transaction{MailFrom: "a@example.org", Message: message.Parse([]byte(raw))})
			if v.Action != tt.want {
				t.Errorf("action %v, want %v (score %.2f, %v)", v.Action, tt.want, v.Score, v.Symbols)
			}
		})
	}
}
