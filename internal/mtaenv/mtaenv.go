// Package mtaenv is what the end-to-end tests and the MTA benchmark share
// to run real MTAs in a private network and mount namespace: the
// namespace's set-up, where OpenSMTPD was unpacked, waiting for a port.
package mtaenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dkimkeys"
)

// OpenSMTPDRoot is where .ci/install-e2e unpacked OpenSMTPD (it conflicts
// with Postfix in apt): $HAMLET_OPENSMTPD_ROOT, or the path recorded in
// /opt/hamlet-e2e/opensmtpd.root, or /opt/hamlet-e2e/opensmtpd.
func OpenSMTPDRoot() string {
	if r := os.Getenv("HAMLET_OPENSMTPD_ROOT"); r != "" {
		return r
	}
	if b, err := os.ReadFile("/opt/hamlet-e2e/opensmtpd.root"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "/opt/hamlet-e2e/opensmtpd"
}

// RepoRoot walks up from the working directory to go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above " + dir)
		}
		dir = parent
	}
}

// SetupNamespace runs inside a fresh network and mount namespace
// (unshare --net --mount --propagation private): loopback up with addrs
// on it, a resolv.conf naming a DNS server on 127.0.0.1:53 (OpenSMTPD's
// resolver ignores ports), and for OpenSMTPD private /run and /var/spool
// and its libexec over /usr/libexec.
func SetupNamespace(addrs []string, opensmtpd bool) error {
	steps := [][]string{{"ip", "link", "set", "lo", "up"}}
	for _, a := range addrs {
		steps = append(steps, []string{"ip", "addr", "add", a, "dev", "lo"})
	}
	if opensmtpd {
		steps = append(steps,
			[]string{"mount", "-t", "tmpfs", "tmpfs", "/run"},
			[]string{"mount", "-t", "tmpfs", "tmpfs", "/var/spool"},
			[]string{"mount", "--bind", filepath.Join(OpenSMTPDRoot(), "usr/libexec"), "/usr/libexec"})
	}
	for _, s := range steps {
		if err := Run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp("", "mtaenv-resolv-")
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "nameserver 127.0.0.1")
	f.Close()
	os.Chmod(f.Name(), 0o644)
	if err := Run("mount", "--bind", f.Name(), "/etc/resolv.conf"); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}

// WaitTCP waits up to d for addr to accept a connection.
func WaitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Run runs a command, its output in the error when it fails.
func Run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// TXT is a TXT value in zone-file presentation: quoted character-strings
// of at most 255 bytes each (RFC 1035 §3.3.14), as dkimkeys.SplitTXT cuts
// them.
func TXT(s string) string {
	parts := dkimkeys.SplitTXT(s)
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, " ")
}

// StartOpenSMTPD writes conf to dir/smtpd.conf, has smtpd check it (-n),
// then runs it in the foreground (-d) with its output in the file logPath.
// The caller stops the command and closes the log.
func StartOpenSMTPD(dir, conf, logPath string) (*exec.Cmd, *os.File, error) {
	cf := filepath.Join(dir, "smtpd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, nil, err
	}
	smtpd := filepath.Join(OpenSMTPDRoot(), "usr/sbin/smtpd")
	if err := Run(smtpd, "-n", "-f", cf); err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(smtpd, "-d", "-f", cf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	return cmd, logf, nil
}
