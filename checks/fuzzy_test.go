package checks

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func TestFuzzySymbols(t *testing.T) {
	m := func(flag uint32, d string, value int64, share float64) fuzzy.Match {
		return fuzzy.Match{Hash: fuzzy.Hash{Kind: fuzzy.KindText}, FuzzyEntry: store.FuzzyEntry{Digest: strings.Repeat(d, 32), Flag: flag, Value: value}, Share: share}
	}
	got := FuzzySymbols([]fuzzy.Match{m(1, "a", 5, 0.6), m(3, "b", 1, 1), m(1, "c", 5, 1), m(1, "c", 5, 1)})
	if len(got) != 2 || got[0].Name != fuzzy.SymDenied || got[1].Name != fuzzy.SymWhite {
		t.Fatalf("symbols %+v", got)
	}
	if want := math.Tanh(math.E * 5 / 20); math.Abs(got[0].Multiplier-want) > 1e-9 || len(got[0].Options) != 2 {
		t.Errorf("FUZZY_DENIED: %+v, want the strongest multiplier %.3f and 2 options", got[0], want)
	}
	if FuzzySymbols(nil) != nil {
		t.Error("symbols without matches")
	}
}

func TestFuzzyCheck(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := fuzzy.New(st, fuzzy.DefaultConfig(), nil)
	body := strings.Repeat("Your parcel could not be delivered because the customs fee was not paid, follow the link to pay it now. ", 4)
	raw := "From: a@example.com\r\nTo: b@example.org\r\nSubject: parcel\r\n\r\n" + body
	ck := NewFuzzy(db, nil)
	tx := &engine.Transaction{Message: message.Parse([]byte(raw))}
	if r := ck.Run(context.Background(), tx, nil); len(r.Symbols) != 0 {
		t.Fatalf("before learning: %+v", r.Symbols)
	}
	if err := db.LearnSpam(context.Background(), db.Hashes(content.Parse(message.Parse([]byte(raw)), content.Limits{}))); err != nil {
		t.Fatal(err)
	}
	tx = &engine.Transaction{Message: message.Parse([]byte(strings.Replace(raw, "parcel could", "package could", 1)))}
	r := ck.Run(context.Background(), tx, nil)
	if len(r.Symbols) != 1 || r.Symbols[0].Name != fuzzy.SymDenied || !strings.HasPrefix(r.Symbols[0].Options[0], "1:") {
		t.Fatalf("after learning, a near copy: %+v", r.Symbols)
	}
	st.Close()
	if r := ck.Run(context.Background(), tx, nil); len(r.Symbols) != 1 || r.Symbols[0].Name != fuzzy.SymError {
		t.Errorf("store closed: %+v, want FUZZY_ERROR", r.Symbols)
	}
	defs := ck.Symbols()
	if len(defs) != 4 || defs[0].Weight != 12 || defs[1].Weight != 5 || defs[2].Weight != -2.1 {
		t.Errorf("symbol definitions %+v", defs)
	}
}
