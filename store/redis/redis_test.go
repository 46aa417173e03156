package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
	"github.com/hamlet-mail/hamlet/store/storetest"
)

var prefixes atomic.Int64

// opener gives each store its own key prefix on one server, so the
// prefix isolation is exercised too.
func opener(srv *redistest.Server) storetest.Opener {
	return func(t *testing.T, opts store.Options) store.Store {
		s, err := Open(srv.URL(0, fmt.Sprintf("t%d:", prefixes.Add(1))), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, opener(srv))
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		addrs   []string
		db      int
		prefix  string
		master  string
		cluster bool
		tls     bool
		user    string
		pass    string
		err     string
	}{
		{url: "redis://host:6379/0", addrs: []string{"host:6379"}, prefix: "hamlet:"},
		{url: "redis://host", addrs: []string{"host:6379"}, prefix: "hamlet:"},
		{url: "redis://", addrs: []string{"localhost:6379"}, prefix: "hamlet:"},
		{url: "redis://u:p%40ss@host:7000/3?prefix=mx1:", addrs: []string{"host:7000"}, db: 3, prefix: "mx1:", user: "u", pass: "p@ss"},
		{url: "rediss://[::1]:6380/1", addrs: []string{"[::1]:6380"}, db: 1, prefix: "hamlet:", tls: true},
		{url: "redis://s1:26379?master_name=mymaster&addr=s2:26379&addr=s3:26379", addrs: []string{"s1:26379", "s2:26379", "s3:26379"}, prefix: "hamlet:", master: "mymaster"},
		{url: "redis://seed:7000?cluster=true", addrs: []string{"seed:7000"}, prefix: "hamlet:", cluster: true},
		{url: "http://host", err: "scheme"},
		{url: "redis://host/x", err: "database number"},
		{url: "redis://host/0?prefx=a", err: "unknown URL parameter"},
		{url: "redis://host/0?dial_timeout=soon", err: "dial_timeout"},
		{url: "redis://host:port:x/0", err: "bad URL"},
		{url: "redis://u:secret@host:port:x/0", err: "bad URL"},
	}
	for _, tt := range tests {
		o, prefix, err := ParseURL(tt.url)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.url, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: the error shows the password: %v", tt.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if fmt.Sprint(o.Addrs) != fmt.Sprint(tt.addrs) || o.DB != tt.db || prefix != tt.prefix || o.MasterName != tt.master ||
			o.IsClusterMode != tt.cluster || (o.TLSConfig != nil) != tt.tls || o.Username != tt.user || o.Password != tt.pass {
			t.Errorf("%s: got addrs=%v db=%d prefix=%q master=%q cluster=%v tls=%v user=%q pass=%q", tt.url,
				o.Addrs, o.DB, prefix, o.MasterName, o.IsClusterMode, o.TLSConfig != nil, o.Username, o.Password)
		}
	}
}

// Two stores (two hosts) hammering one key: every attempt is counted once.
func TestTwoHostsNoRace(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0, "race:")
	a, err := Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	const per = 100
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per / 4 {
					if _, err := s.GreylistAttempt(ctx, "k", storetest.T0, storetest.Params); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.CounterIncr(ctx, "c", store.CounterOp{Now: storetest.T0, TTL: time.Hour}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	e, err := a.GreylistGet(ctx, "k", storetest.T0)
	if err != nil || e.Blocked != 2*per {
		t.Errorf("entry after %d attempts from two hosts: %+v, %v", 2*per, e, err)
	}
	c, err := b.CounterGet(ctx, "c", storetest.T0)
	if err != nil || c.Value != 2*per {
		t.Errorf("counter after %d increments from two hosts: %+v, %v", 2*per, c, err)
	}
}

// Physical TTLs: a waiting entry's key lives RetryWindow in Redis, a passed
// one PassTTL; an idle store does not grow.
func TestKeyTTLs(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(srv.URL(0, "ttl:"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p := store.GreylistParams{Delay: time.Second, RetryWindow: 3 * time.Second, PassTTL: time.Hour}
	if _, err := s.GreylistAttempt(ctx, "k", storetest.T0, p); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.Client().PTTL(ctx, "ttl:gl:k").Result()
	if err != nil || ttl <= 0 || ttl > 3*time.Second {
		t.Errorf("waiting entry TTL = %v, %v; want (0, 3s]", ttl, err)
	}
	if _, err := s.GreylistAttempt(ctx, "k", storetest.T0.Add(2*time.Second), p); err != nil {
		t.Fatal(err)
	}
	ttl, _ = s.Client().PTTL(ctx, "ttl:gl:k").Result()
	if ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("passed entry TTL = %v, want ~1h", ttl)
	}
	if err := s.AllowAdd(ctx, store.AllowEntry{Key: "a", Added: storetest.T0, Expires: storetest.T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := s.Client().PTTL(ctx, "ttl:allow:a").Result(); ttl <= time.Hour || ttl > time.Hour+time.Minute {
		t.Errorf("allow entry TTL = %v", ttl)
	}
	if err := s.AllowAdd(ctx, store.AllowEntry{Key: "perm", Added: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := s.Client().TTL(ctx, "ttl:allow:perm").Result(); ttl != -1 {
		t.Errorf("permanent allow entry TTL = %v, want none (-1)", ttl)
	}
}

// Redis stopped: operations fail quickly with an error; Redis back: the same
// store works again without being reopened.
func TestOutageAndReconnect(t *testing.T) {
	srv := redistest.Start(t)
	s, err := Open(srv.URL(0, "out:"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.GreylistAttempt(ctx, "k", storetest.T0, storetest.Params); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := s.GreylistAttempt(c, "k", storetest.T0, storetest.Params); err == nil {
		t.Fatal("attempt with Redis down: no error")
	}
	if err := s.Ping(c); err == nil {
		t.Error("Ping with Redis down: no error")
	}
	t.Logf("failure with Redis down took %v", time.Since(start))
	srv.Restart()
	var e store.GreylistEntry
	// go-redis redials on demand; allow for a pooled dead connection or two.
	for i := 0; i < 50; i++ {
		if e, err = s.GreylistAttempt(ctx, "k2", storetest.T0, storetest.Params); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || e.Blocked != 1 {
		t.Fatalf("after Redis came back: %+v, %v", e, err)
	}
}

// The whole suite against a real three-master Redis Cluster: single-key
// scripts, pipelines across slots and SCAN on every master.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	cl := redistest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s, err := Open(cl.URL(fmt.Sprintf("cl%d:", prefixes.Add(1))), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Client().(*goredis.ClusterClient); !ok {
			t.Fatalf("client is %T, want a cluster client", s.Client())
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Through a Sentinel: the client asks it for the master of "mymaster".
func TestConformanceSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	_, sentinel := redistest.StartSentinel(t)
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s, err := Open(fmt.Sprintf("redis://%s/0?master_name=mymaster&prefix=se%d:", sentinel, prefixes.Add(1)), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// go test -run='^$' -bench=Store ./store/redis
func BenchmarkStore(b *testing.B) {
	srv := redistest.Start(b)
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := Open(srv.URL(0, fmt.Sprintf("bench%d:", prefixes.Add(1))), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// TestHistoryIndexOutlived: an index set expires at its block's end plus
// the retention in force when it was written; a record that outlives it
// (here: written under a 1 h retention three hours late, then the
// retention raised to 30 days) is still found by a filtered query.
func TestHistoryIndexOutlived(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	url := srv.URL(0, "outlived:")
	s, err := Open(url, store.Options{HistoryMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
	if err := s.HistoryAdd(ctx, store.HistoryRecord{Time: when, QueueID: "LATE1", Action: "reject", From: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(url, store.Options{HistoryMaxAge: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.HistoryList(ctx, store.HistoryQuery{Limit: 10})
	if err != nil || len(all) != 1 {
		t.Fatalf("unfiltered: %d records, %v", len(all), err)
	}
	byQID := func(r *store.HistoryRecord) bool { return r.QueueID == "LATE1" }
	got, err := s.HistoryList(ctx, store.HistoryQuery{Limit: 10, Match: byQID, Terms: []string{store.TermQueueID("LATE1")}})
	if err != nil || len(got) != 1 {
		t.Errorf("filtered by queue id: %d records, %v; want the one the unfiltered list shows", len(got), err)
	}
}
