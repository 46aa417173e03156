package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// TestBayesRedisDown: with the token store in Redis, a scan while Redis
// is down still answers 200, without Bayes and with BAYES_ERROR saying
// why; learning answers 503; once Redis is back, Bayes is back.
func TestBayesRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	d := runDaemon(t, `data_dir = "`+t.TempDir()+`"
store = "`+srv.URL(0, "")+`"
[scan]
listen = ["127.0.0.1:0"]
timeout = "5s"
[controller]
listen = "127.0.0.1:0"
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
timeout = "100ms"
[bayes]
min_learns = 1
`)
	scanURL := "http://" + d.Addrs("scan")[0]
	ctlURL := "http://" + d.Addrs("controller")[0]
	g := mailgen.New(5)
	spam, ham := string(g.Spam(500)), string(g.Ham(500))
	msg := spam
	post := func(url string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(msg))
		req.Header.Set("IP", "192.0.2.1")
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	symbols := func() map[string]json.RawMessage {
		t.Helper()
		code, body := post(scanURL + "/checkv2")
		if code != http.StatusOK {
			t.Fatalf("checkv2: %d %s", code, body)
		}
		var r struct {
			Symbols map[string]json.RawMessage `json:"symbols"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		return r.Symbols
	}
	if code, body := post(ctlURL + "/learnspam"); code != http.StatusOK {
		t.Fatalf("learnspam with Redis up: %d %s", code, body)
	}
	msg = ham
	if code, body := post(ctlURL + "/learnham"); code != http.StatusOK {
		t.Fatalf("learnham with Redis up: %d %s", code, body)
	}
	msg = spam
	if s := symbols(); s["BAYES_SPAM"] == nil {
		t.Fatalf("Redis up: symbols %v", names(s))
	}
	srv.Stop()
	// A message not scanned before: its tokens are not in the classifier's
	// cache, so Bayes must read the store.
	msg = string(g.Spam(500))
	s := symbols()
	if s["BAYES_ERROR"] == nil || s["BAYES_SPAM"] != nil {
		t.Fatalf("Redis down: symbols %v", names(s))
	}
	if code, body := post(ctlURL + "/learnham"); code != http.StatusServiceUnavailable || !strings.Contains(body, "store is unavailable") {
		t.Errorf("learnham with Redis down: %d %s", code, body)
	}
	srv.Restart()
	// redistest's server keeps nothing across a restart: Bayes is back,
	// untrained (once the cached counts, at most 2 s old, are renewed).
	var back map[string]json.RawMessage
	for range 50 {
		if back = symbols(); back["BAYES_UNTRAINED"] != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if back["BAYES_UNTRAINED"] == nil || back["BAYES_ERROR"] != nil {
		t.Errorf("Redis back: symbols %v", names(back))
	}
}

func names(m map[string]json.RawMessage) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}
