package fuzzy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
)

// benchLearned is how many texts the benchmark database holds.
const benchLearned = 10_000

func benchDB(b *testing.B, st store.Fuzzy) *DB {
	b.Helper()
	d := New(st, DefaultConfig(), nil)
	mem0 := redisMemory(b, st)
	g := mailgen.New(3)
	var hs []Hash
	for range benchLearned {
		hs = append(hs, hashes(string(g.Spam(1500)))...)
	}
	for i := 0; i < len(hs); i += 1000 {
		if err := d.LearnSpam(ctxT(b), hs[i:min(i+1000, len(hs))]); err != nil {
			b.Fatal(err)
		}
	}
	if bs, ok := st.(*bolt.Store); ok {
		if fi, err := os.Stat(bs.Path()); err == nil {
			b.Logf("%d texts learned: bolt file %d bytes (%.0f bytes a text, with the rest of the schema)", len(hs), fi.Size(), float64(fi.Size())/float64(len(hs)))
		}
	}
	if mem0 > 0 {
		mem := redisMemory(b, st)
		b.Logf("%d texts learned: Redis used_memory grew by %d bytes (%.0f bytes a text)", len(hs), mem-mem0, float64(mem-mem0)/float64(len(hs)))
	}
	return d
}

// redisMemory is Redis's used_memory, 0 for another store.
func redisMemory(b *testing.B, st store.Fuzzy) int64 {
	rs, ok := st.(*redis.Store)
	if !ok {
		return 0
	}
	info, err := rs.Client().Info(ctxT(b), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkCheck hashes a 10 KB message (parsed beforehand, as the
// content stage does once per scan) and looks it up among 10,000 learned
// texts: the fuzzy check's cost per message.
func BenchmarkCheck(b *testing.B) {
	for name, open := range stores(b) {
		b.Run(name, func(b *testing.B) {
			d := benchDB(b, open(b))
			c := content.Parse(message.Parse(mailgen.New(99).Ham(10_000)), content.Limits{})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := d.Check(ctxT(b), d.Hashes(c)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHashes is the hashing part alone.
func BenchmarkHashes(b *testing.B) {
	for _, size := range []int{2_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			c := content.Parse(message.Parse(mailgen.New(99).Ham(size)), content.Limits{})
			b.ReportAllocs()
			for b.Loop() {
				if len(FromContent(c, DefaultConfig().Limits())) == 0 {
					b.Fatal("no hash")
				}
			}
		})
	}
}
