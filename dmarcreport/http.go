package dmarcreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
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
		http.Redirect(w, r, "/dmarc?flash="+url.QueryEscape(msg), http.StatusSeeOther)
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
		} else {
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

// ---- the page ----

// PageData is what the page shows.
type PageData struct {
	Domains []string
	Domain  string
	Since   string
	Periods []string
	Summary *Summary
	Chart   template.HTML
	Admin   bool
	CSRF    string
	Error   string
	Retain  string
}

var pageTmpl = template.Must(template.New("dmarc").Funcs(template.FuncMap{
	"pct": func(a, b int64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	},
	"counts": Counts,
	"join":   strings.Join,
	"first": func(l []*Source) []*Source {
		return l[:min(len(l), pageRows)]
	},
	"more": func(l []*Source) int { return max(0, len(l)-pageRows) },
}).Parse(pageHTML))

// pageRows bounds each table of sources on the page (the JSON API and
// `hamlet dmarc report --all` list them all).
const pageRows = 100

// Page renders the DMARC page for r (?domain=, ?since=) as HTML to put
// inside the controller's layout; admin shows the upload form (csrf is
// the session's token for it).
func (s *Service) Page(r *http.Request, admin bool, csrf string) template.HTML {
	q := r.URL.Query()
	d := PageData{Since: q.Get("since"), Periods: []string{"24h", "7d", "30d", "90d", "365d"}, Admin: admin, CSRF: csrf,
		Retain: s.Config().Retention.String()}
	if d.Since == "" {
		d.Since = "7d"
	}
	ds, err := s.Domains(r.Context())
	if err != nil {
		d.Error = "The store did not answer: " + err.Error()
	}
	d.Domains = ds
	d.Domain = strings.ToLower(q.Get("domain"))
	if d.Domain == "" && len(ds) > 0 {
		d.Domain = ds[0]
	}
	if d.Domain != "" && d.Error == "" {
		from, to, err := period(url.Values{"since": {d.Since}}, s.Now())
		if err != nil {
			d.Error = err.Error()
		} else if d.Summary, err = s.Summarize(r.Context(), d.Domain, from, to); err != nil {
			d.Error = err.Error()
		} else {
			d.Chart = Chart(d.Summary.Days, from, to)
		}
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		s.log.Error("dmarc reports: page", "err", err)
		return template.HTML("<p class=error>The page could not be drawn.</p>")
	}
	return template.HTML(b.String())
}

// Counts writes a map of counts as "pass 3, fail 1", largest first.
func Counts(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	l := make([]kv, 0, len(m))
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && (l[j].v > l[j-1].v || l[j].v == l[j-1].v && l[j].k < l[j-1].k); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// Chart draws pass/fail volume over time as stacked bars in SVG (no
// script): from the first day with data (or from, if later) to to, in
// buckets of one day, or of several when the span is longer than
// chartBars days.
func Chart(days []Day, from, to time.Time) template.HTML {
	const day = 24 * time.Hour
	start := from.UTC().Truncate(day)
	if len(days) > 0 && days[0].Day.After(start) {
		start = days[0].Day
	}
	span := int(to.UTC().Truncate(day).Sub(start)/day) + 1
	if span < 7 {
		start = to.UTC().Truncate(day).Add(-6 * day)
		span = 7
	}
	per := (span + chartBars - 1) / chartBars // days per bar
	n := (span + per - 1) / per
	bars := make([]Day, n)
	for i := range bars {
		bars[i].Day = start.Add(time.Duration(i*per) * day)
	}
	var top int64 = 1
	for _, d := range days {
		i := int(d.Day.Sub(start)/day) / per
		if i < 0 || i >= n {
			continue
		}
		bars[i].Pass += d.Pass
		bars[i].Fail += d.Fail
		top = max(top, bars[i].Pass+bars[i].Fail)
	}
	const W, H, pad = 800.0, 180.0, 34.0
	bw := (W - pad) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="messages per %d day(s): pass and fail">`, W, H+pad, per)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="currentColor" stroke-opacity=".3"/>`, pad, H, W, H)
	fmt.Fprintf(&b, `<text x="0" y="12" font-size="11" fill="currentColor">%d</text><text x="0" y="%.0f" font-size="11" fill="currentColor">0</text>`, top, H)
	label := "2006-01-02"
	for i, d := range bars {
		x := pad + float64(i)*bw
		hp := H * float64(d.Pass) / float64(top)
		hf := H * float64(d.Fail) / float64(top)
		w := max(bw*0.85, 1)
		what := d.Day.Format(label)
		if per > 1 {
			what += " + " + strconv.Itoa(per-1) + " days"
		}
		fmt.Fprintf(&b, `<g><title>%s: %d pass, %d fail</title>`, what, d.Pass, d.Fail)
		// An invisible full-height bar, so that the title shows anywhere.
		fmt.Fprintf(&b, `<rect x="%.1f" y="0" width="%.1f" height="%.0f" fill="transparent"/>`, x, w, H)
		if d.Pass > 0 {
			fmt.Fprintf(&b, `<rect class="pass" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3f9b4f"/>`, x, H-hp, w, max(hp, 1))
		}
		if d.Fail > 0 {
			fmt.Fprintf(&b, `<rect class="fail" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d33a2c"/>`, x, H-hp-hf, w, max(hf, 1))
		}
		b.WriteString(`</g>`)
		if i%max(1, n/7) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" fill="currentColor">%s</text>`, x, H+15, d.Day.Format("2006-01-02"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartBars bounds the bars of the chart.
const chartBars = 90

const pageHTML = `<style>.nowrap{white-space:nowrap}</style><h1>DMARC reports</h1>
{{if .Error}}<p class="flash bad">{{.Error}}</p>{{end}}
<div class="card row">
<form method="get" action="/dmarc" class="row">
<label>Domain <select name="domain">{{range .Domains}}<option{{if eq . $.Domain}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<input type="hidden" name="since" value="{{.Since}}"><button type="submit">Show</button>
</form>
<nav class="periods row">{{range .Periods}}<a href="/dmarc?domain={{$.Domain}}&amp;since={{.}}"{{if eq . $.Since}} aria-current="page"{{end}}>{{.}}</a>{{end}}</nav>
</div>
{{if not .Domains}}<p class="card">No reports yet. Publish <code>rua=mailto:…</code> in your DMARC record, list that address in <code>[dmarc.reports] addresses</code>, or import old reports with <code>hamlet dmarc import</code>.</p>{{end}}
{{with .Summary}}
<div class="tiles">
<div class="tile"><b>{{.Reports}}</b><small>reports</small></div>
<div class="tile"><b>{{.Messages}}</b><small>messages</small></div>
<div class="tile" style="--c:var(--noaction)"><b>{{.Pass}}</b><small>pass DMARC ({{pct .Pass .Messages}})</small></div>
<div class="tile" style="--c:var(--reject)"><b>{{.Fail}}</b><small>fail DMARC</small></div>
<div class="tile"><b>{{len .Sources}}</b><small>source addresses</small></div>
</div>
<div class="card chart"><h2>Messages per day</h2>{{$.Chart}}
<div class="legend"><span><i style="background:#3f9b4f"></i>pass</span><span><i style="background:#d33a2c"></i>fail</span></div></div>
<div class="card" id="foreign"><h2>Sending as {{.Domain}} and failing — not yours ({{len .ForeignFailing}})</h2>
<p class="hint">Spoofing, or forwarding that broke authentication. With p=reject these are refused.</p>
{{template "srcs" .ForeignFailing}}</div>
<div class="card" id="own"><h2>Your own servers that fail ({{len .OwnFailing}})</h2>
<p class="hint">Yours by own_networks, a forward-confirmed PTR name in your domain, or a DKIM/SPF pass for your domain that did not align — fix their SPF or DKIM before tightening the policy.</p>
{{template "srcs" .OwnFailing}}</div>
<div class="card"><h2>Reporters</h2><table><thead><tr><th>organisation</th><th class="num">reports</th><th class="num">messages</th></tr></thead><tbody>
{{range .Reporters}}<tr><td>{{.Org}}</td><td class="num">{{.Reports}}</td><td class="num">{{.Messages}}</td></tr>{{end}}</tbody></table></div>
<div class="card" id="sources"><h2>All sources ({{len .Sources}})</h2>{{template "srcs" .Sources}}</div>
{{end}}
{{if .Admin}}<div class="card"><h2>Upload a report</h2>
<form method="post" action="/api/dmarc/reports" enctype="multipart/form-data" class="row">
<input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="file" name="file" required>
<button type="submit">Upload</button></form>
<p class="hint">XML, .xml.gz, .zip or a report mail (.eml). Reports are kept {{.Retain}}; one sent twice is stored once.</p></div>{{end}}
{{define "srcs"}}{{if not .}}<p class="muted">none</p>{{else}}<div class="scroll"><table><thead><tr><th>source</th><th>PTR</th><th class="num">messages</th><th class="num">fail</th><th>SPF</th><th>DKIM</th><th class="hide-s">raw results</th><th>disposition</th><th class="hide-s">reporters</th></tr></thead><tbody>
{{range first .}}<tr><td class="mono">{{.IP}}{{if .Own}} <span class="badge a-no-action" title="{{.OwnWhy}}">own</span>{{end}}</td><td>{{if .PTR}}{{.PTR}}{{if not .PTRConfirmed}} <span class="muted" title="does not resolve back to the address (not forward-confirmed)">?</span>{{end}}{{else}}<span class="muted">–</span>{{end}}</td><td class="num">{{.Messages}}</td><td class="num">{{.Fail}}</td><td class="nowrap">{{counts .SPF}}</td><td class="nowrap">{{counts .DKIM}}</td><td class="hide-s mono">{{counts .AuthSPF}}<br>{{counts .AuthDKIM}}</td><td class="nowrap">{{counts .Dispositions}}</td><td class="hide-s">{{join .Reporters ", "}}</td></tr>{{end}}
</tbody></table></div>{{with more .}}<p class="hint">… and {{.}} more (the JSON API at /api/dmarc/summary lists all).</p>{{end}}{{end}}{{end}}`
