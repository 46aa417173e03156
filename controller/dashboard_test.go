package controller

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// The dashboard counts the messages greylisting deferred as
// "greylisted", apart from the other soft rejects, in the tiles and the
// bars of every period, from the statistics the recorder writes; the
// score-only greylist action (greylisting off) keeps its tile when it
// happened. rspamd's /stat still counts them as soft rejects.
func TestDashboardGreylisted(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	e := newEnv(t, func(o *Options) { o.Now = func() time.Time { return now } })
	at := now
	rec := recorder.New(e.st, recorder.Options{Now: func() time.Time { return at }, Linger: -1})
	grey := func(a engine.Action, opts ...string) *engine.Verdict {
		return &engine.Verdict{Action: a, Score: 5, Symbols: []engine.ScoredSymbol{{Name: "TEST_GREY", Score: 5, Weight: 5}, {Name: "GREYLIST", Options: opts}}}
	}
	greylisted := grey(engine.SoftReject, "greylisted", "Thu, 03 Dec 2026 11:42:54 UTC")
	passed := grey(engine.NoAction, "pass", "retry")
	softReject := &engine.Verdict{Action: engine.SoftReject, Score: 1, ForcedBy: "TEST_TAG", Symbols: []engine.ScoredSymbol{{Name: "TEST_TAG", Score: 1}}}
	scoreOnly := &engine.Verdict{Action: engine.Greylist, Score: 5, Symbols: []engine.ScoredSymbol{{Name: "TEST_GREY", Score: 5}}}
	for _, step := range []struct {
		ago      time.Duration
		verdicts []*engine.Verdict
	}{
		{time.Minute, []*engine.Verdict{greylisted, greylisted, softReject, passed}},
		{3 * time.Hour, []*engine.Verdict{greylisted}},
		{3 * 24 * time.Hour, []*engine.Verdict{greylisted, softReject}},
		{20 * 24 * time.Hour, []*engine.Verdict{greylisted}},
		{200 * 24 * time.Hour, []*engine.Verdict{greylisted, scoreOnly}},
	} {
		at = now.Add(-step.ago)
		for i, v := range step.verdicts {
			rec.Observe(&engine.Transaction{QueueID: fmt.Sprintf("Q%d", i)}, v, 0)
		}
		rec.Close() // written with this time
		rec = recorder.New(e.st, recorder.Options{Now: func() time.Time { return at }, Linger: -1})
	}
	rec.Close()

	title := regexp.MustCompile(`<title>[^<]*: ([^<]*)</title>`)
	part := regexp.MustCompile(`([a-z]+(?: [a-z]+)*) (\d+)`)
	for _, tt := range []struct {
		period string
		want   map[string]int64 // the tiles; an absent one is not shown
	}{
		{"hour", map[string]int64{"no action": 1, "greylisted": 2, "add header": 0, "rewrite subject": 0, "soft reject": 1, "reject": 0}},
		{"day", map[string]int64{"no action": 1, "greylisted": 3, "add header": 0, "rewrite subject": 0, "soft reject": 1, "reject": 0}},
		{"week", map[string]int64{"no action": 1, "greylisted": 4, "add header": 0, "rewrite subject": 0, "soft reject": 2, "reject": 0}},
		{"month", map[string]int64{"no action": 1, "greylisted": 5, "add header": 0, "rewrite subject": 0, "soft reject": 2, "reject": 0}},
		{"year", map[string]int64{"no action": 1, "greylist": 1, "greylisted": 6, "add header": 0, "rewrite subject": 0, "soft reject": 2, "reject": 0}},
	} {
		t.Run(tt.period, func(t *testing.T) {
			d, err := e.srv.dashboardData(context.Background(), tt.period)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			var total int64
			for _, a := range d.Actions {
				got[a.Action] = a.N
				total += a.N
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || d.Total != total {
				t.Errorf("tiles %v (total %d), want %v", got, d.Total, tt.want)
			}
			// The bars: each bucket's title lists its counts by action.
			bars := map[string]int64{}
			for _, m := range title.FindAllStringSubmatch(string(d.Bars), -1) {
				for _, p := range part.FindAllStringSubmatch(m[1], -1) {
					n, _ := strconv.ParseInt(p[2], 10, 64)
					bars[p[1]] += n
				}
			}
			for a, n := range tt.want {
				if bars[a] != n {
					t.Errorf("bars: %s %d, want %d (%v)", a, bars[a], n, bars)
				}
			}
		})
	}

	var st map[string]any
	getJSON(t, e, "/stat", &st)
	acts := st["actions"].(map[string]any)
	if st["scanned"].(float64) != 10 || acts["soft reject"].(float64) != 8 || acts["greylist"].(float64) != 1 || acts[recorder.StatGreylisted] != nil {
		t.Errorf("/stat: scanned %v, actions %v", st["scanned"], acts)
	}
	var graph [][]graphPoint
	getJSON(t, e, "/graph?type=day", &graph)
	var soft float64
	for _, p := range graph[1] { // rspamd's order: reject, soft reject, …
		soft += p.Y * 3600
	}
	if len(graph) != 6 || soft < 3.99 || soft > 4.01 {
		t.Errorf("/graph: %d series, %.2f soft rejects in the day, want 6 series and 4", len(graph), soft)
	}
}
