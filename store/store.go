// Package store defines the one interface for all state hamlet keeps:
// greylist entries, allowlist entries, counters, scan history, statistics,
// and tallies of counted rows (DMARC aggregate report data). Two
// implementations exist: store/bolt (embedded, the default, a single file
// in the data directory) and store/redis (shared by several MX hosts).
// Package store/stores opens either from a configuration string.
//
// Time is always passed in by the caller ("now"): a store never reads the
// clock for decisions, so that tests can use a fake clock and several hosts
// agree on what "expired" means. Expiry is therefore logical (an entry
// whose Expires is before now is treated as absent by every operation) and
// physical (Sweep, or Redis key TTLs, reclaim the space later).
//
// What a store does not do: it keeps no message bodies (history records
// hold the envelope sender and up to ten recipients, or their keyed
// hashes; greylist keys, chosen by package greylist, hold recipients),
// and it decides nothing about
// greylisting policy beyond the state machine of GreylistAttempt (see
// package greylist for the policy).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors returned by stores. Implementations wrap them with %w.
var (
	// ErrNotFound: no unexpired entry under that key.
	ErrNotFound = errors.New("store: not found")
	// ErrFull: the embedded store reached its configured entry bound even
	// after sweeping expired entries. Greylisting fails open on it.
	ErrFull = errors.New("store: full")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid: a key or record the store cannot keep (empty key, key
	// too long, a zero time).
	ErrInvalid = errors.New("store: invalid argument")
)

// MaxKeyLen bounds every key a store accepts.
const MaxKeyLen = 1024

// Store is all the state hamlet keeps. Every method is safe for concurrent
// use; every write is atomic, also between hosts sharing a Redis store. A
// write that returned nil is durable as far as the backend allows (the
// embedded store has fsynced it).
type Store interface {
	// GreylistAttempt records a delivery attempt for key at now and
	// returns the entry as it is after the attempt, in one atomic
	// operation (see ApplyAttempt for the state machine).
	GreylistAttempt(ctx context.Context, key string, now time.Time, p GreylistParams) (GreylistEntry, error)
	// GreylistGet returns the unexpired entry for key, or ErrNotFound.
	GreylistGet(ctx context.Context, key string, now time.Time) (GreylistEntry, error)
	// GreylistList returns up to limit unexpired entries (limit <= 0: a
	// default of 1000), in no particular order.
	GreylistList(ctx context.Context, now time.Time, limit int) ([]GreylistEntry, error)
	// GreylistDelete removes the entry; it reports whether one existed.
	GreylistDelete(ctx context.Context, key string) (bool, error)

	// AllowAdd adds or replaces an allowlist entry.
	AllowAdd(ctx context.Context, e AllowEntry) error
	// AllowLookup returns the first of keys that has an unexpired entry.
	AllowLookup(ctx context.Context, keys []string, now time.Time) (AllowEntry, bool, error)
	// AllowList returns up to limit unexpired entries, sorted by key.
	AllowList(ctx context.Context, now time.Time, limit int) ([]AllowEntry, error)
	// AllowDelete removes an entry; it reports whether one existed.
	AllowDelete(ctx context.Context, key string) (bool, error)

	// CounterIncr atomically bumps a counter (see Counter and CounterOp).
	CounterIncr(ctx context.Context, key string, op CounterOp) (Counter, error)
	// CounterGet returns the counter's state at now; an absent or expired
	// counter is the zero Counter with a nil error.
	CounterGet(ctx context.Context, key string, now time.Time) (Counter, error)
	// CounterDelete removes a counter; it reports whether one existed.
	CounterDelete(ctx context.Context, key string) (bool, error)

	// HistoryAdd appends scan records in one write; the store assigns
	// IDs where empty and trims the history to its age and count bounds.
	HistoryAdd(ctx context.Context, rs ...HistoryRecord) error
	// HistoryList returns records newest first.
	HistoryList(ctx context.Context, q HistoryQuery) ([]HistoryRecord, error)

	// StatsAdd counts n scans that ended in action at t, in the hour and
	// the day buckets containing t (UTC).
	StatsAdd(ctx context.Context, t time.Time, action string, n int64) error
	// Stats returns the non-empty buckets whose start is in [from, to),
	// oldest first.
	Stats(ctx context.Context, res Resolution, from, to time.Time) ([]StatsBucket, error)

	// TallyAdd adds counts to rows of the named tally, atomically, and
	// moves its expiry to expires if that is later (see tally.go).
	TallyAdd(ctx context.Context, name string, rows map[string]int64, now, expires time.Time) error
	// TallyGet returns the rows of an unexpired tally, or ErrNotFound.
	TallyGet(ctx context.Context, name string, now time.Time) (map[string]int64, error)
	// TallyList returns up to limit names of unexpired tallies starting
	// with prefix, sorted.
	TallyList(ctx context.Context, prefix string, now time.Time, limit int) ([]string, error)
	// TallyDelete removes a tally; it reports whether one existed.
	TallyDelete(ctx context.Context, name string) (bool, error)

	// Sweep removes what expired before now and trims history; it
	// returns how many entries it removed.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the store; further calls return ErrClosed.
	Close() error
}

// Options are the bounds and housekeeping settings common to both stores.
// The zero value of a field means its default.
type Options struct {
	// HistoryMaxCount bounds the number of history records (default 10000).
	HistoryMaxCount int
	// HistoryMaxAge drops records older than this (default 30 days).
	HistoryMaxAge time.Duration
	// StatsHourlyKeep and StatsDailyKeep bound the statistics buckets
	// (defaults 14 days and 400 days).
	StatsHourlyKeep time.Duration
	StatsDailyKeep  time.Duration
	// MaxEntries bounds the number of greylist entries, of allowlist
	// entries and of counters, each, in the embedded store (default
	// 1,000,000). Redis is bounded by its own maxmemory setting.
	MaxEntries int
	// SweepInterval is how often the embedded store sweeps on its own
	// (default 10 minutes; negative disables).
	SweepInterval time.Duration
	// Logger receives sweep errors and similar (default slog.Default()).
	Logger *slog.Logger
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.HistoryMaxCount <= 0 {
		o.HistoryMaxCount = 10000
	}
	if o.HistoryMaxAge <= 0 {
		o.HistoryMaxAge = 30 * 24 * time.Hour
	}
	if o.StatsHourlyKeep <= 0 {
		o.StatsHourlyKeep = 14 * 24 * time.Hour
	}
	if o.StatsDailyKeep <= 0 {
		o.StatsDailyKeep = 400 * 24 * time.Hour
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1_000_000
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// CheckKey validates a key against the rules every store applies.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (max %d)", ErrInvalid, len(key), MaxKeyLen)
	}
	return nil
}

// Millis converts a time to the Unix milliseconds stores keep; the zero
// time is 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis is the inverse of Millis (0 is the zero time), in UTC.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
