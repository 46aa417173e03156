package engine

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
)

// contentCheck records the parsed form it was given.
type contentCheck struct {
	name string
	mu   *sync.Mutex
	seen *[]*content.Message
}

func (c *contentCheck) Name() string         { return c.name }
func (c *contentCheck) Phase() Phase         { return PhaseData }
func (c *contentCheck) After() []string      { return nil }
func (c *contentCheck) Symbols() []SymbolDef { return nil }
func (c *contentCheck) Run(ctx context.Context, tx *Transaction, deps Results) Result {
	p := tx.Content()
	c.mu.Lock()
	*c.seen = append(*c.seen, p)
	c.mu.Unlock()
	return Result{}
}

type contentFinisher struct{ got *content.Message }

func (f *contentFinisher) Name() string         { return "cf" }
func (f *contentFinisher) Symbols() []SymbolDef { return nil }
func (f *contentFinisher) Finish(ctx context.Context, tx *Transaction, deps Results, v *Verdict) error {
	f.got = tx.Content()
	return nil
}

// Every check and finisher of a scan gets the same parsed form: the
// message is parsed once, whichever check asks first.
func TestContentParsedOnceShared(t *testing.T) {
	var mu sync.Mutex
	var seen []*content.Message
	var checks []Check
	for _, n := range []string{"a", "b", "c", "d"} {
		checks = append(checks, &contentCheck{name: n, mu: &mu, seen: &seen})
	}
	fin := &contentFinisher{}
	e, err := New(Options{Checks: checks, Finishers: []Finisher{fin}, Policy: DefaultPolicy(),
		Content: content.Limits{MaxURLs: 1}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: a@example.org\r\nSubject: s\r\n\r\nsee https://one.example/ and https://two.example/\r\n"
	v := e.Scan(context.Background(), &Transaction{Message: message.Parse([]byte(raw))})
	if len(v.Errors) > 0 {
		t.Fatal(v.Errors)
	}
	if len(seen) != 4 || seen[0] == nil {
		t.Fatalf("seen %v", seen)
	}
	for _, p := range seen[1:] {
		if p != seen[0] {
			t.Fatal("checks got different parsed forms: the message was parsed more than once")
		}
	}
	if fin.got != seen[0] {
		t.Error("the finisher got another parsed form")
	}
	// The engine's limits apply.
	if len(seen[0].URLs) != 1 || !slices.Contains(seen[0].Exceeded, content.ExceededURLs) {
		t.Errorf("urls %d exceeded %v: Options.Content not applied", len(seen[0].URLs), seen[0].Exceeded)
	}
}

// A second transaction on the connection gets its own message's form.
func TestContentNextTransaction(t *testing.T) {
	var mu sync.Mutex
	var seen []*content.Message
	e, err := New(Options{Checks: []Check{&contentCheck{name: "a", mu: &mu, seen: &seen}}, Policy: DefaultPolicy(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewScan(context.Background())
	defer s.Close()
	s.Update(PhaseData, func(tx *Transaction) { tx.Message = message.Parse([]byte("Subject: one\r\n\r\n1\r\n")) })
	s.Verdict(context.Background(), true)
	n := s.Next()
	if n.Transaction().Content() != nil {
		t.Fatal("the next transaction has content before its DATA")
	}
	n.Update(PhaseData, func(tx *Transaction) { tx.Message = message.Parse([]byte("Subject: two\r\n\r\n2\r\n")) })
	n.Verdict(context.Background(), true)
	if len(seen) != 2 || seen[0].Subject != "one" || seen[1].Subject != "two" {
		t.Fatalf("subjects: %v", seen)
	}
}

// Outside a scan (unit tests of checks) Content still works.
func TestContentWithoutScan(t *testing.T) {
	tx := &Transaction{}
	if tx.Content() != nil {
		t.Fatal("content without a message")
	}
	tx.Message = message.Parse([]byte("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx\r\n"))
	if c := tx.Content(); c == nil || c.Subject != "café" {
		t.Fatalf("content %+v", c)
	}
}
