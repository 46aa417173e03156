package daemon

import (
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/netutil"
)

// fdLimit is the process's open file limit (RLIMIT_NOFILE, soft; Go raises
// it to the hard limit at start), or 1024 when it cannot be read.
func fdLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	if rl.Cur > 1<<30 {
		return 1 << 30
	}
	return int(rl.Cur)
}

// HTTPConnCap is the bound on open connections of one HTTP listener:
// configured when positive, otherwise a quarter of the file descriptors
// left after a reserve for the store, DNS sockets and logs (at least 8),
// so that the scan and controller listeners together leave half of them
// to the milter.
func HTTPConnCap(configured, fds int) int {
	if configured > 0 {
		return configured
	}
	return max(8, (fds-32)/4)
}

// limitListener bounds the connections open at once on ln: past n, the
// next Accept waits until one closes (the kernel queues the rest), so that
// a flood of idle connections cannot take the descriptors the daemon
// needs for its store and DNS.
func limitListener(ln net.Listener, n int) net.Listener { return netutil.LimitListener(ln, n) }

// Exposed reports whether a listen address is reachable from beyond this
// host: a TCP address that is not a loopback literal or "localhost" (a
// unix socket is not).
func Exposed(network, addr string) bool {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// warnExposed logs a warning naming what a listener open beyond loopback
// exposes. Loopback is the default; a postmaster who listens elsewhere
// (a milter for a Postfix on another host, say) should firewall it.
func warnExposed(log *slog.Logger, role string, addr net.Addr) {
	if !Exposed(addr.Network(), addr.String()) {
		return
	}
	what := map[string]string{
		"scan":   "anyone who can reach it can have mail scanned with this host's resources and DNS, and learn its verdicts",
		"milter": "anyone who can reach it can speak milter to it: have mail scanned, greylist entries passed, and outbound mail DKIM-signed",
	}[role]
	log.Warn("listener is not on loopback: restrict it with a firewall", "role", role, "addr", addr.String(), "exposure", what)
}
