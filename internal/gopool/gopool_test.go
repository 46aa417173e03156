package gopool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunsEveryTask: every function given to Go runs exactly once, also
// when many are given at once from many goroutines.
func TestRunsEveryTask(t *testing.T) {
	const n = 10000
	var ran atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < n/8; j++ {
				Go(func() { ran.Add(1); wg.Done() })
			}
		}()
	}
	wg.Wait()
	if got := ran.Load(); got != n {
		t.Fatalf("ran %d tasks, want %d", got, n)
	}
}

// TestConcurrent: tasks run at the same time (a blocked task does not
// hold up the next), as with go.
func TestConcurrent(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			started <- struct{}{}
			<-release
		})
	}
	for i := 0; i < 100; i++ {
		<-started // all 100 run at once, or this blocks forever
	}
	close(release)
	wg.Wait()
}

// TestReuse: a goroutine that finished a task runs the next one (the
// point of the package: its grown stack is kept), and a goroutine with
// nothing to do ends after IdleTimeout.
func TestReuse(t *testing.T) {
	for Workers() > 0 {
		time.Sleep(50 * time.Millisecond) // those of the other tests end
	}
	for i := 0; i < 100; i++ {
		done := make(chan struct{})
		Go(func() { close(done) })
		<-done
		for waiting.Load() == 0 {
			runtime.Gosched() // back to waiting for the next task
		}
	}
	if n := Workers(); n != 1 {
		t.Fatalf("%d goroutines after 100 tasks one after another: not reused", n)
	}
	start := time.Now()
	for Workers() > 0 {
		// Ends after IdleTimeout; were it never to end, the test's
		// own timeout reports it.
		time.Sleep(50 * time.Millisecond)
	}
	if waited := time.Since(start); waited < IdleTimeout/2 {
		t.Fatalf("the idle goroutine ended after %v, IdleTimeout is %v", waited, IdleTimeout)
	}
}

func BenchmarkGo(b *testing.B) {
	var wg sync.WaitGroup
	for range b.N {
		wg.Add(1)
		Go(func() { deep(64); wg.Done() })
	}
	wg.Wait()
}

func BenchmarkGoStatement(b *testing.B) {
	var wg sync.WaitGroup
	for range b.N {
		wg.Add(1)
		go func() { deep(64); wg.Done() }()
	}
	wg.Wait()
}

// deep uses about n×256 bytes of stack.
//
//go:noinline
func deep(n int) byte {
	var buf [200]byte
	buf[n%200] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return deep(n-1) + buf[n%200]
}
