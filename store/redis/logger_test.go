package redis

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// With Redis down, go-redis's own logger writes nothing to stderr: the
// store's callers log each failure once, structured. The check runs in a
// child process, since go-redis's default logger holds the stderr of
// process start.
func TestGoRedisWritesNoStderr(t *testing.T) {
	if os.Getenv("HAMLET_REDIS_LOGGER_CHILD") == "1" {
		s, err := Open("redis://127.0.0.1:1/0", store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err == nil {
			t.Fatal("ping to 127.0.0.1:1 succeeded")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoRedisWritesNoStderr$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HAMLET_REDIS_LOGGER_CHILD=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s\n%s", err, out, stderr.String())
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("child did not pass:\n%s", out)
	}
	if strings.Contains(stderr.String(), "redis:") || strings.Contains(string(out), "connection pool") {
		t.Errorf("go-redis wrote its own log lines:\nstdout %s\nstderr %s", out, stderr.String())
	}
}
