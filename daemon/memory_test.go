package daemon

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// bigMessages are the 50 MB shapes of a scan's memory test: a base64
// attachment (a PDF), a plain text body of 50 MB, and a zip attachment
// of many entries.
func bigMessages() map[string][]byte {
	var text bytes.Buffer
	text.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: log\r\nMessage-ID: <big@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := "2026-12-03 10:00:00 host app[123]: request served in 12 ms, see https://status.example.org/r/1\r\n"
	for text.Len() < 50<<20 {
		text.WriteString(line)
	}
	// An HTML body in quoted-printable (decoded, converted, tokenised).
	var html bytes.Buffer
	html.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\nMessage-ID: <html@example.org>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>\r\n")
	row := "<tr><td class=3D\"c\">caf=C3=A9 r=C3=A9sum=C3=A9</td><td><a href=3D\"https://shop.example/p?id=3D1\">item</a></td></tr>\r\n"
	for html.Len() < 50<<20 {
		html.WriteString(row)
	}
	// A zip of incompressible entries, base64 (each entry is listed,
	// none inflated: no archive inside).
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	rnd := rand.New(rand.NewPCG(1, 2))
	chunk := make([]byte, 1<<20)
	for i := 0; zb.Len() < 36<<20; i++ {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("scan-%03d.pdf", i), Method: zip.Store})
		for j := range chunk {
			chunk[j] = byte(rnd.Uint32())
		}
		w.Write(chunk)
	}
	zw.Close()
	var zm bytes.Buffer
	zm.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: scans\r\nMessage-ID: <zip@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe scans.\r\n--b\r\n" +
		"Content-Type: application/zip; name=scans.zip\r\nContent-Disposition: attachment; filename=scans.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(zb.Bytes())
	for len(enc) > 76 {
		zm.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	zm.WriteString(enc + "\r\n--b--\r\n")
	return map[string][]byte{
		"attachment": samplemail.Attachment(50 << 20),
		"text":       text.Bytes(),
		"html-qp":    html.Bytes(),
		"zip":        zm.Bytes(),
	}
}

// scanAlloc returns the bytes allocated by parsing and scanning raw once
// with e.
func scanAlloc(tb testing.TB, e *engine.Engine, raw []byte) (uint64, *engine.Verdict) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.7"), Helo: "mail.example.org",
		MailFrom: "a@example.org", Rcpts: []string{"b@example.net"}, Message: message.Parse(raw)}
	v := e.Scan(context.Background(), tx)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, v
}

// defaultEngine is the engine of the default configuration as `hamlet
// serve` builds it, with a store for Bayes and fuzzy (DNS answers
// nothing).
func defaultEngine(tb testing.TB) *engine.Engine {
	s, err := LoadSettings("", Overrides{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := bolt.Open(tb.TempDir(), s.History.StoreOptions())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	e, err := BuildEngine(s, Deps{Resolver: &dnstest.Mock{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Bayes: bayes.New(st, s.Bayes, nil), Fuzzy: fuzzy.New(st, s.Fuzzy, nil)})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// The memory of a whole scan (parse, every check of the default
// configuration, the verdict) of a 50 MB message is a small multiple of
// its size: at most 3×.
func TestScanMemory50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB messages")
	}
	e := defaultEngine(t)
	for name, raw := range bigMessages() {
		t.Run(name, func(t *testing.T) {
			alloc, v := scanAlloc(t, e, raw)
			ratio := float64(alloc) / float64(len(raw))
			var syms []string
			for _, s := range v.Symbols {
				syms = append(syms, s.Name)
			}
			t.Logf("%s: %d MB message, %d MB allocated (%.2f× its size); %s %v", name, len(raw)>>20, alloc>>20, ratio, v.Action, strings.Join(syms, " "))
			if ratio > 3 {
				t.Errorf("a scan allocated %.2f× the message size", ratio)
			}
			if len(v.Symbols) == 0 {
				t.Error("no symbol: the message was not scanned")
			}
		})
	}
}

// BenchmarkScan50MB reports what one scan of a 50 MB message allocates, as
// a multiple of its size (alloc/size):
//
//	go test -run '^$' -bench Scan50MB -benchtime 3x ./daemon
func BenchmarkScan50MB(b *testing.B) {
	e := defaultEngine(b)
	for name, raw := range bigMessages() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			var total uint64
			for b.Loop() {
				a, _ := scanAlloc(b, e, raw)
				total += a
			}
			b.ReportMetric(float64(total)/float64(b.N)/float64(len(raw)), "alloc/size")
		})
	}
}
