package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// postCheck sends msg to /checkv2 with an envelope and returns the reply.
func postCheck(t *testing.T, addr, ip, from, rcpt, msg string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/checkv2", strings.NewReader(msg))
	req.Header.Set("IP", ip)
	req.Header.Set("From", from)
	req.Header.Set("Rcpt", rcpt)
	req.Header.Set("Helo", "mail.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTwoHostsShareRedis runs two `hamlet serve` processes over one real
// redis-server: a first attempt through host A is greylisted, the retry
// through host B after the delay passes. Then Redis stops: mail keeps
// flowing (fail open, GREYLIST_ERROR); Redis comes back and greylisting
// resumes without restarting hamlet.
func TestTwoHostsShareRedis(t *testing.T) {
	rs := redistest.Start(t)
	// Every message lands in the greylist band: greylist from -100 up
	// to add_header.
	cfg := writeConfig(t, fmt.Sprintf("store = %q\n", rs.URL(0, "twohost:"))+loopbackConfig+`
[actions]
greylist = -100.0
[greylist]
delay = "2s"
[senderscore]
enabled = false
`)
	a := startServe(t, "-c", cfg, "--data", t.TempDir())
	b := startServe(t, "-c", cfg, "--data", t.TempDir())
	msg := "From: alice@example.org\r\nSubject: hello\r\n\r\nhi\r\n"
	const ip, from, rcpt = "203.0.113.5", "alice@example.org", "bob@example.net"

	first := postCheck(t, a.addrs["scan"], ip, from, rcpt, msg)
	if !strings.Contains(first, `"action":"soft reject"`) || !strings.Contains(first, "greylisted") {
		t.Fatalf("first attempt through A: %s", first)
	}
	early := postCheck(t, b.addrs["scan"], ip, from, rcpt, msg)
	if !strings.Contains(early, `"action":"soft reject"`) {
		t.Fatalf("early retry through B: %s", early)
	}
	time.Sleep(2200 * time.Millisecond)
	late := postCheck(t, b.addrs["scan"], "203.0.113.77", from, rcpt, msg) // same /24
	if !strings.Contains(late, `"action":"no action"`) || !strings.Contains(late, `"pass"`) {
		t.Fatalf("retry through B after the delay: %s", late)
	}

	rs.Stop()
	down := postCheck(t, a.addrs["scan"], "198.51.100.9", "carol@example.com", rcpt, msg)
	if !strings.Contains(down, `"action":"no action"`) || !strings.Contains(down, "GREYLIST_ERROR") {
		t.Fatalf("with Redis down: %s", down)
	}
	rs.Restart()
	var back string
	for i := 0; i < 50; i++ {
		back = postCheck(t, a.addrs["scan"], "198.51.100.10", "dave@example.com", rcpt, msg)
		if strings.Contains(back, "greylisted") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(back, `"action":"soft reject"`) {
		t.Fatalf("after Redis came back: %s", back)
	}
	for _, d := range []*daemonProc{a, b} {
		d.cmd.Process.Signal(syscall.SIGTERM)
		if code := d.wait(t); code != 0 {
			t.Errorf("exit %d", code)
		}
	}
}
