// Package loadgen sends messages to a scanner over rspamd's HTTP protocol
// at a fixed concurrency and measures throughput and latency. hamlet and
// rspamd speak the same protocol, so one generator measures both.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a run.
type Options struct {
	URL         string // scanner base URL, e.g. http://127.0.0.1:11333
	Concurrency int
	Messages    int // messages sent in all, cycling through the corpus
	Warmup      int // messages sent first and not counted
	IP, Helo    string
	From        string
	Timeout     time.Duration // per request
}

// Result is one run's figures.
type Result struct {
	Target      string         `json:"target"`
	Messages    int            `json:"messages"`
	Errors      int64          `json:"errors"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"per_second"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	Concurrency int            `json:"concurrency"`
	Actions     map[string]int `json:"actions"`
	FirstError  string         `json:"first_error,omitempty"`
}

func (r Result) String() string {
	s := fmt.Sprintf("%s: %d messages, concurrency %d: %.0f msg/s, p50 %.2f ms, p99 %.2f ms, %d errors, actions %v",
		r.Target, r.Messages, r.Concurrency, r.PerSecond, r.P50ms, r.P99ms, r.Errors, r.Actions)
	if r.FirstError != "" {
		s += " (first error: " + r.FirstError + ")"
	}
	return s
}

// Run sends o.Messages messages from msgs and measures.
func Run(ctx context.Context, o Options, msgs [][]byte) (Result, error) {
	if len(msgs) == 0 || o.Messages <= 0 || o.Concurrency <= 0 {
		return Result{}, fmt.Errorf("loadgen: nothing to send")
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	defer client.CloseIdleConnections()
	for i := 0; i < o.Warmup; i++ {
		if _, err := send(ctx, client, o, msgs[i%len(msgs)]); err != nil {
			return Result{}, fmt.Errorf("loadgen: warm-up: %w", err)
		}
	}
	var next, errs atomic.Int64
	var firstErr atomic.Value
	lat := make([]time.Duration, o.Messages)
	actions := make([]string, o.Messages)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Messages || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				a, err := send(ctx, client, o, msgs[i%len(msgs)])
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				actions[i] = a
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := Result{
		Target: o.URL, Messages: o.Messages, Errors: errs.Load(), Seconds: el.Seconds(),
		PerSecond: float64(o.Messages) / el.Seconds(), Concurrency: o.Concurrency, Actions: map[string]int{},
		P50ms: ms(lat[len(lat)/2]), P99ms: ms(lat[len(lat)*99/100]),
	}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	for _, a := range actions {
		if a != "" {
			r.Actions[a]++
		}
	}
	return r, nil
}

func send(ctx context.Context, client *http.Client, o Options, m []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL+"/checkv2", bytes.NewReader(m))
	if err != nil {
		return "", err
	}
	for k, v := range map[string]string{"IP": o.IP, "Helo": o.Helo, "From": o.From, "Rcpt": "user@example.net"} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	var r struct {
		Action string `json:"action"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	return r.Action, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Load reads the messages of the given files and directories, recursively
// (LICENSE, NOTICE and *.md files are skipped).
func Load(paths ...string) ([][]byte, error) {
	var out [][]byte
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if n := d.Name(); n == "LICENSE" || n == "NOTICE" || filepath.Ext(n) == ".md" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
