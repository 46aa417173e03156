package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// HistoryFilter selects history records for the history page and
// `hamlet why`. Empty fields match everything.
type HistoryFilter struct {
	QueueID string
	// Addr matches the envelope sender or a recipient, case-insensitively:
	// a whole address ("bob@example.org") or domain ("@example.org") by
	// the history index, anything else as a substring (a scan).
	Addr string
	// IP is an address or a network ("192.0.2.0/24").
	IP string
	// Action is an action as the UI shows it (shownAction): "greylisted"
	// finds the messages greylisting deferred, "soft reject" the other
	// soft rejects.
	Action string
	Symbol string
	// From and To bound the time (To exclusive).
	From, To time.Time
}

// ErrBadFilter is a filter that cannot be parsed.
var ErrBadFilter = errors.New("bad filter")

// ParseHistoryFilter reads a filter from URL query values (qid, addr, ip,
// action, symbol, from, to; times as "2006-01-02T15:04" local time or
// Unix seconds).
func ParseHistoryFilter(v url.Values) (HistoryFilter, error) {
	f := HistoryFilter{
		QueueID: strings.TrimSpace(v.Get("qid")), Addr: strings.TrimSpace(v.Get("addr")),
		IP: strings.TrimSpace(v.Get("ip")), Action: strings.TrimSpace(v.Get("action")),
		Symbol: strings.ToUpper(strings.TrimSpace(v.Get("symbol"))),
	}
	switch a, ok := engine.ParseAction(f.Action); {
	case f.Action == "":
	case strings.EqualFold(f.Action, actGreylisted):
		f.Action = actGreylisted
	case !ok:
		return f, fmt.Errorf("%w: action %q", ErrBadFilter, f.Action)
	default:
		f.Action = a.String()
	}
	if f.IP != "" {
		if _, err := parseIPFilter(f.IP); err != nil {
			return f, fmt.Errorf("%w: ip %q is not an address or network", ErrBadFilter, f.IP)
		}
	}
	var err error
	if f.From, err = parseTime(v.Get("from")); err != nil {
		return f, err
	}
	if f.To, err = parseTime(v.Get("to")); err != nil {
		return f, err
	}
	return f, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: time %q (want 2006-01-02T15:04)", ErrBadFilter, s)
}

func parseIPFilter(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
}

// Empty reports whether f matches everything.
func (f HistoryFilter) Empty() bool { return f == HistoryFilter{} }

// Values are f as URL query values.
func (f HistoryFilter) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("qid", f.QueueID)
	set("addr", f.Addr)
	set("ip", f.IP)
	set("action", f.Action)
	set("symbol", f.Symbol)
	if !f.From.IsZero() {
		v.Set("from", f.From.Local().Format("2006-01-02T15:04"))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.Local().Format("2006-01-02T15:04"))
	}
	return v
}

// jsonSafe reports whether s appears unchanged in encoding/json output.
func jsonSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// asciiLower is s, ASCII only (jsonSafe), in lower case: a Fold needle.
func asciiLower(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return b
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFold reports whether sub is within s under strings.EqualFold:
// some run of s with as many runes as sub is EqualFold to it.
func containsFold(s, sub string) bool {
	if isASCII(s) && isASCII(sub) {
		// Only ASCII letters fold with ASCII letters then.
	next:
		for i := 0; i+len(sub) <= len(s); i++ {
			for j := 0; j < len(sub); j++ {
				if lowerASCII(s[i+j]) != lowerASCII(sub[j]) {
					continue next
				}
			}
			return true
		}
		return false
	}
	n := utf8.RuneCountInString(sub)
	for i := 0; ; {
		j, k := i, 0
		for ; k < n && j < len(s); k++ {
			_, w := utf8.DecodeRuneInString(s[j:])
			j += w
		}
		if k < n {
			return false
		}
		if strings.EqualFold(s[i:j], sub) {
			return true
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
}

// Query turns f into a store query (needles for the store's cheap
// pre-filter, then an exact Match). hashKey, when set, is the key
// addresses are hashed with in the history.
func (f HistoryFilter) Query(before time.Time, limit int, hashKey []byte) store.HistoryQuery {
	q := store.HistoryQuery{Before: before, After: f.From, Limit: limit}
	if !f.To.IsZero() && (q.Before.IsZero() || f.To.Before(q.Before)) {
		q.Before = f.To
	}
	var tests []func(*store.HistoryRecord) bool
	term := func(t string) {
		if t != "" {
			q.Terms = append(q.Terms, t)
		}
	}
	if f.QueueID != "" {
		if jsonSafe(f.QueueID) {
			q.Needles = append(q.Needles, store.Needle{Bytes: asciiLower(f.QueueID), Fold: true})
		}
		term(store.TermQueueID(f.QueueID))
		tests = append(tests, func(r *store.HistoryRecord) bool { return strings.EqualFold(r.QueueID, f.QueueID) })
	}
	if f.Action != "" {
		// The record's action: "greylisted" is a soft reject with
		// GREYLIST (the index has both terms).
		act := f.Action
		if act == actGreylisted {
			act = "soft reject"
			q.Needles = append(q.Needles, store.Needle{Bytes: []byte(`"greylisted"`)})
			term(store.TermSymbol("GREYLIST"))
		}
		q.Needles = append(q.Needles, store.Needle{Bytes: []byte(`"action":"` + act + `"`)})
		term(store.TermAction(act))
		tests = append(tests, func(r *store.HistoryRecord) bool { return shownAction(r) == f.Action })
	}
	if f.Symbol != "" {
		if jsonSafe(f.Symbol) {
			q.Needles = append(q.Needles, store.Needle{Bytes: []byte(`"` + f.Symbol + `"`)})
		}
		term(store.TermSymbol(f.Symbol))
		tests = append(tests, func(r *store.HistoryRecord) bool { return slices.Contains(r.Symbols, f.Symbol) })
	}
	if f.IP != "" {
		p, _ := parseIPFilter(f.IP)
		switch {
		case p.IsSingleIP():
			q.Needles = append(q.Needles, store.Needle{Bytes: []byte(`"client_ip":"` + p.Addr().String() + `"`)})
		case p.Addr().Is4() && p.Bits()%8 == 0 && p.Bits() > 0:
			// 192.0.2.0/24 → records whose address starts "192.0.2."
			b := p.Addr().As4()
			pre := ""
			for i := 0; i < p.Bits()/8; i++ {
				pre += strconv.Itoa(int(b[i])) + "."
			}
			q.Needles = append(q.Needles, store.Needle{Bytes: []byte(`"client_ip":"` + pre)})
		}
		term(store.NetTerm(p))
		tests = append(tests, func(r *store.HistoryRecord) bool {
			ip, err := netip.ParseAddr(r.ClientIP)
			return err == nil && p.Contains(ip.Unmap())
		})
	}
	if f.Addr != "" {
		// Not lower-cased here: the index terms fold as strings.EqualFold
		// does, and so must every match, which strings.ToLower does not
		// ('İ' would become "i", 'ſ' would not become "s").
		needle := f.Addr
		if hashKey != nil && strings.Contains(needle, "@") && !strings.HasPrefix(needle, "@") {
			needle = recorder.HashAddress(hashKey, needle)
		}
		if jsonSafe(needle) {
			q.Needles = append(q.Needles, store.Needle{Bytes: asciiLower(needle), Fold: true})
		}
		match := func(a string) bool { return containsFold(a, needle) }
		switch at := strings.LastIndexByte(needle, '@'); {
		case at == 0 && len(needle) > 1:
			// A domain: the addresses in it.
			d := needle[1:]
			term(store.TermDomain(d))
			match = func(a string) bool {
				i := strings.LastIndexByte(a, '@')
				return i >= 0 && strings.EqualFold(strings.TrimSuffix(a[i+1:], "."), strings.TrimSuffix(d, "."))
			}
		case at > 0 && at < len(needle)-1:
			term(store.TermAddr(needle))
			match = func(a string) bool { return strings.EqualFold(a, needle) }
		}
		tests = append(tests, func(r *store.HistoryRecord) bool {
			return match(r.From) || slices.ContainsFunc(r.RcptList, match)
		})
	}
	if len(tests) > 0 {
		q.Match = func(r *store.HistoryRecord) bool {
			for _, t := range tests {
				if !t(r) {
					return false
				}
			}
			return true
		}
	}
	return q
}

// pageSize is the history page's length.
const pageSize = 50

type historyRow struct {
	store.HistoryRecord
	Link  string
	Fixes []Fix
	// Syms are the symbols in the order the list shows them.
	Syms []listSymbol
}

// listSymbol is a symbol as the history list shows it.
type listSymbol struct {
	Name  string
	Score float64
	// Forcing: it forced the action whatever the score.
	Forcing bool
	// Zero: the record has its score and it counted nothing.
	Zero bool
}

// listSymbols orders rec's symbols so that the list answers "why this
// action?": the symbol that forced it first, then the scoring ones by the
// size of their effect (ties in name order), the ones that counted nothing
// last. An older record without scores keeps its order after the forcing
// symbol.
func listSymbols(rec store.HistoryRecord) []listSymbol {
	out := make([]listSymbol, 0, len(rec.Symbols))
	scored := len(rec.Hits) == len(rec.Symbols)
	for i, name := range rec.Symbols {
		l := listSymbol{Name: name, Forcing: name == rec.ForcedBy}
		if scored {
			l.Score = rec.Hits[i].Score
			l.Zero = l.Score == 0 && !l.Forcing
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b listSymbol) int {
		switch {
		case a.Forcing != b.Forcing:
			if a.Forcing {
				return -1
			}
			return 1
		case a.Zero != b.Zero:
			if b.Zero {
				return -1
			}
			return 1
		case !scored:
			return 0
		}
		if c := cmp.Compare(math.Abs(b.Score), math.Abs(a.Score)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

type historyData struct {
	Filter  HistoryFilter
	FromStr string
	ToStr   string
	Rows    []historyRow
	Older   string
	Newer   bool
	Error   string
	Actions []string
	// CanFix: the caller is an admin and there is a greylist to change;
	// Back is this page, where a fix button returns.
	CanFix bool
	Back   string
}

// FindHistory returns a page of records matching f, older than before.
func (s *Server) FindHistory(ctx context.Context, f HistoryFilter, before time.Time, limit int) ([]store.HistoryRecord, error) {
	return s.src.Store.HistoryList(ctx, f.Query(before, limit, s.src.HashKey))
}

func recordLink(r store.HistoryRecord) string {
	return "/mail/" + url.PathEscape(r.ID) + "?t=" + strconv.FormatInt(r.Time.UnixMilli(), 10)
}

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := historyData{Actions: shownActions, CanFix: WhoFrom(r).Level >= Admin && s.src.Greylist != nil, Back: r.URL.RequestURI()}
	f, err := ParseHistoryFilter(q)
	d.Filter = f
	if !f.From.IsZero() {
		d.FromStr = f.From.Local().Format("2006-01-02T15:04")
	}
	if !f.To.IsZero() {
		d.ToStr = f.To.Local().Format("2006-01-02T15:04")
	}
	if err != nil {
		d.Error = err.Error()
		s.render(w, r, http.StatusBadRequest, "history", "History", d)
		return
	}
	var before time.Time
	if b := q.Get("before"); b != "" {
		ms, err := strconv.ParseInt(b, 10, 64)
		if err != nil {
			d.Error = "bad page cursor"
			s.render(w, r, http.StatusBadRequest, "history", "History", d)
			return
		}
		before = time.UnixMilli(ms)
		d.Newer = true
	}
	recs, err := s.FindHistory(r.Context(), f, before, pageSize+1)
	if err != nil {
		http.Error(w, "the store did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if len(recs) > pageSize {
		recs = recs[:pageSize]
		v := f.Values()
		v.Set("before", strconv.FormatInt(recs[len(recs)-1].Time.UnixMilli(), 10))
		d.Older = "/mail?" + v.Encode()
	}
	for _, rec := range recs {
		row := historyRow{HistoryRecord: rec, Link: recordLink(rec), Syms: listSymbols(rec)}
		if d.CanFix {
			row.Fixes = fixesFor(rec)
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "history", "History", d)
}

// findRecord finds the record id; t (Unix ms), when known, makes it a
// seek instead of a scan.
func (s *Server) findRecord(ctx context.Context, id string, t int64) (store.HistoryRecord, bool, error) {
	q := store.HistoryQuery{Limit: 1, Match: func(r *store.HistoryRecord) bool { return r.ID == id }}
	if jsonSafe(id) {
		q.Needles = []store.Needle{{Bytes: []byte(`"id":"` + id + `"`)}}
	}
	if t > 0 {
		q.After, q.Before = time.UnixMilli(t), time.UnixMilli(t+1)
	}
	recs, err := s.src.Store.HistoryList(ctx, q)
	if err != nil || len(recs) == 0 {
		return store.HistoryRecord{}, false, err
	}
	return recs[0], true, nil
}

func (s *Server) detailPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, _ := strconv.ParseInt(r.URL.Query().Get("t"), 10, 64)
	rec, ok, err := s.findRecord(r.Context(), id, t)
	if err != nil {
		http.Error(w, "the store did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if !ok {
		s.render(w, r, http.StatusNotFound, "detail", "Not found", detailData{Missing: true})
		return
	}
	ex := Explain(rec, s.src.Engine())
	s.render(w, r, http.StatusOK, "detail", "Message "+rec.QueueID, detailData{Rec: rec, Ex: ex, Fixes: fixesFor(rec), Back: r.URL.Path + "?t=" + strconv.FormatInt(rec.Time.UnixMilli(), 10)})
}

type detailData struct {
	Rec     store.HistoryRecord
	Ex      Explanation
	Fixes   []Fix
	Back    string
	Missing bool
}

// WhyAnswer is GET /api/why's answer: the records of a queue id (newest
// first, at most 20) with their explanations.
type WhyAnswer struct {
	Records []WhyRecord `json:"records"`
}

// WhyRecord is one explained record.
type WhyRecord struct {
	Record      store.HistoryRecord `json:"record"`
	Explanation Explanation         `json:"explanation"`
}

func (s *Server) apiWhy(w http.ResponseWriter, r *http.Request) {
	f, err := ParseHistoryFilter(r.URL.Query())
	if err != nil || f.QueueID == "" {
		writeErr(w, http.StatusBadRequest, "want ?qid=QUEUEID")
		return
	}
	recs, err := s.FindHistory(r.Context(), f, time.Time{}, 20)
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	ans := WhyAnswer{Records: []WhyRecord{}}
	for _, rec := range recs {
		ans.Records = append(ans.Records, WhyRecord{rec, Explain(rec, s.src.Engine())})
	}
	writeJSON(w, http.StatusOK, ans)
}
