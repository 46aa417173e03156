package bolt

import (
	"context"
	"encoding/binary"
	"slices"
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

// ReplaySee implements store.DKIMReplay.
func (s *Store) ReplaySee(ctx context.Context, now time.Time, window time.Duration, limit int, ss ...store.ReplaySighting) ([]store.ReplayCounts, error) {
	for _, x := range ss {
		if err := store.CheckReplaySighting(x, window, limit); err != nil {
			return nil, err
		}
	}
	out := make([]store.ReplayCounts, len(ss))
	ms := store.Millis(now)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bReplay)
		for i, x := range ss {
			key := []byte(x.Key)
			r, ok := decodeReplay(b.Get(key))
			if !ok || ms >= r.expires {
				r = replayRec{first: ms, expires: ms + window.Milliseconds()}
			}
			r.messages++
			r.nets = addMember(r.nets, x.Network, limit)
			for _, rc := range x.Rcpts {
				r.rcpts = addMember(r.rcpts, rc, limit)
			}
			if err := b.Put(key, encodeReplay(r)); err != nil {
				return err
			}
			out[i] = store.ReplayCounts{First: store.FromMillis(r.first), Messages: int64(r.messages), Networks: len(r.nets), Recipients: len(r.rcpts)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
