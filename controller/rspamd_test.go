package controller

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

func getJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	w := e.do("GET", path, "", nil)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, w.Body)
	}
}

func TestRspamdAPI(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Hour).Add(10 * time.Minute)
	e := newEnv(t, func(o *Options) { o.Now = func() time.Time { return now.Add(5 * time.Minute) } })
	seed(t, e.st, now, map[string]int{"no action": 30, "greylist": 5, "add header": 10, "reject": 5})
	seed(t, e.st, now.Add(-3*time.Hour), map[string]int{"no action": 10})
	// Symbols are counted by the Counters observer of real scans.
	for _, from := range []string{"spam@x.example", "tag@x.example", "tagspam@x.example"} {
		e.eng.Scan(context.Background(), &engine.Transaction{MailFrom: from, Rcpts: []string{"u@example.net"}})
	}

	var st map[string]any
	getJSON(t, e, "/stat", &st)
	acts := st["actions"].(map[string]any)
	if st["scanned"].(float64) != 60 || acts["no action"].(float64) != 40 || acts["reject"].(float64) != 5 || acts["soft reject"].(float64) != 0 {
		t.Errorf("/stat: %v", st)
	}
	if st["spam_count"].(float64) != 15 || st["ham_count"].(float64) != 45 || st["version"] != "test" {
		t.Errorf("/stat spam/ham: %v %v", st["spam_count"], st["ham_count"])
	}

	var graph [][]graphPoint
	getJSON(t, e, "/graph?type=day", &graph)
	if len(graph) != 6 || len(graph[0]) != 24 {
		t.Fatalf("/graph: %d series of %d", len(graph), len(graph[0]))
	}
	last := len(graph[5]) - 1
	// Series in rspamd's order: reject … no action; y in messages per second.
	if got := graph[5][last].Y * 3600; got < 29.99 || got > 30.01 {
		t.Errorf("no action in the last hour: %v/h", got)
	}
	if got := graph[5][last-3].Y * 3600; got < 9.99 || got > 10.01 {
		t.Errorf("no action 3 hours ago: %v/h", got)
	}
	if got := graph[0][last].Y * 3600; got < 4.99 || got > 5.01 {
		t.Errorf("reject: %v/h", got)
	}
	if graph[0][last].X != now.Truncate(time.Hour).Unix() {
		t.Errorf("last x %d, want %d", graph[0][last].X, now.Truncate(time.Hour).Unix())
	}
	if w := e.do("GET", "/graph?type=fortnight", "", nil); w.Code != 400 {
		t.Errorf("bad type: %d", w.Code)
	}
	var week [][]graphPoint
	getJSON(t, e, "/graph?type=week", &week)
	var month [][]graphPoint
	getJSON(t, e, "/graph?type=month", &month)
	if len(week[0]) != 168 || len(month[0]) != 30 {
		t.Errorf("week %d points, month %d", len(week[0]), len(month[0]))
	}

	var pie []struct {
		Action string  `json:"action"`
		Value  float64 `json:"value"`
	}
	getJSON(t, e, "/pie", &pie)
	if len(pie) != 6 || pie[0].Action != "reject" || pie[5].Action != "no action" || pie[5].Value < 66.6 || pie[5].Value > 66.7 {
		t.Errorf("/pie: %+v", pie)
	}

	var actions []struct {
		Action string  `json:"action"`
		Value  float64 `json:"value"`
	}
	getJSON(t, e, "/actions", &actions)
	if len(actions) != 3 || actions[0] != (struct {
		Action string  `json:"action"`
		Value  float64 `json:"value"`
	}{"reject", 15}) || actions[2].Action != "greylist" {
		t.Errorf("/actions: %+v", actions)
	}

	var counters []rspamdRule
	getJSON(t, e, "/counters", &counters)
	hits := map[string]int64{}
	for _, c := range counters {
		hits[c.Symbol] = c.Hits
	}
	if hits["TEST_SPAM"] != 2 || hits["TEST_TAG"] != 2 || hits["TEST_GREY"] != 0 {
		t.Errorf("/counters: %+v", counters)
	}
	var symbols []struct {
		Group string       `json:"group"`
		Rules []rspamdRule `json:"rules"`
	}
	getJSON(t, e, "/symbols", &symbols)
	found := false
	for _, g := range symbols {
		for _, r := range g.Rules {
			if g.Group == "test" && r.Symbol == "TEST_SPAM" && r.Weight == 20 && r.Description != "" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("/symbols: %+v", symbols)
	}

	var hist struct {
		Version int                `json:"version"`
		Rows    []rspamdHistoryRow `json:"rows"`
	}
	getJSON(t, e, "/history", &hist)
	if hist.Version != 2 || len(hist.Rows) != 60 || hist.Rows[0].UnixTime < hist.Rows[59].UnixTime || hist.Rows[0].Symbols["TEST_TAG"].Name != "TEST_TAG" {
		t.Errorf("/history: version %d, %d rows", hist.Version, len(hist.Rows))
	}
	if w := e.do("GET", "/historyreset", "", nil); w.Code != 200 {
		t.Errorf("/historyreset: %d %s", w.Code, w.Body)
	}
	getJSON(t, e, "/history", &hist)
	if len(hist.Rows) != 0 {
		t.Errorf("after reset: %d rows", len(hist.Rows))
	}
	var errs []ErrorEntry
	getJSON(t, e, "/errors", &errs)
	if errs == nil {
		t.Error("/errors is not a JSON array")
	}
}

// rspamc, rspamd's own client, reads hamlet's /stat and /counters.
func TestRspamcStat(t *testing.T) {
	rspamc := sharedtest.Require(t, "rspamc", "rspamd")
	now := time.Now().UTC()
	e := newEnv(t, func(o *Options) {
		o.Sources.Learned = func(context.Context) (int64, int64, error) { return 5, 3, nil }
	})
	seed(t, e.st, now, map[string]int{"no action": 7, "reject": 3})
	e.eng.Scan(context.Background(), &engine.Transaction{MailFrom: "spam@x.example"})
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rspamc, "-h", host, "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("rspamc stat: %v\n%s", err, out)
	}
	for _, want := range []string{"Messages scanned: 10", "Messages with action reject: 3, 30.00%", "Messages with action no action: 7, 70.00%",
		"Messages learned: 8", "Statfile: BAYES_SPAM", "learned: 5", "Statfile: BAYES_HAM", "learned: 3"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rspamc stat lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.CommandContext(ctx, rspamc, "-h", host, "counters").CombinedOutput()
	if err != nil {
		t.Fatalf("rspamc counters: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "TEST_SPAM") {
		t.Errorf("rspamc counters lacks TEST_SPAM:\n%s", out)
	}
	t.Logf("rspamc stat/counters:\n%s", out)
}
