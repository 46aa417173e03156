package main

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Type=notify: hamlet serve tells systemd when it is ready (every
// listener open), when it reloads on SIGHUP and when it stops.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func() string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 4096)
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(b[:n])
	}
	t.Setenv("NOTIFY_SOCKET", sock)
	d := startServe(t, "-c", writeConfig(t, loopbackConfig), "--data", t.TempDir())
	if got := next(); !strings.HasPrefix(got, "READY=1\nSTATUS=serving") {
		t.Fatalf("first notification %q", got)
	}
	// The listeners are open when READY=1 is sent.
	checkv2(t, d.addrs["scan"], "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	if got := next(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("on SIGHUP %q", got)
	}
	if got := next(); !strings.HasPrefix(got, "READY=1\nSTATUS=serving (configuration reloaded)") {
		t.Fatalf("after the reload %q", got)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if got := next(); !strings.HasPrefix(got, "STOPPING=1") {
		t.Fatalf("on SIGTERM %q", got)
	}
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
