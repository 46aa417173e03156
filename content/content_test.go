package content

import (
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

func parse(raw string) *Message { return Parse(message.Parse([]byte(raw)), Limits{}) }

func TestParseMessage(t *testing.T) {
	raw := "From: a@example.org\r\nSubject: =?utf-8?b?w6l0w6k=?=\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n" +
		"--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Caf=E9: www.example.com/menu and https://shop.example.org/a?b=1.\r\n" +
		"--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><head><title>t</title><style>p{}</style></head><body><p>Caf&eacute;</p>" +
		"<a href=\"https://evil.example.net/login\">https://bank.example.com</a>" +
		"<div style=\"display:none\">hidden words</div><img src=\"http://img.example/x.png\" width=1 height=1></body></html>\r\n" +
		"--a--\r\n" +
		"--m\r\nContent-Type: application/octet-stream; name=\"invoice.pdf.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"TVqQAAMAAAAEAAAA\r\n" +
		"--m--\r\n"
	c := parse(raw)
	if c.Subject != "été" {
		t.Errorf("subject %q", c.Subject)
	}
	if len(c.Texts) != 2 {
		t.Fatalf("%d texts", len(c.Texts))
	}
	if got := c.Texts[0].Text; !strings.HasPrefix(got, "Café: www.example.com") || !c.Texts[0].CharsetOK {
		t.Errorf("plain text %q ok=%v", got, c.Texts[0].CharsetOK)
	}
	h := c.Texts[1]
	if !h.IsHTML() || h.Text != "Café\nhttps://bank.example.com" {
		t.Errorf("html text %q", h.Text)
	}
	if h.HTML.HiddenText != len("hidden words") {
		t.Errorf("hidden %d", h.HTML.HiddenText)
	}
	if len(h.HTML.Links) != 1 || h.HTML.Links[0].Text != "https://bank.example.com" || h.HTML.Links[0].URL.Domain != "example.net" {
		t.Errorf("links %+v", h.HTML.Links)
	}
	var hosts []string
	for _, u := range c.URLs {
		hosts = append(hosts, u.Source.String()+":"+u.Host)
	}
	want := []string{"text:www.example.com", "text:shop.example.org", "href:evil.example.net", "img:img.example", "text:bank.example.com"}
	if !slices.Equal(hosts, want) {
		t.Errorf("urls %v\nwant %v", hosts, want)
	}
	if len(c.Attachments) != 1 {
		t.Fatalf("%d attachments", len(c.Attachments))
	}
	a := c.Attachments[0]
	if a.Filename != "invoice.pdf.exe" || a.Detected != TypeExe || a.Declared != "application/octet-stream" {
		t.Errorf("attachment %+v", a)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw    string
		host   string
		domain string
		flags  Flags
	}{
		{"https://www.example.co.uk/path", "www.example.co.uk", "example.co.uk", 0},
		{"HTTP://Example.COM.", "example.com", "example.com", 0},
		{"https://bank.example@evil.example/", "evil.example", "evil.example", FlagUserinfo},
		{"http://3232235777/", "192.168.1.1", "", FlagIP | FlagNumeric},
		{"http://0xC0A80101/", "192.168.1.1", "", FlagIP | FlagNumeric},
		{"http://0300.0250.1.1/", "192.168.1.1", "", FlagIP | FlagNumeric},
		{"http://192.168.1.1:8080/", "192.168.1.1", "", FlagIP},
		{"http://[2001:db8::1]/", "2001:db8::1", "", FlagIP},
		{"http://%65%76%69%6c.example.com/", "evil.example.com", "example.com", FlagPercentHost},
		{"http://bücher.example/", "xn--bcher-kva.example", "xn--bcher-kva.example", FlagIDN},
		{"http://xn--pypal-4ve.com/", "xn--pypal-4ve.com", "xn--pypal-4ve.com", FlagIDN},
		{"http:\\\\evil.example\\x", "evil.example", "evil.example", FlagBackslash},
		{"www.example.org/x", "www.example.org", "example.org", FlagSchemeless},
		{"http://under_score.example.com", "under_score.example.com", "example.com", 0},
		{"http://a..b/", "a..b", "", FlagBadHost},
	}
	for _, tt := range tests {
		u := ParseURL(tt.raw)
		if u == nil {
			t.Errorf("ParseURL(%q) = nil", tt.raw)
			continue
		}
		if u.Host != tt.host || u.Domain != tt.domain || u.Flags != tt.flags {
			t.Errorf("ParseURL(%q) = host %q domain %q flags %b; want %q %q %b", tt.raw, u.Host, u.Domain, u.Flags, tt.host, tt.domain, tt.flags)
		}
	}
	for _, raw := range []string{"mailto:a@example.org", "/relative", "javascript:alert(1)", "#top", ""} {
		if u := ParseURL(raw); u != nil {
			t.Errorf("ParseURL(%q) = %+v, want nil", raw, u)
		}
	}
}

func TestFindURLs(t *testing.T) {
	s := "Go to https://a.example/x, or (see http://b.example/y) or www.c.example. Not notwww.d.example nor mailto:e@f. " +
		"HTTPS://G.EXAMPLE/ ok; hxxp://h.example/ too; user@www.i.example no"
	got := FindURLs(s, 100)
	want := []string{"https://a.example/x", "http://b.example/y", "www.c.example", "HTTPS://G.EXAMPLE/", "hxxp://h.example/"}
	if !slices.Equal(got, want) {
		t.Errorf("FindURLs\n got %q\nwant %q", got, want)
	}
	if got := FindURLs(strings.Repeat("http://x.example/ ", 50), 10); len(got) != 10 {
		t.Errorf("bound: %d", len(got))
	}
}
