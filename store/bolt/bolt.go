// Package bolt is the embedded store: one bbolt file in the data
// directory, no setup, no cgo.
//
// Why bbolt rather than SQLite (modernc.org/sqlite): the state is a handful
// of key→value maps plus an ordered log, which is exactly a B+tree of
// buckets; bbolt is small pure Go (no transpiled C runtime to compile and
// audit), already a dependency, and its commit protocol (copy-on-write
// pages, meta page written and fsynced last) means a transaction that
// returned is on disk and a crash at any point leaves the previous
// consistent state — the kill -9 test in this package checks it. Its file
// lock also keeps a second hamlet from opening the same data directory.
// What it costs: one writer at a time, and a file that does not shrink
// (freed pages are reused, and MaxEntries bounds the live data).
//
// Writes from concurrent goroutines are coalesced into shared transactions
// (bbolt's Batch), so many simultaneous greylist decisions share one fsync.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// FileName is the database file's name inside the data directory.
const FileName = "hamlet.db"

var (
	bGreylist = []byte("greylist")
	bAllow    = []byte("allow")
	bCounters = []byte("counters")
	bHistory  = []byte("history")
	bStatsH   = []byte("stats_hour")
	bStatsD   = []byte("stats_day")
	bMeta     = []byte("meta")
	bTally    = []byte("tally")
	allBucket = [][]byte{bGreylist, bAllow, bCounters, bHistory, bStatsH, bStatsD, bMeta, bTally, bReplay}
)

// ErrLocked: another process (a running hamlet) has the file open.
var ErrLocked = errors.New("locked by another process")

// Store is the embedded store.
type Store struct {
	db   *bbolt.DB
	opts store.Options

	stop chan struct{}
	kick chan struct{} // asks the sweeper to sweep now (the store is full)
	// lastKick (Unix ns) limits kicks to one a minute: a store full of live
	// entries must not be swept on every refused write.
	lastKick atomic.Int64
	wg       sync.WaitGroup
	once     sync.Once
	// replay holds the DKIM replay counters not yet written (replay.go).
	replay replayCache
	// tokens filters the Bayes token lookups (bayesfilter.go).
	tokens tokenFilter
	// histBuf is HistoryAdd's buffers, for the next batch (history.go).
	histMu  sync.Mutex
	histBuf historyBuf
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. A path that
// names a directory gets FileName inside it. Open fails after a second if
// another process holds the file.
func Open(path string, opts store.Options) (*Store, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, FileName)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("bolt store: %s: %w (is hamlet already running?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt store: open %s: %w", path, err)
	}
	// Coalesce concurrent writers; a lone writer waits at most this long.
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBucket {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return initIndex(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt store: init %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts.WithDefaults(), stop: make(chan struct{}), kick: make(chan struct{}, 1)}
	if s.opts.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper()
	}
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

func (s *Store) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.SweepInterval)
		n, err := s.Sweep(ctx, time.Now())
		cancel()
		if err != nil {
			s.opts.Logger.Warn("store sweep failed", "store", "bolt", "err", err)
		} else if n > 0 {
			s.opts.Logger.Debug("store swept", "store", "bolt", "removed", n)
		}
	}
}

// Close stops the sweeper and closes the file.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.flushReplay()
		err = s.db.Close()
	})
	return err
}

// Ping reports whether the database is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(*bbolt.Tx) error { return nil })
}

func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		return fmt.Errorf("bolt store: %w", store.ErrClosed)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrFull):
		return err
	}
	return fmt.Errorf("bolt store: %w", err)
}

func (s *Store) view(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrap(s.db.View(fn))
}

// update runs fn in a write transaction shared with concurrent callers.
// fn may run more than once (bbolt retries a failed batch one by one), so
// it must only set results, never accumulate them.
func (s *Store) update(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Batch(fn)
	if now := time.Now().UnixNano(); errors.Is(err, store.ErrFull) && now-s.lastKick.Load() > int64(time.Minute) {
		s.lastKick.Store(now)
		select { // expired entries may be what fills it: sweep now
		case s.kick <- struct{}{}:
		default:
		}
	}
	return wrap(err)
}

// ---- entry counts (bounded size) ----

func countKey(bucket []byte) []byte { return append([]byte("count:"), bucket...) }

func getU64(b *bbolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putU64(b *bbolt.Bucket, k []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return b.Put(k, v[:])
}

// put stores key in bucket, keeping the bucket's entry count in meta and
// refusing a new key beyond limit (0: no limit).
func put(tx *bbolt.Tx, bucket, key, val []byte, limit int) error {
	b := tx.Bucket(bucket)
	if b.Get(key) == nil {
		meta := tx.Bucket(bMeta)
		n := getU64(meta, countKey(bucket))
		if limit > 0 && n >= uint64(limit) {
			return fmt.Errorf("%w: %s holds %d entries", store.ErrFull, bucket, n)
		}
		if err := putU64(meta, countKey(bucket), n+1); err != nil {
			return err
		}
	}
	return b.Put(key, val)
}

// del removes key from bucket, keeping the count; it reports whether the
// key existed.
func del(tx *bbolt.Tx, bucket, key []byte) (bool, error) {
	b := tx.Bucket(bucket)
	if b.Get(key) == nil {
		return false, nil
	}
	meta := tx.Bucket(bMeta)
	if n := getU64(meta, countKey(bucket)); n > 0 {
		if err := putU64(meta, countKey(bucket), n-1); err != nil {
			return false, err
		}
	}
	return true, b.Delete(key)
}

// Count returns the number of entries in the named bucket ("greylist",
// "allow", "counters", "history"), for tests and diagnostics.
func (s *Store) Count(bucket string) (int, error) {
	var n uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = getU64(tx.Bucket(bMeta), countKey([]byte(bucket)))
		return nil
	})
	return int(n), wrap(err)
}

// ---- greylist ----

const glVersion = 1

func encodeGreylist(e store.GreylistEntry) []byte {
	v := make([]byte, 0, 1+6*binary.MaxVarintLen64)
	v = append(v, glVersion)
	for _, n := range []int64{store.Millis(e.FirstSeen), store.Millis(e.LastSeen), store.Millis(e.Passed), e.Blocked, e.Passes, store.Millis(e.Expires)} {
		v = binary.AppendVarint(v, n)
	}
	return v
}

func decodeGreylist(key string, v []byte) (store.GreylistEntry, error) {
	if len(v) == 0 || v[0] != glVersion {
		return store.GreylistEntry{}, fmt.Errorf("greylist entry %q: unknown encoding", key)
	}
	var n [6]int64
	p := v[1:]
	for i := range n {
		x, k := binary.Varint(p)
		if k <= 0 {
			return store.GreylistEntry{}, fmt.Errorf("greylist entry %q: truncated", key)
		}
		n[i], p = x, p[k:]
	}
	return store.GreylistEntry{
		Key: key, FirstSeen: store.FromMillis(n[0]), LastSeen: store.FromMillis(n[1]),
		Passed: store.FromMillis(n[2]), Blocked: n[3], Passes: n[4], Expires: store.FromMillis(n[5]),
	}, nil
}

// GreylistAttempt implements store.Store.
func (s *Store) GreylistAttempt(ctx context.Context, key string, now time.Time, p store.GreylistParams) (store.GreylistEntry, error) {
	if err := store.CheckKey(key); err != nil {
		return store.GreylistEntry{}, err
	}
	if err := p.Validate(); err != nil {
		return store.GreylistEntry{}, err
	}
	var out store.GreylistEntry
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var old store.GreylistEntry
		v := tx.Bucket(bGreylist).Get([]byte(key))
		found := v != nil
		if found {
			var err error
			if old, err = decodeGreylist(key, v); err != nil {
				found = false // a damaged entry starts afresh
			}
		}
		out = store.ApplyAttempt(old, found, key, now, p)
		return put(tx, bGreylist, []byte(key), encodeGreylist(out), s.opts.MaxEntries)
	})
	return out, err
}

// GreylistGet implements store.Store.
func (s *Store) GreylistGet(ctx context.Context, key string, now time.Time) (store.GreylistEntry, error) {
	var out store.GreylistEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bGreylist).Get([]byte(key))
		if v == nil {
			return store.ErrNotFound
		}
		e, err := decodeGreylist(key, v)
		if err != nil {
			return err
		}
		if e.Expired(now) {
			return store.ErrNotFound
		}
		out = e
		return nil
	})
	return out, err
}

// GreylistList implements store.Store.
func (s *Store) GreylistList(ctx context.Context, now time.Time, limit int) ([]store.GreylistEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	var out []store.GreylistEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bGreylist).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			e, err := decodeGreylist(string(k), v)
			if err != nil || e.Expired(now) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// GreylistDelete implements store.Store.
func (s *Store) GreylistDelete(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		ok, err = del(tx, bGreylist, []byte(key))
		return err
	})
	return ok, err
}

// ---- allowlist ----

// AllowAdd implements store.Store.
func (s *Store) AllowAdd(ctx context.Context, e store.AllowEntry) error {
	if err := store.CheckKey(e.Key); err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx, bAllow, []byte(e.Key), v, s.opts.MaxEntries)
	})
}

// AllowLookup implements store.Store.
func (s *Store) AllowLookup(ctx context.Context, keys []string, now time.Time) (store.AllowEntry, bool, error) {
	var out store.AllowEntry
	var found bool
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAllow)
		for _, k := range keys {
			v := b.Get([]byte(k))
			if v == nil {
				continue
			}
			var e store.AllowEntry
			if json.Unmarshal(v, &e) != nil || e.Expired(now) {
				continue
			}
			out, found = e, true
			return nil
		}
		return nil
	})
	return out, found, err
}

// AllowList implements store.Store.
func (s *Store) AllowList(ctx context.Context, now time.Time, limit int) ([]store.AllowEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	var out []store.AllowEntry
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bAllow).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var e store.AllowEntry
			if json.Unmarshal(v, &e) != nil || e.Expired(now) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AllowDelete implements store.Store.
func (s *Store) AllowDelete(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		ok, err = del(tx, bAllow, []byte(key))
		return err
	})
	return ok, err
}

// ---- counters ----

func encodeCounter(c store.Counter) []byte {
	v := make([]byte, 0, 3*binary.MaxVarintLen64)
	v = binary.AppendVarint(v, c.Value)
	v = binary.AppendVarint(v, store.Millis(c.Last))
	return binary.AppendVarint(v, store.Millis(c.Expires))
}

func decodeCounter(v []byte) (store.Counter, bool) {
	var n [3]int64
	for i := range n {
		x, k := binary.Varint(v)
		if k <= 0 {
			return store.Counter{}, false
		}
		n[i], v = x, v[k:]
	}
	return store.Counter{Value: n[0], Last: store.FromMillis(n[1]), Expires: store.FromMillis(n[2])}, true
}

// CounterIncr implements store.Store.
func (s *Store) CounterIncr(ctx context.Context, key string, op store.CounterOp) (store.Counter, error) {
	if err := store.CheckKey(key); err != nil {
		return store.Counter{}, err
	}
	if op.TTL <= 0 {
		return store.Counter{}, fmt.Errorf("%w: counter TTL %v", store.ErrInvalid, op.TTL)
	}
	var out store.Counter
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, found := decodeCounter(tx.Bucket(bCounters).Get([]byte(key)))
		out = store.ApplyCounter(old, found, op)
		return put(tx, bCounters, []byte(key), encodeCounter(out), s.opts.MaxEntries)
	})
	return out, err
}

// CounterGet implements store.Store.
func (s *Store) CounterGet(ctx context.Context, key string, now time.Time) (store.Counter, error) {
	var out store.Counter
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c, ok := decodeCounter(tx.Bucket(bCounters).Get([]byte(key)))
		if ok && !(!c.Expires.IsZero() && now.After(c.Expires)) {
			out = c
		}
		return nil
	})
	return out, err
}

// CounterDelete implements store.Store.
func (s *Store) CounterDelete(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		ok, err = del(tx, bCounters, []byte(key))
		return err
	})
	return ok, err
}
