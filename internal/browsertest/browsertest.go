// Package browsertest runs Debian's headless Chromium for the tests of
// web pages (through chromedp) and saves their screenshots at desktop and
// phone widths. Without chromium a test skips, or fails when CI=true.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// Widths are the viewports pages are looked at in: a desktop's and a
// phone's.
var Widths = []struct {
	Tag  string
	W, H int64
}{{"desktop", 1280, 900}, {"phone", 390, 844}}

// Start starts headless Chromium for the test, at the desktop width; the
// context ends with the test (90 s at most).
func Start(t *testing.T) context.Context {
	t.Helper()
	path := sharedtest.Require(t, "chromium", "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(int(Widths[0].W), int(Widths[0].H)),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// Dir is where screenshots are saved: $HAMLET_SCREENSHOTS, default
// hamlet-screenshots in the system's temporary directory.
func Dir(t *testing.T) string {
	d := os.Getenv("HAMLET_SCREENSHOTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "hamlet-screenshots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// AtWidths runs check at each width (the viewport set, the page laid out
// again), then returns to the desktop width.
func AtWidths(t *testing.T, ctx context.Context, check func(tag string, w int64)) {
	t.Helper()
	for _, sz := range Widths {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(sz.W, sz.H), chromedp.Sleep(150*time.Millisecond)); err != nil {
			t.Fatalf("viewport %s: %v", sz.Tag, err)
		}
		check(sz.Tag, sz.W)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(Widths[0].W, Widths[0].H)); err != nil {
		t.Fatal(err)
	}
}

// Shoot saves full-page screenshots of the current page at both widths
// as Dir/name-desktop.png and Dir/name-phone.png.
func Shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shoot(t, ctx, name, false)
}

// ShootFitting is Shoot for our own pages: it also fails the test when,
// at the phone width, the page is wider than the window or a box in it
// scrolls sideways, naming the first elements of main that stick out.
func ShootFitting(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shoot(t, ctx, name, true)
}

func shoot(t *testing.T, ctx context.Context, name string, fit bool) {
	t.Helper()
	dir := Dir(t)
	AtWidths(t, ctx, func(tag string, w int64) {
		t.Helper()
		if fit && tag == "phone" {
			sw := Run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			iw := Run(t, ctx, chromedp.Evaluate[int](`window.innerWidth`))
			if sw > iw {
				wide := Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().width) + "px")`))
				t.Errorf("%s at %d px is %d px wide (window %d px); too wide: %q", name, w, sw, iw, wide)
			}
			// Nor a box of the page that scrolls sideways (a table in a
			// .scroll card hides its right columns on a phone).
			if boxes := Run(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main *")].filter(e => e.scrollWidth > e.clientWidth + 1 && ["auto", "scroll"].includes(getComputedStyle(e).overflowX)).slice(0, 5).map(e => e.tagName + "." + e.className + " " + e.scrollWidth + "/" + e.clientWidth + " px")`)); len(boxes) > 0 {
				t.Errorf("%s at %d px scrolls sideways inside: %q", name, w, boxes)
			}
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+tag+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("screenshots: %s/%s-{desktop,phone}.png", dir, name)
}

// Run runs a and fails the test on an error.
func Run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
