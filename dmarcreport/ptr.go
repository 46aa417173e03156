package dmarcreport

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
)

// ptrCache resolves each source address once: a name (or its absence) is
// kept for ptrTTL, at most ptrMax addresses.
type ptrCache struct {
	res dns.Resolver
	mu  sync.Mutex
	m   map[netip.Addr]ptrEntry
}

type ptrEntry struct {
	name string
	at   time.Time
}

const (
	ptrTTL     = 24 * time.Hour
	ptrMax     = 100_000
	ptrTimeout = 3 * time.Second
	ptrWorkers = 16
)

func newPTRCache(res dns.Resolver) *ptrCache {
	return &ptrCache{res: res, m: map[netip.Addr]ptrEntry{}}
}

// names returns the PTR name of each address ("" when none or unknown),
// asking DNS only for those not cached, ptrWorkers at a time, within ctx.
func (c *ptrCache) names(ctx context.Context, ips []netip.Addr) map[netip.Addr]string {
	out := make(map[netip.Addr]string, len(ips))
	now := time.Now()
	var todo []netip.Addr
	c.mu.Lock()
	for _, ip := range ips {
		if e, ok := c.m[ip]; ok && now.Sub(e.at) < ptrTTL {
			out[ip] = e.name
		} else {
			todo = append(todo, ip)
		}
	}
	c.mu.Unlock()
	if c.res == nil || len(todo) == 0 {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan netip.Addr)
	for range min(ptrWorkers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ip := range ch {
				lctx, cancel := context.WithTimeout(ctx, ptrTimeout)
				names, err := c.res.LookupPTR(lctx, ip)
				cancel()
				if err != nil && !dns.IsNotFound(err) {
					continue // temporary: ask again next time
				}
				name := ""
				if len(names) > 0 {
					name = strings.TrimSuffix(strings.ToLower(names[0]), ".")
				}
				mu.Lock()
				out[ip] = name
				mu.Unlock()
				c.mu.Lock()
				if len(c.m) >= ptrMax {
					clear(c.m)
				}
				c.m[ip] = ptrEntry{name, time.Now()}
				c.mu.Unlock()
			}
		}()
	}
	for _, ip := range todo {
		if ctx.Err() != nil {
			break
		}
		ch <- ip
	}
	close(ch)
	wg.Wait()
	return out
}
