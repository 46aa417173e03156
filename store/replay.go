package store

import (
	"context"
	"fmt"
	"time"
)

// The DKIM replay counters (package checks, DKIM_REPLAY) live beside the
// rest of the state in an interface of their own, implemented by
// store/bolt and store/redis with one schema: per signature (its d= and a
// hash of its b=), the time of its first sighting, the number of messages,
// and the distinct client networks and recipients it came from and to
// (hashes, at most a cap of each). An entry lives for the window from its
// first sighting; several MX hosts sharing Redis count into one entry.

// ReplaySighting is one message carrying a signature.
type ReplaySighting struct {
	// Key names the signature (at most MaxKeyLen bytes).
	Key string
	// Network is a hash of the client's network.
	Network uint64
	// Rcpts are hashes of the envelope recipients.
	Rcpts []uint64
}

// ReplayCounts is what is known of a signature after a sighting.
type ReplayCounts struct {
	// First is the first sighting in the current window.
	First time.Time
	// Messages counts the sightings.
	Messages int64
	// Networks and Recipients count the distinct ones seen, at most the
	// cap given.
	Networks, Recipients int
}

// DKIMReplay counts sightings of DKIM signatures. Every method is safe
// for concurrent use; a sighting is atomic, also between hosts sharing a
// Redis store.
type DKIMReplay interface {
	// ReplaySee records the sightings at now and returns each one's
	// counts after it. An entry not seen before, or older than window,
	// starts afresh at now; at most limit distinct networks and
	// recipients are kept per entry (bounded memory). A sighting's
	// network is counted only when it brings a recipient the entry has
	// not seen (or has no recipients, or the recipients are at the
	// limit): the same message to the same users again from another
	// network is an MTA's retry from another server of its pool (after
	// greylisting) or a forwarder of the user's own, not a replay, which
	// goes to new victims.
	ReplaySee(ctx context.Context, now time.Time, window time.Duration, limit int, s ...ReplaySighting) ([]ReplayCounts, error)
}

// CheckReplaySighting validates a sighting.
func CheckReplaySighting(s ReplaySighting, window time.Duration, limit int) error {
	if err := CheckKey(s.Key); err != nil {
		return err
	}
	if window < time.Second || limit < 1 || limit > 65535 {
		return fmt.Errorf("%w: replay window %v, limit %d", ErrInvalid, window, limit)
	}
	return nil
}
