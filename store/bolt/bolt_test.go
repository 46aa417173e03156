package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/storetest"
)

func openTemp(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	opts.SweepInterval = -1
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, openTemp) }

func TestSweepReclaims(t *testing.T) {
	s := openTemp(t, store.Options{}).(*Store)
	ctx := context.Background()
	for i := range 20 {
		if _, err := s.GreylistAttempt(ctx, fmt.Sprint("k", i), storetest.T0.Add(time.Duration(i)*time.Hour), storetest.Params); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Count("greylist"); n != 20 {
		t.Fatalf("count = %d, want 20", n)
	}
	// At T0+58h30m the entries first seen before T0+10h30m have expired: k0..k10.
	n, err := s.Sweep(ctx, storetest.T0.Add(58*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Errorf("swept %d, want 11", n)
	}
	if c, _ := s.Count("greylist"); c != 9 {
		t.Errorf("count after sweep = %d, want 9", c)
	}
}

func TestBounded(t *testing.T) {
	s := openTemp(t, store.Options{MaxEntries: 3}).(*Store)
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.GreylistAttempt(ctx, fmt.Sprint("k", i), storetest.T0, storetest.Params); err != nil {
			t.Fatal(err)
		}
	}
	// An existing key may still be updated; a fourth may not be added.
	if _, err := s.GreylistAttempt(ctx, "k1", storetest.T0.Add(time.Minute), storetest.Params); err != nil {
		t.Errorf("update at the bound: %v", err)
	}
	if _, err := s.GreylistAttempt(ctx, "k3", storetest.T0, storetest.Params); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("fourth key: err = %v, want ErrFull", err)
	}
	// Deleting frees a slot; sweeping expired entries frees the rest.
	if _, err := s.GreylistDelete(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GreylistAttempt(ctx, "k3", storetest.T0, storetest.Params); err != nil {
		t.Errorf("after delete: %v", err)
	}
	if _, err := s.Sweep(ctx, storetest.T0.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Count("greylist"); c != 0 {
		t.Errorf("count after sweeping all = %d", c)
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, store.Options{SweepInterval: -1})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GreylistAttempt(context.Background(), "k", storetest.T0, storetest.Params); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v", err)
	}
}

// The kill -9 test: a child process (this test binary, re-executed) writes
// greylist entries, counters and history as fast as it can and prints each
// key once its write returned; the parent SIGKILLs it mid-burst, reopens the
// file and checks that every acknowledged write is there.
const childEnv = "HAMLET_BOLT_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestKill9; runs only when re-executed")
	}
	s, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	ctx := context.Background()
	// Several goroutines, so that batches of writers share transactions.
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				now := storetest.T0.Add(time.Duration(i) * time.Second)
				if _, err := s.GreylistAttempt(ctx, k, now, storetest.Params); err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				if _, err := s.CounterIncr(ctx, "c-"+k, store.CounterOp{Now: now, TTL: time.Hour, Delta: int64(i + 1)}); err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				if err := s.HistoryAdd(ctx, store.HistoryRecord{Time: now, QueueID: k, Action: "no action"}); err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				// Acknowledge one line at a time, flushed at once, so that
				// the parent never sees a key whose writes had not returned.
				ackMu <- struct{}{}
				fmt.Fprintf(out, "ACK %s %d\n", k, i+1)
				out.Flush()
				<-ackMu
			}
		}()
	}
	<-done
}

var ackMu = make(chan struct{}, 1)

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int64{}
	sc := bufio.NewScanner(stdout)
	deadline := time.After(20 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	const target = 600
loop:
	for len(acked) < target {
		select {
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			var k string
			var v int64
			if n, _ := fmt.Sscanf(l, "ACK %s %d", &k, &v); n == 2 {
				acked[k] = v
			} else {
				t.Logf("child: %s", l)
			}
		case <-deadline:
			break loop
		}
	}
	// Kill mid-burst: the child is still writing.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Drain what the child had printed before it died: those writes were
	// acknowledged too.
	for l := range lines {
		var k string
		var v int64
		if n, _ := fmt.Sscanf(l, "ACK %s %d", &k, &v); n == 2 {
			acked[k] = v
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed by the signal: %v", err)
	}
	if len(acked) < 50 {
		t.Fatalf("only %d acknowledged writes before the kill; the test proves little", len(acked))
	}
	s, err := Open(path, store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	for k, v := range acked {
		e, err := s.GreylistGet(ctx, k, storetest.T0)
		if err != nil || e.Blocked != 1 {
			t.Errorf("acknowledged greylist entry %s: %+v, %v", k, e, err)
		}
		c, err := s.CounterGet(ctx, "c-"+k, storetest.T0)
		if err != nil || c.Value != v {
			t.Errorf("acknowledged counter c-%s = %+v, %v; want %d", k, c, err, v)
		}
	}
	hist, err := s.HistoryList(ctx, store.HistoryQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	inHistory := map[string]bool{}
	for _, r := range hist {
		inHistory[r.QueueID] = true
	}
	for k := range acked {
		if !inHistory[k] {
			t.Errorf("acknowledged history record %s lost", k)
		}
	}
	// The reopened store is consistent: its counts match its contents.
	list, err := s.GreylistList(ctx, storetest.T0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count("greylist"); n != len(list) || n < len(acked) {
		t.Errorf("count %d, listed %d, acknowledged %d", n, len(list), len(acked))
	}
	t.Logf("%d acknowledged keys intact after SIGKILL (%d entries on disk)", len(acked), len(list))
}

// A store full of expired entries sweeps itself as soon as a write is
// refused, not at the next sweep interval.
func TestFullKicksSweep(t *testing.T) {
	s, err := Open(t.TempDir(), store.Options{MaxEntries: 3, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	old := time.Now().Add(-49 * time.Hour) // expired by the sweeper's clock
	for i := range 3 {
		if _, err := s.GreylistAttempt(ctx, fmt.Sprint("old", i), old, storetest.Params); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GreylistAttempt(ctx, "new", time.Now(), storetest.Params); !errors.Is(err, store.ErrFull) {
		t.Fatalf("fourth entry: %v, want ErrFull", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.GreylistAttempt(ctx, "new", time.Now(), storetest.Params)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still full after the kicked sweep: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _ := s.Count("greylist"); n != 1 {
		t.Errorf("count = %d, want 1", n)
	}
}

func TestTallySweptAndCounted(t *testing.T) {
	s := openTemp(t, store.Options{}).(*Store)
	ctx := context.Background()
	for i := range 5 {
		if err := s.TallyAdd(ctx, fmt.Sprint("t", i), map[string]int64{"r": 1}, storetest.T0, storetest.T0.Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Count("tally"); n != 5 {
		t.Fatalf("count = %d", n)
	}
	n, err := s.Sweep(ctx, storetest.T0.Add(3*time.Hour+time.Minute)) // t0, t1, t2 expired
	if err != nil || n != 3 {
		t.Errorf("Sweep = %d, %v; want 3", n, err)
	}
	if c, _ := s.Count("tally"); c != 2 {
		t.Errorf("count after sweep = %d, want 2", c)
	}
	if ok, _ := s.TallyDelete(ctx, "t4"); !ok {
		t.Error("TallyDelete(t4) = false")
	}
	if c, _ := s.Count("tally"); c != 1 {
		t.Errorf("count after delete = %d, want 1", c)
	}
}

// go test -run='^$' -bench=Store ./store/bolt
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := Open(b.TempDir(), store.Options{SweepInterval: -1, MaxEntries: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkHistoryAdd is the recorder's write: batches of 256 records as
// the scans make them (8 symbols with an option each, two recipients),
// one bbolt transaction each. Reported per record.
// go test -run='^$' -bench=HistoryAdd ./store/bolt
func BenchmarkHistoryAdd(b *testing.B) {
	s, err := Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 256
	at := time.Now()
	rs := make([]store.HistoryRecord, batch)
	for i := range rs {
		r := store.HistoryRecord{QueueID: fmt.Sprintf("4XyZ%04d", i), ClientIP: fmt.Sprintf("192.0.%d.%d", i/200, i%200+1),
			From: fmt.Sprintf("sender%d@example.org", i), Rcpts: 2, Action: "add header", Score: 7.5, Helo: "mail.example.net",
			ClientHost: "mail.example.net", RcptList: []string{"a@example.com", "b@example.com"}, Required: 15, Phase: "data", Elapsed: 0.0031}
		for _, n := range []string{"R_SPF_ALLOW", "R_DKIM_ALLOW", "DMARC_POLICY_ALLOW", "RDNS_FCRDNS", "RBL_SPAMHAUS_ZEN", "MIME_GOOD", "ARC_NA", "HFILTER_HOSTNAME_UNKNOWN"} {
			r.Symbols = append(r.Symbols, n)
			r.Hits = append(r.Hits, store.HistoryHit{Score: 1, Weight: 1, Options: []string{"example.org"}})
		}
		rs[i] = r
	}
	ctx := context.Background()
	n := 0
	for b.Loop() {
		for i := range rs {
			rs[i].Time = at.Add(time.Duration(n) * time.Millisecond)
			n++
		}
		if err := s.HistoryAdd(ctx, rs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
