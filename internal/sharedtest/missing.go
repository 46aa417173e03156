package sharedtest

import (
	"fmt"
	"os"
	"testing"
)

// Missing stops a test that needs something this machine lacks (a
// program, a Debian package, root, shared data): it skips with the
// message, so that go test reports SKIP and says why, or — under
// CI=true, where every test must run — fails with it. It is the one
// place that rule is written; Dir and Require use it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing component fails the test)", msg)
	}
	t.Skip(msg)
}
