package bolt

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/store"
)

// No token added is ever reported absent; of a million others, few pass.
func TestTokenFilter(t *testing.T) {
	var f tokenFilter
	f.init()
	r := rand.New(rand.NewPCG(1, 1))
	in := make([]uint64, 1_000_000)
	for i := range in {
		in[i] = r.Uint64()
		f.add(in[i])
	}
	for _, v := range in {
		if !f.has(v) {
			t.Fatalf("token %x added, reported absent", v)
		}
	}
	pass := 0
	for range 1_000_000 {
		if f.has(r.Uint64()) {
			pass++
		}
	}
	if pass > 10_000 {
		t.Errorf("%d of 1,000,000 absent tokens pass the filter, want under 1%%", pass)
	}
	t.Logf("false positives: %d per million at a million tokens", pass)
}

// The filter is built from the file when it is opened again, and learns
// after that are seen at once.
func TestBayesGetAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	ctx := context.Background()
	st, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.BayesLearn(ctx, store.BayesItem{Digest: "a", Class: store.BayesSpam, Tokens: []uint64{10, 20, 30}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = Open(path, store.Options{SweepInterval: -1}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := make([]store.BayesCounts, 4)
	if err := st.BayesGet(ctx, []uint64{10, 20, 30, 40}, out); err != nil {
		t.Fatal(err)
	}
	if out[0].Spam != 1 || out[1].Spam != 1 || out[2].Spam != 1 || out[3] != (store.BayesCounts{}) {
		t.Fatalf("after reopening: %v", out)
	}
	if _, err := st.BayesLearn(ctx, store.BayesItem{Digest: "b", Class: store.BayesHam, Tokens: []uint64{40, 50}}); err != nil {
		t.Fatal(err)
	}
	if err := st.BayesGet(ctx, []uint64{40, 50, 10}, out[:3]); err != nil {
		t.Fatal(err)
	}
	if out[0].Ham != 1 || out[1].Ham != 1 || out[2].Spam != 1 {
		t.Fatalf("a learn after the filter was built: %v", out[:3])
	}
}
