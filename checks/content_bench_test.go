package checks

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// benchMessages: a 10 KB text+HTML newsletter and a 100 KB message with a
// PDF attachment (the shapes of content's own benchmarks).
func benchMessages() map[string][]byte {
	var text, html strings.Builder
	for text.Len() < 4000 {
		text.WriteString("Our weekly news: the shop opens a new branch, see https://shop.example.org/news/item?id=42 for details.\r\n")
	}
	for html.Len() < 5000 {
		html.WriteString(`<p>Our weekly news: the shop opens a new branch, <a href="https://shop.example.org/news/item?id=42">read more</a>.</p>` +
			`<img src="https://img.example.org/logo.png" width="120" height="40" alt="logo">` + "\r\n")
	}
	news := "From: News <news@example.org>\r\nTo: bob@example.net\r\nSubject: news\r\nMessage-ID: <1@example.org>\r\n" +
		"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.String() +
		"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + html.String() + "</body></html>\r\n--alt--\r\n"
	var att strings.Builder
	att.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.Repeat("Please find the report attached, see https://example.org/report.\r\n", 20) +
		"--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for att.Len() < 100<<10 {
		att.WriteString("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\r\n")
	}
	att.WriteString("--mix--\r\n")
	return map[string][]byte{"10KB": []byte(news), "100KB-attachment": []byte(att.String())}
}

// BenchmarkEngineContent is the engine benchmark before/after the content
// stage: a full engine scan (parse, checks, score, verdict) of each
// message with no check ("off") and with the content check ("on"). The
// difference is what the content stage costs per message.
func BenchmarkEngineContent(b *testing.B) {
	content, err := NewContent(DefaultContentConfig())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for _, name := range []string{"10KB", "100KB-attachment"} {
		raw := benchMessages()[name]
		for _, mode := range []string{"off", "on"} {
			var cs []engine.Check
			if mode == "on" {
				cs = []engine.Check{content}
			}
			e, err := engine.New(engine.Options{Checks: cs, Policy: engine.DefaultPolicy(), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(name+"/content-"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				ip := netip.MustParseAddr("192.0.2.1")
				for b.Loop() {
					tx := &engine.Transaction{ClientIP: ip, Helo: "mx.example.org", MailFrom: "a@example.org",
						Rcpts: []string{"b@example.net"}, Message: message.Parse(raw)}
					v := e.Scan(context.Background(), tx)
					if mode == "on" && len(v.Symbols) == 0 {
						b.Fatal("no content symbols")
					}
				}
			})
		}
	}
}
