// Package redistest runs a real redis-server for tests: on a random
// loopback port, with a temporary directory, no persistence, killed when
// the test ends. Tests call Start, or Shared when several subtests (the
// Redis case beside the embedded store's) use one server; without
// redis-server installed they skip with the reason — go test reports
// SKIP — except under CI=true where they fail (CI must install the Debian
// package redis-server). The rule lives in sharedtest.Missing.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	args []string // extra arguments (cluster mode)
	conf string   // a Sentinel's configuration file

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts a redis-server and registers its end with t.Cleanup. Without
// redis-server it skips the test (fails it under CI=true).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := sharedtest.Require(t, "redis-server", "redis-server")
	s := &Server{t: t, bin: bin, dir: t.TempDir(), Port: freePort(t)}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Shared starts one redis-server for parent's subtests and returns how a
// subtest gets it; the server stops when parent ends. Without
// redis-server the parent still runs (its embedded-store cases pass) and
// each subtest that asks for Redis is skipped with the reason, so go test
// shows SKIP for exactly the cases not run — or fails it under CI=true.
func Shared(parent testing.TB) func(t testing.TB) *Server {
	parent.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		return func(t testing.TB) *Server {
			t.Helper()
			sharedtest.Require(t, "redis-server", "redis-server")
			return nil
		}
	}
	s := Start(parent)
	return func(testing.TB) *Server { return s }
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is a store URL for database db with the given key prefix.
func (s *Server) URL(db int, prefix string) string {
	return fmt.Sprintf("redis://%s/%d?prefix=%s", s.Addr(), db, prefix)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--protected-mode", "yes")
	cmd.Args = append(cmd.Args, s.args...)
	if s.conf != "" {
		cmd = exec.Command(s.bin, s.conf, "--sentinel", "--loglevel", "warning")
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr()) {
			s.cmd = cmd
			go func() { <-exited }() // reaped; Stop waits through Process.Kill below
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redistest: redis-server exited: %v: %s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("redistest: redis-server did not answer on %s: %s", s.Addr(), out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "+PONG")
}

// Stop kills the server (SIGKILL: an outage, not a shutdown) and waits
// until the port refuses connections.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	s.cmd = nil
	for i := 0; i < 200 && ping(s.Addr()); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port (with empty data).
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n (>= 3) cluster-enabled servers and joins them
// with redis-cli --cluster create; it skips like Start without the tools.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := sharedtest.Require(t, "redis-server", "redis-server")
	cli := sharedtest.Require(t, "redis-cli", "redis-tools")
	c := &Cluster{}
	var addrs []string
	for range n {
		s := &Server{t: t, bin: bin, dir: t.TempDir(), Port: freePort(t),
			args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}}
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			out, _ := exec.Command(cli, "-p", strconv.Itoa(s.Port), "cluster", "info").Output()
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok on %s: %s", s.Addr(), out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// URL is a store URL naming every node, with the given key prefix.
func (c *Cluster) URL(prefix string) string {
	u := "redis://" + c.Nodes[0].Addr() + "?prefix=" + prefix
	for _, s := range c.Nodes[1:] {
		u += "&addr=" + s.Addr()
	}
	return u
}

// StartSentinel starts a master and one Sentinel monitoring it as
// "mymaster"; it returns the master and the Sentinel's address.
func StartSentinel(t testing.TB) (master *Server, sentinelAddr string) {
	t.Helper()
	master = Start(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 2000\n", port, dir, master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: master.bin, dir: dir, Port: port, conf: conf}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return master, s.Addr()
}
