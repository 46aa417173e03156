package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
)

// BenchmarkLearnCommand is `hamlet learn --spam DIR` of 1,000 generated
// messages (4 KB of text each) into a new embedded store: the messages a
// second it reports, as the command's summary line prints them.
//
//	go test -run '^$' -bench LearnCommand -benchtime 3x ./cmd/hamlet
func BenchmarkLearnCommand(b *testing.B) {
	dir := b.TempDir()
	g := mailgen.New(21)
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d.eml", i)), g.Spam(4000), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	rate := regexp.MustCompile(`\(([0-9]+) msg/s\)`)
	var sum float64
	var n int
	for b.Loop() {
		var out, errb bytes.Buffer
		data := b.TempDir()
		if code := run([]string{"learn", "-q", "--spam", "--data", data, dir}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "learned 1000 messages") {
			b.Fatalf("hamlet learn = %d\n%s%s", code, out.String(), errb.String())
		}
		m := rate.FindStringSubmatch(out.String())
		if m == nil {
			b.Fatalf("no rate in %q", out.String())
		}
		r, _ := strconv.ParseFloat(m[1], 64)
		sum += r
		n++
	}
	b.ReportMetric(sum/float64(n), "msg/s")
}
