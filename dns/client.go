package dns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/hamlet-mail/hamlet/config/duration"
)

// Config configures a Client.
type Config struct {
	// Servers are recursive resolvers as host:port; empty means those of
	// /etc/resolv.conf.
	Servers []string `toml:"servers"`
	// Timeout bounds one attempt at one server (default 2s).
	Timeout duration.Duration `toml:"timeout"`
	// Attempts is how many times each server is tried (default 2).
	Attempts int `toml:"attempts"`
	// CacheSize bounds the number of cached answers (default 20000; 0
	// takes the default, negative disables the cache).
	CacheSize int `toml:"cache_size"`
	// MaxTTL caps how long an answer is cached (default 1h).
	MaxTTL duration.Duration `toml:"max_ttl"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("servers: %q is not host:port: %w", s, err)
		}
	}
	if c.Timeout < 0 || c.Attempts < 0 || c.MaxTTL < 0 {
		return errors.New("timeout, attempts and max_ttl must not be negative")
	}
	return nil
}

// Stats are a client's counters since it was made.
type Stats struct {
	Queries   uint64            // upstream queries sent (after cache and singleflight)
	CacheHits uint64            // lookups answered from the cache
	Shared    uint64            // lookups that joined an identical query in flight
	Outcomes  map[string]uint64 // upstream outcomes: ok, nxdomain, nodata, servfail, refused, timeout, malformed
	TCP       uint64            // queries retried over TCP after truncation
}

// Client is the caching, deduplicating stub resolver that implements
// Resolver over the wire (github.com/miekg/dns).
type Client struct {
	servers  []string
	timeout  time.Duration
	attempts int
	maxTTL   time.Duration
	cache    *cache
	group    singleflight.Group
	udp, tcp *mdns.Client

	queries, hits, shared, tcpRetries atomic.Uint64
	outcomes                          [Malformed + 1]atomic.Uint64
}

var _ Resolver = (*Client)(nil)

// Option changes how NewClient builds a Client beyond its Config.
type Option func(*clientOptions)

type clientOptions struct {
	now func() time.Time
}

// WithClock makes the cache read the time from now instead of time.Now,
// so that a test can expire answers (TTL, RFC 1035 §3.2.1; negative
// TTL, RFC 2308 §5) without sleeping.
func WithClock(now func() time.Time) Option {
	return func(o *clientOptions) { o.now = now }
}

// NewClient builds a Client from cfg.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	o := clientOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	servers := cfg.Servers
	if len(servers) == 0 {
		cc, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("dns: no servers configured and /etc/resolv.conf unusable: %w", err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		if len(servers) == 0 {
			return nil, errors.New("dns: no nameserver in /etc/resolv.conf")
		}
	}
	c := &Client{
		servers:  servers,
		timeout:  time.Duration(cfg.Timeout),
		attempts: cfg.Attempts,
		maxTTL:   time.Duration(cfg.MaxTTL),
		udp:      &mdns.Client{Net: "udp", UDPSize: 1232},
		tcp:      &mdns.Client{Net: "tcp"},
	}
	if c.timeout == 0 {
		c.timeout = 2 * time.Second
	}
	if c.attempts == 0 {
		c.attempts = 2
	}
	if c.maxTTL == 0 {
		c.maxTTL = time.Hour
	}
	size := cfg.CacheSize
	if size == 0 {
		size = 20000
	}
	c.cache = newCache(size, o.now)
	return c, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Queries: c.queries.Load(), CacheHits: c.hits.Load(), Shared: c.shared.Load(),
		TCP: c.tcpRetries.Load(), Outcomes: map[string]uint64{"ok": c.outcomes[0].Load()},
	}
	for k := NXDomain; k <= Malformed; k++ {
		s.Outcomes[k.String()] = c.outcomes[k].Load()
	}
	return s
}

// CacheLen returns the number of cached entries.
func (c *Client) CacheLen() int { return c.cache.len() }

// Servers returns the servers the client asks, in order: the configured
// ones or those of /etc/resolv.conf (for the start-up log line).
func (c *Client) Servers() []string { return append([]string(nil), c.servers...) }

// answer is the outcome of one query: records of the asked type (the
// CNAME chain followed) or a failure kind.
type answer struct {
	rrs  []mdns.RR
	kind Kind // 0 when rrs holds the answer
}

// query answers name/qtype from the cache, or joins an identical query in
// flight, or asks upstream. The upstream query runs detached from the
// caller's context (others may wait for it) but bounded by the client's own
// timeouts; the caller stops waiting when its context ends.
func (c *Client) query(ctx context.Context, name string, qtype uint16) ([]mdns.RR, error) {
	name = Normalize(name)
	typ := mdns.TypeToString[qtype]
	if !validName(name) {
		return nil, &Error{Kind: Malformed, Name: name, Type: typ, Err: errors.New("invalid domain name")}
	}
	key := cacheKey{name, qtype}
	if a, ok := c.cache.get(key); ok {
		c.hits.Add(1)
		return a.result(name, typ)
	}
	ch := c.group.DoChan(typ+" "+name, func() (any, error) {
		a := c.exchange(name, qtype)
		return a, nil
	})
	select {
	case r := <-ch:
		if r.Shared {
			c.shared.Add(1)
		}
		return r.Val.(*answer).result(name, typ)
	case <-ctx.Done():
		return nil, &Error{Kind: Timeout, Name: name, Type: typ, Err: ctx.Err()}
	}
}

func (a *answer) result(name, typ string) ([]mdns.RR, error) {
	if a.kind != 0 {
		return nil, &Error{Kind: a.kind, Name: name, Type: typ}
	}
	return a.rrs, nil
}

// exchange asks the servers in turn, each up to c.attempts times, until one
// gives an authoritative answer (records, NXDOMAIN or NODATA), and caches
// the result.
func (c *Client) exchange(name string, qtype uint16) *answer {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	start := rand.IntN(len(c.servers))
	last := &answer{kind: Timeout}
	for i := 0; i < len(c.servers)*c.attempts; i++ {
		srv := c.servers[(start+i)%len(c.servers)]
		c.queries.Add(1)
		resp, err := c.roundTrip(m, srv)
		a, ttl := c.interpret(name, qtype, resp, err)
		c.outcomes[a.kind].Add(1)
		switch a.kind {
		case 0, NXDomain, NoData:
			c.cache.put(cacheKey{name, qtype}, a, min(ttl, c.maxTTL))
			return a
		}
		last = a
	}
	if last.kind == ServFail {
		// RFC 2308 §7.1: a server failure may be cached, at most 5 min;
		// a short time spares a broken domain's servers a storm.
		c.cache.put(cacheKey{name, qtype}, last, 10*time.Second)
	}
	return last
}

// roundTrip sends m over UDP and retries over TCP when the answer is
// truncated (RFC 1035 §4.2.1, RFC 7766 §5).
func (c *Client) roundTrip(m *mdns.Msg, srv string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	resp, _, err := c.udp.ExchangeContext(ctx, m, srv)
	if err == nil && resp.Truncated {
		c.tcpRetries.Add(1)
		resp, _, err = c.tcp.ExchangeContext(ctx, m, srv)
	}
	return resp, err
}

// interpret classifies a response and returns the TTL to cache it for.
func (c *Client) interpret(name string, qtype uint16, resp *mdns.Msg, err error) (*answer, time.Duration) {
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return &answer{kind: Timeout}, 0
		}
		return &answer{kind: ServFail}, 0
	}
	switch resp.Rcode {
	case mdns.RcodeSuccess:
	case mdns.RcodeNameError:
		return &answer{kind: NXDomain}, negativeTTL(resp)
	case mdns.RcodeRefused:
		return &answer{kind: Refused}, 0
	case mdns.RcodeFormatError:
		return &answer{kind: Malformed}, 0
	default:
		return &answer{kind: ServFail}, 0
	}
	// Follow the CNAME chain in the answer section (RFC 1034 §3.6.2),
	// at most 16 links.
	cur := mdns.Fqdn(name)
	var rrs []mdns.RR
	ttl := uint32(1<<31 - 1)
	for hop := 0; hop < 16; hop++ {
		var next string
		for _, rr := range resp.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) {
				continue
			}
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
				ttl = min(ttl, h.Ttl)
			} else if cn, ok := rr.(*mdns.CNAME); ok && qtype != mdns.TypeCNAME {
				next = cn.Target
				ttl = min(ttl, h.Ttl)
			}
		}
		if len(rrs) > 0 || next == "" {
			break
		}
		cur = next
	}
	if len(rrs) == 0 {
		return &answer{kind: NoData}, negativeTTL(resp)
	}
	return &answer{rrs: rrs}, time.Duration(ttl) * time.Second
}

// negativeTTL is the TTL of a negative answer: the minimum of the SOA's
// TTL and its MINIMUM field (RFC 2308 §5). Without a SOA the answer is not
// cached (RFC 2308 §5: "SHOULD NOT be cached").
func negativeTTL(resp *mdns.Msg) time.Duration {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

// validName rejects names that cannot be asked: empty labels, labels over
// 63 octets, names over 253 octets (RFC 1035 §2.3.4).
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// LookupTXT implements Resolver.
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.query(ctx, name, mdns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*mdns.TXT).Txt, ""))
	}
	return out, nil
}

// LookupA implements Resolver.
func (c *Client) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	rrs, err := c.query(ctx, name, mdns.TypeA)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		if ip, ok := netip.AddrFromSlice(rr.(*mdns.A).A.To4()); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// LookupAAAA implements Resolver.
func (c *Client) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	rrs, err := c.query(ctx, name, mdns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		if ip, ok := netip.AddrFromSlice(rr.(*mdns.AAAA).AAAA.To16()); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// LookupMX implements Resolver.
func (c *Client) LookupMX(ctx context.Context, name string) ([]MX, error) {
	rrs, err := c.query(ctx, name, mdns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*mdns.MX)
		out = append(out, MX{Host: Normalize(mx.Mx), Pref: mx.Preference})
	}
	return out, nil
}

// LookupPTR implements Resolver.
func (c *Client) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	rrs, err := c.query(ctx, ReverseName(ip), mdns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, Normalize(rr.(*mdns.PTR).Ptr))
	}
	return out, nil
}
