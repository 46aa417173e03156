package greylist

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func TestAdminRoundTrip(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &Clock{t: t0}
	g := newGreylister(t, st, clk, nil)
	c := g
	ctx := context.Background()
	g.Decide(ctx, req("192.0.2.10", "a@example.org", "u@example.net"))
	g.Decide(ctx, req("198.51.100.1", "b@example.org", "v@example.net"))

	e, err := c.Allow(ctx, "203.0.113.0/24", "partner", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "net:203.0.113.0/24" || e.Reason != "partner" || !e.Expires.Equal(t0.Add(30*24*time.Hour)) {
		t.Errorf("Allow = %+v", e)
	}
	if _, err := c.Allow(ctx, "example.com", "", 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Allow(ctx, "not a target", "", 0)
	if !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), "not an IP") {
		t.Errorf("bad target: %v", err)
	}

	l, err := c.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Greylist) != 2 || len(l.Allow) != 2 || l.Allow[0].Key != "domain:example.com" || l.Allow[0].Reason != "admin" || !l.Allow[0].Expires.IsZero() {
		t.Fatalf("List = %+v", l)
	}
	var key string
	for _, e := range l.Greylist {
		if strings.HasPrefix(e.Key, "net:192.0.2.0/24|") {
			key = e.Key
		}
	}
	if key != "net:192.0.2.0/24|a@example.org|u@example.net" {
		t.Fatalf("greylist keys: %+v", l.Greylist)
	}
	// Drop a greylist entry (its key has "/" and "|": escaped in the path).
	if ok, err := c.Drop(ctx, key); !ok || err != nil {
		t.Errorf("Drop(%s) = %v, %v", key, ok, err)
	}
	if ok, err := c.Drop(ctx, key); ok || err != nil {
		t.Errorf("Drop again = %v, %v; want false, nil", ok, err)
	}
	// The dropped triplet starts over.
	if d := g.Decide(ctx, req("192.0.2.10", "a@example.org", "u@example.net")); d.Reason != "new" {
		t.Errorf("after drop: %v %q", d.Outcome, d.Reason)
	}
	// Drop allowlist entries by target and by key.
	if ok, err := c.Drop(ctx, "203.0.113.0/24"); !ok || err != nil {
		t.Errorf("Drop(net) = %v, %v", ok, err)
	}
	if ok, err := c.Drop(ctx, "domain:example.com"); !ok || err != nil {
		t.Errorf("Drop(domain key) = %v, %v", ok, err)
	}
	clk.Advance(49 * time.Hour)
	if l, _ := c.List(ctx, 0); len(l.Greylist) != 0 || len(l.Allow) != 0 {
		t.Errorf("after expiry and drops: %+v", l)
	}
}

// A store that fails gives errors, not a hang.
func TestAdminStoreDown(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	g := newGreylister(t, st, &Clock{t: t0}, nil)
	st.Close()
	ctx := context.Background()
	if _, err := g.List(ctx, 0); err == nil {
		t.Error("List with the store closed: no error")
	}
	if _, err := g.Allow(ctx, "192.0.2.1", "", 0); err == nil {
		t.Error("Allow with the store closed: no error")
	}
	if _, err := g.Drop(ctx, "x"); err == nil {
		t.Error("Drop with the store closed: no error")
	}
	// And Decide fails open.
	if d := g.Decide(context.Background(), req("192.0.2.10", "a@example.org", "u@example.net")); d.Outcome != Error || d.Err == nil {
		t.Errorf("Decide with the store closed: %v %v", d.Outcome, d.Err)
	}
}
