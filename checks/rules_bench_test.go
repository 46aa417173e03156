package checks

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/internal/samplerules"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/rules"
)

// BenchmarkEngineRules is the engine benchmark before/after local rules:
// a full engine scan (parse, the content check, score, verdict) of the
// 10 KB newsletter with no rules ("rules-off") and with 1 000 rules, half
// of them body regular expressions, and three list files of 100 000
// entries ("rules-on"). The difference is what the rules cost per message.
func BenchmarkEngineRules(b *testing.B) {
	specs, err := samplerules.Specs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.Compile(specs, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	content, err := NewContent(DefaultContentConfig())
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	raw := samplemail.News10KB()
	for _, mode := range []string{"off", "on"} {
		cs := []engine.Check{content}
		var comp []engine.Composer
		if mode == "on" {
			r := NewRules(set, nil)
			cs = append(cs, r)
			comp = append(comp, r)
		}
		e, err := engine.New(engine.Options{Checks: cs, Composers: comp, Policy: engine.DefaultPolicy(), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("10KB/rules-"+mode, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			ip := netip.MustParseAddr("192.0.2.1")
			for b.Loop() {
				tx := &engine.Transaction{ClientIP: ip, Helo: "mx.example.org", MailFrom: "a@example.org",
					Rcpts: []string{"b@example.net"}, Message: message.Parse(raw)}
				v := e.Scan(context.Background(), tx)
				hit := false
				for _, s := range v.Symbols {
					hit = hit || s.Name == "BENCH_0000"
				}
				if hit != (mode == "on") {
					b.Fatalf("BENCH_0000 (weekly news) hit: %v", hit)
				}
			}
		})
	}
}
