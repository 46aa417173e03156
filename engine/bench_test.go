package engine

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

// BenchmarkScan10KB measures the engine's own overhead per message: parse
// a 10 KB message, run six checks that answer at once (one per phase, one
// depending on another), score, and build the verdict. No network.
func BenchmarkScan10KB(b *testing.B) {
	var checks []Check
	for i, p := range []Phase{PhaseConnect, PhaseHelo, PhaseMail, PhaseRcpt, PhaseData} {
		name := "c" + string(rune('a'+i))
		checks = append(checks, &fakeCheck{name: name, phase: p,
			defs: []SymbolDef{sym(strings.ToUpper(name), 0.5)}, emit: []Symbol{{Name: strings.ToUpper(name), Options: []string{"x"}}}})
	}
	checks = append(checks, &fakeCheck{name: "dep", phase: PhaseData, after: []string{"cc"},
		defs: []SymbolDef{sym("DEP", 1)}, emit: []Symbol{{Name: "DEP"}}})
	e, err := New(Options{Checks: checks, Policy: DefaultPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	e.log = discardLogger()
	raw := []byte("Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby mail.example.net\r\n" +
		"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: benchmark\r\n" +
		"Message-ID: <1@example.org>\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\n\r\n" +
		strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n", 136))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	ip := netip.MustParseAddr("192.0.2.1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx := &Transaction{ClientIP: ip, Helo: "mx.example.org", MailFrom: "alice@example.org",
			Rcpts: []string{"bob@example.net"}, Message: message.Parse(raw)}
		v := e.Scan(context.Background(), tx)
		if v.Score != 3.5 {
			b.Fatalf("score %v", v.Score)
		}
	}
}
