package checks

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
)

// benchMessages: a 10 KB text+HTML newsletter and a 100 KB message with a
// PDF attachment (the shapes of content's own benchmarks).
func benchMessages() map[string][]byte {
	return map[string][]byte{"10KB": samplemail.News10KB(), "100KB-attachment": samplemail.Attachment(100 << 10)}
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
