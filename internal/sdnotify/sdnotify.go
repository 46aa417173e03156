// Package sdnotify tells systemd about the daemon's state, as
// sd_notify(3) does, without libsystemd: one datagram of "KEY=VALUE"
// lines to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract socket when it starts with "@"). Outside systemd (no
// $NOTIFY_SOCKET) every call does nothing.
//
// It does not implement the watchdog or file descriptor store.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// States, from sd_notify(3).
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
)

// Notify sends state (lines such as Ready, or "STATUS=...") to systemd.
// It returns nil when not run by systemd.
func Notify(state ...string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(strings.Join(state, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// ReloadingNow is the Reloading state with the MONOTONIC_USEC that
// systemd 253 and later expect beside it (Type=notify-reload).
func ReloadingNow() []string {
	var ts syscall.Timespec
	if err := clockMonotonic(&ts); err != nil {
		return []string{Reloading}
	}
	return []string{Reloading, fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000)}
}
