package dmarcreport

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/browsertest"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// pageWorld is a month of reports about example.org, as a postmaster
// sees them: two own MX hosts that pass, a forgotten own server that
// fails, an ESP that signs with its own domain, a mailing list that
// breaks the signature, and spoofers — one claiming a name of
// example.org in its reverse DNS.
type pageWorld struct {
	url      string
	svc      *Service
	now      time.Time
	messages int64 // the last 30 days, example.org
	lastDay  int64 // the last 24 hours
	foreign  int   // failing sources not ours
	own      int   // failing sources of ours
}

func newPageWorld(t *testing.T) *pageWorld {
	t.Helper()
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := DefaultConfig()
	cfg.OwnNetworks = []string{"192.0.2.0/24"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res := &dnstest.Mock{
		PTR: map[string][]string{
			"192.0.2.10": {"mx1.example.org."}, "192.0.2.11": {"mx2.example.org."}, "192.0.2.12": {"crm.example.org."},
			"203.0.113.50": {"o1.mail.esp.example."}, "203.0.113.77": {"lists.university.example."},
			"198.51.100.5": {"mail.example.org."}, // a claim: no A record back
			"198.51.100.6": {"host-6.dsl.isp.example."},
		},
		A: map[string][]string{
			"mx1.example.org": {"192.0.2.10"}, "mx2.example.org": {"192.0.2.11"}, "crm.example.org": {"192.0.2.12"},
			"o1.mail.esp.example": {"203.0.113.50"}, "lists.university.example": {"203.0.113.77"},
			"host-6.dsl.isp.example": {"198.51.100.6"}, "mail.example.org": {"192.0.2.10"},
		},
	}
	svc := New(st, res, cfg, nil)
	w := &pageWorld{svc: svc, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	svc.Now = func() time.Time { return w.now }
	ctx := context.Background()
	start := w.now.Truncate(24 * time.Hour).Add(-29 * 24 * time.Hour)
	for d := range 30 {
		begin := start.Add(time.Duration(d) * 24 * time.Hour)
		wave := int64(d % 7) // a week's rhythm
		for _, rep := range []struct {
			org   string
			every int
			scale int64
		}{{"google.com", 1, 10}, {"Yahoo", 1, 4}, {"Outlook.com", 2, 3}, {"Mail.Ru", 5, 1}} {
			if d%rep.every != 0 {
				continue
			}
			rows := []string{
				fmt.Sprintf("192.0.2.10 %d pass pass none example.org:pass example.org:pass", rep.scale*(30+3*wave)),
				fmt.Sprintf("192.0.2.11 %d pass pass none example.org:pass example.org:pass", rep.scale*(8+wave)),
				fmt.Sprintf("203.0.113.50 %d fail fail none esp.example:pass bounce.esp.example:pass", rep.scale*2),
			}
			if d%3 == 0 {
				rows = append(rows, fmt.Sprintf("192.0.2.12 %d fail fail none - crm.example.org:softfail", rep.scale))
			}
			if d%2 == 1 {
				rows = append(rows, fmt.Sprintf("203.0.113.77 %d fail fail none example.org:fail university.example:pass", 1+rep.scale/3))
			}
			if d > 20 { // a spoofing campaign in the last days
				rows = append(rows, fmt.Sprintf("198.51.100.5 %d fail fail reject - -", rep.scale*(int64(d)-20)*5),
					fmt.Sprintf("198.51.100.6 %d fail fail reject - spoof.example:fail", rep.scale*3))
			}
			xml := reportXML(rep.org, fmt.Sprintf("%s-%d", rep.org, d), begin.Unix(), rows...)
			r, err := svc.Ingest(ctx, xml)
			if err != nil || r.Reports != 1 {
				t.Fatalf("ingest: %+v %v", r, err)
			}
			w.messages += r.Messages
			if !begin.Add(24 * time.Hour).Before(w.now.Add(-24 * time.Hour)) {
				w.lastDay += r.Messages
			}
		}
	}
	w.foreign, w.own = 4, 1 // 203.0.113.50, .77, 198.51.100.5, .6; 192.0.2.12
	ctl, err := controller.New(controller.Options{Sources: controller.Sources{Store: st, Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Mount(ctl, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(ctl)
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	w.url = hs.URL
	return w
}

// TestBrowserDMARCPage: the DMARC page in Chromium at desktop and phone
// widths says what the reports say — the verdict, the counts, who fails
// (not yours / yours, an unconfirmed PTR name marked), a bar per day and
// per source — switches periods, and fits a phone without sideways
// scrolling; a report uploaded with its form (multipart, the session's CSRF
// token) is stored and counted.
func TestBrowserDMARCPage(t *testing.T) {
	w := newPageWorld(t)
	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(w.url+"/dmarc?domain=example.org&since=30d"), chromedp.WaitVisible(chromedp.CSS(`#foreign`))); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		return browsertest.Run(t, ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).innerText`, sel)))
	}
	count := func(sel string) int {
		return browsertest.Run(t, ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	}
	verdict := text("#verdict")
	for _, want := range []string{"of " + num(w.messages) + " messages sent as example.org in the last 30d passed DMARC",
		"4 sources that are not yours", "the largest, mail.example.org (198.51.100.5)", "1 of your own servers fails DMARC", "p=reject"} {
		if !strings.Contains(verdict, want) {
			t.Errorf("verdict lacks %q:\n%s", want, verdict)
		}
	}
	if got := text(".tiles .tile b"); got != num(w.messages) {
		t.Errorf("messages tile %q, want %s", got, num(w.messages))
	}
	if n := count("#foreign li.src"); n != w.foreign {
		t.Errorf("%d sources not ours that fail, want %d", n, w.foreign)
	}
	if n := count("#own li.src"); n != w.own {
		t.Errorf("%d own sources that fail, want %d", n, w.own)
	}
	if n := count("#sources li.src"); n != 7 {
		t.Errorf("%d sources, want 7", n)
	}
	spoof := text(`#foreign li[data-ip="198.51.100.5"]`)
	if !strings.Contains(spoof, "mail.example.org") || !strings.Contains(spoof, "unconfirmed") || strings.Contains(spoof, "own") {
		t.Errorf("the spoofer claiming mail.example.org:\n%s", spoof)
	}
	if mx := text(`#sources li[data-ip="192.0.2.10"]`); !strings.Contains(mx, "mx1.example.org") || strings.Contains(mx, "unconfirmed") || !strings.Contains(mx, "own") {
		t.Errorf("the own MX:\n%s", mx)
	}
	// The biggest source's bar is full length, all pass.
	if wd := browsertest.Run(t, ctx, chromedp.Evaluate[string](`document.querySelector('#sources li[data-ip="192.0.2.10"] .dm-bar .p').style.width`)); wd != "100%" {
		t.Errorf("biggest source's bar %q", wd)
	}
	if n := count(".dm-chart .wide rect.pass"); n != 30 {
		t.Errorf("%d days with passing mail in the chart, want 30", n)
	}
	browsertest.AtWidths(t, ctx, func(tag string, width int64) {
		if sw := browsertest.Run(t, ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`)); sw > width {
			t.Errorf("%s: the page is %d px wide in a %d px window", tag, sw, width)
		}
		// One chart shows, drawn for the width.
		if n := count(".dm-chart svg"); n != 2 {
			t.Errorf("%s: %d charts", tag, n)
		}
		vis := browsertest.Run(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".dm-chart > .wide, .dm-chart > .narrow")].filter(d => d.offsetParent !== null).map(d => d.className).join()`))
		if want := map[string]string{"desktop": "wide", "phone": "narrow"}[tag]; vis != want {
			t.Errorf("%s: chart shown %q, want %q", tag, vis, want)
		}
	})
	browsertest.Shoot(t, ctx, "dmarc")

	// The last 24 hours.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.periods a[href*="since=24h"]`)), chromedp.WaitVisible(chromedp.CSS(`.periods a[aria-current=page][href*="since=24h"]`))); err != nil {
		t.Fatal(err)
	}
	if got := text(".tiles .tile b"); got != num(w.lastDay) {
		t.Errorf("24h: messages tile %q, want %s", got, num(w.lastDay))
	}
	browsertest.Shoot(t, ctx, "dmarc-24h")

	// Upload a report with the page's form (multipart, CSRF token of the
	// session): it is stored and counted.
	f := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(f, reportXML("upload.example", "u1", w.now.Add(-3*time.Hour).Unix(), "203.0.113.9 7 fail fail reject - -"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][name=file]`), []string{f}),
		chromedp.Submit(chromedp.CSS(`input[type=file][name=file]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	); err != nil {
		t.Fatal(err)
	}
	if flash := text(".flash"); !strings.Contains(flash, "1 new reports (1 records, 7 messages), 0 duplicates") {
		t.Errorf("after the upload: %q", flash)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(w.url+"/dmarc?domain=example.org&since=24h"), chromedp.WaitVisible(chromedp.CSS(`#foreign`))); err != nil {
		t.Fatal(err)
	}
	if got := text(".tiles .tile b"); got != num(w.lastDay+7) {
		t.Errorf("24h after the upload: messages tile %q, want %s", got, num(w.lastDay+7))
	}
}
