package rspamdhttp

import (
	"bufio"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/engine"
)

// FuzzHandler sends arbitrary request lines, headers and bodies through
// Go's HTTP request parser and the handler. Whatever comes in, the
// handler answers with a status from its documented set and a JSON body
// (a "pong" for ping), and a 200 reply is a well-formed verdict.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ path, header, body string }{
		{"/checkv2", "IP: 192.0.2.1\r\nHelo: mx.example.org\r\nHostname: mx.example.org\r\nFrom: <a@example.org>\r\nRcpt: <b@example.net>\r\nQueue-Id: Q1\r\n", hamMsg},
		{"/checkv2", "Ip: 2001:db8::1\r\nHostname: unknown\r\nRcpt: a@x, \"b,c\"@y\r\nRcpt: d@z\r\nUser: alice\r\n", msgWith("X-Test-Symbols: TEST_SPAM*1.5, TEST_SMALL=x\r\n")},
		{"/checkv2", "From: <>\r\nPass: all\r\nFlags: pass_all,body_block\r\nSettings-ID: x\r\nMTA-Name: m\r\n", msgWith("X-Test-Symbols: TEST_FORCE\r\nX-Test-Remove: X-Spam:0\r\n")},
		{"/checkv2", "User: bob\r\n", msgWith("X-Test-Sign: s1\r\nX-Test-Sign: s2\r\n")},
		{"/checkv2?ip=192.0.2.1&from=a@b&rcpt=c@d", "", ""},
		{"/checkv2", "IP: [IPv6:::1]\r\n", "\x00\xff\xfe binary"},
		{"/checkv2", "IP: 300.0.0.1\r\n", hamMsg},
		{"/checkv2", "From: <a@b\r\n", hamMsg},
		{"/checkv2", "Rcpt: \"unterminated\r\n", hamMsg},
		{"/checkv2", "Compression: zstd\r\n", "(\xb5/\xfd"},
		{"/checkv2", "Content-Encoding: gzip\r\n", "\x1f\x8b\x08\x00"},
		{"/checkv2", "Transfer-Encoding: chunked\r\n", "5\r\nFrom:\r\n0\r\n\r\n"},
		{"/checkv2", "Content-Length: 3\r\n", "From: a"},
		{"/symbols", "IP: 192.0.2.1\r\n", msgWith("X-Test-Symbols: TEST_BIG\r\n")},
		{"/ping", "", ""},
		{"/nothing", "", "x"},
		{"/checkv2", "", "From: a@example.org\r\nSubject: cut sh"},
		{"/checkv2", "", "From: a@example.org\nSubject: header only\n"},
		{"/checkv2", "", "Message-ID: (c) < x y >\r\nMessage-ID:\r\n\r\n"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.header, []byte(s.body))
	}
	e := testEngine(f)
	h := New(func() *engine.Engine { return e }, Config{MaxBody: 1 << 16, MaxRcpts: 50}, quietLogger())
	f.Fuzz(func(t *testing.T, path, header string, body []byte) {
		raw := "POST " + path + " HTTP/1.1\r\nHost: hamlet\r\n" + header
		if !strings.HasSuffix(raw, "\r\n") {
			raw += "\r\n"
		}
		if !strings.Contains(strings.ToLower(header), "content-length") && !strings.Contains(strings.ToLower(header), "transfer-encoding") {
			raw += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		raw += "\r\n" + string(body)
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // the server refuses it before the handler
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 404, 405, 413, 415:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, raw, w.Body)
		}
		out := w.Body.Bytes()
		if w.Code == 200 && strings.EqualFold(strings.TrimPrefix(r.URL.Path, "/"), "ping") {
			if string(out) != "pong\r\n" {
				t.Fatalf("ping answered %q", out)
			}
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("status %d body is not valid JSON: %q", w.Code, out)
		}
		if w.Code != 200 {
			var e map[string]string
			if err := json.Unmarshal(out, &e); err != nil || e["error"] == "" {
				t.Fatalf("error reply %q lacks an error", out)
			}
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(out, &top); err != nil {
			t.Fatal(err)
		}
		if d, ok := top["default"]; ok { // legacy reply
			top = nil
			if err := json.Unmarshal(d, &top); err != nil {
				t.Fatal(err)
			}
		}
		var action string
		var score float64
		if err := json.Unmarshal(top["action"], &action); err != nil {
			t.Fatalf("action: %v in %q", err, out)
		}
		if _, ok := engine.ParseAction(action); !ok {
			t.Fatalf("unknown action %q", action)
		}
		if err := json.Unmarshal(top["score"], &score); err != nil || math.IsNaN(score) {
			t.Fatalf("score %s: %v", top["score"], err)
		}
	})
}

// FuzzJSONString checks the string encoder: always valid JSON, and a
// valid UTF-8 string reads back as itself.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "tab\tnl\nvt\vff\fbs\b\x00\x1f", "café", "\xff\xfe", "</script>&", "\u2028\u2029", "\U0001F600"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := &jsonWriter{}
		w.stringValue(s)
		if !json.Valid(w.b) {
			t.Fatalf("%q encodes to invalid JSON %q", s, w.b)
		}
		var back string
		if err := json.Unmarshal(w.b, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q reads back as %q", s, back)
		}
	})
}
