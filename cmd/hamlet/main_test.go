package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// binary is the hamlet binary built once for the tests that run it as a
// process (signals, exit statuses).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hamlet-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hamlet")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building hamlet: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemonProc is a `hamlet serve` child process.
type daemonProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	addrs  map[string]string
	exited chan error
}

var servingRe = regexp.MustCompile(`msg="hamlet serving" scan=\[(.*?)\] controller=\[(.*?)\] milter=\[(.*?)\] `)

// startServe runs hamlet serve with args and waits until it listens.
func startServe(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{cmd: exec.Command(binary, append([]string{"serve"}, args...)...), exited: make(chan error, 1)}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := servingRe.FindStringSubmatch(line); m != nil {
				ready <- map[string]string{"scan": m[1], "controller": m[2], "milter": m[3]}
			}
		}
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() { d.cmd.Process.Kill() })
	select {
	case d.addrs = <-ready:
	case err := <-d.exited:
		t.Fatalf("hamlet serve exited: %v\n%s", err, d.logs())
	case <-time.After(15 * time.Second):
		t.Fatalf("hamlet serve did not start\n%s", d.logs())
	}
	return d
}

func (d *daemonProc) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func (d *daemonProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-d.exited:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("hamlet serve did not exit\n%s", d.logs())
		return -1
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hamlet.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startLearningServe runs `hamlet serve` for the learning tests: scan and
// controller on random loopback ports, password as the controller's
// enable password, no milter, DNS at a closed port, Bayes answering after
// minLearns learns of each class, and a fresh data directory. It returns
// the daemon and the path of its configuration file.
func startLearningServe(t *testing.T, password string, minLearns int) (*daemonProc, string) {
	t.Helper()
	hash, err := controller.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = "127.0.0.1:0"
enable_password = %q
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
[bayes]
min_learns = %d
`, hash, minLearns))
	return startServe(t, "-c", cfg, "--data", t.TempDir()), cfg
}

// loopbackConfig listens on random loopback ports.
const loopbackConfig = `
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = "127.0.0.1:0"
[milter]
listen = ["127.0.0.1:0"]
[dns]
servers = ["127.0.0.1:9"]
# These tests exercise the daemon with two-line messages; the header
# check's MISSING_* symbols would change their scores
# (daemon's TestHeadersWired covers that check).
[headers]
enabled = false
`

func checkv2(t *testing.T, addr, msg string) string {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/checkv2", "message/rfc822", strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("checkv2: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

func TestServeDefaultsPingMetrics(t *testing.T) {
	d := startServe(t, "-c", writeConfig(t, loopbackConfig), "--data", filepath.Join(t.TempDir(), "data"))
	resp, err := http.Get("http://" + d.addrs["scan"] + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != "pong" {
		t.Fatalf("ping = %q", b)
	}
	checkv2(t, d.addrs["scan"], "From: a@example.org\r\n\r\nhi\r\n")
	resp, err = http.Get("http://" + d.addrs["controller"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`hamlet_scans_total{action="no action"} 1`, "hamlet_scan_duration_seconds_bucket", "hamlet_dns_cache_hits_total", `hamlet_http_requests_total{code="200",route="checkv2"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The controller answers rspamd's protocol too.
	checkv2(t, d.addrs["controller"], "From: a@example.org\r\n\r\nhi\r\n")
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
}

func TestServeBadConfig(t *testing.T) {
	cfg := writeConfig(t, "[actions]\nreject = 15\n\n[scan]\ntimeout = \"soon\"\n")
	cmd := exec.Command(binary, "serve", "-c", cfg)
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2; output %s", err, out)
	}
	if !strings.Contains(string(out), cfg+`:5: scan.timeout: bad duration "soon"`) {
		t.Fatalf("message does not name file, line and option: %s", out)
	}
	cfg = writeConfig(t, "[scan]\nlisten = [\"127.0.0.1:0\"]\ntypo_option = 1\n")
	out, _ = exec.Command(binary, "serve", "-c", cfg).CombinedOutput()
	if !strings.Contains(string(out), cfg+":3: scan.typo_option: unknown option") {
		t.Fatalf("unknown option message: %s", out)
	}
}

// TestServeDrainsOnSIGTERM sends SIGTERM while a scan request is still
// uploading: the request completes and the daemon exits 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	d := startServe(t, "-c", writeConfig(t, loopbackConfig), "--data", t.TempDir())
	conn, err := net.Dial("tcp", d.addrs["scan"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "From: a@example.org\r\nSubject: slow\r\n\r\nbody\r\n"
	fmt.Fprintf(conn, "POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nIP: 192.0.2.1\r\n\r\n", len(msg))
	io.WriteString(conn, msg[:10])
	time.Sleep(200 * time.Millisecond)
	d.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	io.WriteString(conn, msg[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v\n%s", err, d.logs())
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"action":"no action"`) {
		t.Fatalf("in-flight reply %d %s", resp.StatusCode, b)
	}
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// TestServeReload changes a weight and reloads with SIGHUP; a broken file
// then keeps the running configuration.
func TestServeReload(t *testing.T) {
	cfg := writeConfig(t, loopbackConfig)
	d := startServe(t, "-c", cfg, "--data", t.TempDir())
	malformed := "From: a@example.org\r\nno blank line follows" // MIME_MALFORMED
	if out := checkv2(t, d.addrs["scan"], malformed); !strings.Contains(out, `"action":"no action"`) {
		t.Fatalf("before reload: %s", out)
	}
	if err := os.WriteFile(cfg, []byte(loopbackConfig+"[symbols]\nMIME_MALFORMED = 20.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(d.logs(), "configuration reloaded") })
	if out := checkv2(t, d.addrs["scan"], malformed); !strings.Contains(out, `"action":"reject"`) {
		t.Fatalf("after reload: %s", out)
	}
	if err := os.WriteFile(cfg, []byte(loopbackConfig+"[actions]\nreject = \"high\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(d.logs(), "reload failed") })
	if !strings.Contains(d.logs(), "actions.reject") {
		t.Errorf("reload error does not name the option:\n%s", d.logs())
	}
	if out := checkv2(t, d.addrs["scan"], malformed); !strings.Contains(out, `"action":"reject"`) {
		t.Fatalf("after bad reload the old config is gone: %s", out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

func TestCheckCommand(t *testing.T) {
	msgFile := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msgFile, []byte("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"), 0o600)
	cfg := writeConfig(t, "[symbols]\nMIME_MALFORMED = 7.0\n[headers]\nenabled = false\n[content]\nenabled = false\n")
	var out, errb bytes.Buffer
	code := run([]string{"check", "-c", cfg, "--dns", "127.0.0.1:9", "--ip", "192.0.2.1", msgFile}, strings.NewReader(""), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "Action: no action") || !strings.Contains(out.String(), "SYMBOL") {
		t.Fatalf("check = %d\n%s\n%s", code, out.String(), errb.String())
	}
	out.Reset()
	code = run([]string{"check", "-c", cfg, "--dns", "127.0.0.1:9", "--json"}, strings.NewReader("Subject: x\r\nbroken"), &out, &errb)
	if code != 0 || !strings.HasPrefix(out.String(), `{"is_skipped":false,"score":7.0`) || !strings.Contains(out.String(), `"action":"add header"`) {
		t.Fatalf("check --json from stdin = %d %s %s", code, out.String(), errb.String())
	}
	if code := run([]string{"check", "--ip", "not-an-ip"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Fatalf("bad --ip exit = %d", code)
	}
	if code := run([]string{"nosuch"}, nil, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit = %d", code)
	}
}

// TestRspamcAgainstServe runs rspamd's own client, rspamc (Debian package
// rspamd), against `hamlet serve`: it must print hamlet's action, score
// and symbols.
func TestRspamcAgainstServe(t *testing.T) {
	rspamc := sharedtest.Require(t, "rspamc", "rspamd")
	cfg := writeConfig(t, loopbackConfig+"[symbols]\nMIME_MALFORMED = 7.5\n[content]\nenabled = false\n")
	d := startServe(t, "-c", cfg, "--data", t.TempDir())
	msg := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msg, []byte("From: a@example.org\r\nSubject: no body separator"), 0o600)
	out, err := exec.Command(rspamc, "-h", d.addrs["scan"], "-i", "192.0.2.1", "-F", "a@example.org", "symbols", msg).CombinedOutput()
	if err != nil {
		t.Fatalf("rspamc: %v\n%s", err, out)
	}
	for _, want := range []string{"Action: add header", "Score: 7.5", "MIME_MALFORMED"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("rspamc output lacks %q:\n%s", want, out)
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// TestGreylistCommand allows, lists and drops through a running daemon.
func TestGreylistCommand(t *testing.T) {
	d := startServe(t, "-c", writeConfig(t, loopbackConfig), "--data", t.TempDir())
	ctl := "http://" + d.addrs["controller"]
	var out, errb bytes.Buffer
	if code := run([]string{"greylist", "--controller", ctl, "allow", "192.0.2.0/24"}, nil, &out, &errb); code != 0 {
		t.Fatalf("allow = %d: %s", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"greylist", "--controller", ctl, "list"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "net:192.0.2.0/24") {
		t.Fatalf("list = %d: %s %s", code, out.String(), errb.String())
	}
	if code := run([]string{"greylist", "--controller", ctl, "drop", "net:192.0.2.0/24"}, nil, &out, &errb); code != 0 {
		t.Fatalf("drop = %d: %s", code, errb.String())
	}
	out.Reset()
	run([]string{"greylist", "--controller", ctl, "list"}, nil, &out, &errb)
	if strings.Contains(out.String(), "net:192.0.2.0/24") {
		t.Fatalf("entry still listed after drop: %s", out.String())
	}
	if code := run([]string{"greylist", "--controller", ctl, "allow", "not a target!"}, nil, &out, &errb); code != 1 {
		t.Fatalf("bad target exit = %d", code)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// TestSigningThroughCheck makes a key with `hamlet dkim keygen`, configures
// it, and scans an authenticated user's message: the /checkv2 reply
// carries the signature; an unauthenticated one gets none.
func TestSigningThroughCheck(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"dkim", "keygen", "-d", "example.org", "-s", "sel1", "-a", "ed25519", "-o", dir}, nil, &out, &errb); code != 0 {
		t.Fatalf("keygen = %d: %s", code, errb.String())
	}
	key := filepath.Join(dir, "example.org.sel1.key")
	cfg := writeConfig(t, fmt.Sprintf("[[dkim.sign]]\ndomain = \"example.org\"\nselector = \"sel1\"\nkey = %q\nalgorithm = \"ed25519-sha256\"\n", key))
	msg := "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hi\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nhello\r\n"
	out.Reset()
	if code := run([]string{"check", "-c", cfg, "--dns", "127.0.0.1:9", "--json", "--user", "alice", "--ip", "192.0.2.1", "--from", "alice@example.org"}, strings.NewReader(msg), &out, &errb); code != 0 {
		t.Fatalf("check = %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"dkim-signature":"v=1; a=ed25519-sha256;`) || !strings.Contains(out.String(), "d=example.org;") || !strings.Contains(out.String(), "s=sel1;") {
		t.Fatalf("no signature in %s", out.String())
	}
	out.Reset()
	run([]string{"check", "-c", cfg, "--dns", "127.0.0.1:9", "--json", "--ip", "192.0.2.1", "--from", "alice@example.org"}, strings.NewReader(msg), &out, &errb)
	if strings.Contains(out.String(), "dkim-signature") {
		t.Fatalf("inbound message signed: %s", out.String())
	}
}
