package robust

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sessions is how many milter sessions are open at once.
const sessions = 1000

// maxRSS bounds the daemon's resident memory with every session open
// (MiB): measured ≈ 90 MiB peak on the 2-core CI machine kind; the bound
// leaves room for the garbage collector's pace, not for the 1 MiB per
// session that reserving declared frame lengths used to cost.
const maxRSS = 300

// 1 000 milter sessions open at once, as a busy Postfix would hold them:
// all reach RCPT before any sends its message, then all send at once.
// Every one gets a defined answer, and the daemon's RSS stays bounded.
func TestThousandMilterSessions(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < sessions+200 {
		t.Fatalf("open files limit %d (%v): %d sessions need more than %d descriptors in this process and in the daemon", lim.Cur, err, sessions, sessions+200)
	}
	dns := newDNS(t)
	// The default cap (half the fd limit) would hold sessions back in
	// the listen queue on a host with a low limit: all must be open.
	d := start(t, strings.Replace(baseConfig(dns.Addr()), "[milter]\n", "[milter]\nmax_connections = 2000\n", 1), t.TempDir())
	rss0 := d.status("VmRSS")
	fds0 := d.fds()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		open     sync.WaitGroup // sessions at RCPT
		done     sync.WaitGroup
		release  = make(chan struct{})
		results  = make([]outcome, sessions)
		dialErrs = make([]error, sessions)
	)
	dialSem := make(chan struct{}, 64) // dial in waves: the listen backlog is finite
	for i := range sessions {
		open.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			dialSem <- struct{}{}
			from := fmt.Sprintf("s%d@sender.test", i)
			s, err := d.open(ctx, 1+i%254, from, "user@rcpt.test")
			<-dialSem
			open.Done()
			if err != nil {
				dialErrs[i] = err
				return
			}
			<-release
			results[i] = s.send(message(from, fmt.Sprint(i)))
		}()
	}
	open.Wait()
	fdsOpen := d.fds()
	rssOpen := d.status("VmRSS")
	close(release)
	done.Wait()
	hwm := d.status("VmHWM")
	rssEnd := d.status("VmRSS")

	answered, accepted, onError := 0, 0, 0
	codes := map[string]int{}
	for i := range sessions {
		if dialErrs[i] != nil {
			t.Errorf("session %d: %v", i, dialErrs[i])
			continue
		}
		r := results[i]
		if r.err != nil {
			t.Errorf("session %d: no answer: %v", i, r.err)
			continue
		}
		answered++
		codes[fmt.Sprint(r.code)]++
		if r.code == 0 {
			accepted++
		}
		if strings.Contains(r.text, "Mail filter unavailable") {
			onError++
		}
	}
	t.Logf("%d sessions: %d answered (%v); daemon descriptors %d → %d with all open; RSS %d MiB idle, %d MiB at RCPT, peak (VmHWM) %d MiB, %d MiB after",
		sessions, answered, codes, fds0, fdsOpen, rss0>>10, rssOpen>>10, hwm>>10, rssEnd>>10)
	if answered != sessions {
		t.Fatalf("%d of %d sessions answered", answered, sessions)
	}
	// A clean message from a client with FCrDNS and SPF pass is accepted
	// (on a machine so loaded that checks miss the scan deadline it may
	// be greylisted: also a verdict); on_error's tempfail would mean the
	// daemon gave up.
	if onError > 0 {
		t.Errorf("%d of %d sessions got on_error's tempfail: %v", onError, sessions, codes)
	}
	if accepted == 0 {
		t.Errorf("none of %d accepted: %v", sessions, codes)
	}
	if fdsOpen < fds0+sessions {
		t.Errorf("the daemon held %d descriptors with %d sessions open (idle: %d): the sessions were not all open at once", fdsOpen, sessions, fds0)
	}
	if hwm>>10 > maxRSS {
		t.Errorf("peak RSS %d MiB with %d sessions, bound %d MiB", hwm>>10, sessions, maxRSS)
	}
}
