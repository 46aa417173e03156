// Package gopool runs functions on long-lived goroutines instead of a new
// goroutine each.
//
// Why: a new goroutine starts with a small stack and grows it by copying
// (runtime.morestack, newstack, copystack) as the function goes deeper.
// A milter connection per SMTP session, a verdict per RCPT and end of
// message, a goroutine per check per message: the profile of hamlet's
// milter path under Postfix spent about a tenth of its CPU growing stacks
// that were thrown away moments later. A goroutine that runs one task
// after another keeps the stack it grew.
//
// Go(f) has the semantics of `go f()`: f runs concurrently, a panic in f
// that f does not recover ends the program as it would in its own
// goroutine. A goroutine that has waited IdleTimeout for its next task
// ends: after a burst the goroutines go back to what they were, and a
// leak check sees none left behind.
package gopool

import (
	"sync/atomic"
	"time"
)

// IdleTimeout is how long a goroutine waits for its next task.
const IdleTimeout = 2 * time.Second

// tasks hands a task to a goroutine waiting for one (unbuffered: a send
// succeeds only when one is waiting).
var tasks = make(chan func())

// Go runs f on a waiting goroutine, or on a new one when none waits.
func Go(f func()) {
	select {
	case tasks <- f:
	default:
		workers.Add(1)
		go loop(f)
	}
}

// workers counts the goroutines running tasks or waiting for one;
// waiting those waiting.
var workers, waiting atomic.Int64

// Workers returns the number of the package's goroutines.
func Workers() int { return int(workers.Load()) }

func loop(f func()) {
	defer workers.Add(-1)
	var t *time.Timer
	for {
		f()
		f = nil // do not keep what f held while waiting
		if t == nil {
			t = time.NewTimer(IdleTimeout)
		} else {
			t.Reset(IdleTimeout)
		}
		waiting.Add(1)
		select {
		case f = <-tasks:
			waiting.Add(-1)
		case <-t.C:
			waiting.Add(-1)
			return
		}
	}
}
