package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// Issue 16 item 5: a scan or milter listener beyond loopback is logged
// with what it exposes; the loopback default says nothing.
func TestServeWarnsOfExposedListeners(t *testing.T) {
	quiet := startServe(t, "-c", writeConfig(t, loopbackConfig), "--data", t.TempDir())
	exposedCfg := strings.NewReplacer(`listen = ["127.0.0.1:0"]`, `listen = ["0.0.0.0:0"]`).Replace(loopbackConfig)
	loud := startServe(t, "-c", writeConfig(t, exposedCfg), "--data", t.TempDir())
	if strings.Contains(quiet.logs(), "not on loopback") {
		t.Errorf("loopback listeners warned:\n%s", quiet.logs())
	}
	for _, role := range []string{"scan", "milter"} {
		if !strings.Contains(loud.logs(), "listener is not on loopback: restrict it with a firewall\" role="+role) {
			t.Errorf("no warning for the %s listener on 0.0.0.0:\n%s", role, loud.logs())
		}
	}
}

// openFDs counts the descriptors of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Issue 16 item 2 (HTTP): [scan] max_connections bounds the connections
// the daemon holds open; more wait in the kernel's queue, and the daemon
// answers again once they go.
func TestServeCapsHTTPConnections(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		sharedtest.Missing(t, "no /proc: cannot count descriptors")
	}
	cfg := strings.Replace(loopbackConfig, "[scan]\n", "[scan]\nmax_connections = 10\n", 1)
	d := startServe(t, "-c", writeConfig(t, cfg), "--data", filepath.Join(t.TempDir(), "data"))
	pid := d.cmd.Process.Pid
	base := openFDs(t, pid)
	var conns []net.Conn
	for range 60 {
		c, err := net.Dial("tcp", d.addrs["scan"])
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond) // let the daemon accept what it will
	held := openFDs(t, pid) - base
	t.Logf("60 idle connections: the daemon holds %d more descriptors", held)
	if held > 10+2 {
		t.Errorf("daemon holds %d more descriptors with 60 idle connections and max_connections = 10", held)
	}
	for _, c := range conns {
		c.Close()
	}
	checkv2(t, d.addrs["scan"], "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n")
}
