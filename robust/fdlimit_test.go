package robust

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 16 item 2 as it was found: under `ulimit -n 64`, 70 idle milter
// connections made hamlet serve exit with "accept: too many open files".
// Now it stays up, holds at most its connection cap, and serves again
// once the idle connections go.
func TestSeventyIdleMilterConnectionsAtUlimit64(t *testing.T) {
	dns := newDNS(t)
	d := startLimited(t, baseConfig(dns.Addr()), t.TempDir(), 64)
	if lim := procLimit(t, d); lim != "64" {
		t.Fatalf("the daemon's open files limit is %s, want 64", lim)
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 70 {
		c, err := net.DialTimeout("tcp", d.milt, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(idle), err)
		}
		idle = append(idle, c)
	}
	// and a few idle HTTP connections on top
	for range 10 {
		c, err := net.DialTimeout("tcp", d.scan, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(2 * time.Second) // the accept loops meet the limit
	select {
	case <-d.exited:
		t.Fatalf("hamlet serve exited under ulimit -n 64 with 70 idle milter connections:\n%s", d.logs())
	default:
	}
	fds := d.fds()
	t.Logf("80 idle connections at ulimit -n 64: the daemon holds %d descriptors", fds)
	if fds > 64 {
		t.Errorf("%d descriptors open under a limit of 64", fds)
	}
	// The scan API still answers a request beside them.
	resp, err := http.Post("http://"+d.scan+"/checkv2", "message/rfc822", strings.NewReader(string(message("a@sender.test", "fd"))))
	if err != nil {
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
		}
		t.Fatalf("scan with the milter connections held: %v\n%s", err, lastLines(d.logs(), 5))
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("scan with the milter connections held: %d", resp.StatusCode)
	}
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	// A whole milter session once they are gone.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := d.open(ctx, 7, "a@sender.test", "user@rcpt.test")
	if err != nil {
		t.Fatalf("milter session after the idle connections closed: %v\n%s", err, d.logs())
	}
	if r := s.send(message("a@sender.test", "after")); r.err != nil || r.code != 0 {
		t.Fatalf("milter message after the idle connections closed: %+v", r)
	}
	select {
	case <-d.exited:
		t.Fatalf("hamlet serve exited:\n%s", d.logs())
	default:
	}
}

// procLimit reads the daemon's soft "Max open files".
func procLimit(t *testing.T, d *daemon) string {
	t.Helper()
	f, err := openProc(d, "limits")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				return fields[0]
			}
		}
	}
	return "?"
}

// lastLines is the end of a log.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
