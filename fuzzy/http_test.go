package fuzzy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, h http.Handler, c call) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	for k, v := range c.header {
		for _, x := range strings.Split(v, "|") {
			r.Header.Add(k, x)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: reply %q is not JSON: %v", c.method, c.path, w.Body.String(), err)
	}
	return w.Code, out
}

func TestHandlers(t *testing.T) {
	d := New(stores(t)["bolt"](t), DefaultConfig(), nil)
	get := func() *DB { return d }
	mux := http.NewServeMux()
	mux.Handle("POST /fuzzyadd", AddHandler(get, nil))
	mux.Handle("POST /fuzzydel", DelHandler(get, nil))
	mux.Handle("GET /fuzzydelhash", DelHashHandler(get, nil))
	spam := msg("a@example.org", fmt.Sprintf(spamText, "A", "1", "2"))
	near := msg("b@example.org", fmt.Sprintf(spamText, "Bea", "3", "4"))
	digest := hashes(spam)[0].Digest

	check := func(raw string) []Match {
		t.Helper()
		ms, err := d.Check(ctxT(t), hashes(raw))
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	for _, c := range []struct {
		name string
		call
		code int
	}{
		{"bad flag", call{"POST", "/fuzzyadd", spam, map[string]string{"Flag": "9"}}, 400},
		{"bad symbol", call{"POST", "/fuzzyadd", spam, map[string]string{"Symbol": "R_FUZZY"}}, 400},
		{"bad weight", call{"POST", "/fuzzyadd", spam, map[string]string{"Weight": "-3"}}, 400},
		{"nothing to hash", call{"POST", "/fuzzyadd", "Subject: hi\r\n\r\nshort text", nil}, 400},
		{"delete before add", call{"POST", "/fuzzydel", spam, nil}, 404},
		{"bad hash", call{"GET", "/fuzzydelhash", "", map[string]string{"Hash": "0123abcd"}}, 400},
		{"no hash", call{"GET", "/fuzzydelhash", "", nil}, 400},
	} {
		if code, out := do(t, mux, c.call); code != c.code || out["error"] == nil {
			t.Errorf("%s: %d %v, want %d with an error", c.name, code, out, c.code)
		}
	}
	if ms := check(spam); len(ms) != 0 {
		t.Fatalf("refused adds stored something: %+v", ms)
	}

	// rspamc fuzzy_add -f 2 -w 3: FUZZY_PROB, value 3; the near copy matches.
	code, out := do(t, mux, call{"POST", "/fuzzyadd", spam, map[string]string{"Flag": "2", "Weight": "3"}})
	if code != 200 || out["success"] != true || fmt.Sprint(out["hashes"]) != "["+digest+"]" {
		t.Fatalf("fuzzyadd: %d %v", code, out)
	}
	if ms := check(near); len(ms) != 1 || ms[0].Flag != FlagProb || ms[0].Value != 3 {
		t.Fatalf("after fuzzy_add -f 2 -w 3: %+v", ms)
	}
	// rspamc -S FUZZY_DENIED fuzzy_add: the flag changes, the value restarts at 1.
	if code, _ := do(t, mux, call{"POST", "/fuzzyadd", spam, map[string]string{"Symbol": "FUZZY_DENIED"}}); code != 200 {
		t.Fatalf("fuzzyadd -S: %d", code)
	}
	if ms := check(near); len(ms) != 1 || ms[0].Flag != FlagDenied || ms[0].Value != 1 {
		t.Fatalf("after fuzzy_add -S FUZZY_DENIED: %+v", ms)
	}
	// rspamc fuzzy_del msg.
	if code, out := do(t, mux, call{"POST", "/fuzzydel", spam, map[string]string{"Flag": "1"}}); code != 200 || out["deleted"] != 1.0 {
		t.Fatalf("fuzzydel: %d %v", code, out)
	}
	if ms := check(near); len(ms) != 0 {
		t.Fatalf("after fuzzy_del: %+v", ms)
	}
	// rspamc fuzzy_delhash HASH (upper case accepted), with a second one
	// not stored.
	do(t, mux, call{"POST", "/fuzzyadd", spam, nil})
	other := strings.Repeat("0", 32)
	if code, out := do(t, mux, call{"GET", "/fuzzydelhash", "", map[string]string{"Hash": strings.ToUpper(digest) + "|" + other}}); code != 200 || out["deleted"] != 1.0 {
		t.Fatalf("fuzzydelhash: %d %v", code, out)
	}
	if ms := check(spam); len(ms) != 0 {
		t.Fatalf("after fuzzy_delhash: %+v", ms)
	}

	// No store: 503, never a crash.
	none := AddHandler(func() *DB { return nil }, nil)
	if code, _ := do(t, none, call{"POST", "/fuzzyadd", spam, nil}); code != 503 {
		t.Errorf("without a store: %d, want 503", code)
	}
}

func TestLearnHandler(t *testing.T) {
	d := New(stores(t)["bolt"](t), DefaultConfig(), nil)
	get := func() *DB { return d }
	spam := msg("a@example.org", fmt.Sprintf(spamText, "A", "1", "2"))
	// next stands for the Bayes endpoint: it must see the whole body, and
	// its status decides.
	status := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != spam {
			t.Errorf("the wrapped handler read %d bytes, want %d", len(b), len(spam))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"ok":1}`)
	})
	learnSpam, learnHam := LearnHandler(next, get, true, nil), LearnHandler(next, get, false, nil)
	for _, c := range []struct {
		h       http.Handler
		status  int
		matches int
	}{
		{learnSpam, 208, 0}, // already learned: nothing added
		{learnSpam, 503, 0},
		{learnSpam, 200, 1},
		{learnHam, 208, 1},
		{learnHam, 200, 0}, // learn_ham removes what it matches
	} {
		status = c.status
		code, out := do(t, c.h, call{"POST", "/learn", spam, nil})
		if code != c.status || out["ok"] != 1.0 {
			t.Errorf("reply %d %v, want the wrapped %d", code, out, c.status)
		}
		ms, err := d.Check(ctxT(t), hashes(spam))
		if err != nil || len(ms) != c.matches {
			t.Errorf("after %d: %d matches, want %d (%v)", c.status, len(ms), c.matches, err)
		}
		if len(ms) == 1 && (ms[0].Flag != FlagDenied || ms[0].Value != DefaultConfig().LearnWeight) {
			t.Errorf("learned entry %+v, want flag 1 value %d", ms[0].FuzzyEntry, DefaultConfig().LearnWeight)
		}
	}
	// learn = false: the wrapper only passes through.
	cfg := DefaultConfig()
	cfg.Learn = false
	off := New(d.st, cfg, nil)
	status = 200
	do(t, LearnHandler(next, func() *DB { return off }, true, nil), call{"POST", "/learn", spam, nil})
	if ms, _ := d.Check(ctxT(t), hashes(spam)); len(ms) != 0 {
		t.Errorf("learn = false learned: %+v", ms)
	}
}
