package store

import (
	"fmt"
	"time"
)

// GreylistParams are the timing parameters of one attempt.
type GreylistParams struct {
	// Delay is how long after the first attempt a retry is accepted.
	Delay time.Duration
	// RetryWindow is how long after the first attempt a retry still
	// counts; later, the entry has expired and the next attempt is a
	// first attempt again.
	RetryWindow time.Duration
	// PassTTL is how long a passed entry is kept after its last delivery.
	PassTTL time.Duration
}

// Validate reports parameters no state machine can work with.
func (p GreylistParams) Validate() error {
	switch {
	case p.Delay < 0:
		return fmt.Errorf("%w: negative greylist delay", ErrInvalid)
	case p.RetryWindow <= p.Delay:
		return fmt.Errorf("%w: greylist retry window %v not longer than delay %v", ErrInvalid, p.RetryWindow, p.Delay)
	case p.PassTTL <= 0:
		return fmt.Errorf("%w: greylist pass ttl %v not positive", ErrInvalid, p.PassTTL)
	}
	return nil
}

// GreylistEntry is the state of one greylist key. Times are kept with
// millisecond precision, in UTC.
type GreylistEntry struct {
	Key       string    `json:"key"`
	FirstSeen time.Time `json:"first_seen"` // the first attempt of this entry
	LastSeen  time.Time `json:"last_seen"`  // the latest attempt
	// Passed is when a retry was first accepted; zero while waiting.
	Passed time.Time `json:"passed,omitzero"`
	// Blocked counts the attempts turned away (including the first).
	Blocked int64 `json:"blocked"`
	// Passes counts the attempts accepted since Passed.
	Passes int64 `json:"passes"`
	// Expires is when the entry stops counting: FirstSeen+RetryWindow
	// while waiting, LastSeen+PassTTL once passed.
	Expires time.Time `json:"expires"`
}

// Waiting reports whether the entry has not passed yet.
func (e GreylistEntry) Waiting() bool { return e.Passed.IsZero() }

// Expired reports whether the entry no longer counts at now.
func (e GreylistEntry) Expired(now time.Time) bool { return now.After(e.Expires) }

// ApplyAttempt is the greylisting state machine, shared by the stores (the
// Redis store runs the same rules as a Lua script, and the store test suite
// checks both against each other):
//
//   - no entry, or an expired one: a new entry, waiting, Blocked=1;
//   - waiting and now < FirstSeen+Delay: still waiting, Blocked+1;
//   - waiting and now >= FirstSeen+Delay: passed at now, Passes=1;
//   - passed: Passes+1, and the pass TTL starts again from now.
//
// A premature retry does not restart the delay (postgrey behaves the
// same), so a sender that retries every minute still gets through after
// Delay. All times are truncated to milliseconds.
func ApplyAttempt(old GreylistEntry, found bool, key string, now time.Time, p GreylistParams) GreylistEntry {
	now = FromMillis(Millis(now))
	e := old
	if !found || e.Expired(now) {
		e = GreylistEntry{FirstSeen: now}
	}
	e.Key = key
	e.LastSeen = now
	switch {
	case !e.Waiting():
		e.Passes++
	case now.Sub(e.FirstSeen) >= p.Delay:
		e.Passed = now
		e.Passes = 1
	default:
		e.Blocked++
	}
	if e.Waiting() {
		e.Expires = e.FirstSeen.Add(p.RetryWindow)
	} else {
		e.Expires = now.Add(p.PassTTL)
	}
	return e
}
