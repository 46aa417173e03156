package opensmtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// FuzzParseLine: any line parses or fails cleanly, and the per-event
// parsers never panic on what ParseLine accepts.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"config|ready",
		"config|protocol|0.7",
		"report|0.6|1576146008.006099|smtp-in|link-connect|7641df9771b4ed00|mail.openbsd.org|pass|199.185.178.25:33174|45.77.67.80:25",
		"report|0.7|1.2|smtp-in|link-auth|7641df9771b4ed00|pass|user|name",
		"report|0.5|1.2|smtp-in|tx-mail|7641df9771b4ed00|0000000a|a@b|ok",
		"filter|0.6|1.2|smtp-in|data-line|7641df9771b4ed00|1ef1c203cc576e5d|..dot",
		"filter|0.6|1.2|smtp-in|commit|7641df9771b4ed00|1ef1c203cc576e5d",
		"filter|0.6|1.2|smtp-in",
		"report|9999999999999999999.1|x|y|z|w",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			if !errors.Is(err, ErrBadLine) {
				t.Fatalf("error %v does not wrap ErrBadLine", err)
			}
			if r, ok := salvageRequest(s, Version{0, 6}); ok && (r.Kind != KindFilter || !isWord(r.Session) || !isWord(r.Token)) {
				t.Fatalf("salvaged %+v", r)
			}
			return
		}
		_ = ParseLinkConnect(l)
		_, _ = ParseLinkAuth(l)
		_, _, _ = ParseTxAddress(l)
		_ = ParseSrc(l.Params)
		_ = l.Fields(4)
	})
}

// FuzzFilter feeds arbitrary input to a running filter whose hamlet is
// unreachable: it must never panic or stop early, and must answer every
// filter request it accepted exactly once (a message's data-line requests
// are answered together, ending with the "." line).
func FuzzFilter(f *testing.F) {
	f.Add("config|ready\nfilter|0.6|1|smtp-in|connect|00000000000000a1|0000000000000001|x|1.2.3.4\n")
	f.Add("filter|0.6|1|smtp-in|data-line|00000000000000a1|0000000000000001|line\nfilter|0.6|1|smtp-in|data-line|00000000000000a1|0000000000000001|.\n")
	f.Add("report|0.6|1|smtp-in|link-disconnect|00000000000000a1\nfilter|0.7|1|smtp-in|helo|00000000000000a1|0000000000000002|h\n")
	f.Add("filter|abc|1|smtp-in|connect|00000000000000a1|0000000000000001|x|1.2.3.4\nfilter|0.6|1|smtp-in|helo|not-hex|0000000000000002|h\n")
	f.Add("report|0.6|1|smtp-in|link-connect|00000000000000a1|a|pass|1.2.3.4:1|5.6.7.8:25\nfilter|0.6|1|smtp-in|data-line|00000000000000a1|0000000000000001|x\nfilter|0.x|1|smtp-in|data-line|00000000000000a1|0000000000000001|.\n")
	f.Add("report|0.6|1|smtp-in|tx-begin|00000000000000a7|00000001\nfilter|0.6|1|smtp-in|data-line|00000000000000a8|zz|.\n")
	f.Fuzz(func(t *testing.T, input string) {
		flt := New(Config{Milter: "127.0.0.1:1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		flt.dial = func(context.Context) (*milter.ClientSession, error) { return nil, errors.New("down") }
		var out bytes.Buffer
		if err := flt.Run(context.Background(), strings.NewReader(input), &out); err != nil {
			t.Fatalf("Run: %v", err)
		}
		want := 0
		sc := bufio.NewScanner(strings.NewReader(input))
		sc.Buffer(make([]byte, 64<<10), MaxLine+2)
		for sc.Scan() {
			text := strings.TrimSuffix(sc.Text(), "\r")
			l, err := ParseLine(text)
			if err != nil {
				// A malformed request with a recognisable session and
				// token is answered too (issue 16 item 4).
				if r, ok := salvageRequest(text, Version{0, 5}); ok && (r.Event != "data-line" || r.Params == ".") {
					want++
				}
				continue
			}
			if l.Kind != KindFilter {
				continue
			}
			if l.Subsystem != "smtp-in" || l.Event != "data-line" || l.Params == "." {
				want++
			}
		}
		if sc.Err() != nil {
			return // a line too long for this count; Run dropped it
		}
		got := 0
		for _, ln := range strings.Split(out.String(), "\n") {
			switch {
			case strings.HasPrefix(ln, "filter-result|"):
				got++
			case strings.HasPrefix(ln, "filter-dataline|"):
				if f := strings.SplitN(ln, "|", 4); len(f) == 4 && f[3] == "." {
					got++
				}
			}
		}
		if got != want {
			t.Fatalf("%d answers for %d requests:\n%s", got, want, out.String())
		}
	})
}
