package dmarcreport

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PageData is what the DMARC page shows.
type PageData struct {
	Domains []string
	Domain  string
	Since   string
	Periods []string
	Summary *Summary
	// Chart and ChartNarrow are the chart drawn for a desktop's width
	// and a phone's.
	Chart, ChartNarrow template.HTML
	// Foreign, Own and All are the summary's lists of sources as drawn.
	Foreign, Own, All []SourceView
	// Biggest is the failing source not ours that sent the most.
	Biggest *SourceView
	Admin   bool
	CSRF    string
	Error   string
	Retain  string
}

// SourceView is a source with the widths of its bar: its messages as a
// share of the biggest source's, passing and failing.
type SourceView struct {
	*Source
	PassW, FailW string
	// Raw are its authentication results in Authentication-Results
	// words (spf=pass smtp.mailfrom=…, dkim=pass header.d=…).
	Raw []string
}

func views(l []*Source, biggest int64) []SourceView {
	out := make([]SourceView, 0, min(len(l), pageRows))
	for _, s := range l[:min(len(l), pageRows)] {
		w := func(n int64) string {
			return strconv.FormatFloat(100*float64(n)/float64(max(biggest, 1)), 'f', 2, 64)
		}
		v := SourceView{Source: s, PassW: w(s.Pass), FailW: w(s.Fail)}
		v.Raw = append(raw("spf", "smtp.mailfrom", s.AuthSPF), raw("dkim", "header.d", s.AuthDKIM)...)
		out = append(out, v)
	}
	return out
}

// raw writes "result domain" counts as "method=result prop=domain",
// most messages first.
func raw(method, prop string, m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		res, dom, _ := strings.Cut(k, " ")
		s := method + "=" + res
		if dom != "" {
			s += " " + prop + "=" + dom
		}
		if len(m) > 1 {
			s += " (" + num(m[k]) + ")"
		}
		out = append(out, s)
	}
	return out
}

// num writes n with thousands separators: 28,322.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// tally writes counts as "pass" when all are one word, else
// "pass 10, fail 5", largest first.
func tally(m map[string]int64) string {
	if len(m) == 1 {
		for k := range m {
			return k
		}
	}
	return Counts(m)
}

var pageTmpl = template.Must(template.New("dmarc").Funcs(template.FuncMap{
	"pct": func(a, b int64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	},
	"num": num,
	"share": func(a, b int64) string {
		switch p := 100 * float64(a) / float64(max(b, 1)); {
		case p > 0 && p < 1:
			return "<1%"
		case p > 99 && p < 100:
			return ">99%"
		default:
			return fmt.Sprintf("%.0f%%", p)
		}
	},
	"int64": func(i int) int64 { return int64(i) },
	"tally": tally,
	"join":  strings.Join,
	"more":  func(l []*Source) int { return max(0, len(l)-pageRows) },
	"reporters": func(l []string) string {
		if len(l) <= 3 {
			return strings.Join(l, ", ")
		}
		return strings.Join(l[:3], ", ") + fmt.Sprintf(" +%d", len(l)-3)
	},
}).Parse(pageHTML))

// pageRows bounds each list of sources on the page (the JSON API and
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
			d.Chart, d.ChartNarrow = Chart(d.Summary.Days, from, to, 800), Chart(d.Summary.Days, from, to, 400)
			var biggest int64
			for _, src := range d.Summary.Sources {
				biggest = max(biggest, src.Messages)
			}
			d.Foreign, d.Own, d.All = views(d.Summary.ForeignFailing, biggest), views(d.Summary.OwnFailing, biggest), views(d.Summary.Sources, biggest)
			if len(d.Foreign) > 0 {
				d.Biggest = &d.Foreign[0]
			}
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
	slices.SortFunc(l, func(a, b kv) int {
		if c := cmp.Compare(b.v, a.v); c != 0 {
			return c
		}
		return strings.Compare(a.k, b.k)
	})
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.k + " " + num(e.v)
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// Chart draws pass/fail volume over time as stacked bars in SVG (no
// script): from the first day with data (or from, if later) to to, in
// buckets of one day, or of several when the span is longer than
// chartBars days. The scale has round ticks with grid lines; W is the
// drawing's width in units of the 11-unit labels (800 for a desktop, 400
// for a phone: the labels stay legible when the SVG is scaled to the
// screen).
func Chart(days []Day, from, to time.Time, W float64) template.HTML {
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
	var most int64
	for _, d := range days {
		i := int(d.Day.Sub(start)/day) / per
		if i < 0 || i >= n {
			continue
		}
		bars[i].Pass += d.Pass
		bars[i].Fail += d.Fail
		most = max(most, bars[i].Pass+bars[i].Fail)
	}
	step := tickStep(most)
	top := 4 * step
	font := 11.0
	if W < 600 {
		font = 14 // drawn narrow to be shown on a phone, scaled about 0.85
	}
	left, bottom := 4.2*font, 1.8*font
	const H = 180.0
	bw := (W - left) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" aria-label="messages per %d day(s): pass and fail">`, W, H+bottom+6, per)
	for i := int64(0); i <= 4; i++ {
		y := 6 + H - H*float64(i*step)/float64(top)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="currentColor" stroke-opacity="%s"/>`, left, y, W, y, map[bool]string{true: ".35", false: ".1"}[i == 0])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="%.0f" fill="currentColor" fill-opacity=".7" text-anchor="end">%s</text>`, left-6, y+font/3, font, num(i*step))
	}
	label := "2006-01-02"
	labels := int(W / (10 * font)) // a label needs ~10 font sizes
	every := max(1, (n+labels-1)/labels)
	for i, d := range bars {
		x := left + float64(i)*bw
		hp := H * float64(d.Pass) / float64(top)
		hf := H * float64(d.Fail) / float64(top)
		w := max(bw*0.8, 1)
		what := d.Day.Format(label)
		if per > 1 {
			what += " + " + strconv.Itoa(per-1) + " days"
		}
		fmt.Fprintf(&b, `<g><title>%s: %s pass, %s fail</title>`, what, num(d.Pass), num(d.Fail))
		// An invisible full-height bar, so that the title shows anywhere.
		fmt.Fprintf(&b, `<rect x="%.1f" y="6" width="%.1f" height="%.0f" fill="transparent"/>`, x, w, H)
		if d.Pass > 0 {
			fmt.Fprintf(&b, `<rect class="pass" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#3f9b4f"/>`, x, 6+H-hp, w, max(hp, 1))
		}
		if d.Fail > 0 {
			fmt.Fprintf(&b, `<rect class="fail" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d33a2c"/>`, x, 6+H-hp-hf, w, max(hf, 1))
		}
		b.WriteString(`</g>`)
		if i%every == 0 {
			anchor := "start"
			if i > n-every {
				anchor = "end"
				x += w
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="%.0f" fill="currentColor" fill-opacity=".7" text-anchor="%s">%s</text>`, x, 6+H+bottom-4, font, anchor, d.Day.Format("Jan 2"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// tickStep is a round step (1, 2, 2.5 or 5 times a power of ten) such
// that four of them reach v.
func tickStep(v int64) int64 {
	need := max((v+3)/4, 1)
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{10, 20, 25, 50} {
			if s := m * p / 10; s >= need && m*p%10 == 0 {
				return s
			}
		}
	}
}

// chartBars bounds the bars of the chart.
const chartBars = 90

const pageHTML = `<style>
.dm-head{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;justify-content:space-between}
.dm-head form{display:flex;gap:.4rem;align-items:center}
.periods{display:flex;gap:.3rem;flex-wrap:wrap;margin:.3rem 0 .8rem}
.dm-verdict{font-size:1.05rem;line-height:1.55}
.dm-verdict p{margin:.2rem 0}
.dm-verdict .ok::before{content:"✓ ";color:var(--noaction);font-weight:700}
.dm-verdict .warn::before{content:"! ";color:var(--reject);font-weight:700}
.policy code{font-size:.95em}
.srcs{list-style:none;margin:0;padding:0}
.src{display:grid;grid-template-columns:minmax(12rem,18rem) 1fr 12rem;grid-template-areas:"who bar n" "who det det";gap:.15rem 1rem;padding:.6rem 0;border-top:1px solid var(--line)}
.src:first-child{border-top:0}
.src .dm-who{grid-area:who;min-width:0;overflow-wrap:anywhere}
.src .dm-who b{display:block;font-weight:600}
.src .dm-who code{color:var(--muted);white-space:nowrap}
.src .dm-bar{grid-area:bar;display:flex;height:.9rem;margin-top:.25rem;border-radius:.2rem;overflow:hidden;background:color-mix(in srgb,var(--line) 45%,transparent)}
.src .dm-bar i{display:block;height:100%}
.src .dm-bar .p{background:var(--noaction)}.src .dm-bar .f{background:var(--reject)}
.src .dm-n{grid-area:n;text-align:right;white-space:nowrap}
.src .dm-n .bad{color:var(--reject);font-weight:600}
.src .dm-det{grid-area:det;color:var(--muted);font-size:.88rem;overflow-wrap:anywhere}
.src .dm-det span{white-space:nowrap}
.unconf{font-size:.75rem;border:1px dashed var(--muted);border-radius:.6rem;padding:0 .35rem;color:var(--muted);white-space:nowrap}
.dm-legend{display:flex;gap:1rem;flex-wrap:wrap;font-size:.85rem;color:var(--muted);margin:.2rem 0 .4rem}
.dm-legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:.2rem;margin-right:.3rem;vertical-align:-.1rem}
.dm-chart svg{width:100%;height:auto;display:block}
.dm-chart .narrow{display:none}
@media (max-width:40rem){.src{grid-template-columns:1fr auto;grid-template-areas:"who who" "bar n" "det det";gap:.2rem .6rem}
.src .dm-bar{margin-top:.2rem}.dm-chart .wide{display:none}.dm-chart .narrow{display:block}.dm-verdict{font-size:1rem}}
</style>
<div class="dm-head"><h1>DMARC reports</h1>
<form method="get" action="/dmarc"><label>Domain <select name="domain">{{range .Domains}}<option{{if eq . $.Domain}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<input type="hidden" name="since" value="{{.Since}}"><button type="submit">Show</button></form></div>
<nav class="periods" aria-label="period">{{range .Periods}}<a class="button-link" href="/dmarc?domain={{$.Domain}}&amp;since={{.}}"{{if eq . $.Since}} aria-current="page"{{end}}>{{.}}</a>{{end}}</nav>
{{if .Error}}<p class="flash bad">{{.Error}}</p>{{end}}
{{if not .Domains}}<p class="card">No reports yet. Publish <code>rua=mailto:…</code> in your DMARC record, list that address in <code>[dmarc.reports] addresses</code>, or import old reports with <code>hamlet dmarc import</code>.</p>{{end}}
{{with .Summary}}
<div class="card dm-verdict" id="verdict">
{{if not .Messages}}<p>No reports about {{.Domain}} in the last {{$.Since}}.</p>{{else}}
<p><b>{{pct .Pass .Messages}}</b> of {{num .Messages}} messages sent as <b>{{.Domain}}</b> in the last {{$.Since}} passed DMARC, as {{len .Reporters}} receivers reported in {{num (int64 .Reports)}} reports.</p>
{{with $.Biggest}}<p class="warn">{{len $.Foreign}} source{{if ne (len $.Foreign) 1}}s{{end}} that {{if eq (len $.Foreign) 1}}is{{else}}are{{end}} not yours sent mail as {{$.Summary.Domain}} that failed; the largest, {{if .PTR}}{{.PTR}} ({{.IP}}){{else}}{{.IP}}{{end}}, sent {{num .Fail}} ({{tally .Dispositions}}).</p>{{else}}<p class="ok">No one else sends as {{.Domain}}.</p>{{end}}
{{if .OwnFailing}}<p class="warn">{{len .OwnFailing}} of your own servers fail{{if eq (len .OwnFailing) 1}}s{{end}} DMARC: fix their SPF or DKIM before tightening the policy.</p>{{else}}<p class="ok">All your own servers pass.</p>{{end}}
{{with .Policy}}<p class="policy muted">Published policy: <code>p={{or .P "none"}}{{with .SP}}; sp={{.}}{{end}}{{with .Pct}}; pct={{.}}{{end}}{{with .ADKIM}}; adkim={{.}}{{end}}{{with .ASPF}}; aspf={{.}}{{end}}</code></p>{{end}}
{{end}}
{{with .PTRPending}}<p class="hint">The names of {{.}} sources are still being looked up: reload in a moment.</p>{{end}}
</div>
<div class="tiles">
<div class="tile"><b>{{num .Messages}}</b><small>messages</small></div>
<div class="tile" style="--c:var(--noaction)"><b>{{num .Pass}}</b><small>pass DMARC</small></div>
<div class="tile" style="--c:var(--reject)"><b>{{num .Fail}}</b><small>fail DMARC</small></div>
<div class="tile"><b>{{len .Sources}}</b><small>sources</small></div>
<div class="tile"><b>{{num (int64 .Reports)}}</b><small>reports</small></div>
</div>
<div class="card dm-chart"><h2>Messages per day</h2>
<div class="dm-legend"><span><i style="background:var(--noaction)"></i>pass {{num .Pass}}</span><span><i style="background:var(--reject)"></i>fail {{num .Fail}}</span></div>
<div class="wide">{{$.Chart}}</div><div class="narrow">{{$.ChartNarrow}}</div></div>
<div class="card" id="foreign"><h2>Sending as {{.Domain}} and failing — not yours ({{len .ForeignFailing}})</h2>
<p class="hint">Spoofing, an ESP you forgot, or forwarding that broke authentication. Under p=reject receivers refuse it.</p>
{{template "srcs" $.Foreign}}{{with more .ForeignFailing}}<p class="hint">… and {{.}} more (/api/dmarc/summary lists all).</p>{{end}}</div>
<div class="card" id="own"><h2>Your own servers that fail ({{len .OwnFailing}})</h2>
<p class="hint">Yours by own_networks, a forward-confirmed PTR name in your domain, or a DKIM/SPF pass for your domain that did not align.</p>
{{template "srcs" $.Own}}{{with more .OwnFailing}}<p class="hint">… and {{.}} more.</p>{{end}}</div>
<div class="card" id="sources"><h2>All sources ({{len .Sources}})</h2>
<div class="dm-legend"><span><i style="background:var(--noaction)"></i>pass</span><span><i style="background:var(--reject)"></i>fail</span><span>bar length: messages, against the biggest source</span></div>
{{template "srcs" $.All}}{{with more .Sources}}<p class="hint">… and {{.}} more (/api/dmarc/summary lists all).</p>{{end}}</div>
<div class="card"><h2>Reporters</h2><div class="scroll"><table><thead><tr><th>receiver</th><th class="num">reports</th><th class="num">messages</th></tr></thead><tbody>
{{range .Reporters}}<tr><td>{{.Org}}</td><td class="num">{{.Reports}}</td><td class="num">{{num .Messages}}</td></tr>{{end}}</tbody></table></div></div>
{{end}}
{{if .Admin}}<div class="card"><h2>Upload a report</h2>
<form method="post" action="/api/dmarc/reports" enctype="multipart/form-data" class="row">
<input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="file" name="file" required>
<button type="submit">Upload</button></form>
<p class="hint">XML, .xml.gz, .zip or a report mail (.eml). Reports are kept {{.Retain}}; one sent twice is stored once.</p></div>{{end}}
{{define "srcs"}}{{if not .}}<p class="muted">none</p>{{else}}<ol class="srcs">
{{range .}}<li class="src" data-ip="{{.IP}}"><div class="dm-who"><b>{{if .PTR}}{{.PTR}}{{if not .PTRConfirmed}} <span class="unconf" title="this name does not resolve back to the address: not forward-confirmed">unconfirmed</span>{{end}}{{else}}<span class="muted">no PTR name</span>{{end}}</b><code>{{.IP}}</code>{{if .Own}} <span class="badge a-no-action" title="{{.OwnWhy}}">own</span>{{end}}</div>
<div class="dm-bar" title="{{num .Pass}} pass, {{num .Fail}} fail"><i class="p" style="width:{{.PassW}}%"></i><i class="f" style="width:{{.FailW}}%"></i></div>
<div class="dm-n"><b>{{num .Messages}}</b> msgs{{if .Fail}} · <span class="bad">{{share .Fail .Messages}} fail</span>{{end}}</div>
<div class="dm-det"><span>SPF {{tally .SPF}}</span> · <span>DKIM {{tally .DKIM}}</span> · <span>{{tally .Dispositions}}</span>{{range .Raw}} · <span class="mono">{{.}}</span>{{end}} · <span>{{reporters .Reporters}}</span></div></li>
{{end}}</ol>{{end}}{{end}}`
