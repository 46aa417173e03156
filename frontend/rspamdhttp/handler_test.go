package rspamdhttp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// stepClock returns a clock that advances by step at every call, so that
// time_real is the same in every run.
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

func newTestHandler(t testing.TB, cfg Config) *Handler {
	e := testEngine(t)
	h := New(func() *engine.Engine { return e }, cfg, quietLogger())
	h.now = stepClock(12500 * time.Microsecond)
	return h
}

const hamMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: Lunch\r\n" +
	"Message-ID: <lunch.42@example.org>\r\n" +
	"\r\n" +
	"Shall we?\r\n"

func msgWith(extra string) string {
	return "From: Alice <alice@example.org>\r\n" +
		"To: bob@example.net\r\n" +
		"Subject: Offer\r\n" +
		"Message-ID: <offer.7@example.org>\r\n" +
		extra +
		"\r\n" +
		"Buy now\r\n"
}

// envelope is what an MTA typically sends with a message.
func envelope() http.Header {
	h := http.Header{}
	h.Set("IP", "192.0.2.10")
	h.Set("Helo", "mail.example.org")
	h.Set("Hostname", "mail.example.org")
	h.Set("From", "<alice@example.org>")
	h.Add("Rcpt", "<bob@example.net>")
	h.Set("Queue-Id", "4XyZ1")
	h.Set("MTA-Name", "mx.example.net")
	return h
}

func with(h http.Header, kv ...string) http.Header {
	h = h.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			h.Del(kv[i])
			continue
		}
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// reply is the part of the /checkv2 reply the table asserts besides the
// golden file.
type reply struct {
	IsSkipped     bool    `json:"is_skipped"`
	Score         float64 `json:"score"`
	RequiredScore float64 `json:"required_score"`
	Action        string  `json:"action"`
	Subject       string  `json:"subject"`
	Symbols       map[string]struct {
		Name        string   `json:"name"`
		Score       float64  `json:"score"`
		MetricScore float64  `json:"metric_score"`
		Description string   `json:"description"`
		Options     []string `json:"options"`
	} `json:"symbols"`
	Messages  map[string]string `json:"messages"`
	MessageID string            `json:"message-id"`
	TimeReal  float64           `json:"time_real"`
	DKIM      json.RawMessage   `json:"dkim-signature"`
	Milter    *struct {
		AddHeaders    map[string]json.RawMessage `json:"add_headers"`
		RemoveHeaders map[string]int             `json:"remove_headers"`
	} `json:"milter"`
}

func TestCheckV2(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		header   http.Header
		body     string
		action   string
		score    float64
		symbols  []string // exactly these symbol names
		envelope string   // TEST_ENVELOPE options joined by "|", when set
		smtp     string   // messages.smtp_message
	}{
		{
			name: "ham", header: envelope(), body: hamMsg,
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
			envelope: "ip=192.0.2.10|helo=mail.example.org|ptr=mail.example.org|rdns=1|from=alice@example.org|rcpts=bob@example.net|user=|queue=4XyZ1|mta=mx.example.net",
		},
		{
			name: "greylist", header: envelope(), body: msgWith("X-Test-Symbols: TEST_SPAM*0.6\r\n"),
			action: "greylist", score: 4.2, symbols: []string{"TEST_ENVELOPE", "TEST_SPAM"}, smtp: "4.7.1 Try again later",
		},
		{
			name: "add_header", header: envelope(), body: msgWith("X-Test-Symbols: TEST_SPAM, TEST_SMALL=opt1, TEST_SMALL=opt2, TEST_SMALL=opt1\r\n"),
			action: "add header", score: 7.33, symbols: []string{"TEST_ENVELOPE", "TEST_SMALL", "TEST_SPAM"},
		},
		{
			name: "rewrite_subject", header: envelope(), body: msgWith("X-Test-Symbols: TEST_SPAM*1.5\r\n"),
			action: "rewrite subject", score: 10.5, symbols: []string{"TEST_ENVELOPE", "TEST_SPAM"},
		},
		{
			name: "negative_weight", header: envelope(), body: msgWith("X-Test-Symbols: TEST_BIG, TEST_HAM\r\n"),
			action: "rewrite subject", score: 14.5, symbols: []string{"TEST_BIG", "TEST_ENVELOPE", "TEST_HAM"},
		},
		{
			name: "reject_score", header: envelope(), body: msgWith("X-Test-Symbols: TEST_BIG\r\n"),
			action: "reject", score: 16, symbols: []string{"TEST_BIG", "TEST_ENVELOPE"}, smtp: "5.7.1 Message rejected as spam",
		},
		{
			name: "forced_reject", header: envelope(), body: msgWith("X-Test-Symbols: TEST_FORCE\r\n"),
			action: "reject", score: 0, symbols: []string{"TEST_ENVELOPE", "TEST_FORCE"}, smtp: "5.7.1 Forced by test",
		},
		{
			name: "forced_soft_reject", header: envelope(), body: msgWith("X-Test-Symbols: TEST_SOFT, TEST_HAM\r\n"),
			action: "soft reject", score: -1.5, symbols: []string{"TEST_ENVELOPE", "TEST_HAM", "TEST_SOFT"}, smtp: "4.7.1 Come back later",
		},
		{
			name: "no_rdns", header: with(envelope(), "Hostname", "unknown"), body: hamMsg,
			action: "no action", score: 2, symbols: []string{"RDNS_NONE", "TEST_ENVELOPE"},
			envelope: "ip=192.0.2.10|helo=mail.example.org|ptr=|rdns=3|from=alice@example.org|rcpts=bob@example.net|user=|queue=4XyZ1|mta=mx.example.net",
		},
		{
			name: "minimal_headers", header: http.Header{}, body: hamMsg,
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
			envelope: "ip=-|helo=|ptr=|rdns=0|from=|rcpts=|user=|queue=|mta=",
		},
		{
			name: "rcpt_lists_and_null_sender",
			header: func() http.Header {
				h := with(envelope(), "From", "<>", "IP", "[IPv6:2001:DB8::25]", "Hostname", "")
				h.Add("Rcpt", `carol@example.net, "d,ave"@example.net,<erin@example.net>`)
				h.Add("Rcpt", " ")
				return h
			}(),
			body:   hamMsg,
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
			envelope: `ip=2001:db8::25|helo=mail.example.org|ptr=|rdns=0|from=|rcpts=bob@example.net;carol@example.net;"d,ave"@example.net;erin@example.net|user=|queue=4XyZ1|mta=mx.example.net`,
		},
		{
			name: "query_parameters", path: "/checkv2?ip=::ffff:198.51.100.7&from=q@example.org&rcpt=r1@example.net,r2@example.net&user=alice",
			header: http.Header{}, body: hamMsg,
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
			envelope: "ip=198.51.100.7|helo=|ptr=|rdns=0|from=q@example.org|rcpts=r1@example.net;r2@example.net|user=alice|queue=|mta=",
		},
		{
			name: "dkim_one", header: with(envelope(), "User", "alice"), body: msgWith("X-Test-Sign: s1\r\n"),
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
		},
		{
			name: "dkim_two", header: with(envelope(), "User", "alice"), body: msgWith("X-Test-Sign: s1\r\nX-Test-Sign: s2\r\n"),
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
		},
		{
			name: "remove_headers", header: envelope(),
			body:   msgWith("X-Test-Remove: Authentication-Results:1\r\nX-Test-Remove: Authentication-Results:3\r\nX-Test-Remove: X-Spam:0\r\nX-Test-Remove: x-spam:2\r\n"),
			action: "no action", score: 0, symbols: []string{"TEST_ENVELOPE"},
		},
		{
			name: "escaping", header: envelope(),
			body:   msgWith("X-Test-Symbols: TEST_QUOTE=a\"b\\c/d<e>&f, TEST_SMALL=caf\xc3\xa9 \xff\x01\r\nMessage-ID: (comment) <  last id \xc3\xa9 >\r\n"),
			action: "no action", score: 0.43, symbols: []string{"TEST_ENVELOPE", "TEST_QUOTE", "TEST_SMALL"},
		},
		{
			name: "empty_message", header: envelope(), body: "",
			action: "no action", symbols: nil,
		},
		{
			name: "binary_message", header: envelope(), body: "\x00\x01\x02\xff\xfe binary \x00\r\n\x7f",
			action: "no action", symbols: nil,
		},
		{
			name: "header_only_message", header: envelope(), body: "From: a@example.org\r\nSubject: no body\r\nX-Test-Symbols: TEST_SPAM\r\n",
			action: "add header", symbols: nil,
		},
		{
			name: "truncated_message", header: envelope(), body: "From: a@example.org\r\nSubject: cut sh",
			action: "no action", symbols: nil,
		},
		{
			name: "legacy_symbols", path: "/symbols", header: envelope(), body: msgWith("X-Test-Symbols: TEST_SPAM\r\n"),
		},
		{
			name: "legacy_check_upper", path: "/CHECK", header: envelope(), body: msgWith("X-Test-Symbols: TEST_BIG\r\n"),
		},
	}
	h := newTestHandler(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/checkv2"
			}
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tc.body))
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			body := w.Body.Bytes()
			if !json.Valid(body) {
				t.Fatalf("reply is not valid JSON: %s", body)
			}
			golden(t, tc.name, body)
			if strings.HasPrefix(strings.ToLower(path), "/checkv2") {
				checkReply(t, body, tc.action, tc.score, tc.symbols, tc.envelope, tc.smtp)
			}
		})
	}
}

func checkReply(t *testing.T, body []byte, action string, score float64, symbols []string, env, smtp string) {
	t.Helper()
	var got reply
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Action != action {
		t.Errorf("action %q, want %q", got.Action, action)
	}
	if symbols == nil {
		return // only the action is asserted; the golden file holds the rest
	}
	if got.Score != score {
		t.Errorf("score %v, want %v", got.Score, score)
	}
	if got.RequiredScore != 15 {
		t.Errorf("required_score %v, want 15", got.RequiredScore)
	}
	var names []string
	var sum float64
	for k, s := range got.Symbols {
		if s.Name != k {
			t.Errorf("symbol %q has name %q", k, s.Name)
		}
		names = append(names, k)
		sum += s.Score
	}
	if strings.Join(sortStrings(names), ",") != strings.Join(symbols, ",") {
		t.Errorf("symbols %v, want %v", sortStrings(names), symbols)
	}
	if d := sum - score; d > 0.005 || d < -0.005 {
		t.Errorf("symbol scores add up to %v, score is %v", sum, score)
	}
	if env != "" {
		if o := strings.Join(got.Symbols["TEST_ENVELOPE"].Options, "|"); o != env {
			t.Errorf("envelope\n got %s\nwant %s", o, env)
		}
	}
	if got.Messages["smtp_message"] != smtp {
		t.Errorf("smtp_message %q, want %q", got.Messages["smtp_message"], smtp)
	}
	if got.TimeReal != 0.0125 {
		t.Errorf("time_real %v, want 0.0125 from the test clock", got.TimeReal)
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// golden compares got with testdata/golden/name.json (-update rewrites
// it). The files are the reply exactly as sent, without a final newline.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("reply differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   string
		cfg    Config
		code   int
		errSub string
	}{
		{name: "bad ip", header: with(envelope(), "IP", "300.1.2.3"), body: hamMsg, code: 400, errSub: "bad IP header"},
		{name: "empty ip", header: with(envelope(), "IP", " "), body: hamMsg, code: 400, errSub: "bad IP header"},
		{name: "zoned ip", header: with(envelope(), "IP", "fe80::1%eth0"), body: hamMsg, code: 400, errSub: "zoned"},
		{name: "bad ip in query", path: "/checkv2?ip=nope", header: http.Header{}, body: hamMsg, code: 400, errSub: "bad IP header"},
		{name: "bad from", header: with(envelope(), "From", "<alice@example.org"), body: hamMsg, code: 400, errSub: "bad From header"},
		{name: "from with space", header: with(envelope(), "From", "alice smith@example.org"), body: hamMsg, code: 400, errSub: "not a mailbox"},
		{name: "bad rcpt quote", header: with(envelope(), "Rcpt", `"open@example.org`), body: hamMsg, code: 400, errSub: "unterminated"},
		{name: "control char in helo", header: with(envelope(), "Helo", "a\x01b"), body: hamMsg, code: 400, errSub: "control character"},
		{name: "overlong user", header: with(envelope(), "User", strings.Repeat("u", 2000)), body: hamMsg, code: 400, errSub: "longer than"},
		{name: "too many rcpts", header: with(envelope(), "Rcpt", "a@x, b@x, c@x"), body: hamMsg, cfg: Config{MaxRcpts: 2}, code: 400, errSub: "more than 2 recipients"},
		{name: "too big", header: envelope(), body: strings.Repeat("x", 101), cfg: Config{MaxBody: 100}, code: 413, errSub: "larger than the limit of 100 bytes"},
		{name: "zstd", header: with(envelope(), "Compression", "zstd"), body: "(\xb5/\xfd", code: 415, errSub: "rspamc without -z"},
		{name: "brotli", header: with(envelope(), "Content-Encoding", "br"), body: "x", code: 415, errSub: "content encoding"},
		{name: "bad gzip", header: with(envelope(), "Content-Encoding", "gzip"), body: "not gzip", code: 400, errSub: "gzip"},
		{name: "httpcrypt", header: with(envelope(), "Key", "abc"), body: "x", code: 400, errSub: "HTTPCrypt"},
		{name: "get checkv2", method: http.MethodGet, header: envelope(), code: 405, errSub: "not allowed"},
		{name: "unknown command", path: "/learnspam", header: envelope(), body: hamMsg, code: 404, errSub: "invalid command"},
		{name: "root", path: "/", header: envelope(), code: 404, errSub: "invalid command"},
		{name: "delete ping", method: http.MethodDelete, path: "/ping", code: 405, errSub: "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var codes []int
			tc.cfg.Metrics = MetricsFunc(func(route string, code int) { codes = append(codes, code) })
			h := newTestHandler(t, tc.cfg)
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/checkv2"
			}
			r := httptest.NewRequest(method, path, strings.NewReader(tc.body))
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q is not JSON: %v", w.Body, err)
			}
			if len(e) != 1 || !strings.Contains(e["error"], tc.errSub) {
				t.Errorf("error body %v, want one key error containing %q", e, tc.errSub)
			}
			if len(codes) != 1 || codes[0] != tc.code {
				t.Errorf("metrics saw %v, want [%d]", codes, tc.code)
			}
		})
	}
}

func TestNoEngine(t *testing.T) {
	h := New(func() *engine.Engine { return nil }, Config{}, quietLogger())
	r := httptest.NewRequest(http.MethodPost, "/checkv2", strings.NewReader(hamMsg))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"error":`) {
		t.Errorf("got %d %s, want 503 with a JSON error", w.Code, w.Body)
	}
}

// TestEngineSwap checks that every request asks for the engine anew, as a
// configuration reload replaces it.
func TestEngineSwap(t *testing.T) {
	e1 := testEngine(t)
	p := engine.DefaultPolicy()
	p.Weights = map[string]float64{"TEST_SPAM": 20}
	e2, err := engine.New(engine.Options{Checks: []engine.Check{contentCheck{}}, Policy: p, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	cur := e1
	h := New(func() *engine.Engine { mu.Lock(); defer mu.Unlock(); return cur }, Config{}, quietLogger())
	scan := func() string {
		r := httptest.NewRequest(http.MethodPost, "/checkv2", strings.NewReader(msgWith("X-Test-Symbols: TEST_SPAM\r\n")))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var got reply
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		return got.Action
	}
	if a := scan(); a != "add header" {
		t.Fatalf("first engine: %q", a)
	}
	mu.Lock()
	cur = e2
	mu.Unlock()
	if a := scan(); a != "reject" {
		t.Fatalf("after the swap: %q, want reject (TEST_SPAM weighs 20)", a)
	}
}

func TestPing(t *testing.T) {
	h := newTestHandler(t, Config{})
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodHead} {
		for _, path := range []string{"/ping", "/PING"} {
			r := httptest.NewRequest(m, path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			want := "pong\r\n"
			if m == http.MethodHead {
				want = ""
			}
			if w.Code != 200 || w.Body.String() != want || w.Header().Get("Content-Type") != "text/plain" {
				t.Errorf("%s %s: %d %q %q", m, path, w.Code, w.Body, w.Header().Get("Content-Type"))
			}
		}
	}
}

func TestGzipBody(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(msgWith("X-Test-Symbols: TEST_SPAM\r\n")))
	zw.Close()

	h := newTestHandler(t, Config{})
	r := httptest.NewRequest(http.MethodPost, "/checkv2", bytes.NewReader(buf.Bytes()))
	r.Header.Set("Content-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var got reply
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if got.Action != "add header" || got.MessageID != "offer.7@example.org" {
		t.Errorf("got %q %q, want the scan of the decompressed message", got.Action, got.MessageID)
	}

	// A gzip bomb is bounded by MaxBody after decompression.
	buf.Reset()
	zw = gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte("A"), 1<<20))
	zw.Close()
	h = newTestHandler(t, Config{MaxBody: 64 << 10})
	r = httptest.NewRequest(http.MethodPost, "/checkv2", bytes.NewReader(buf.Bytes()))
	r.Header.Set("Content-Encoding", "gzip")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB after gunzip with a 64 KiB limit: %d %s", w.Code, w.Body)
	}
}

// TestMaxBodyExact accepts a message of exactly MaxBody bytes.
func TestMaxBodyExact(t *testing.T) {
	h := newTestHandler(t, Config{MaxBody: int64(len(hamMsg))})
	r := httptest.NewRequest(http.MethodPost, "/checkv2", strings.NewReader(hamMsg))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("message of exactly MaxBody bytes: %d %s", w.Code, w.Body)
	}
}
