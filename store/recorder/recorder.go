// Package recorder keeps the scan history and statistics for the web UI:
// an engine.Observer that writes one store.HistoryRecord and one
// statistics count per final verdict (and one more, StatGreylisted, for a
// message greylisting deferred), from a background goroutine, so that a
// slow or failing store never holds up a scan.
//
// What it does not keep: message bodies, headers, recipients' addresses
// (only their number), or symbol options.
package recorder

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// Options configure a Recorder.
type Options struct {
	// Queue bounds the verdicts waiting to be written (default 2048:
	// a batch being written and the next one filling);
	// beyond it, verdicts are dropped and counted.
	Queue int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Timeout bounds each store write (default 5 s).
	Timeout time.Duration
	Logger  *slog.Logger
	// KeepHourly and KeepDaily bound the hourly and the daily/monthly
	// aggregates (top symbols, rejected networks and sender domains;
	// defaults 14 and 400 days).
	KeepHourly, KeepDaily time.Duration
	// Linger is how long a batch waits for more verdicts after its first
	// one before it is written (default 1 s; negative: write at once
	// what is queued). Each batch costs the embedded store a commit
	// (history, statistics and aggregates in one transaction: its page
	// writes and fdatasyncs) whatever the batch's size; lingering bounds
	// the commits to one per Linger (or per maxBatch verdicts) instead of
	// one per message. BenchmarkWrite: a record costs ≈ 1.6× as much CPU
	// in batches of 128 (640 msg/s lingering 200 ms) as in batches of
	// 1024. What it costs: a verdict shows in the history up to Linger
	// later, and a crash loses up to Linger more of the verdicts still in
	// memory (the queue is in memory anyway; Close writes everything
	// queued).
	Linger time.Duration
	// HashKey, when not nil, makes the history keep addresses only as
	// keyed hashes (see HashAddress): a search by address still finds
	// them, a reader of the store learns nothing.
	HashKey []byte
}

// HashAddress is the keyed hash an address is kept as: "h:" and 16 hex
// digits of HMAC-SHA-256 over the lower-cased local part, then "@" and
// the domain, which stays readable (the dashboard's sender domains, the
// allowlist buttons). The null sender stays "".
func HashAddress(key []byte, addr string) string {
	if addr == "" || strings.HasPrefix(addr, "h:") {
		return addr
	}
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i:]
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(local)))
	return "h:" + hex.EncodeToString(m.Sum(nil)[:8]) + strings.ToLower(domain)
}

// Recorder implements engine.Observer.
type Recorder struct {
	st      store.Store
	queue   int
	now     func() time.Time
	timeout time.Duration
	log     *slog.Logger
	hashKey []byte
	keepH   time.Duration
	keepD   time.Duration
	linger  time.Duration

	dropped, failed, written atomic.Int64

	// The verdicts waiting to be written. Observe appends under mu and
	// wakes the writer only for a batch's first verdict and a full
	// batch: a channel send per verdict woke the writer's goroutine (its
	// thread, with futex calls) for every message.
	mu      sync.Mutex
	pending []packed
	spare   []packed // the last batch's array, for reuse
	closed  bool
	wake    chan struct{} // capacity 1
	stop    chan struct{} // closed by Close
	done    chan struct{}
}

var _ engine.Observer = (*Recorder)(nil)

// New starts a Recorder writing to st. Close it to flush.
func New(st store.Store, o Options) *Recorder {
	if o.Queue <= 0 {
		o.Queue = 2 * maxBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Recorder{st: st, queue: o.Queue, wake: make(chan struct{}, 1), stop: make(chan struct{}), now: o.Now, timeout: o.Timeout, log: o.Logger, done: make(chan struct{}), hashKey: o.HashKey, keepH: o.KeepHourly, keepD: o.KeepDaily}
	switch {
	case o.Linger == 0:
		r.linger = DefaultLinger
	case o.Linger > 0:
		r.linger = o.Linger
	}
	if r.keepH <= 0 {
		r.keepH = 14 * 24 * time.Hour
	}
	if r.keepD <= 0 {
		r.keepD = 400 * 24 * time.Hour
	}
	go r.run()
	return r
}

// Record builds the history record of a verdict.
func Record(tx *engine.Transaction, v *engine.Verdict, at time.Time) store.HistoryRecord {
	r := store.HistoryRecord{
		Time: at, QueueID: tx.QueueID, From: tx.MailFrom, Rcpts: len(tx.Rcpts),
		Action: v.Action.String(), Score: v.Score,
	}
	if tx.ClientIP.IsValid() {
		r.ClientIP = tx.ClientIP.String()
	}
	r.Helo, r.ClientHost, r.Required, r.ForcedBy = tx.Helo, tx.ClientPTR, v.RequiredScore, v.ForcedBy
	if !v.Final {
		r.Phase = v.Phase.String()
	}
	switch {
	case tx.Local:
		r.Class = "local"
	case tx.Outbound:
		r.Class = "outbound"
	case tx.Allowlisted:
		r.Class = "allowlisted"
	}
	n := min(len(tx.Rcpts), store.MaxHistoryRcpts)
	if n > 0 {
		r.RcptList = append([]string(nil), tx.Rcpts[:n]...)
	}
	r.Symbols = make([]string, 0, len(v.Symbols))
	r.Hits = make([]store.HistoryHit, 0, len(v.Symbols))
	for _, s := range v.Symbols {
		r.Symbols = append(r.Symbols, s.Name)
		r.Hits = append(r.Hits, store.HistoryHit{Score: s.Score, Weight: s.Weight, Options: s.Options})
	}
	return r
}

// Observe implements engine.Observer; it never blocks.
func (r *Recorder) Observe(tx *engine.Transaction, v *engine.Verdict, elapsed time.Duration) {
	rec := Record(tx, v, r.now())
	rec.Elapsed = float64(elapsed.Microseconds()) / 1e6
	if r.hashKey != nil {
		rec.From = HashAddress(r.hashKey, rec.From)
		for i, a := range rec.RcptList {
			rec.RcptList[i] = HashAddress(r.hashKey, a)
		}
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.dropped.Add(1)
		return
	}
	if len(r.pending) >= r.queue {
		r.mu.Unlock()
		if r.dropped.Add(1)%1000 == 1 {
			r.log.Warn("history: queue full, verdicts dropped", "dropped", r.dropped.Load())
		}
		return
	}
	r.pending = append(r.pending, pack(&rec))
	n := len(r.pending)
	r.mu.Unlock()
	if n == 1 || n == maxBatch {
		r.kick()
	}
}

// kick wakes the writer (a wake already pending will do).
func (r *Recorder) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// maxBatch bounds the records written in one store call. A commit's
// fixed costs (the embedded store's fdatasyncs, the meta and freelist
// pages, the branch pages of each bucket written) are shared by its
// records: batches of 1024 cost ≈ 20 % less CPU per record than 256
// (BenchmarkWrite), and at 4,000 msg/s the linger ends a batch at ≈ 800.
const maxBatch = 1024

// DefaultLinger is Options.Linger's default.
const DefaultLinger = time.Second

// run writes what is queued, in batches: a batch collects verdicts for
// up to the linger time after its first one (or until maxBatch of them
// wait), so that under load each write carries many records and the
// embedded store's fsyncs per write are shared by them.
func (r *Recorder) run() {
	defer close(r.done)
	var timer *time.Timer
	if r.linger > 0 {
		timer = time.NewTimer(r.linger)
		timer.Stop()
	}
	var recs []store.HistoryRecord // a batch unpacked, while it is written
	for {
		select {
		case <-r.wake:
		case <-r.stop:
		}
		if timer != nil && !r.full() {
			timer.Reset(r.linger)
			select {
			case <-timer.C:
			case <-r.wake: // a full batch
			case <-r.stop: // Close: write the rest at once
			}
			timer.Stop()
		}
		batch, closed := r.take()
		for rest := batch; len(rest) > 0; {
			n := min(len(rest), maxBatch)
			recs = recs[:0]
			for i := range rest[:n] {
				recs = append(recs, rest[i].unpack())
			}
			r.write(recs)
			clear(recs)
			rest = rest[n:]
		}
		r.mu.Lock()
		clear(batch) // the records' strings are garbage now
		r.spare = batch[:0]
		r.mu.Unlock()
		if closed {
			return
		}
	}
}

// full reports whether a batch's worth waits.
func (r *Recorder) full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) >= maxBatch || r.closed
}

// take returns what waits (the writer's until it hands the array back
// as spare) and whether the recorder is closed.
func (r *Recorder) take() ([]packed, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	batch := r.pending
	r.pending, r.spare = r.spare, nil
	return batch, r.closed
}

type statKey struct {
	hour   time.Time
	action string
}

// write stores a batch: its records, the statistics and the
// aggregates, all at once (the embedded store's Batch makes of the
// concurrent writes one transaction, one commit and its fdatasyncs;
// Redis answers them in parallel).
func (r *Recorder) write(batch []store.HistoryRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	counts := map[statKey]int64{}
	for i := range batch {
		rec := &batch[i]
		h := store.Hourly.Truncate(rec.Time)
		counts[statKey{h, rec.Action}]++
		if Greylisted(rec) {
			counts[statKey{h, StatGreylisted}]++
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	do := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	do(func() error { return r.st.HistoryAdd(ctx, batch...) })
	for k, n := range counts {
		do(func() error { return r.st.StatsAdd(ctx, k.hour, k.action, n) })
	}
	now := r.now()
	for name, t := range r.aggregates(batch) {
		do(func() error {
			if err := r.st.TallyAdd(ctx, name, t.rows, now, t.expires); err != nil && !errors.Is(err, store.ErrFull) {
				return err
			}
			return nil
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		n := r.failed.Add(int64(len(batch)))
		r.log.Warn("history: store write failed", "records", len(batch), "err", errors.Join(errs...), "failed", n)
		return
	}
	r.written.Add(int64(len(batch)))
}

// Close stops accepting verdicts and waits until the queue is written.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	<-r.done
}

// Stats reports how many records were written, failed and dropped.
func (r *Recorder) Stats() (written, failed, dropped int64) {
	return r.written.Load(), r.failed.Load(), r.dropped.Load()
}
