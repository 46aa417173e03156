package dmarcreport

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/iprev"
)

// ptrName is what the reverse DNS says of a source address.
type ptrName struct {
	// Name is the first PTR name that resolves back to the address
	// (forward-confirmed, RFC 8601 §3), else the first PTR name; "" when
	// the address has none.
	Name string
	// Confirmed says Name resolves back to the address. Only a confirmed
	// name can make a source the domain's own: anyone can publish
	// "mx.example.org" as the PTR name of an address they hold.
	Confirmed bool
}

// ptrCache resolves each source address once, for the summaries: a
// lookup that finished is kept ptrTTL (a temporary failure ptrRetry), the
// ptrMax least recently used addresses at most. Lookups run ptrWorkers at
// a time, never twice at once for the same address, and finish in the
// background when the caller stops waiting, so that the next summary has
// the name.
type ptrCache struct {
	res dns.Resolver
	max int
	now func() time.Time

	mu       sync.Mutex
	lru      *list.List // of *ptrEntry, most recently used first
	m        map[netip.Addr]*list.Element
	inflight map[netip.Addr]chan struct{}
	sem      chan struct{}
}

type ptrEntry struct {
	ip      netip.Addr
	name    ptrName
	expires time.Time
}

const (
	ptrTTL     = 24 * time.Hour
	ptrRetry   = 5 * time.Minute
	ptrMax     = 50_000
	ptrTimeout = 5 * time.Second
	ptrWorkers = 16
	// ptrQueue bounds the lookups started and not finished: a summary of
	// more sources than that gets the rest of the names on a later view.
	ptrQueue = 5_000
)

func newPTRCache(res dns.Resolver) *ptrCache {
	return &ptrCache{res: res, max: ptrMax, now: time.Now, lru: list.New(), m: map[netip.Addr]*list.Element{},
		inflight: map[netip.Addr]chan struct{}{}, sem: make(chan struct{}, ptrWorkers)}
}

// names returns the reverse DNS of each address that is cached or
// resolved before ctx ends; the others are absent from the map (their
// lookups go on in the background).
func (c *ptrCache) names(ctx context.Context, ips []netip.Addr) map[netip.Addr]ptrName {
	out := make(map[netip.Addr]ptrName, len(ips))
	if c.res == nil {
		return out
	}
	var wait []chan struct{}
	var waitIPs []netip.Addr
	now := c.now()
	c.mu.Lock()
	for _, ip := range ips {
		if n, ok := c.getLocked(ip, now); ok {
			out[ip] = n
			continue
		}
		ch, ok := c.inflight[ip]
		if !ok {
			if len(c.inflight) >= ptrQueue {
				continue
			}
			ch = make(chan struct{})
			c.inflight[ip] = ch
			go c.resolve(ip, ch)
		}
		wait, waitIPs = append(wait, ch), append(waitIPs, ip)
	}
	c.mu.Unlock()
	for _, ch := range wait {
		select {
		case <-ch:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	now = c.now()
	c.mu.Lock()
	for _, ip := range waitIPs {
		if n, ok := c.getLocked(ip, now); ok {
			out[ip] = n
		}
	}
	c.mu.Unlock()
	return out
}

// getLocked returns the unexpired entry of ip, marking it used.
func (c *ptrCache) getLocked(ip netip.Addr, now time.Time) (ptrName, bool) {
	el, ok := c.m[ip]
	if !ok {
		return ptrName{}, false
	}
	e := el.Value.(*ptrEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.m, ip)
		return ptrName{}, false
	}
	c.lru.MoveToFront(el)
	return e.name, true
}

// resolve looks ip up (FCrDNS) within ptrTimeout, independent of the
// caller that asked, caches the outcome and closes done.
func (c *ptrCache) resolve(ip netip.Addr, done chan struct{}) {
	c.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), ptrTimeout)
	r := iprev.Verify(ctx, c.res, ip)
	cancel()
	<-c.sem
	var n ptrName
	ttl := ptrTTL
	switch {
	case r.Status == iprev.Pass:
		n = ptrName{Name: r.Name, Confirmed: true}
	case len(r.Names) > 0:
		// A forward lookup that failed for the moment may confirm the
		// name later: ask again soon.
		n = ptrName{Name: r.Names[0]}
		if r.Status == iprev.TempError {
			ttl = ptrRetry
		}
	case r.Status == iprev.TempError:
		ttl = ptrRetry
	}
	c.mu.Lock()
	c.putLocked(ip, n, c.now().Add(ttl))
	delete(c.inflight, ip)
	c.mu.Unlock()
	close(done)
}

// putLocked stores an entry, evicting the least recently used beyond max.
func (c *ptrCache) putLocked(ip netip.Addr, n ptrName, expires time.Time) {
	if el, ok := c.m[ip]; ok {
		el.Value = &ptrEntry{ip, n, expires}
		c.lru.MoveToFront(el)
		return
	}
	c.m[ip] = c.lru.PushFront(&ptrEntry{ip, n, expires})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*ptrEntry).ip)
	}
}

// len returns how many addresses are cached.
func (c *ptrCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
