// Package e2e runs hamlet between real MTAs: Postfix 3.7 with hamlet's
// milter, and OpenSMTPD 6.8.0p2 with `hamlet opensmtpd` as its filter,
// messages sent with swaks, every DNS name answered by a test DNS server.
//
// The tests need root, unshare, postfix, swaks and an unpacked OpenSMTPD
// (.ci/install-e2e installs them). The test binary re-executes itself in a
// private network and mount namespace: its own loopback (the DNS server
// sits on port 53 there, since OpenSMTPD's resolver ignores ports), and
// private /run and /var/spool for OpenSMTPD's fixed paths. Without the
// tools the tests skip with a message, and fail when CI=true.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/mtaenv"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

const innerEnv = "HAMLET_E2E_INNER"

// skipReason is why the environment cannot run the tests ("" when it can).
var skipReason string

func TestMain(m *testing.M) {
	if os.Getenv(innerEnv) == "1" {
		code := 1
		if err := mtaenv.SetupNamespace(nil, true); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: namespace setup: %v\n", err)
		} else {
			code = m.Run()
		}
		teardownEnv()
		os.Exit(code)
	}
	skipReason = missing()
	if skipReason != "" {
		os.Exit(m.Run()) // every test skips (or fails under CI)
	}
	// os.Exit skips deferred calls: osExit also removes the hamlet binary
	// built here.
	osExit := os.Exit
	bin := os.Getenv("HAMLET_E2E_PREBUILT") // a binary to test instead of building one
	if bin == "" {
		var err error
		bin, err = buildHamlet()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building hamlet: %v\n", err)
			os.Exit(1)
		}
		built := filepath.Dir(bin)
		osExit = func(code int) { os.RemoveAll(built); os.Exit(code) }
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		osExit(1)
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--mount", "--propagation", "private", "--fork", "--", self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), innerEnv+"=1", "HAMLET_E2E_BIN="+bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			osExit(ee.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		osExit(1)
	}
	osExit(0)
}

// missing names what the machine lacks to run the tests.
func missing() string {
	if os.Geteuid() != 0 {
		return "the end-to-end tests need root (network namespaces, MTAs)"
	}
	var lack []string
	for _, tool := range []string{"unshare", "ip", "mount", "postfix", "swaks", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			lack = append(lack, tool)
		}
	}
	if _, err := os.Stat(filepath.Join(mtaenv.OpenSMTPDRoot(), "usr/sbin/smtpd")); err != nil {
		lack = append(lack, "opensmtpd (unpacked in "+mtaenv.OpenSMTPDRoot()+")")
	}
	if len(lack) > 0 {
		return "missing " + strings.Join(lack, ", ") + " (run .ci/install-e2e)"
	}
	return ""
}

// requireEnv skips the test when the machine cannot run it, or fails it
// when CI=true.
func requireEnv(t *testing.T) {
	t.Helper()
	if skipReason == "" {
		return
	}
	sharedtest.Missing(t, "e2e: %s", skipReason)
}

// buildHamlet builds the hamlet binary into a directory every user can
// read (smtpd runs its filter as an unprivileged user).
func buildHamlet() (string, error) {
	root, err := mtaenv.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "hamlet-e2e-bin-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hamlet")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hamlet")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return bin, nil
}
