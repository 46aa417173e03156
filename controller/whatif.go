package controller

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// What-if: other thresholds and weights applied to the stored history
// (symbols and their scores are kept), counts per action before and
// after, the messages that change, and the TOML lines to paste. Nothing
// is applied: the file stays the source of truth.

// WhatIf is a change to try.
type WhatIf struct {
	Thresholds map[engine.Action]float64 // absent: that action off
	Weights    map[string]float64
}

// WhatIfResult is what the change would have done.
type WhatIfResult struct {
	Records int
	Before  map[string]int64
	After   map[string]int64
	Changed []WhatIfChange
	// More is how many changed records are not listed.
	More int
	TOML string
}

// WhatIfChange is a record whose action changes.
type WhatIfChange struct {
	Rec                store.HistoryRecord
	Link               string
	From, To           string
	OldScore, NewScore float64
}

const maxChangedListed = 200

// rescore is the score of rec with weights w (the rest as recorded).
func rescore(rec store.HistoryRecord, w map[string]float64) float64 {
	if len(w) == 0 || len(rec.Hits) != len(rec.Symbols) {
		return rec.Score
	}
	total := 0.0
	for i, name := range rec.Symbols {
		h := rec.Hits[i]
		nw, ok := w[name]
		if !ok {
			total += h.Score
			continue
		}
		mult := 1.0
		if h.Weight != 0 {
			mult = h.Score / h.Weight
		}
		total += nw * mult
	}
	return round2(total)
}

// decided is the action of rec under thresholds th and score sc: a
// forced or non-inbound verdict keeps its action.
func decided(rec store.HistoryRecord, th map[engine.Action]float64, sc float64) string {
	if rec.ForcedBy != "" || rec.Class != "" {
		return rec.Action
	}
	return actionFor(th, sc).String()
}

// RunWhatIf applies wi to recs under the current policy p.
func RunWhatIf(recs []store.HistoryRecord, p engine.Policy, wi WhatIf) WhatIfResult {
	res := WhatIfResult{Records: len(recs), Before: map[string]int64{}, After: map[string]int64{}}
	for _, rec := range recs {
		b := decided(rec, p.Thresholds, rec.Score)
		ns := rescore(rec, wi.Weights)
		a := decided(rec, wi.Thresholds, ns)
		res.Before[b]++
		res.After[a]++
		if a != b {
			if len(res.Changed) < maxChangedListed {
				res.Changed = append(res.Changed, WhatIfChange{Rec: rec, Link: recordLink(rec), From: b, To: a, OldScore: rec.Score, NewScore: ns})
			} else {
				res.More++
			}
		}
	}
	res.TOML = tomlLines(p, wi)
	return res
}

// tomlLines are the lines to put in the configuration for wi (only what
// differs from p).
func tomlLines(p engine.Policy, wi WhatIf) string {
	var b strings.Builder
	var acts []string
	for a := engine.Greylist; a <= engine.Reject; a++ {
		old, had := p.Thresholds[a]
		nw, has := wi.Thresholds[a]
		key := strings.ReplaceAll(a.String(), " ", "_")
		switch {
		case has && (!had || old != nw):
			acts = append(acts, fmt.Sprintf("%s = %s", key, strconv.FormatFloat(nw, 'f', -1, 64)))
		case had && !has:
			acts = append(acts, key+" = false")
		}
	}
	if len(acts) > 0 {
		b.WriteString("[actions]\n" + strings.Join(acts, "\n") + "\n")
	}
	var names []string
	for n := range wi.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("[symbols]\n")
		for _, n := range names {
			fmt.Fprintf(&b, "%s = %s\n", n, strconv.FormatFloat(wi.Weights[n], 'f', -1, 64))
		}
	}
	return b.String()
}

// ParseWeights reads "SYMBOL = 2.5" lines (or "SYMBOL 2.5").
func ParseWeights(text string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || line == "[symbols]" {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: want SYMBOL = weight", n)
			}
			name, val = f[0], f[1]
		}
		name = strings.ToUpper(strings.TrimSpace(name))
		w, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || name == "" {
			return nil, fmt.Errorf("line %d: want SYMBOL = weight", n)
		}
		out[name] = w
	}
	return out, nil
}

type whatIfData struct {
	Actions []whatIfAction
	Weights string
	Limit   int
	Error   string
	Result  *WhatIfResult
	Rows    []whatIfRow
}

type whatIfAction struct {
	Key, Name string
	Value     string
}

type whatIfRow struct {
	Action        string
	Before, After int64
	Delta         string
}

func (s *Server) whatIfPage(w http.ResponseWriter, r *http.Request) {
	p := s.src.Engine().Policy()
	q := r.URL.Query()
	d := whatIfData{Weights: q.Get("weights"), Limit: 10000}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 && n <= 1000000 {
		d.Limit = n
	}
	wi := WhatIf{Thresholds: map[engine.Action]float64{}}
	run := q.Has("run")
	for a := engine.Greylist; a <= engine.Reject; a++ {
		key := strings.ReplaceAll(a.String(), " ", "_")
		v := ""
		if t, ok := p.Thresholds[a]; ok {
			v = strconv.FormatFloat(t, 'f', -1, 64)
		}
		if run {
			v = strings.TrimSpace(q.Get(key))
		}
		if v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				d.Error = fmt.Sprintf("%s: %q is not a number (leave it empty to turn the action off)", a, v)
			} else {
				wi.Thresholds[a] = f
			}
		}
		d.Actions = append(d.Actions, whatIfAction{Key: key, Name: a.String(), Value: v})
	}
	if pol := (engine.Policy{Thresholds: wi.Thresholds}); d.Error == "" {
		if err := pol.Validate(); err != nil {
			d.Error = err.Error()
		}
	}
	var err error
	if wi.Weights, err = ParseWeights(d.Weights); err != nil && d.Error == "" {
		d.Error = "weights: " + err.Error()
	}
	if run && d.Error == "" {
		recs, err := s.src.Store.HistoryList(r.Context(), store.HistoryQuery{Limit: d.Limit})
		if err != nil {
			http.Error(w, "the store did not answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		res := RunWhatIf(recs, p, wi)
		d.Result = &res
		for _, a := range uiActions {
			b, af := res.Before[a], res.After[a]
			delta := ""
			if af != b {
				delta = fmt.Sprintf("%+d", af-b)
			}
			d.Rows = append(d.Rows, whatIfRow{a, b, af, delta})
		}
	}
	code := http.StatusOK
	if d.Error != "" {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "whatif", "What if", d)
}
