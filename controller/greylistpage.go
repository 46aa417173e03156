package controller

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

// greylistPageMax bounds the entries the greylist page reads from the
// store, and greylistPageRows the rows it shows of each kind.
const (
	greylistPageMax  = 100000
	greylistPageRows = 200
)

type greylistRow struct {
	store.GreylistEntry
	State string
	// Retry says when the sender gets through: for a waiting triplet
	// the time its retry passes from ("now" once the delay is over),
	// for a passed one when it passed.
	Retry string
}

// retryText is a triplet's Retry at now with the greylisting delay.
func retryText(e store.GreylistEntry, delay time.Duration, now time.Time) string {
	if !e.Waiting() {
		return "passed " + e.Passed.Local().Format("Jan 02 15:04")
	}
	if at := e.FirstSeen.Add(delay); at.After(now) {
		return "from " + at.Local().Format("Jan 02 15:04:05")
	}
	return "now"
}

type greylistData struct {
	Q                     string
	Grey                  []greylistRow
	Allow                 []store.AllowEntry
	GreyTotal, AllowTotal int // matching entries (before greylistPageRows)
	GreyShown, AllowShown int
	Waiting, Passed       int
	Back                  string
	Truncated             bool
	Error                 string
}

// greylistPage lists the greylist triplets and the allowlist, filtered
// by a substring of their keys, with a drop button on each entry and a
// form that adds an allowlist entry.
func (s *Server) greylistPage(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	d := greylistData{Q: q, Back: r.URL.RequestURI()}
	g := s.src.Greylist()
	cfg := g.Config()
	delay, now := cfg.Delay.D(), s.opts.Now()
	l, err := g.List(r.Context(), greylistPageMax)
	if err != nil {
		d.Error = "the store did not answer: " + err.Error()
		s.render(w, r, http.StatusServiceUnavailable, "greylist", "Greylist", d)
		return
	}
	d.Truncated = len(l.Greylist) >= greylistPageMax || len(l.Allow) >= greylistPageMax
	match := func(key string) bool { return q == "" || strings.Contains(strings.ToLower(key), q) }
	for _, e := range l.Greylist {
		if !match(e.Key) {
			continue
		}
		d.GreyTotal++
		st := "passed"
		if e.Waiting() {
			st = "waiting"
			d.Waiting++
		} else {
			d.Passed++
		}
		if len(d.Grey) < greylistPageRows {
			d.Grey = append(d.Grey, greylistRow{GreylistEntry: e, State: st, Retry: retryText(e, delay, now)})
		}
	}
	// The newest attempts first: that is the one a postmaster looks for.
	slices.SortStableFunc(d.Grey, func(a, b greylistRow) int { return b.LastSeen.Compare(a.LastSeen) })
	for _, e := range l.Allow {
		if !match(e.Key) && !match(e.Reason) {
			continue
		}
		d.AllowTotal++
		if len(d.Allow) < greylistPageRows {
			d.Allow = append(d.Allow, e)
		}
	}
	d.GreyShown, d.AllowShown = len(d.Grey), len(d.Allow)
	s.render(w, r, http.StatusOK, "greylist", "Greylist", d)
}

// greylistKeys are the greylist keys the transaction of rec may have
// left (see greylist.Key): its subject is the client's network, or the
// SPF-authenticated domain (the envelope sender's, or the HELO name's
// for a null sender). Without the addresses (hashed history) there are
// none.
func greylistKeys(rec store.HistoryRecord) []string {
	if !slices.Contains(rec.Symbols, "GREYLIST") || strings.HasPrefix(rec.From, "h:") {
		return nil
	}
	var subjects []string
	if ip, err := netip.ParseAddr(rec.ClientIP); err == nil {
		subjects = append(subjects, greylist.Subject(ip.Unmap(), ""))
	}
	if _, d, ok := strings.Cut(rec.From, "@"); ok && d != "" {
		subjects = append(subjects, "spf:"+strings.ToLower(d))
	} else if rec.From == "" && rec.Helo != "" {
		subjects = append(subjects, "spf:"+strings.ToLower(strings.TrimSuffix(rec.Helo, ".")))
	}
	rcpts := rec.RcptList
	if len(rcpts) == 0 {
		rcpts = []string{""}
	}
	sender := greylist.NormalizeSender(rec.From)
	var out []string
	for _, sub := range subjects {
		for _, rc := range rcpts {
			if strings.HasPrefix(rc, "h:") {
				continue
			}
			k := greylist.Key(sub, sender, greylist.NormalizeRcpt(rc))
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}
