package packaging

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// unitLines returns the values of key in a systemd unit's text.
func unitLines(text, key string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// openDir is a temporary directory that other users (hamlet, _apt) can
// enter, unlike t.TempDir's.
func openDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hamlet-deb")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The unit passes systemd-analyze verify and has the hardening the issue
// lists.
func TestUnitVerifies(t *testing.T) {
	sa := sharedtest.Require(t, "systemd-analyze", "systemd")
	text, err := os.ReadFile("hamlet.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Type=notify", "User=hamlet", "ProtectSystem=strict", "StateDirectory=hamlet", "RuntimeDirectory=hamlet",
		"NoNewPrivileges=yes", "PrivateTmp=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID",
	} {
		if !strings.Contains(string(text), "\n"+want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
	// verify wants the binary at the unit's path: a copy of the unit
	// pointing at a freshly built binary.
	dir := t.TempDir()
	bin := filepath.Join(dir, "hamlet")
	build := exec.Command("go", "build", "-o", bin, "../cmd/hamlet")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit := filepath.Join(dir, "hamlet.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(text), "/usr/bin/hamlet", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), "hamlet.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// systemd's own measure of the sandbox: 0 (locked down) to 10
	// (unprotected); a unit with only User= scores about 9.
	out, err = exec.Command(sa, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for hamlet\.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security: exposure %.1f", level)
	if level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", level, out)
	}
}

// The .deb installs with apt-get, runs as the hamlet user with the unit's
// command line, scans a message, and purges without leaving anything.
func TestDebInstallRunPurge(t *testing.T) {
	sharedtest.Require(t, "dpkg-deb", "dpkg")
	sharedtest.Require(t, "apt-get", "apt")
	if os.Getuid() != 0 {
		sharedtest.Missing(t, "installing the package needs root")
	}
	if _, err := os.Stat("/usr/bin/hamlet"); err == nil {
		if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "hamlet").Output(); !strings.Contains(string(out), "installed") {
			sharedtest.Missing(t, "/usr/bin/hamlet exists and is not from the package: not touching it")
		}
	}
	out := openDir(t) // apt's sandbox user reads the .deb
	deb := strings.TrimSpace(run(t, "bash", "build-deb.sh", out))
	apt := func(args ...string) string {
		return run(t, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300", "-y", "-q"}, args...)...)
	}
	t.Cleanup(func() { exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=300", "-y", "-q", "purge", "hamlet").Run() })
	apt("install", "--no-install-recommends", "--allow-downgrades", deb) // a newer build may be installed

	u, err := user.Lookup("hamlet")
	if err != nil {
		t.Fatalf("no hamlet user after install: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	st, err := os.Stat("/var/lib/hamlet")
	if err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Fatalf("/var/lib/hamlet not owned by hamlet: %v %v", st, err)
	}
	if conf := run(t, "dpkg-query", "-W", "-f=${Conffiles}", "hamlet"); !strings.Contains(conf, "/etc/hamlet/hamlet.toml") {
		t.Errorf("conffiles: %q", conf)
	}
	// The README's check of the installed configuration.
	if out := run(t, "hamlet", "config", "check", "-c", "/etc/hamlet/hamlet.toml"); !strings.HasSuffix(strings.TrimSpace(out), "/etc/hamlet/hamlet.toml: OK") ||
		!strings.Contains(out, `data_dir = "/var/lib/hamlet"`) {
		t.Errorf("hamlet config check of the installed file:\n%s", out)
	}
	unit, err := os.ReadFile("/lib/systemd/system/hamlet.service")
	if err != nil {
		t.Fatal(err)
	}
	sa := sharedtest.Require(t, "systemd-analyze", "systemd")
	if out, err := exec.Command(sa, "verify", "/lib/systemd/system/hamlet.service").CombinedOutput(); err != nil || strings.Contains(string(out), "hamlet.service") {
		t.Errorf("systemd-analyze verify of the installed unit: %v\n%s", err, out)
	}

	// The installed configuration, on random loopback ports (other tests
	// run beside this one) and a DNS server that does not answer.
	etc, err := os.ReadFile("/etc/hamlet/hamlet.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfgText := strings.NewReplacer(`"127.0.0.1:11333"`, `"127.0.0.1:0"`, `"127.0.0.1:11334"`, `"127.0.0.1:0"`, `"127.0.0.1:11332"`, `"127.0.0.1:0"`).Replace(string(etc))
	cfgText += "\n[dns]\nservers = [\"127.0.0.1:9\"]\n"
	cfgDir := openDir(t)
	cfg := filepath.Join(cfgDir, "hamlet.toml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	command := func(line string) *exec.Cmd {
		f := strings.Fields(strings.ReplaceAll(line, "/etc/hamlet/hamlet.toml", cfg))
		c := exec.Command(f[0], f[1:]...)
		c.Dir = "/var/lib/hamlet"
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		return c
	}
	pre := unitLines(string(unit), "ExecStartPre")
	start := unitLines(string(unit), "ExecStart")
	if len(pre) != 1 || len(start) != 1 {
		t.Fatalf("ExecStartPre %q ExecStart %q", pre, start)
	}
	if out, err := command(pre[0]).CombinedOutput(); err != nil {
		t.Fatalf("ExecStartPre as hamlet: %v\n%s", err, out)
	}
	sock := filepath.Join(cfgDir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	os.Chmod(sock, 0o777)
	srv := command(start[0])
	srv.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	addrc := make(chan string, 1)
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if _, rest, ok := strings.Cut(sc.Text(), `msg="hamlet serving" scan=[`); ok {
				a, _, _ := strings.Cut(rest, "]")
				addrc <- a
			}
		}
	}()
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	b := make([]byte, 512)
	n, err := nc.Read(b)
	if err != nil || !strings.HasPrefix(string(b[:n]), "READY=1") {
		t.Fatalf("no READY=1 from the service: %v %q", err, b[:n])
	}
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(10 * time.Second):
		t.Fatal("no serving line")
	}
	// It runs as hamlet.
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.Process.Pid))
	if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t", uid)) {
		t.Errorf("service not running as hamlet:\n%s", status)
	}
	resp, err := http.Post("http://"+addr+"/checkv2", "message/rfc822", strings.NewReader("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 4096)
	n, _ = resp.Body.Read(body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body[:n]), `"action"`) {
		t.Fatalf("scan through the installed service: %d %s", resp.StatusCode, body[:n])
	}
	if _, err := os.Stat("/var/lib/hamlet/hamlet.db"); err != nil {
		t.Errorf("the service keeps no state in /var/lib/hamlet: %v", err)
	}
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Errorf("service exit: %v\n%s", err, logs.String())
	}

	apt("purge", "hamlet")
	for _, p := range []string{"/usr/bin/hamlet", "/etc/hamlet", "/var/lib/hamlet", "/lib/systemd/system/hamlet.service"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after purge", p)
		}
	}
	if _, err := user.Lookup("hamlet"); err == nil {
		t.Error("hamlet user left after purge")
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "hamlet").CombinedOutput(); strings.Contains(string(out), "installed") {
		t.Errorf("still installed: %s", out)
	}
}
