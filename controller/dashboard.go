package controller

import (
	"context"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// Health is the DNS health the dashboard shows.
type Health struct {
	// DNSOutcomes counts upstream DNS queries by outcome (ok, nxdomain,
	// servfail, timeout, …) since the start.
	DNSOutcomes map[string]uint64
	// ListsDisabled are DNS lists their health check disabled.
	ListsDisabled []string
	// ListsUsable are the DNS lists in use.
	ListsUsable []string
}

var periods = []string{"hour", "day", "week", "month", "year"}

type ranked struct {
	Key   string
	N     int64
	Share float64
	Bar   template.HTML
}

type actionRow struct {
	Action string
	N      int64
	Share  string
}

type dashData struct {
	Period     string
	Periods    []string
	Total      int64
	Actions    []actionRow
	Donut      template.HTML
	Bars       template.HTML
	Step       string
	Symbols    []ranked
	Networks   []ranked
	Domains    []ranked
	Greylisted int64
	Retried    int64
	PassRate   string
	Health     *Health
	DNSTotal   uint64
	DNSFailed  uint64
	DNSRate    string
	HasLearned bool
	LearnSpam  int64
	LearnHam   int64
	Truncated  bool
}

// maxHourRecords bounds the history read for the "hour" period.
const maxHourRecords = 200000

// dashboardData computes what the dashboard shows for period.
func (s *Server) dashboardData(ctx context.Context, period string) (*dashData, error) {
	if _, _, ok := periodSpec(period); !ok || period == "" {
		period = "day"
	}
	d := &dashData{Period: period, Periods: periods}
	counts := map[string]int64{}
	agg := map[string]int64{}
	var starts []time.Time
	var series map[string][]int64
	var step time.Duration
	now := s.opts.Now()
	if period == "hour" {
		step = 5 * time.Minute
		end := now.Truncate(step).Add(step)
		from := end.Add(-time.Hour)
		recs, err := s.src.Store.HistoryList(ctx, store.HistoryQuery{After: from, Limit: maxHourRecords})
		if err != nil {
			return nil, err
		}
		d.Truncated = len(recs) == maxHourRecords
		for t := from; t.Before(end); t = t.Add(step) {
			starts = append(starts, t)
		}
		series = map[string][]int64{}
		for _, a := range shownActions {
			series[a] = make([]int64, len(starts))
		}
		for i := range recs {
			rec := &recs[i]
			b := int(rec.Time.Sub(from) / step)
			if b < 0 || b >= len(starts) {
				continue
			}
			a := shownAction(rec)
			if series[a] == nil {
				series[a] = make([]int64, len(starts))
			}
			series[a][b]++
			recorder.AggRows(*rec, func(row string) { agg[row]++ })
		}
	} else {
		var res store.Resolution
		var err error
		starts, series, res, err = s.series(ctx, period)
		if err != nil {
			return nil, err
		}
		splitGreylisted(series)
		step = time.Hour
		if res == store.Daily {
			step = 24 * time.Hour
		}
		if err := s.readAggregates(ctx, period, now, agg); err != nil {
			return nil, err
		}
	}
	for a, ser := range series {
		for _, n := range ser {
			counts[a] += n
		}
	}
	for _, n := range counts {
		d.Total += n
	}
	for _, a := range shownActions {
		if a == "greylist" && counts[a] == 0 {
			// The greylist action stays only where no greylisting
			// resolves it (greylisting off): its tile when it happened.
			continue
		}
		d.Actions = append(d.Actions, actionRow{a, counts[a], funcs["pct"].(func(int64, int64) string)(counts[a], d.Total)})
	}
	d.Donut = donut(counts, d.Total)
	d.Bars = bars(starts, series, step)
	d.Step = stepName(step)
	d.Symbols = top(agg, "s|", 12, "var(--accent)")
	d.Networks = top(agg, "n|", 10, "var(--reject)")
	d.Domains = top(agg, "d|", 10, "var(--reject)")
	d.Greylisted, d.Retried = agg["g|greylisted"], agg["g|retry"]
	if d.Greylisted > 0 {
		d.PassRate = funcs["pct"].(func(int64, int64) string)(d.Retried, d.Greylisted)
	}
	if s.src.Health != nil {
		h := s.src.Health()
		d.Health = &h
		for o, n := range h.DNSOutcomes {
			d.DNSTotal += n
			if o == "timeout" || o == "servfail" || o == "refused" || o == "error" {
				d.DNSFailed += n
			}
		}
		if d.DNSTotal > 0 {
			d.DNSRate = funcs["pct"].(func(int64, int64) string)(int64(d.DNSFailed), int64(d.DNSTotal))
		}
	}
	if s.src.Learned != nil {
		if sp, h, err := s.src.Learned(ctx); err == nil {
			d.HasLearned, d.LearnSpam, d.LearnHam = true, sp, h
		}
	}
	return d, nil
}

// splitGreylisted takes the messages greylisting deferred out of the
// soft rejects that count them in the statistics (the row
// recorder.StatGreylisted is a part of "soft reject"), so that each
// bucket has "greylisted" and the other soft rejects apart.
func splitGreylisted(series map[string][]int64) {
	g, sr := series[actGreylisted], series["soft reject"]
	for i := range g {
		if i >= len(sr) {
			g[i] = 0
			continue
		}
		g[i] = min(g[i], sr[i])
		sr[i] -= g[i]
	}
}

// readAggregates adds the tallies covering period to agg: hourly ones
// for a day, daily ones for a week or a month, monthly ones for a year.
func (s *Server) readAggregates(ctx context.Context, period string, now time.Time, agg map[string]int64) error {
	now = now.UTC()
	var names []string
	switch period {
	case "day":
		for i := 0; i < 24; i++ {
			h, _, _ := recorder.AggNames(now.Add(-time.Duration(i) * time.Hour))
			names = append(names, h)
		}
	case "week", "month":
		n := 7
		if period == "month" {
			n = 30
		}
		for i := 0; i < n; i++ {
			_, dd, _ := recorder.AggNames(now.AddDate(0, 0, -i))
			names = append(names, dd)
		}
	case "year":
		for i := 0; i < 12; i++ {
			_, _, m := recorder.AggNames(time.Date(now.Year(), now.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC))
			names = append(names, m)
		}
	}
	for _, name := range names {
		rows, err := s.src.Store.TallyGet(ctx, name, now)
		if err != nil {
			continue // absent: nothing recorded then
		}
		for k, v := range rows {
			agg[k] += v
		}
	}
	return nil
}

// top returns the n largest rows of agg with prefix.
func top(agg map[string]int64, prefix string, n int, color string) []ranked {
	var out []ranked
	var maxN int64
	for k, v := range agg {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ranked{Key: strings.TrimPrefix(k, prefix), N: v})
			maxN = max(maxN, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	for i := range out {
		out[i].Bar = meter(float64(out[i].N)/float64(maxN), color)
	}
	return out
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	d, err := s.dashboardData(r.Context(), r.URL.Query().Get("p"))
	if err != nil {
		s.log.Warn("controller: dashboard", "err", err)
		http.Error(w, "the store did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", "Dashboard", d)
}
