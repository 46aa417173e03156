package controller

import (
	"sort"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// Counters is an engine.Observer keeping what rspamd's controller shows
// since the start: symbol hits and their time, recent scan times, recent
// errors. (Scans per action come from the store's statistics, which
// survive restarts and are shared between hosts.)
type Counters struct {
	mu      sync.Mutex
	started time.Time
	scanned int64
	symbols map[string]*symCount
	times   []float64 // ring of recent scan times, seconds
	next    int
	errors  []ErrorEntry // ring
	nextErr int
}

type symCount struct {
	hits int64
}

// ErrorEntry is one line of /errors (rspamd's shape).
type ErrorEntry struct {
	TS      float64 `json:"ts"`
	Type    string  `json:"type"`
	PID     int     `json:"pid"`
	Module  string  `json:"module"`
	ID      string  `json:"id"`
	Message string  `json:"message"`
}

const (
	maxScanTimes = 100
	maxErrors    = 100
	maxSymNames  = 4096
)

var _ engine.Observer = (*Counters)(nil)

// NewCounters starts counting at now.
func NewCounters() *Counters {
	return &Counters{started: time.Now(), symbols: map[string]*symCount{}}
}

// Observe implements engine.Observer.
func (c *Counters) Observe(tx *engine.Transaction, v *engine.Verdict, elapsed time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scanned++
	for _, s := range v.Symbols {
		sc := c.symbols[s.Name]
		if sc == nil {
			if len(c.symbols) >= maxSymNames {
				continue
			}
			sc = &symCount{}
			c.symbols[s.Name] = sc
		}
		sc.hits++
	}
	if len(c.times) < maxScanTimes {
		c.times = append(c.times, elapsed.Seconds())
	} else {
		c.times[c.next] = elapsed.Seconds()
		c.next = (c.next + 1) % maxScanTimes
	}
	for _, e := range v.Errors {
		ee := ErrorEntry{TS: float64(time.Now().UnixMilli()) / 1000, Type: "error", Module: "engine", ID: tx.QueueID, Message: e}
		if len(c.errors) < maxErrors {
			c.errors = append(c.errors, ee)
		} else {
			c.errors[c.nextErr] = ee
			c.nextErr = (c.nextErr + 1) % maxErrors
		}
	}
}

// Uptime is the time since NewCounters.
func (c *Counters) Uptime() time.Duration { return time.Since(c.started) }

// Hits returns the hits of each symbol since the start, and the scans.
func (c *Counters) Hits() (map[string]int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.symbols))
	for k, v := range c.symbols {
		out[k] = v.hits
	}
	return out, c.scanned
}

// ScanTimes returns recent scan times in seconds.
func (c *Counters) ScanTimes() []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]float64{}, c.times...)
}

// Errors returns recent errors, oldest first.
func (c *Counters) Errors() []ErrorEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]ErrorEntry{}, c.errors...)
	sort.Slice(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	return out
}
