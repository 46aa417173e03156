package checks

import (
	"context"
	"slices"
	"testing"

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
