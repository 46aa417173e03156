package clamd

import (
	"strings"
	"testing"
)

// FuzzParseReply: any reply gives a result or an error, and a found
// signature is never empty.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"stream: OK", "stream: Eicar-Test-Signature FOUND", "INSTREAM size limit exceeded. ERROR", "stream:  FOUND", "PONG", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		res, err := parseReply(s)
		if err == nil && res.Found() && strings.TrimSpace(res.Virus) == "" {
			t.Fatalf("empty signature from %q", s)
		}
		if err != nil && res.Found() {
			t.Fatalf("both a virus and an error from %q", s)
		}
	})
}
