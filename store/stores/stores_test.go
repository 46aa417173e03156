package stores

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	opts := store.Options{SweepInterval: -1}

	s, err := Open("", dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.(*bolt.Store); !ok || b.Path() != filepath.Join(dir, bolt.FileName) {
		t.Errorf("default store = %T %v", s, s)
	}
	s.Close()

	p := filepath.Join(dir, "other.db")
	s, err = Open("bolt:"+p, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.(*bolt.Store); !ok || b.Path() != p {
		t.Errorf("bolt:path store = %T", s)
	}
	s.Close()

	// Opening a Redis store does not connect yet.
	s, err = Open("redis://127.0.0.1:1/0?prefix=x:", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*redis.Store); !ok {
		t.Errorf("redis store = %T", s)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping to port 1 succeeded")
	}
	s.Close()

	for _, bad := range []string{"sqlite:x", "bolt:", "redis://h/0?nope=1"} {
		if _, err := Open(bad, dir, opts); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := Open("", "", opts); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open without data dir: %v", err)
	}
}
