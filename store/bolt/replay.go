package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// The DKIM replay counters (store.DKIMReplay), in one bucket:
//
//	dkim_replay  key → first i64, expires i64 (Unix ms), messages u64,
//	             networks u16, recipients u16, then the network hashes and
//	             the recipient hashes (u64 each)
//
// Expired entries are removed by Sweep (the bucket is in allBucket).
//
// Counting must not wait for an fsync per message (that halved the
// daemon's throughput for signed mail): a sighting updates the entry in
// memory, and the entries changed are written together ReplayFlushDelay
// later, at a Sweep and at Close. The file is this process's alone, so the
// memory is the truth; a crash loses at most that delay of counts.
var bReplay = []byte("dkim_replay")

var _ store.DKIMReplay = (*Store)(nil)

const replayHead = 8 + 8 + 8 + 2 + 2

type replayRec struct {
	first, expires int64
	messages       uint64
	nets, rcpts    []uint64
}

func decodeReplay(v []byte) (r replayRec, ok bool) {
	if len(v) < replayHead {
		return r, false
	}
	r.first = int64(binary.BigEndian.Uint64(v))
	r.expires = int64(binary.BigEndian.Uint64(v[8:]))
	r.messages = binary.BigEndian.Uint64(v[16:])
	nn, nr := int(binary.BigEndian.Uint16(v[24:])), int(binary.BigEndian.Uint16(v[26:]))
	if len(v) != replayHead+8*(nn+nr) {
		return r, false
	}
	for i := range nn + nr {
		x := binary.BigEndian.Uint64(v[replayHead+8*i:])
		if i < nn {
			r.nets = append(r.nets, x)
		} else {
			r.rcpts = append(r.rcpts, x)
		}
	}
	return r, true
}

func encodeReplay(r replayRec) []byte {
	v := make([]byte, replayHead+8*(len(r.nets)+len(r.rcpts)))
	binary.BigEndian.PutUint64(v, uint64(r.first))
	binary.BigEndian.PutUint64(v[8:], uint64(r.expires))
	binary.BigEndian.PutUint64(v[16:], r.messages)
	binary.BigEndian.PutUint16(v[24:], uint16(len(r.nets)))
	binary.BigEndian.PutUint16(v[26:], uint16(len(r.rcpts)))
	for i, x := range append(slices.Clone(r.nets), r.rcpts...) {
		binary.BigEndian.PutUint64(v[replayHead+8*i:], x)
	}
	return v
}

// addMember adds x to set when absent and the set is below limit.
func addMember(set []uint64, x uint64, limit int) []uint64 {
	if len(set) >= limit || slices.Contains(set, x) {
		return set
	}
	return append(set, x)
}

// ReplayFlushDelay is how long changed replay entries wait in memory.
const ReplayFlushDelay = time.Second

// replayCache is the replay entries not yet written: pending (changed
// since the last flush) and flushing (being written). flushMu makes one
// flush wait for another in flight, so that the flush of Close (and of
// Sweep) writes what came in meanwhile instead of returning at once.
type replayCache struct {
	flushMu           sync.Mutex
	mu                sync.Mutex
	pending, flushing map[string]replayRec
	timer             bool
}

// ReplaySee implements store.DKIMReplay.
func (s *Store) ReplaySee(ctx context.Context, now time.Time, window time.Duration, limit int, ss ...store.ReplaySighting) ([]store.ReplayCounts, error) {
	for _, x := range ss {
		if err := store.CheckReplaySighting(x, window, limit); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]store.ReplayCounts, len(ss))
	ms := store.Millis(now)
	c := &s.replay
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[string]replayRec{}
	}
	for i, x := range ss {
		r, ok := c.pending[x.Key]
		if !ok {
			r, ok = c.flushing[x.Key]
		}
		if !ok {
			err := s.view(ctx, func(tx *bbolt.Tx) error {
				r, ok = decodeReplay(tx.Bucket(bReplay).Get([]byte(x.Key)))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if !ok || ms >= r.expires {
			r = replayRec{first: ms, expires: ms + window.Milliseconds()}
		}
		r.messages++
		// A network counts only with a recipient new to the entry
		// (store.DKIMReplay): a retry or a forward is not a replay.
		fresh := len(x.Rcpts) == 0 || len(r.rcpts) >= limit
		for _, rc := range x.Rcpts {
			n := len(r.rcpts)
			r.rcpts = addMember(r.rcpts, rc, limit)
			fresh = fresh || len(r.rcpts) > n
		}
		if fresh {
			r.nets = addMember(r.nets, x.Network, limit)
		}
		c.pending[x.Key] = r
		out[i] = store.ReplayCounts{First: store.FromMillis(r.first), Messages: int64(r.messages), Networks: len(r.nets), Recipients: len(r.rcpts)}
	}
	if !c.timer {
		c.timer = true
		time.AfterFunc(ReplayFlushDelay, s.flushReplay)
	}
	return out, nil
}

// flushReplay writes the pending replay entries in one transaction.
func (s *Store) flushReplay() {
	c := &s.replay
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	c.timer = false
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	batch := c.pending
	c.pending, c.flushing = nil, batch
	c.mu.Unlock()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bReplay)
		for k, r := range batch {
			if err := b.Put([]byte(k), encodeReplay(r)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		s.opts.Logger.Warn("store: DKIM replay counters not written", "store", "bolt", "entries", len(batch), "err", err)
	}
	c.mu.Lock()
	c.flushing = nil
	if len(c.pending) > 0 && !c.timer {
		c.timer = true
		time.AfterFunc(ReplayFlushDelay, s.flushReplay)
	}
	c.mu.Unlock()
}
