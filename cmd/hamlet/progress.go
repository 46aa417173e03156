package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mailbox"
)

// progress draws a progress line on a terminal for a bulk command
// (`hamlet learn`, `hamlet dmarc import`): messages done, rate, time left.
// Off a terminal it draws nothing (the summary line says it all).
type progress struct {
	w     io.Writer
	on    bool
	label string // what is done, e.g. "learning spam"
	mu    sync.Mutex
	n     int
	total int // 0: unknown
	t0    time.Time
	last  time.Time
}

func newProgress(w io.Writer, on bool, label string) *progress {
	return &progress{w: w, on: on, label: label, t0: time.Now()}
}

// count sets the total to the number of messages of paths (reading them
// twice costs less than it seems: the second read comes from the page
// cache).
func (p *progress) count(ctx context.Context, paths []string) {
	mailbox.Walk(paths, nil, func(mailbox.Message) error { p.total++; return ctx.Err() })
}

// step counts k more messages done.
func (p *progress) step(k int) {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += k
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	el := time.Since(p.t0).Seconds()
	rate := float64(p.n) / max(el, 1e-9)
	const width = 30
	if p.total > 0 {
		frac := min(1, float64(p.n)/float64(p.total))
		full := int(frac * width)
		bar := strings.Repeat("=", full) + strings.Repeat(" ", width-full)
		eta := float64(max(p.total-p.n, 0)) / max(rate, 1e-9)
		fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %d/%d, %.0f msg/s, %.0f s left ", p.label, bar, frac*100, p.n, p.total, rate, eta)
		return
	}
	// Total unknown (standard input): a bouncing marker.
	pos := p.n / 50 % (2 * width)
	if pos >= width {
		pos = 2*width - pos - 1
	}
	bar := strings.Repeat(" ", pos) + "#" + strings.Repeat(" ", width-pos-1)
	fmt.Fprintf(p.w, "\r%s [%s] %d messages, %.0f msg/s, %.0f s ", p.label, bar, p.n, rate, el)
}

// done draws the last state and ends the line.
func (p *progress) done() {
	if p == nil || !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	fmt.Fprintln(p.w)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
