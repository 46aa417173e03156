package robust

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The soak: messages at a fixed rate through milter and HTTP together for
// 30 s (5 s with -short) while the DNS server drops 10 % of the queries
// and answers 10 % late. Every message gets a defined answer (no
// connection error, no on_error tempfail: the engine's own deadline
// decides), and once the load stops the daemon's goroutines and open
// descriptors come back to where they were before it.
func TestSoakLossyDNS(t *testing.T) {
	dur := 30 * time.Second
	if testing.Short() {
		dur = 5 * time.Second
	}
	if v := os.Getenv("HAMLET_SOAK"); v != "" { // e.g. HAMLET_SOAK=60s for the minute
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("HAMLET_SOAK=%q: %v", v, err)
		}
		dur = d
	}
	const perSecond = 20 // per front end
	dns := newDNS(t)
	d := start(t, baseConfig(dns.Addr()), t.TempDir())
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	// A first message each way, so that lazily started parts (the
	// store's batcher, DNS client sockets, the HTTP server's
	// connection) exist before the baseline is taken.
	if r := d.open1(context.Background(), 0); r.err != nil {
		t.Fatalf("warm-up milter message: %v", r.err)
	}
	if _, err := scanHTTP(client, d.scan, 0); err != nil {
		t.Fatalf("warm-up HTTP scan: %v", err)
	}
	tr.CloseIdleConnections()
	g0 := d.idle()
	f0 := d.fds()
	t.Logf("before: %.0f goroutines, %d descriptors", g0, f0)

	dns.Lossy(0.10, 0.10, 300*time.Millisecond)
	var (
		wg                        sync.WaitGroup
		n                         atomic.Int64
		milterOK, httpOK, onError atomic.Int64
		mu                        sync.Mutex
		failures                  []string
		actions                   = map[string]int{}
		peakG                     float64
		peakF                     int
	)
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, s)
		}
	}
	count := func(a string) { mu.Lock(); actions[a]++; mu.Unlock() }
	tick := time.NewTicker(time.Second / perSecond)
	sample := time.NewTicker(2 * time.Second)
	end := time.After(dur)
loop:
	for {
		select {
		case <-tick.C:
			i := n.Add(1)
			wg.Add(2)
			go func() {
				defer wg.Done()
				r := d.open1(context.Background(), int(i))
				switch {
				case r.err != nil:
					fail(fmt.Sprintf("milter message %d: %v", i, r.err))
				case strings.Contains(r.text, "Mail filter unavailable"):
					onError.Add(1)
					fail(fmt.Sprintf("milter message %d: on_error: %s", i, r.text))
				default:
					milterOK.Add(1)
					count(fmt.Sprintf("milter %d", r.code))
				}
			}()
			go func() {
				defer wg.Done()
				action, err := scanHTTP(client, d.scan, int(i))
				if err != nil {
					fail(fmt.Sprintf("HTTP message %d: %v", i, err))
					return
				}
				httpOK.Add(1)
				count("http " + action)
			}()
		case <-sample.C:
			g, f := d.metric("go_goroutines"), d.fds()
			peakG, peakF = max(peakG, g), max(peakF, f)
		case <-end:
			break loop
		}
	}
	tick.Stop()
	sample.Stop()
	wg.Wait()
	dns.Lossy(0, 0, 0)
	dropped, delayed := dns.Lost()
	tr.CloseIdleConnections()
	g1 := d.settle(g0)
	f1 := d.fds()
	sent := n.Load()
	t.Logf("%s at %d/s per front end: %d milter + %d HTTP messages sent, %d + %d answered (%v); DNS queries %d, dropped %d, delayed %d; goroutines %.0f → peak %.0f → %.0f, descriptors %d → peak %d → %d",
		dur, perSecond, sent, sent, milterOK.Load(), httpOK.Load(), actions, dns.Total(), dropped, delayed, g0, peakG, g1, f0, peakF, f1)
	for _, f := range failures {
		t.Error(f)
	}
	if milterOK.Load() != sent || httpOK.Load() != sent {
		t.Errorf("answered %d milter and %d HTTP of %d each", milterOK.Load(), httpOK.Load(), sent)
	}
	if dropped == 0 || delayed == 0 {
		t.Errorf("the DNS server lost nothing (dropped %d, delayed %d): the soak tested no loss", dropped, delayed)
	}
	// Back to the idle figures: a few goroutines of slack for timers
	// that are still unwinding, none per message.
	if g1 > g0+5 {
		t.Errorf("goroutines grew: %.0f before, %.0f after %d messages", g0, g1, 2*sent)
	}
	if f1 > f0+2 {
		t.Errorf("descriptors grew: %d before, %d after %d messages", f0, f1, 2*sent)
	}
}

// open1 sends one message over milter, from a sender domain of its own
// (fresh SPF and DMARC queries, so DNS loss is met).
func (d *daemon) open1(ctx context.Context, i int) outcome {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	from := fmt.Sprintf("u%d@m%d.sender.test", i, i)
	s, err := d.open(ctx, 1+i%254, from, "user@rcpt.test")
	if err != nil {
		return outcome{err: err}
	}
	return s.send(message(from, fmt.Sprint(i)))
}

// scanHTTP scans one message over rspamd's protocol and returns the
// action.
func scanHTTP(c *http.Client, addr string, i int) (string, error) {
	from := fmt.Sprintf("h%d@n%d.sender.test", i, i)
	req, err := http.NewRequest("POST", "http://"+addr+"/checkv2", bytes.NewReader(message(from, fmt.Sprintf("h%d", i))))
	if err != nil {
		return "", err
	}
	req.Header.Set("IP", fmt.Sprintf("203.0.113.%d", 1+i%254))
	req.Header.Set("Helo", fmt.Sprintf("mail%d.sender.test", 1+i%254))
	req.Header.Set("From", from)
	req.Header.Set("Rcpt", "user@rcpt.test")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var v struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Action == "" {
		return "", fmt.Errorf("no action in %s: %v", b, err)
	}
	return v.Action, nil
}
