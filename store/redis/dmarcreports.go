package redis

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// Received DMARC reports (P = prefix):
//
//	P dmarc:r:<id>        hash   e: Expires (Unix ms), d: JSON store.DMARCReport
//	P dmarc:p:<domain>    zset   report ids scored by Begin (Unix ms)
//	P dmarc:domains       zset   policy domains scored by their latest expiry
//
// TTLs are relative to the caller's now (as everywhere in this store).
// One script on the report key makes "stored once" atomic between hosts; the
// indexes are repaired by reads and the sweep when a report key expired.

var _ store.DMARCReports = (*Store)(nil)

func (s *Store) dmarcKey(id string) string     { return s.prefix + "dmarc:r:" + id }
func (s *Store) dmarcPeriod(dom string) string { return s.prefix + "dmarc:p:" + dom }
func (s *Store) dmarcDomains() string          { return s.prefix + "dmarc:domains" }
func msStr(t time.Time) string                 { return strconv.FormatInt(store.Millis(t), 10) }

// addOnce stores a report unless an unexpired one has the key. KEYS[1];
// ARGV JSON, expires, now (Unix ms). Returns 1 when stored.
var addOnce = goredis.NewScript(`
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
local now = tonumber(ARGV[3])
if e ~= nil and e > now then return 0 end
local ttl = tonumber(ARGV[2]) - now
if ttl < 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', ARGV[2], 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return 1
`)

// zaddExpire adds a member and moves the key's expiry to at least ARGV[3]
// (Unix ms). KEYS[1] the zset; ARGV score, member, expiry.
var zaddExpire = goredis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[3]) - tonumber(ARGV[4])
if want < 1 then want = 1 end
if ttl < want then redis.call('PEXPIRE', KEYS[1], string.format('%.0f', want)) end
return 1
`)

// DMARCReportAdd implements store.DMARCReports.
func (s *Store) DMARCReportAdd(ctx context.Context, r store.DMARCReport, now time.Time) (bool, error) {
	if err := store.CheckDMARCReport(r); err != nil {
		return false, err
	}
	if !r.Expires.After(now) {
		return false, nil
	}
	v, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	ok, err := addOnce.Run(ctx, s.c, []string{s.dmarcKey(r.ID)}, v, store.Millis(r.Expires), store.Millis(now)).Int()
	if err != nil {
		return false, wrap(err)
	}
	if ok != 1 {
		return false, nil
	}
	if err := zaddExpire.Run(ctx, s.c, []string{s.dmarcPeriod(r.Domain)}, store.Millis(r.Begin), r.ID, store.Millis(r.Expires), store.Millis(now)).Err(); err != nil {
		return true, wrap(err)
	}
	if err := s.c.ZAddArgs(ctx, s.dmarcDomains(), goredis.ZAddArgs{GT: true, Members: []goredis.Z{{Score: float64(store.Millis(r.Expires)), Member: r.Domain}}}).Err(); err != nil {
		return true, wrap(err)
	}
	return true, nil
}

// DMARCReportList implements store.DMARCReports.
func (s *Store) DMARCReportList(ctx context.Context, q store.DMARCReportQuery) ([]store.DMARCReport, error) {
	min := "-inf"
	if !q.From.IsZero() {
		min = msStr(q.From.Add(-store.MaxDMARCPeriod))
	}
	max := "+inf"
	if !q.To.IsZero() {
		max = "(" + msStr(q.To)
	}
	limit := q.DefaultLimit()
	var out []store.DMARCReport
	var offset int64
	const page = 500
	for len(out) < limit {
		ids, err := s.c.ZRangeByScore(ctx, s.dmarcPeriod(q.Domain), &goredis.ZRangeBy{Min: min, Max: max, Offset: offset, Count: page}).Result()
		if err != nil {
			return out, wrap(err)
		}
		if len(ids) == 0 {
			break
		}
		offset += int64(len(ids))
		pipe := s.c.Pipeline()
		gets := make([]*goredis.StringCmd, len(ids))
		for i, id := range ids {
			gets[i] = pipe.HGet(ctx, s.dmarcKey(id), "d")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
			return out, wrap(err)
		}
		for _, g := range gets {
			b, err := g.Bytes()
			if err != nil {
				continue // expired: the sweep drops it from the index
			}
			var r store.DMARCReport
			if json.Unmarshal(b, &r) != nil || !r.Expires.After(q.Now) || !q.Overlaps(r) {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
		if len(ids) < page {
			break
		}
	}
	return out, nil
}

// DMARCReportDomains implements store.DMARCReports.
func (s *Store) DMARCReportDomains(ctx context.Context, now time.Time) ([]string, error) {
	ds, err := s.c.ZRangeByScore(ctx, s.dmarcDomains(), &goredis.ZRangeBy{Min: "(" + msStr(now), Max: "+inf"}).Result()
	if err != nil {
		return nil, wrap(err)
	}
	slices.Sort(ds)
	return ds, nil
}

// DMARCReportSweep implements store.DMARCReports: Redis expires the
// reports by itself; this drops their ids from the period indexes.
func (s *Store) DMARCReportSweep(ctx context.Context, now time.Time) (int, error) {
	ds, err := s.c.ZRange(ctx, s.dmarcDomains(), 0, -1).Result()
	if err != nil {
		return 0, wrap(err)
	}
	removed := 0
	for _, d := range ds {
		ids, err := s.c.ZRange(ctx, s.dmarcPeriod(d), 0, -1).Result()
		if err != nil {
			return removed, wrap(err)
		}
		pipe := s.c.Pipeline()
		ex := make([]*goredis.IntCmd, len(ids))
		for i, id := range ids {
			ex[i] = pipe.Exists(ctx, s.dmarcKey(id))
		}
		if len(ids) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return removed, wrap(err)
			}
		}
		var dead []any
		for i, e := range ex {
			if e.Val() == 0 {
				dead = append(dead, ids[i])
			}
		}
		if len(dead) > 0 {
			if err := s.c.ZRem(ctx, s.dmarcPeriod(d), dead...).Err(); err != nil {
				return removed, wrap(err)
			}
			removed += len(dead)
		}
	}
	if err := s.c.ZRemRangeByScore(ctx, s.dmarcDomains(), "-inf", msStr(now)).Err(); err != nil {
		return removed, wrap(err)
	}
	return removed, nil
}
