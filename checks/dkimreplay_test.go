package checks

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// replayStores opens an empty embedded store or an empty Redis store for
// a subtest (without redis-server the Redis subtest skips, or fails under
// CI=true).
func replayStores(t *testing.T) map[string]func(t *testing.T) store.DKIMReplay {
	srv := redistest.Shared(t)
	var n atomic.Int64
	return map[string]func(t *testing.T) store.DKIMReplay{
		"bolt": func(t *testing.T) store.DKIMReplay {
			b, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
		"redis": func(t *testing.T) store.DKIMReplay {
			r, err := redis.Open(srv(t).URL(0, fmt.Sprintf("r%d:", n.Add(1))), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
	}
}

// TestDKIMReplay verifies real signatures with the DKIM check and feeds
// its results to the replay check: one signed message replayed from many
// networks or to many recipients gets DKIM_REPLAY; the same sender's other
// messages, an unsigned or failing copy, and mail under the thresholds do
// not.
func TestDKIMReplay(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res := &dnstest.Mock{TXT: map[string][]string{"s._domainkey.bigmail.example": {edRecord(pub)}}}
	signed := dkimSigned(t, "From: someone@bigmail.example\r\nTo: x@example.org\r\nSubject: hi\r\n\r\nbuy now\r\n", "bigmail.example", "s", key)
	other := dkimSigned(t, "From: someone@bigmail.example\r\nTo: x@example.org\r\nSubject: hi\r\n\r\nsee you\r\n", "bigmail.example", "s", key)
	dk := NewDKIM(res)
	for name, open := range replayStores(t) {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultDKIMReplayConfig()
			ck, err := NewDKIMReplay(cfg, open(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			ck.now = func() time.Time { return now }
			scan := func(raw, ip string, rcpts ...string) engine.Result {
				t.Helper()
				tx := &engine.Transaction{ClientIP: netip.MustParseAddr(ip), Rcpts: rcpts, Message: message.Parse([]byte(raw))}
				deps := dmarcDeps{"dkim": dk.Run(context.Background(), tx, nil).Value}
				return ck.Run(context.Background(), tx, deps)
			}
			hit := func(r engine.Result) bool { return len(r.Symbols) == 1 && r.Symbols[0].Name == SymDKIMReplay }
			// Three networks (two addresses in one /24 count once): fine.
			for i, ip := range []string{"192.0.2.1", "192.0.2.77", "198.51.100.1", "2001:db8:1::1"} {
				if r := scan(signed, ip, fmt.Sprintf("u%d@example.org", i)); hit(r) {
					t.Fatalf("sighting %d from %s: %+v", i, ip, r.Symbols)
				}
			}
			// The same message to the same users from more networks (an
			// MTA retrying from other servers of its pool after
			// greylisting, a user's forwarders): not a replay.
			for i := range 3 {
				ip := fmt.Sprintf("100.64.%d.1", i)
				if r := scan(signed, ip, "u1@example.org", "U0@example.org"); hit(r) {
					t.Fatalf("retry %d from %s: %+v", i, ip, r.Symbols)
				}
			}
			// The fourth network: a replay.
			r := scan(signed, "203.0.113.9", "v@example.org")
			if !hit(r) || !strings.HasPrefix(r.Symbols[0].Options[0], "bigmail.example: 4 networks in 8 messages since 2026-03-01T12:00:00Z") {
				t.Fatalf("fourth network: %+v", r.Symbols)
			}
			// Another message of the same sender, a copy with a broken
			// signature, an unsigned copy: not counted with it.
			for _, raw := range []string{other, strings.Replace(signed, "buy now", "buy later", 1), "From: a@b.example\r\n\r\nbuy now\r\n"} {
				if r := scan(raw, "203.0.113.10", "u@example.org"); hit(r) {
					t.Errorf("%.40q: %+v", raw, r.Symbols)
				}
			}
			// Past the window the count starts again.
			now = now.Add(cfg.Window.D())
			if r := scan(signed, "203.0.113.11", "u@example.org"); hit(r) {
				t.Errorf("after the window: %+v", r.Symbols)
			}
			// Recipients: 50 are fine, the 51st (any network) is a replay.
			var rc []string
			for i := range 49 {
				rc = append(rc, fmt.Sprintf("user%d@Example.org", i))
			}
			if r := scan(other, "192.0.2.1", rc...); hit(r) {
				t.Fatalf("49 recipients: %+v", r.Symbols)
			}
			if r := scan(other, "192.0.2.1", "USER0@example.org", "last@example.org"); hit(r) {
				t.Fatalf("50 recipients (one again, in another case): %+v", r.Symbols)
			}
			r = scan(other, "192.0.2.1", "one-more@example.org")
			if !hit(r) || !strings.Contains(r.Symbols[0].Options[0], "51 recipients or more") {
				t.Fatalf("51st recipient: %+v", r.Symbols)
			}
			// Copies from the signer's own servers (SPF passes for an
			// aligned domain: greylisting retries from other networks of
			// the provider) are not counted; an unaligned SPF pass is.
			fresh := dkimSigned(t, "From: b@bigmail.example\r\nTo: y@example.org\r\nSubject: s\r\n\r\nnews\r\n", "bigmail.example", "s", key)
			scanSPF := func(ip, spfDomain, rcpt string) engine.Result {
				tx := &engine.Transaction{ClientIP: netip.MustParseAddr(ip), Rcpts: []string{rcpt}, Message: message.Parse([]byte(fresh))}
				deps := dmarcDeps{"dkim": dk.Run(context.Background(), tx, nil).Value, "spf": &spf.Result{Code: spf.Pass, Domain: spfDomain}}
				return ck.Run(context.Background(), tx, deps)
			}
			for i := range 6 {
				if r := scanSPF(fmt.Sprintf("209.85.%d.1", i), "mail.bigmail.example", fmt.Sprintf("y%d@example.org", i)); r.Symbols != nil || r.Value != nil {
					t.Fatalf("copy %d from the signer's own servers: %+v", i, r)
				}
			}
			for i := range 4 {
				r := scanSPF(fmt.Sprintf("203.0.%d.1", i), "spammer.example", fmt.Sprintf("z%d@example.org", i))
				if hit(r) != (i == 3) {
					t.Fatalf("copy %d from a server of another SPF domain: %+v", i, r.Symbols)
				}
			}
			// Outbound mail is not counted.
			tx := &engine.Transaction{ClientIP: netip.MustParseAddr("10.0.0.1"), Outbound: true, Message: message.Parse([]byte(signed))}
			if r := ck.Run(context.Background(), tx, dmarcDeps{"dkim": dk.Run(context.Background(), tx, nil).Value}); r.Symbols != nil || r.Value != nil {
				t.Errorf("outbound: %+v", r)
			}
		})
	}
}

func TestDKIMReplayConfig(t *testing.T) {
	c := DefaultDKIMReplayConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*DKIMReplayConfig){
		func(c *DKIMReplayConfig) { c.Window = 0 },
		func(c *DKIMReplayConfig) { c.MaxNetworks = 0 },
		func(c *DKIMReplayConfig) { c.MaxRecipients = 20000 },
		func(c *DKIMReplayConfig) { c.IPv4Prefix = 33 },
		func(c *DKIMReplayConfig) { c.IPv6Prefix = 8 },
	} {
		c := DefaultDKIMReplayConfig()
		bad(&c)
		if _, err := NewDKIMReplay(c, nil, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// BenchmarkDKIMReplay: the cost of counting one verified signature per
// message (the DKIM verification itself is not included), 16 scans at a
// time as in bench/compare: ns/op is wall time per message at that
// concurrency.
func BenchmarkDKIMReplay(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	raw := "From: someone@bigmail.example\r\nTo: x@example.org\r\nSubject: hi\r\n\r\nbuy now\r\n"
	sig, err := dkimSign(raw, key)
	if err != nil {
		b.Fatal(err)
	}
	dk := NewDKIM(&dnstest.Mock{TXT: map[string][]string{"s._domainkey.bigmail.example": {edRecord(pub)}}})
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Rcpts: []string{"u@example.org"}, Message: message.Parse([]byte(sig))}
	deps := dmarcDeps{"dkim": dk.Run(context.Background(), tx, nil).Value}
	var srv *redistest.Server
	for name, open := range map[string]func() store.DKIMReplay{
		"bolt": func() store.DKIMReplay {
			s, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func() store.DKIMReplay {
			if srv == nil {
				srv = redistest.Start(b)
			}
			s, err := redis.Open(srv.URL(0, "bench:"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	} {
		b.Run(name, func(b *testing.B) {
			ck, err := NewDKIMReplay(DefaultDKIMReplayConfig(), open(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8) // 16 scans at once on 2 cores
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					tx := *tx
					tx.ClientIP = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), 1})
					ck.Run(context.Background(), &tx, deps)
				}
			})
		})
	}
}

func dkimSign(raw string, key ed25519.PrivateKey) (string, error) {
	v, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "bigmail.example", Selector: "s", Signer: key})
	if err != nil {
		return "", err
	}
	return "DKIM-Signature: " + v + "\r\n" + raw, nil
}
