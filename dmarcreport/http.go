package dmarcreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/controller"
)

// The JSON API, mounted on the controller by the daemon:
//
//	GET  /api/dmarc/domains                         the policy domains with reports
//	GET  /api/dmarc/summary?domain=D&since=7d       a Summary (or from=, to= as RFC 3339 or 2006-01-02)
//	GET  /api/dmarc/reports?domain=D&since=7d       the reports' metadata
//	POST /api/dmarc/reports                         upload: the body is a report file or
//	                                                mail (or a multipart form with "file")
//	POST /api/dmarc/send[?flush=1]                  send the own reports that are due now
//	                                                (flush: the current period's too)

// period reads since= or from=/to= (default: the last 7 days).
func period(q url.Values, now time.Time) (from, to time.Time, err error) {
	to = now.UTC()
	parse := func(s string) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC(), nil
		}
		return time.Parse("2006-01-02", s)
	}
	if v := q.Get("to"); v != "" {
		if to, err = parse(v); err != nil {
			return from, to, fmt.Errorf("to=%q: want RFC 3339 or YYYY-MM-DD", v)
		}
	}
	if v := q.Get("from"); v != "" {
		if from, err = parse(v); err != nil {
			return from, to, fmt.Errorf("from=%q: want RFC 3339 or YYYY-MM-DD", v)
		}
		return from, to, nil
	}
	since := q.Get("since")
	if since == "" {
		since = "7d"
	}
	var d duration.Duration
	if err := d.UnmarshalText([]byte(since)); err != nil || d <= 0 {
		return from, to, fmt.Errorf("since=%q: want e.g. 24h, 7d, 90d", since)
	}
	return to.Add(-d.D()), to, nil
}

// domainPeriod reads the domain= and period parameters of a GET; a
// problem is answered with 400 and ok false.
func (s *Service) domainPeriod(w http.ResponseWriter, r *http.Request) (dom string, from, to time.Time, ok bool) {
	q := r.URL.Query()
	if dom = q.Get("domain"); dom == "" {
		jsonError(w, http.StatusBadRequest, "domain= is required")
		return "", from, to, false
	}
	from, to, err := period(q, s.Now())
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return "", from, to, false
	}
	return dom, from, to, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// HandleDomains serves GET /api/dmarc/domains.
func (s *Service) HandleDomains(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Domains(r.Context())
	if err != nil {
		s.log.Error("dmarc reports: domains", "err", err)
		jsonError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	if ds == nil {
		ds = []string{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// HandleSummary serves GET /api/dmarc/summary.
func (s *Service) HandleSummary(w http.ResponseWriter, r *http.Request) {
	dom, from, to, ok := s.domainPeriod(w, r)
	if !ok {
		return
	}
	sum, err := s.Summarize(r.Context(), dom, from, to)
	if err != nil {
		s.log.Error("dmarc reports: summary", "err", err)
		jsonError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// ReportInfo is a stored report without its rows.
type ReportInfo struct {
	Org      string    `json:"org"`
	ReportID string    `json:"report_id"`
	Domain   string    `json:"domain"`
	Begin    time.Time `json:"begin"`
	End      time.Time `json:"end"`
	Records  int       `json:"records"`
	Messages int64     `json:"messages"`
	Warnings []string  `json:"warnings,omitempty"`
}

// HandleReports serves GET /api/dmarc/reports.
func (s *Service) HandleReports(w http.ResponseWriter, r *http.Request) {
	dom, from, to, ok := s.domainPeriod(w, r)
	if !ok {
		return
	}
	rs, err := s.Reports(r.Context(), strings.ToLower(dom), from, to)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	out := make([]ReportInfo, 0, len(rs))
	for _, x := range rs {
		out = append(out, ReportInfo{x.Org, x.ReportID, x.Policy.Domain, x.Begin, x.End, len(x.Records), x.Messages(), x.Warnings})
	}
	writeJSON(w, http.StatusOK, out)
}

// HandleUpload serves POST /api/dmarc/reports (admin): the body is a
// report (XML, gzip, zip) or a mail carrying one, or a multipart form
// whose "file" field is. It answers 200 with the IngestResult, 400 when
// nothing in it could be read, 413 when it is too large. A browser's
// form (Accept: text/html) is sent back to the page with the outcome.
func (s *Service) HandleUpload(w http.ResponseWriter, r *http.Request) {
	max := s.Limits().MaxInput
	r.Body = http.MaxBytesReader(w, r.Body, max+1<<20)
	var data []byte
	var err error
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/form-data") {
		var f io.ReadCloser
		f, _, err = r.FormFile("file")
		if err == nil {
			data, err = io.ReadAll(io.LimitReader(f, max+1))
			f.Close()
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(r.Body, max+1))
	}
	html := strings.Contains(r.Header.Get("Accept"), "text/html")
	back := func(msg string) {
		controller.RedirectFlash(w, r, "/dmarc", msg)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(data)) > max {
		if html {
			back("error: the file is larger than " + strconv.FormatInt(max>>20, 10) + " MiB")
			return
		}
		jsonError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("larger than %d bytes", max))
		return
	}
	if err != nil {
		if html {
			back("error: " + err.Error())
			return
		}
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.Ingest(r.Context(), data)
	if err != nil && res.Reports+res.Duplicates == 0 {
		code := http.StatusBadRequest
		if errors.Is(err, ErrTooLarge) {
			code = http.StatusRequestEntityTooLarge
		} else if !errors.Is(err, ErrNotReport) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRefused) {
			s.log.Error("dmarc reports: upload", "err", err)
			code = http.StatusServiceUnavailable
		}
		if html {
			back("error: " + err.Error())
			return
		}
		writeJSON(w, code, struct {
			IngestResult
			Error string `json:"error"`
		}{res, err.Error()})
		return
	}
	s.log.Info("dmarc reports: uploaded", "reports", res.Reports, "duplicates", res.Duplicates, "records", res.Records, "domains", res.Domains)
	if html {
		back(fmt.Sprintf("%d new reports (%d records, %d messages), %d duplicates", res.Reports, res.Records, res.Messages, res.Duplicates))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// HandleSend serves POST /api/dmarc/send (admin): the reports whose
// period is over are sent now, with flush=1 those of the current period
// too, cut at this instant (Flush; c is the collector of this process).
// It answers {"sent": N}, with "error" when a report could not be sent
// (its data is kept for the next round); 409 when sending is off.
func (s *Sender) HandleSend(c *Collector) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.config().Enabled {
			jsonError(w, http.StatusConflict, "sending reports is off ([dmarc.reports.send] enabled = false)")
			return
		}
		var n int
		var err error
		if f := r.URL.Query().Get("flush"); f == "1" || f == "true" {
			n, err = s.Flush(r.Context(), c)
		} else if err = c.Sync(r.Context()); err == nil {
			n, err = s.SendDue(r.Context())
		}
		out := map[string]any{"sent": n}
		if err != nil {
			s.log.Warn("dmarc reports: sending on request", "sent", n, "err", err)
			out["error"] = err.Error()
		}
		writeJSON(w, http.StatusOK, out)
	}
}
