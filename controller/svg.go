package controller

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/recorder"
)

// Charts are SVG drawn here: no script, no CDN, readable on a phone.

// actionColors are the CSS variables of each action (style.css).
var actionColors = map[string]string{
	"no action": "var(--noaction)", "greylist": "var(--greylist)", "greylisted": "var(--greylisted)", "add header": "var(--addheader)",
	"rewrite subject": "var(--rewrite)", "soft reject": "var(--softreject)", "reject": "var(--reject)",
}

// uiActions are the engine's actions, mildest first: what the thresholds
// give (the what-if page).
var uiActions = []string{"no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"}

// shownActions are what the dashboard and the history show: the engine's
// actions, with the soft rejects of greylisting as "greylisted" (see
// shownAction) apart from the other soft rejects.
var shownActions = []string{"no action", "greylist", "greylisted", "add header", "rewrite subject", "soft reject", "reject"}

// actGreylisted is the shown action of a message greylisting deferred.
const actGreylisted = recorder.StatGreylisted

// shownAction is what the UI calls rec's action: "greylisted" for a
// message greylisting deferred (rspamd's "soft reject" with GREYLIST
// "greylisted", as a postmaster thinks of it), else the action.
func shownAction(rec *store.HistoryRecord) string {
	if recorder.Greylisted(rec) {
		return actGreylisted
	}
	return rec.Action
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// donut draws the share of each action as a ring with the total inside.
func donut(counts map[string]int64, total int64) template.HTML {
	var b strings.Builder
	b.WriteString(`<svg viewBox="0 0 200 200" role="img" aria-label="Share of each action">`)
	if total == 0 {
		b.WriteString(`<circle cx="100" cy="100" r="70" fill="none" stroke="var(--line)" stroke-width="28"/>`)
	}
	const r = 70.0
	circ := 2 * math.Pi * r
	off := 0.0
	for _, a := range shownActions {
		n := counts[a]
		if n == 0 || total == 0 {
			continue
		}
		frac := float64(n) / float64(total)
		fmt.Fprintf(&b, `<circle cx="100" cy="100" r="%g" fill="none" stroke="%s" stroke-width="28" stroke-dasharray="%.3f %.3f" stroke-dashoffset="%.3f" transform="rotate(-90 100 100)"><title>%s: %d (%.1f%%)</title></circle>`,
			r, actionColors[a], frac*circ, circ, -off*circ, esc(a), n, 100*frac)
		off += frac
	}
	fmt.Fprintf(&b, `<text x="100" y="98" text-anchor="middle" font-size="28" font-weight="700" fill="currentColor">%s</text>`, esc(formatInt(total)))
	b.WriteString(`<text x="100" y="122" text-anchor="middle" font-size="13" fill="currentColor" opacity=".7">messages</text></svg>`)
	return template.HTML(b.String())
}

// bars draws stacked bars: one per bucket, one colour per action.
func bars(starts []time.Time, series map[string][]int64, step time.Duration) template.HTML {
	const W, H, left, bottom, top = 480.0, 214.0, 60.0, 26.0, 14.0
	n := len(starts)
	var maxv int64
	for i := range n {
		var sum int64
		for _, a := range shownActions {
			if s := series[a]; i < len(s) {
				sum += s[i]
			}
		}
		maxv = max(maxv, sum)
	}
	scale := niceMax(maxv)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bars" viewBox="0 0 %g %g" role="img" aria-label="Messages per %s by action">`, W, H, esc(stepName(step)))
	plotH := H - bottom - top
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="var(--line)" stroke-width="1"/>`, left, W, y, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" font-size="13" fill="currentColor" opacity=".7">%s</text>`, left-6, y+4, esc(axisLabel(scale*int64(i)/4)))
	}
	if n == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	bw := (W - left) / float64(n)
	gap := math.Min(2, bw*0.15)
	for i, t := range starts {
		x := left + float64(i)*bw
		y := top + plotH
		var parts []string
		for _, a := range shownActions {
			s := series[a]
			if i >= len(s) || s[i] == 0 {
				continue
			}
			h := plotH * float64(s[i]) / float64(scale)
			y -= h
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`, x+gap/2, y, bw-gap, h, actionColors[a])
			parts = append(parts, fmt.Sprintf("%s %d", a, s[i]))
		}
		label := t.Local().Format(labelFormat(step))
		if len(parts) > 0 {
			fmt.Fprintf(&b, `<rect x="%.2f" y="%g" width="%.2f" height="%.1f" fill="transparent"><title>%s: %s</title></rect>`, x, top, bw, plotH, esc(label), esc(strings.Join(parts, ", ")))
		}
		every := max(1, n/6)
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle" font-size="13" fill="currentColor" opacity=".7">%s</text>`, x+bw/2, H-6, esc(label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axisLabel is a tick of the throughput axis, short enough for its
// margin also in the phone's larger type: 950, 1.5k, 25k, 1.25M.
func axisLabel(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 1000000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(float64(n)/1e4)/100, 'f', -1, 64) + "M"
}

func niceMax(v int64) int64 {
	if v <= 4 {
		return 4
	}
	// The axis has four ticks: a round step (1, 1.5, 2, 2.5, 3, 4, 5, 6,
	// 8 times a power of ten, whole numbers only) that reaches v.
	q := (v + 3) / 4
	p := int64(1)
	for p*10 <= q {
		p *= 10
	}
	for _, m := range []int64{10, 15, 20, 25, 30, 40, 50, 60, 80, 100} {
		if m*p%10 != 0 {
			continue
		}
		if s := m * p / 10; s >= q {
			return 4 * s
		}
	}
	return 40 * p
}

func stepName(step time.Duration) string {
	switch {
	case step >= 24*time.Hour:
		return "day"
	case step >= time.Hour:
		return "hour"
	}
	return fmt.Sprintf("%d minutes", int(step.Minutes()))
}

func labelFormat(step time.Duration) string {
	switch {
	case step >= 24*time.Hour:
		return "Jan 2"
	case step >= time.Hour:
		return "15:00"
	}
	return "15:04"
}

// meter is a horizontal bar for a share (0..1).
func meter(frac float64, color string) template.HTML {
	frac = math.Max(0, math.Min(1, frac))
	return template.HTML(fmt.Sprintf(`<svg viewBox="0 0 100 8" preserveAspectRatio="none" width="100%%" height="8" aria-hidden="true"><rect width="100" height="8" rx="2" fill="var(--line)"/><rect width="%.2f" height="8" rx="2" fill="%s"/></svg>`, 100*frac, color))
}
