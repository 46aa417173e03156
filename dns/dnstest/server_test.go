package dnstest

import (
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Lossy drops and delays the shares asked for, and the client sees
// exactly the drops as timeouts.
func TestLossy(t *testing.T) {
	s, err := NewServer("a.test. A 192.0.2.1\n")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Lossy(0.1, 0.1, 30*time.Millisecond)
	const n = 400
	var (
		mu       sync.Mutex
		timeouts int
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 40)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A drop is silence, so only a timeout shows it; 2 s is
			// far beyond the 30 ms delay even on a loaded machine, so
			// that an answered query is never counted as one.
			c := &mdns.Client{Timeout: 2 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion("a.test.", mdns.TypeA)
			r, _, err := c.Exchange(m, s.Addr())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				timeouts++
				return
			}
			if len(r.Answer) != 1 {
				t.Errorf("answer %v", r.Answer)
			}
		}()
	}
	wg.Wait()
	dropped, delayed := s.Lost()
	if dropped != timeouts {
		t.Errorf("dropped %d, client timeouts %d", dropped, timeouts)
	}
	// 10 % of 400 = 40; the fixed seed makes the counts repeatable, the
	// band only guards the arithmetic.
	for name, v := range map[string]int{"dropped": dropped, "delayed": delayed} {
		if v < 20 || v > 60 {
			t.Errorf("%s %d of %d, want about 40", name, v, n)
		}
	}
	s.Lossy(0, 0, 0)
	d0, _ := s.Lost()
	m := new(mdns.Msg)
	m.SetQuestion("a.test.", mdns.TypeA)
	for range 50 {
		if _, _, err := (&mdns.Client{Timeout: 10 * time.Second}).Exchange(m, s.Addr()); err != nil {
			t.Fatalf("after Lossy(0, 0, 0): %v", err)
		}
	}
	if d, _ := s.Lost(); d != d0 {
		t.Errorf("still dropping: %d → %d", d0, d)
	}
}
