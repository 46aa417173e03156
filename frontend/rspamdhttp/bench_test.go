package rspamdhttp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// tenKB is a 10 KB message with a few header fields.
func tenKB() []byte {
	var b bytes.Buffer
	b.WriteString(msgWith("X-Test-Symbols: TEST_SPAM, TEST_SMALL=a, TEST_QUOTE=b\r\nReceived: from a by b\r\nReceived: from c by d\r\n"))
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\r\n"
	for b.Len() < 10<<10 {
		b.WriteString(line)
	}
	return b.Bytes()
}

// BenchmarkCheckV2 measures one /checkv2 request through the handler
// (header parsing, body read, scan with the fake checks, JSON reply),
// without the network.
func BenchmarkCheckV2(b *testing.B) {
	e := testEngine(b)
	h := New(func() *engine.Engine { return e }, Config{}, quietLogger())
	msg := tenKB()
	hdr := envelope()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/checkv2", bytes.NewReader(msg))
		r.Header = hdr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body)
		}
	}
}

// BenchmarkReply measures rendering a verdict as the /checkv2 JSON.
func BenchmarkReply(b *testing.B) {
	e := testEngine(b)
	tx := &engine.Transaction{Message: message.Parse(tenKB())}
	req, err := ParseRequest(envelope(), nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	req.Tx.Message = tx.Message
	v := e.Scan(b.Context(), &req.Tx)
	b.ReportAllocs()
	for b.Loop() {
		Reply(v, &req.Tx, 12*time.Millisecond)
	}
}
