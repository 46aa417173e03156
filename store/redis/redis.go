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
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
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
