package bayes

import (
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// cacheTTL is how long a token's counts read from the store are used
// without reading them again. Learns through this classifier drop the
// tokens they change at once; another host's learns (a shared Redis)
// show after at most this.
const cacheTTL = 30 * time.Second

// tokenCache keeps the counts of recently read tokens: mail repeats its
// words, and a 10 KB message has thousands of tokens, each a lookup in
// the store. Bounded: when full it starts again empty.
type tokenCache struct {
	max   int
	epoch time.Time

	mu  sync.RWMutex
	m   map[uint64]cached
	gen uint64 // counts forgets, so that a read older than a learn is not kept
}

type cached struct {
	counts store.BayesCounts
	at     uint32 // seconds since epoch
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, epoch: time.Now(), m: make(map[uint64]cached, min(max, 1<<16))}
}

func (c *tokenCache) now() uint32 { return uint32(time.Since(c.epoch) / time.Second) }

// get fills out[i] for the tokens it knows and returns the indexes of
// the others, and the generation to give put.
func (c *tokenCache) get(toks []uint64, out []store.BayesCounts) (miss []int, gen uint64) {
	now := c.now()
	ttl := uint32(cacheTTL / time.Second)
	c.mu.RLock()
	for i, t := range toks {
		if e, ok := c.m[t]; ok && now-e.at < ttl {
			out[i] = e.counts
			continue
		}
		miss = append(miss, i)
	}
	gen = c.gen
	c.mu.RUnlock()
	return miss, gen
}

// put remembers the counts of toks[i] for i in idx, read from the store
// after get returned gen; none if a learn came in between.
func (c *tokenCache) put(toks []uint64, counts []store.BayesCounts, idx []int, gen uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m)+len(idx) > c.max {
		clear(c.m)
	}
	for _, i := range idx {
		c.m[toks[i]] = cached{counts: counts[i], at: now}
	}
}

// forget drops the tokens of items (a learn changed their counts).
func (c *tokenCache) forget(items []store.BayesItem) {
	c.mu.Lock()
	c.gen++
	for _, it := range items {
		for _, t := range it.Tokens {
			delete(c.m, t)
		}
	}
	c.mu.Unlock()
}
