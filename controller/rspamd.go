package controller

import (
	"context"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// rspamd's controller API, with rspamd's JSON shapes (as rspamd 3.4's
// controller.c writes them and its web UI in /usr/share/rspamd/www reads
// them). Counts per action come from the store's statistics.

// rspamdActions is rspamd's order of actions in /graph (the web UI's
// chartLegend) and /pie.
var rspamdActions = []string{"reject", "soft reject", "rewrite subject", "add header", "greylist", "no action"}

// HistoryResetter is a store that can forget its history (/historyreset).
type HistoryResetter interface {
	HistoryReset(ctx context.Context) (int, error)
}

func (s *Server) mountRspamd() {
	s.HandleFunc("GET /auth", Read, s.apiAuth)
	s.HandleFunc("GET /stat", Read, s.apiStat)
	s.HandleFunc("GET /statreset", Admin, s.apiStat) // hamlet's counts live in the store: nothing is reset
	s.HandleFunc("GET /graph", Read, s.apiGraph)
	s.HandleFunc("GET /pie", Read, s.apiPie)
	s.HandleFunc("GET /history", Read, s.apiHistory)
	s.HandleFunc("GET /historyreset", Admin, s.apiHistoryReset)
	s.HandleFunc("POST /historyreset", Admin, s.apiHistoryReset)
	s.HandleFunc("GET /actions", Read, s.apiActions)
	s.HandleFunc("GET /symbols", Read, s.apiSymbols)
	s.HandleFunc("GET /errors", Read, s.apiErrors)
	s.HandleFunc("GET /counters", Read, s.apiCounters)
	// hamlet has no maps editor or selectors: empty lists, so that rspamd's
	// web UI shows empty tabs rather than errors.
	empty := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, []any{}) }
	s.HandleFunc("GET /maps", Read, empty)
	s.HandleFunc("GET /plugins/selectors/list_extractors", Read, empty)
	s.HandleFunc("GET /plugins/selectors/list_transforms", Read, empty)
	s.HandleFunc("GET /neighbours", Read, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]any{}) })
}

// totals sums the daily statistics of the store's whole retention.
func (s *Server) totals(ctx context.Context) (map[string]int64, int64, error) {
	now := s.opts.Now()
	bs, err := s.src.Store.Stats(ctx, store.Daily, now.AddDate(-2, 0, 0), now.Add(24*time.Hour))
	if err != nil {
		return nil, 0, err
	}
	counts := map[string]int64{}
	for _, a := range rspamdActions {
		counts[a] = 0
	}
	var total int64
	for _, b := range bs {
		for a, n := range b.Counts {
			if a == recorder.StatGreylisted {
				continue // a part of "soft reject", no action of its own
			}
			counts[a] += n
			total += n
		}
	}
	return counts, total, nil
}

func spamHam(counts map[string]int64) (spam, ham int64) {
	for a, n := range counts {
		switch a {
		case "reject", "soft reject", "rewrite subject", "add header":
			spam += n
		default:
			ham += n
		}
	}
	return spam, ham
}

func (s *Server) learned(ctx context.Context) int64 {
	sp, h, _ := s.learnedByClass(ctx)
	return sp + h
}

// learnedByClass is what the classifier learned, spam and ham; ok is
// false without a classifier.
func (s *Server) learnedByClass(ctx context.Context) (spam, ham int64, ok bool) {
	if s.src.Learned == nil {
		return 0, 0, false
	}
	sp, h, err := s.src.Learned(ctx)
	if err != nil {
		return 0, 0, false
	}
	return sp, h, true
}

// statfiles is /stat's "statfiles" as rspamd reports its Bayes
// statfiles (rspamc stat prints them): one per class, "revision" the
// messages learned.
func (s *Server) statfiles(ctx context.Context) []any {
	sp, h, ok := s.learnedByClass(ctx)
	if !ok {
		return []any{}
	}
	file := func(sym string, n int64) map[string]any {
		return map[string]any{"symbol": sym, "type": "hamlet", "revision": n, "users": 1, "languages": 0, "size": 0, "total": 0, "used": 0}
	}
	return []any{file("BAYES_SPAM", sp), file("BAYES_HAM", h)}
}

// fuzzyHashes is /stat's "fuzzy_hashes": the local storage's count, as
// rspamd reports each fuzzy storage's.
func (s *Server) fuzzyHashes(ctx context.Context) map[string]any {
	if s.src.FuzzyHashes == nil {
		return map[string]any{}
	}
	n, err := s.src.FuzzyHashes(ctx)
	if err != nil {
		return map[string]any{}
	}
	return map[string]any{"local": n}
}

func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request) {
	counts, total, err := s.totals(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	spam, ham := spamHam(counts)
	writeJSON(w, http.StatusOK, map[string]any{
		"auth": "ok", "version": s.src.Version, "uptime": int64(s.src.Counters.Uptime().Seconds()), "error": 0,
		"scanned": total, "learned": s.learned(r.Context()), "spam": spam, "ham": ham, "config_id": "",
		"read_only": WhoFrom(r).Level < Admin,
	})
}

func (s *Server) apiStat(w http.ResponseWriter, r *http.Request) {
	counts, total, err := s.totals(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	spam, ham := spamHam(counts)
	learned := s.learned(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"version": s.src.Version, "uptime": int64(s.src.Counters.Uptime().Seconds()), "config_id": "",
		"read_only": WhoFrom(r).Level < Admin,
		"scanned":   total, "learned": learned, "actions": counts,
		"scan_times": s.src.Counters.ScanTimes(),
		"spam_count": spam, "ham_count": ham,
		"connections": 0, "control_connections": 0,
		"pools_allocated": 0, "pools_freed": 0, "bytes_allocated": 0, "chunks_allocated": 0,
		"shared_chunks_allocated": 0, "chunks_freed": 0, "chunks_oversized": 0, "fragmented": 0,
		"total_learns": learned, "statfiles": s.statfiles(r.Context()), "fuzzy_hashes": s.fuzzyHashes(r.Context()),
		"pid": os.Getpid(),
	})
}

// graphPoint is one point of /graph: x in Unix seconds, y in messages
// per second.
type graphPoint struct {
	X int64   `json:"x"`
	Y float64 `json:"y"`
}

// periodSpec maps rspamd's graph types (and the UI's periods) to a
// length and a bucket resolution.
func periodSpec(kind string) (time.Duration, store.Resolution, bool) {
	switch kind {
	case "hour":
		return time.Hour, store.Hourly, true
	case "day", "hourly", "":
		return 24 * time.Hour, store.Hourly, true
	case "week", "weekly":
		return 7 * 24 * time.Hour, store.Hourly, true
	case "month", "monthly":
		return 30 * 24 * time.Hour, store.Daily, true
	case "year", "yearly":
		return 365 * 24 * time.Hour, store.Daily, true
	}
	return 0, 0, false
}

// series returns, for each of rspamdActions, one count per bucket of the
// period ending now, and the bucket starts.
func (s *Server) series(ctx context.Context, kind string) ([]time.Time, map[string][]int64, store.Resolution, error) {
	length, res, _ := periodSpec(kind)
	now := s.opts.Now().UTC()
	step := time.Hour
	if res == store.Daily {
		step = 24 * time.Hour
	}
	end := res.Truncate(now).Add(step)
	start := end.Add(-length)
	if length < step {
		start = end.Add(-step)
	}
	start = res.Truncate(start)
	bs, err := s.src.Store.Stats(ctx, res, start, end)
	if err != nil {
		return nil, nil, res, err
	}
	var starts []time.Time
	idx := map[int64]int{}
	for t := start; t.Before(end); t = t.Add(step) {
		idx[t.Unix()] = len(starts)
		starts = append(starts, t)
	}
	out := map[string][]int64{}
	for _, a := range rspamdActions {
		out[a] = make([]int64, len(starts))
	}
	for _, b := range bs {
		i, ok := idx[b.Start.Unix()]
		if !ok {
			continue
		}
		for a, n := range b.Counts {
			if out[a] == nil {
				out[a] = make([]int64, len(starts))
			}
			out[a][i] += n
		}
	}
	return starts, out, res, nil
}

func (s *Server) apiGraph(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Query().Get("type")
	if _, _, ok := periodSpec(kind); !ok {
		writeErr(w, http.StatusBadRequest, "invalid type argument: want day, week, month or year")
		return
	}
	starts, ser, res, err := s.series(r.Context(), kind)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	secs := 3600.0
	if res == store.Daily {
		secs = 86400
	}
	out := make([][]graphPoint, len(rspamdActions))
	for i, a := range rspamdActions {
		pts := make([]graphPoint, len(starts))
		for j, t := range starts {
			pts[j] = graphPoint{X: t.Unix(), Y: round6(float64(ser[a][j]) / secs)}
		}
		out[i] = pts
	}
	writeJSON(w, http.StatusOK, out)
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

func (s *Server) apiPie(w http.ResponseWriter, r *http.Request) {
	counts, total, err := s.totals(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	type slice struct {
		Action string  `json:"action"`
		Value  float64 `json:"value"`
	}
	out := make([]slice, 0, len(rspamdActions))
	for _, a := range rspamdActions {
		v := 0.0
		if total > 0 {
			v = round6(100 * float64(counts[a]) / float64(total))
		}
		out = append(out, slice{a, v})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiActions(w http.ResponseWriter, r *http.Request) {
	p := s.src.Engine().Policy()
	type act struct {
		Action string  `json:"action"`
		Value  float64 `json:"value"`
	}
	out := []act{}
	for a := engine.Reject; a > engine.NoAction; a-- {
		if t, ok := p.Thresholds[a]; ok {
			out = append(out, act{a.String(), t})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type rspamdRule struct {
	Symbol      string  `json:"symbol"`
	Weight      float64 `json:"weight"`
	Description string  `json:"description,omitempty"`
	Frequency   float64 `json:"frequency"`
	Hits        int64   `json:"hits"`
	Time        float64 `json:"time"`
	Group       string  `json:"group,omitempty"`
}

// rules lists the engine's symbols with their effective weights and hits.
func (s *Server) rules() []rspamdRule {
	e := s.src.Engine()
	p := e.Policy()
	hits, _ := s.src.Counters.Hits()
	up := max(s.src.Counters.Uptime().Seconds(), 1)
	var out []rspamdRule
	for _, d := range e.Symbols() {
		w := d.Weight
		if pw, ok := p.Weights[d.Name]; ok {
			w = pw
		}
		f := round6(float64(hits[d.Name]) / up) // rspamd's frequency: hits per second
		g := d.Group
		if g == "" {
			g = "ungrouped"
		}
		out = append(out, rspamdRule{Symbol: d.Name, Weight: w, Description: d.Description, Frequency: f, Hits: hits[d.Name], Group: g})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

func (s *Server) apiSymbols(w http.ResponseWriter, r *http.Request) {
	type group struct {
		Group string       `json:"group"`
		Rules []rspamdRule `json:"rules"`
	}
	byGroup := map[string][]rspamdRule{}
	for _, rl := range s.rules() {
		g := rl.Group
		rl.Group = ""
		byGroup[g] = append(byGroup[g], rl)
	}
	out := []group{}
	for g, rs := range byGroup {
		out = append(out, group{g, rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiCounters(w http.ResponseWriter, r *http.Request) {
	out := []rspamdRule{}
	for _, rl := range s.rules() {
		rl.Group, rl.Description = "", ""
		out = append(out, rl)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiErrors(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.src.Counters.Errors())
}

// rspamdHistoryRow is one row of /history version 2.
type rspamdHistoryRow struct {
	MessageID     string                   `json:"message-id"`
	QueueID       string                   `json:"queue-id"`
	IP            string                   `json:"ip"`
	Action        string                   `json:"action"`
	Score         float64                  `json:"score"`
	RequiredScore float64                  `json:"required_score"`
	Symbols       map[string]rspamdHistSym `json:"symbols"`
	UnixTime      int64                    `json:"unix_time"`
	TimeReal      float64                  `json:"time_real"`
	TimeVirtual   float64                  `json:"time_virtual"`
	Size          int64                    `json:"size"`
	User          string                   `json:"user"`
	SenderMIME    string                   `json:"sender_mime"`
	SenderSMTP    string                   `json:"sender_smtp"`
	RcptMIME      []string                 `json:"rcpt_mime"`
	RcptSMTP      []string                 `json:"rcpt_smtp"`
	Subject       string                   `json:"subject"`
	IsSkipped     bool                     `json:"is_skipped"`
	ID            string                   `json:"id"`
}

type rspamdHistSym struct {
	Name        string   `json:"name"`
	Score       float64  `json:"score"`
	MetricScore float64  `json:"metric_score"`
	Description string   `json:"description,omitempty"`
	Options     []string `json:"options,omitempty"`
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("to"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 10000 {
			limit = n
		}
	}
	recs, err := s.src.Store.HistoryList(r.Context(), store.HistoryQuery{Limit: limit})
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	rows := make([]rspamdHistoryRow, 0, len(recs))
	for _, rec := range recs {
		row := rspamdHistoryRow{
			MessageID: rec.QueueID, QueueID: rec.QueueID, IP: rec.ClientIP, Action: rec.Action,
			Score: rec.Score, RequiredScore: rec.Required, Symbols: map[string]rspamdHistSym{},
			UnixTime: rec.Time.Unix(), TimeReal: rec.Elapsed, SenderMIME: rec.From, SenderSMTP: rec.From,
			RcptMIME: []string{}, RcptSMTP: append([]string{}, rec.RcptList...), Subject: "", ID: rec.ID,
		}
		if rec.Rcpts > len(row.RcptSMTP) && len(row.RcptSMTP) == 0 {
			row.RcptSMTP = []string{strconv.Itoa(rec.Rcpts) + " recipient(s)"}
		}
		for i, name := range rec.Symbols {
			hs := rspamdHistSym{Name: name}
			if i < len(rec.Hits) {
				hs.Score, hs.MetricScore, hs.Options = rec.Hits[i].Score, rec.Hits[i].Weight, rec.Hits[i].Options
			}
			row.Symbols[name] = hs
		}
		rows = append(rows, row)
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": 2, "rows": rows})
}

func (s *Server) apiHistoryReset(w http.ResponseWriter, r *http.Request) {
	hr, ok := s.src.Store.(HistoryResetter)
	if !ok {
		writeErr(w, http.StatusNotImplemented, "this store cannot reset its history")
		return
	}
	n, err := hr.HistoryReset(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	s.Audit(r, "history reset", "records", n)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "removed": n})
}
