// Package redis is the shared store: several MX hosts point at one Redis
// (or a Sentinel-managed or Cluster deployment, through go-redis's
// UniversalClient) and see the same greylist, allowlist and history.
//
// Every read-modify-write is one Lua script on one key, so two hosts never
// race (Redis runs a script atomically, and a single-key script is valid
// in Cluster). Keys carry a prefix ("hamlet:" by default) and a TTL, so
// Redis itself reclaims expired entries; bound its memory with Redis's own
// maxmemory and a volatile-* eviction policy.
//
// Key layout (P = prefix):
//
//	P gl:<key>          hash  greylist entry (f l p b n e: Unix ms and counts)
//	P allow:<key>       string JSON store.AllowEntry
//	P ctr:<key>         hash  counter (v l e)
//	P history           zset  JSON records scored by Unix ms
//	P stats:h:<unix>    hash  action → count for the hour starting at <unix>
//	P stats:d:<unix>    hash  the same per day
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
)

// DefaultPrefix is the key prefix when the URL names none.
const DefaultPrefix = "hamlet:"

// Store is the Redis store.
type Store struct {
	c      goredis.UniversalClient
	prefix string
	opts   store.Options
	idx    indexState
}

var _ store.Store = (*Store)(nil)

// ParseURL turns a store URL into client options and a key prefix:
//
//	redis://[user:password@]host[:6379][/db][?param=value&...]
//	rediss://...   (TLS)
//
// Parameters: prefix (default "hamlet:"), addr (more hosts; repeatable),
// master_name (Sentinel: the host(s) are sentinels), cluster=true (Cluster
// with a single seed address), dial_timeout, read_timeout, write_timeout
// (durations), pool_size. Unknown parameters are an error, so that a typo
// does not go unnoticed.
func ParseURL(raw string) (*goredis.UniversalOptions, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("redis store: bad URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, "", fmt.Errorf("redis store: URL scheme %q, want redis or rediss", u.Scheme)
	}
	o := &goredis.UniversalOptions{
		DialTimeout:  2 * time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		// Fail fast when Redis is away: greylisting fails open rather
		// than holding the SMTP session.
		MaxRetries:            1,
		DialerRetries:         1,
		DialerRetryTimeout:    50 * time.Millisecond,
		ContextTimeoutEnabled: true,
	}
	host := u.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	o.Addrs = []string{joinHostPort(host, port)}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if o.DB, err = strconv.Atoi(p); err != nil || o.DB < 0 {
			return nil, "", fmt.Errorf("redis store: bad database number %q in URL", p)
		}
	}
	prefix := DefaultPrefix
	for name, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch name {
		case "prefix":
			prefix = v
		case "addr":
			o.Addrs = append(o.Addrs, vals...)
		case "master_name":
			o.MasterName = v
		case "cluster":
			o.IsClusterMode, err = strconv.ParseBool(v)
		case "dial_timeout":
			o.DialTimeout, err = time.ParseDuration(v)
		case "read_timeout":
			o.ReadTimeout, err = time.ParseDuration(v)
		case "write_timeout":
			o.WriteTimeout, err = time.ParseDuration(v)
		case "pool_size":
			o.PoolSize, err = strconv.Atoi(v)
		default:
			return nil, "", fmt.Errorf("redis store: unknown URL parameter %q", name)
		}
		if err != nil {
			return nil, "", fmt.Errorf("redis store: URL parameter %s=%q: %w", name, v, err)
		}
	}
	if u.Scheme == "rediss" {
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return o, prefix, nil
}

func joinHostPort(h, p string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + p
	}
	return h + ":" + p
}

// Open connects to the Redis named by the URL (see ParseURL). It does not
// fail when Redis is down: the client connects on demand, and reconnects
// by itself after an outage. Call Ping to check.
func Open(rawURL string, opts store.Options) (*Store, error) {
	o, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(goredis.NewUniversalClient(o), prefix, opts), nil
}

// New wraps an existing client. The store closes it on Close.
func New(c goredis.UniversalClient, prefix string, opts store.Options) *Store {
	return &Store{c: c, prefix: prefix, opts: opts.WithDefaults()}
}

// Client returns the underlying client.
func (s *Store) Client() goredis.UniversalClient { return s.c }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return wrap(s.c.Ping(ctx).Err()) }

// Close implements store.Store.
func (s *Store) Close() error { return s.c.Close() }

func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, goredis.ErrClosed):
		return fmt.Errorf("redis store: %w", store.ErrClosed)
	}
	return fmt.Errorf("redis store: %w", err)
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// ---- greylist ----

// greylistScript is store.ApplyAttempt in Lua. KEYS[1] the entry; ARGV
// now, delay, retry window, pass TTL (all ms). Returns f l p b n e.
var greylistScript = goredis.NewScript(`
local k = KEYS[1]
local now, delay, window, passttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', k, 'f', 'p', 'b', 'n', 'e')
local f, p, b, n, e = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4]), tonumber(v[5])
if f == nil or p == nil or b == nil or n == nil or e == nil or now > e then
  f, p, b, n = now, 0, 0, 0
end
if p ~= 0 then
  n = n + 1
elseif now - f >= delay then
  p, n = now, 1
else
  b = b + 1
end
if p == 0 then e = f + window else e = now + passttl end
local function s(x) return string.format('%.0f', x) end
redis.call('HSET', k, 'f', s(f), 'l', s(now), 'p', s(p), 'b', s(b), 'n', s(n), 'e', s(e))
local ttl = e - now
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', k, s(ttl))
return {s(f), s(now), s(p), s(b), s(n), s(e)}
`)

func ints(v any, n int) ([]int64, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != n {
		return nil, fmt.Errorf("redis store: unexpected script reply %v", v)
	}
	out := make([]int64, n)
	for i, x := range arr {
		var err error
		switch x := x.(type) {
		case string:
			out[i], err = strconv.ParseInt(x, 10, 64)
		case int64:
			out[i] = x
		default:
			err = fmt.Errorf("type %T", x)
		}
		if err != nil {
			return nil, fmt.Errorf("redis store: unexpected script reply %v: %w", v, err)
		}
	}
	return out, nil
}

func entryFrom(key string, n []int64) store.GreylistEntry {
	return store.GreylistEntry{
		Key: key, FirstSeen: store.FromMillis(n[0]), LastSeen: store.FromMillis(n[1]), Passed: store.FromMillis(n[2]),
		Blocked: n[3], Passes: n[4], Expires: store.FromMillis(n[5]),
	}
}

// GreylistAttempt implements store.Store.
func (s *Store) GreylistAttempt(ctx context.Context, key string, now time.Time, p store.GreylistParams) (store.GreylistEntry, error) {
	if err := store.CheckKey(key); err != nil {
		return store.GreylistEntry{}, err
	}
	if err := p.Validate(); err != nil {
		return store.GreylistEntry{}, err
	}
	v, err := greylistScript.Run(ctx, s.c, []string{s.prefix + "gl:" + key},
		store.Millis(now), ms(p.Delay), ms(p.RetryWindow), ms(p.PassTTL)).Result()
	if err != nil {
		return store.GreylistEntry{}, wrap(err)
	}
	n, err := ints(v, 6)
	if err != nil {
		return store.GreylistEntry{}, err
	}
	return entryFrom(key, n), nil
}

var greylistFields = []string{"f", "l", "p", "b", "n", "e"}

func parseEntry(key string, vals []any) (store.GreylistEntry, bool) {
	if len(vals) != len(greylistFields) {
		return store.GreylistEntry{}, false
	}
	n := make([]int64, len(vals))
	for i, v := range vals {
		sv, ok := v.(string)
		if !ok {
			return store.GreylistEntry{}, false
		}
		var err error
		if n[i], err = strconv.ParseInt(sv, 10, 64); err != nil {
			return store.GreylistEntry{}, false
		}
	}
	return entryFrom(key, n), true
}

// GreylistGet implements store.Store.
func (s *Store) GreylistGet(ctx context.Context, key string, now time.Time) (store.GreylistEntry, error) {
	vals, err := s.c.HMGet(ctx, s.prefix+"gl:"+key, greylistFields...).Result()
	if err != nil {
		return store.GreylistEntry{}, wrap(err)
	}
	e, ok := parseEntry(key, vals)
	if !ok || e.Expired(now) {
		return store.GreylistEntry{}, store.ErrNotFound
	}
	return e, nil
}

// GreylistList implements store.Store.
func (s *Store) GreylistList(ctx context.Context, now time.Time, limit int) ([]store.GreylistEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	pre := s.prefix + "gl:"
	keys, err := s.scan(ctx, pre, limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.SliceCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, k, greylistFields...)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	var out []store.GreylistEntry
	for i, c := range cmds {
		if e, ok := parseEntry(strings.TrimPrefix(keys[i], pre), c.Val()); ok && !e.Expired(now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// GreylistDelete implements store.Store.
func (s *Store) GreylistDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"gl:"+key).Result()
	return n > 0, wrap(err)
}

// scan returns up to limit keys starting with pre, from every master in
// Cluster mode.
func (s *Store) scan(ctx context.Context, pre string, limit int) ([]string, error) {
	match := globEscape(pre) + "*"
	var out []string
	one := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, match, 1000).Iterator()
		for it.Next(ctx) && len(out) < limit {
			out = append(out, it.Val())
		}
		return it.Err()
	}
	var err error
	if cc, ok := s.c.(*goredis.ClusterClient); ok {
		var mu = make(chan struct{}, 1)
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			return one(ctx, c)
		})
	} else {
		err = one(ctx, s.c)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, wrap(err)
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ---- allowlist ----

// AllowAdd implements store.Store. An entry with Expires gets a Redis TTL
// of Expires-Added.
func (s *Store) AllowAdd(ctx context.Context, e store.AllowEntry) error {
	if err := store.CheckKey(e.Key); err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var ttl time.Duration
	if !e.Expires.IsZero() {
		ref := e.Added
		if ref.IsZero() {
			ref = time.Now()
		}
		if ttl = e.Expires.Sub(ref) + time.Minute; ttl < time.Second {
			ttl = time.Second
		}
	}
	return wrap(s.c.Set(ctx, s.prefix+"allow:"+e.Key, v, ttl).Err())
}

// AllowLookup implements store.Store.
func (s *Store) AllowLookup(ctx context.Context, keys []string, now time.Time) (store.AllowEntry, bool, error) {
	if len(keys) == 0 {
		return store.AllowEntry{}, false, nil
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, s.prefix+"allow:"+k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return store.AllowEntry{}, false, wrap(err)
	}
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue
		}
		var e store.AllowEntry
		if json.Unmarshal(b, &e) == nil && !e.Expired(now) {
			return e, true, nil
		}
	}
	return store.AllowEntry{}, false, nil
}

// AllowList implements store.Store.
func (s *Store) AllowList(ctx context.Context, now time.Time, limit int) ([]store.AllowEntry, error) {
	limit = store.DefaultLimit(limit, 1000)
	keys, err := s.scan(ctx, s.prefix+"allow:", 100*limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap(err)
	}
	var out []store.AllowEntry
	for _, c := range cmds {
		var e store.AllowEntry
		if b, err := c.Bytes(); err == nil && json.Unmarshal(b, &e) == nil && !e.Expired(now) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b store.AllowEntry) int { return strings.Compare(a.Key, b.Key) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AllowDelete implements store.Store.
func (s *Store) AllowDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"allow:"+key).Result()
	return n > 0, wrap(err)
}

// ---- counters ----

// counterScript is store.ApplyCounter in Lua. ARGV now, ttl, min
// interval, delta. Returns v l e.
var counterScript = goredis.NewScript(`
local k = KEYS[1]
local now, ttl, mini, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local r = redis.call('HMGET', k, 'v', 'l', 'e')
local v, l, e = tonumber(r[1]), tonumber(r[2]), tonumber(r[3])
if v == nil or l == nil or e == nil or (e ~= 0 and now > e) then v, l = 0, 0 end
if l == 0 or mini <= 0 or now - l >= mini then v, l = v + delta, now end
e = now + ttl
local function s(x) return string.format('%.0f', x) end
redis.call('HSET', k, 'v', s(v), 'l', s(l), 'e', s(e))
redis.call('PEXPIRE', k, s(ttl))
return {s(v), s(l), s(e)}
`)

// CounterIncr implements store.Store.
func (s *Store) CounterIncr(ctx context.Context, key string, op store.CounterOp) (store.Counter, error) {
	if err := store.CheckKey(key); err != nil {
		return store.Counter{}, err
	}
	if op.TTL <= 0 {
		return store.Counter{}, fmt.Errorf("%w: counter TTL %v", store.ErrInvalid, op.TTL)
	}
	d := op.Delta
	if d == 0 {
		d = 1
	}
	v, err := counterScript.Run(ctx, s.c, []string{s.prefix + "ctr:" + key},
		store.Millis(op.Now), ms(op.TTL), ms(op.MinInterval), d).Result()
	if err != nil {
		return store.Counter{}, wrap(err)
	}
	n, err := ints(v, 3)
	if err != nil {
		return store.Counter{}, err
	}
	return store.Counter{Value: n[0], Last: store.FromMillis(n[1]), Expires: store.FromMillis(n[2])}, nil
}

// CounterGet implements store.Store.
func (s *Store) CounterGet(ctx context.Context, key string, now time.Time) (store.Counter, error) {
	vals, err := s.c.HMGet(ctx, s.prefix+"ctr:"+key, "v", "l", "e").Result()
	if err != nil {
		return store.Counter{}, wrap(err)
	}
	var n [3]int64
	for i, v := range vals {
		sv, ok := v.(string)
		if !ok {
			return store.Counter{}, nil
		}
		if n[i], err = strconv.ParseInt(sv, 10, 64); err != nil {
			return store.Counter{}, nil
		}
	}
	c := store.Counter{Value: n[0], Last: store.FromMillis(n[1]), Expires: store.FromMillis(n[2])}
	if !c.Expires.IsZero() && now.After(c.Expires) {
		return store.Counter{}, nil
	}
	return c, nil
}

// CounterDelete implements store.Store.
func (s *Store) CounterDelete(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"ctr:"+key).Result()
	return n > 0, wrap(err)
}

// ---- history ----

func randomID(t time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(store.Millis(t), 16) + hex.EncodeToString(b[:])
}

// HistoryAdd implements store.Store: the ZADDs and both trims in one
// MULTI.
func (s *Store) HistoryAdd(ctx context.Context, rs ...store.HistoryRecord) error {
	if len(rs) == 0 {
		return nil
	}
	zs := make([]goredis.Z, len(rs))
	latest := time.Time{}
	ix := indexBatch{}
	for i, r := range rs {
		r, err := r.Normalize()
		if err != nil {
			return err
		}
		if r.ID == "" {
			r.ID = randomID(r.Time)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		zs[i] = goredis.Z{Score: float64(store.Millis(r.Time)), Member: v}
		ix.add(&r)
		if r.Time.After(latest) {
			latest = r.Time
		}
	}
	// The index first: a record is never there without its terms.
	if err := s.indexWrite(ctx, ix); err != nil {
		return err
	}
	k := s.prefix + "history"
	cutoff := store.Millis(latest.Add(-s.opts.HistoryMaxAge))
	_, err := s.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAdd(ctx, k, zs...)
		p.ZRemRangeByScore(ctx, k, "-inf", "("+strconv.FormatInt(cutoff, 10))
		p.ZRemRangeByRank(ctx, k, 0, int64(-s.opts.HistoryMaxCount-1))
		p.PExpire(ctx, k, s.opts.HistoryMaxAge)
		return nil
	})
	if err != nil {
		return wrap(err)
	}
	s.indexTrim(ctx)
	return nil
}

// HistoryList implements store.Store. It reads the sorted set newest
// first by rank, in chunks when filtering (rank ranges cost O(log N + M),
// so a deep scan stays linear), and filters here.
func (s *Store) HistoryList(ctx context.Context, q store.HistoryQuery) ([]store.HistoryRecord, error) {
	limit := store.DefaultLimit(q.Limit, 100)
	if len(q.Terms) > 0 {
		return s.historyIndexed(ctx, q, limit)
	}
	k := s.prefix + "history"
	var start int64
	if !q.Before.IsZero() {
		// Members at or after Before come first in reverse order.
		n, err := s.c.ZCount(ctx, k, strconv.FormatInt(store.Millis(q.Before), 10), "+inf").Result()
		if err != nil {
			return nil, wrap(err)
		}
		start = n
	}
	minScore := float64(store.Millis(q.After))
	// A filtered or time-bounded query reads in chunks: it may stop long
	// before limit records.
	chunked := q.Filtered() || !q.After.IsZero()
	chunk := int64(limit)
	if chunked {
		chunk = min(int64(limit), historyChunk)
		if q.Filtered() {
			chunk = historyChunk
		}
	}
	out := make([]store.HistoryRecord, 0, min(limit, 1024))
	var fold []byte
	scanned := 0
	for done := false; !done && len(out) < limit; start += chunk {
		zs, err := s.c.ZRevRangeWithScores(ctx, k, start, start+chunk-1).Result()
		if err != nil {
			return nil, wrap(err)
		}
		done = int64(len(zs)) < chunk || !chunked
		for _, z := range zs {
			if len(out) >= limit || (!q.After.IsZero() && z.Score < minScore) || (q.MaxScan > 0 && scanned >= q.MaxScan) {
				done = true
				break
			}
			scanned++
			v, _ := z.Member.(string)
			if r, ok := q.Decode([]byte(v), &fold); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// historyChunk is how many records a filtered history query reads per
// round trip.
const historyChunk = 2000

// ---- statistics ----

func (s *Store) statsKey(res store.Resolution, start time.Time) string {
	tag := "h"
	if res == store.Daily {
		tag = "d"
	}
	return s.prefix + "stats:" + tag + ":" + strconv.FormatInt(start.Unix(), 10)
}

// StatsAdd implements store.Store. The two buckets are two keys (two
// Cluster slots), each updated atomically by HINCRBY.
func (s *Store) StatsAdd(ctx context.Context, t time.Time, action string, n int64) error {
	if err := store.CheckAction(action); err != nil {
		return err
	}
	if t.IsZero() {
		return fmt.Errorf("%w: stats time is zero", store.ErrInvalid)
	}
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, r := range []struct {
			res  store.Resolution
			keep time.Duration
		}{{store.Hourly, s.opts.StatsHourlyKeep}, {store.Daily, s.opts.StatsDailyKeep}} {
			k := s.statsKey(r.res, r.res.Truncate(t))
			p.HIncrBy(ctx, k, action, n)
			p.Expire(ctx, k, r.keep)
		}
		return nil
	})
	return wrap(err)
}

// maxStatsBuckets bounds the buckets one Stats call reads.
const maxStatsBuckets = 24 * 400

// Stats implements store.Store.
func (s *Store) Stats(ctx context.Context, res store.Resolution, from, to time.Time) ([]store.StatsBucket, error) {
	step := time.Hour
	if res == store.Daily {
		step = 24 * time.Hour
	}
	start := res.Truncate(from)
	if start.Before(from) {
		start = start.Add(step)
	}
	var starts []time.Time
	for t := start; t.Before(to) && len(starts) < maxStatsBuckets; t = t.Add(step) {
		starts = append(starts, t)
	}
	cmds := make([]*goredis.MapStringStringCmd, len(starts))
	_, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, t := range starts {
			cmds[i] = p.HGetAll(ctx, s.statsKey(res, t))
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	var out []store.StatsBucket
	for i, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		counts := make(map[string]int64, len(m))
		for k, v := range m {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				counts[k] = n
			}
		}
		out = append(out, store.StatsBucket{Start: starts[i], Counts: counts})
	}
	return out, nil
}

// Sweep implements store.Store. Redis expires entries by itself; what is
// left is trimming history by age.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	cutoff := store.Millis(now.Add(-s.opts.HistoryMaxAge))
	n, err := s.c.ZRemRangeByScore(ctx, s.prefix+"history", "-inf", "("+strconv.FormatInt(cutoff, 10)).Result()
	return int(n), wrap(err)
}

// ---- tallies ----

// tallyScript adds to the rows of one tally hash, atomically. KEYS[1] the
// tally; ARGV: expiry field, now, expires, max rows, then row/count pairs.
// An expired tally starts afresh; too many rows is an error and nothing
// is added.
var tallyScript = goredis.NewScript(`
local k, ef = KEYS[1], ARGV[1]
local now, exp, maxrows = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local e = tonumber(redis.call('HGET', k, ef))
if e and now > e then redis.call('DEL', k); e = nil end
local rows = redis.call('HLEN', k)
if e then rows = rows - 1 end
for i = 5, #ARGV, 2 do
  if redis.call('HEXISTS', k, ARGV[i]) == 0 then rows = rows + 1 end
end
if rows > maxrows then return redis.error_reply('store: full: tally rows') end
for i = 5, #ARGV, 2 do redis.call('HINCRBY', k, ARGV[i], ARGV[i+1]) end
if not e or exp > e then e = exp end
redis.call('HSET', k, ef, string.format('%.0f', e))
local ttl = e - now
if ttl < 1000 then ttl = 1000 end
redis.call('PEXPIRE', k, string.format('%.0f', ttl))
return rows
`)

// TallyAdd implements store.Store.
func (s *Store) TallyAdd(ctx context.Context, name string, rows map[string]int64, now, expires time.Time) error {
	if err := store.CheckTally(name, rows); err != nil {
		return err
	}
	args := []any{store.TallyExpiresField, store.Millis(now), store.Millis(expires), store.MaxTallyRows}
	for r, n := range rows {
		args = append(args, r, n)
	}
	err := tallyScript.Run(ctx, s.c, []string{s.prefix + "tally:" + name}, args...).Err()
	if err != nil && strings.Contains(err.Error(), "store: full") {
		return fmt.Errorf("redis store: %w: tally %q would have more than %d rows", store.ErrFull, name, store.MaxTallyRows)
	}
	return wrap(err)
}

// TallyGet implements store.Store.
func (s *Store) TallyGet(ctx context.Context, name string, now time.Time) (map[string]int64, error) {
	m, err := s.c.HGetAll(ctx, s.prefix+"tally:"+name).Result()
	if err != nil {
		return nil, wrap(err)
	}
	e, err := strconv.ParseInt(m[store.TallyExpiresField], 10, 64)
	if len(m) == 0 || err != nil || now.After(store.FromMillis(e)) {
		return nil, store.ErrNotFound
	}
	out := make(map[string]int64, len(m)-1)
	for k, v := range m {
		if k == store.TallyExpiresField {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// TallyList implements store.Store.
func (s *Store) TallyList(ctx context.Context, prefix string, now time.Time, limit int) ([]string, error) {
	limit = store.DefaultLimit(limit, 1000)
	pre := s.prefix + "tally:"
	keys, err := s.scan(ctx, pre+prefix, 100*limit)
	if err != nil {
		return nil, err
	}
	cmds := make([]*goredis.StringCmd, len(keys))
	_, err = s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, k, store.TallyExpiresField)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, wrap(err)
	}
	var out []string
	for i, c := range cmds {
		if e, err := c.Int64(); err == nil && !now.After(store.FromMillis(e)) {
			out = append(out, strings.TrimPrefix(keys[i], pre))
		}
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// TallyDelete implements store.Store.
func (s *Store) TallyDelete(ctx context.Context, name string) (bool, error) {
	n, err := s.c.Del(ctx, s.prefix+"tally:"+name).Result()
	return n > 0, wrap(err)
}
