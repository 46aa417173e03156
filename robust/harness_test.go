package robust

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/frontend/milter"
)

// bin is the hamlet binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hamlet-robust-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "hamlet")
	if b := os.Getenv("HAMLET_ROBUST_BIN"); b != "" {
		bin = b // a given binary: an older build, to show a test failing before its fix
	} else if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hamlet").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "robust: go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// zone: client networks with PTR and forward records, a sender domain
// with SPF and DMARC; every other name is NXDOMAIN.
func zone() string {
	var b strings.Builder
	b.WriteString("sender.test. TXT \"v=spf1 ip4:203.0.113.0/24 -all\"\n_dmarc.sender.test. TXT \"v=DMARC1; p=none\"\n")
	for i := 1; i < 255; i++ {
		fmt.Fprintf(&b, "%d.113.0.203.in-addr.arpa. PTR mail%d.sender.test.\nmail%d.sender.test. A 203.0.113.%d\n", i, i, i, i)
	}
	return b.String()
}

// baseConfig is a configuration on random loopback ports, asking dnsAddr.
func baseConfig(dnsAddr string) string {
	return fmt.Sprintf(`hostname = "mx.robust.test"
[scan]
listen = ["127.0.0.1:0"]
timeout = "5s"
[controller]
listen = "127.0.0.1:0"
[milter]
listen = ["127.0.0.1:0"]
[dns]
servers = [%q]
timeout = "500ms"
attempts = 2
`, dnsAddr)
}

// daemon is one running hamlet serve.
type daemon struct {
	t                      *testing.T
	cmd                    *exec.Cmd
	scan, controller, milt string
	logMu                  sync.Mutex
	log                    strings.Builder
	exited                 chan struct{}
}

var servingLine = regexp.MustCompile(`msg="hamlet serving" scan=\[([^\]]*)\] controller=\[([^\]]*)\] milter=\[([^\]]*)\]`)

// start runs hamlet serve with config text cfg and data directory data,
// and waits until it serves.
func start(t *testing.T, cfg, data string) *daemon {
	t.Helper()
	return startLimited(t, cfg, data, 0)
}

// startLimited is start under `ulimit -n nofile` (0: no change).
func startLimited(t *testing.T, cfg, data string, nofile int) *daemon {
	t.Helper()
	f := filepath.Join(t.TempDir(), "hamlet.toml")
	if err := os.WriteFile(f, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, exited: make(chan struct{})}
	// The listen addresses are read from the "hamlet serving" line; the
	// log (one line per message) is kept up to 1 MiB.
	d.cmd = exec.Command(bin, "serve", "-c", f, "--data", data)
	if nofile > 0 {
		d.cmd = exec.Command("bash", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), bin, "serve", "-c", f, "--data", data)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(d.stop)
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				ready <- m[1:]
			}
			d.logMu.Lock()
			if d.log.Len() < 1<<20 {
				d.log.WriteString(line + "\n")
			}
			d.logMu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-ready:
		d.scan, d.controller, d.milt = a[0], a[1], a[2]
	case <-d.exited:
		t.Fatalf("hamlet serve exited: %s\n%s", d.cmd.ProcessState, d.logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("hamlet serve did not start serving\n%s", d.logs())
	}
	return d
}

func (d *daemon) logs() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

// stop ends the daemon with SIGTERM (SIGKILL after 30 s).
func (d *daemon) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// kill9 ends the daemon with SIGKILL, as the OOM killer or a power cut
// would.
func (d *daemon) kill9() {
	d.cmd.Process.Kill()
	<-d.exited
}

// status reads a field of /proc/PID/status in kB (VmRSS, VmHWM).
func (d *daemon) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		d.t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	d.t.Fatalf("no %s in /proc/PID/status", field)
	return 0
}

// fds counts the daemon's open descriptors.
func (d *daemon) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	if err != nil {
		d.t.Fatal(err)
	}
	return len(ents)
}

// metric reads one unlabelled sample from the controller's /metrics.
func (d *daemon) metric(name string) float64 {
	d.t.Helper()
	resp, err := http.Get("http://" + d.controller + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				d.t.Fatal(err)
			}
			return f
		}
	}
	d.t.Fatalf("no %s in /metrics", name)
	return 0
}

// settle waits until the daemon has at most want goroutines, or 30 s;
// it returns the last count. Finished sessions take a moment to unwind.
func (d *daemon) settle(want float64) float64 {
	var g float64
	for i := 0; i < 60; i++ {
		if g = d.metric("go_goroutines"); g <= want {
			return g
		}
		time.Sleep(500 * time.Millisecond)
	}
	return g
}

// idle waits until the goroutine count stays the same over three samples
// (or 30 s) and returns it.
func (d *daemon) idle() float64 {
	last, same := -1.0, 0
	for i := 0; i < 60 && same < 2; i++ {
		g := d.metric("go_goroutines")
		if g == last {
			same++
		} else {
			last, same = g, 0
		}
		time.Sleep(250 * time.Millisecond)
	}
	return last
}

// outcome is what the MTA would do with one message.
type outcome struct {
	code int    // SMTP reply: 0 accepted, 451, 550 …
	text string // the reply text, for 4xx/5xx
	err  error  // a protocol or connection error: no defined answer
}

// session is one SMTP transaction relayed over milter from client
// 203.0.113.<ip>, up to RCPT; send then finishes it.
type session struct {
	c  *milter.ClientSession
	at string // where it stopped early, if it did
	r  milter.Response
}

// open dials the daemon's milter and plays connect, HELO, MAIL and RCPT.
func (d *daemon) open(ctx context.Context, ip int, from, rcpt string) (*session, error) {
	c, err := milter.Dial(ctx, d.milt, milter.ClientOptions{Timeout: 60 * time.Second})
	if err != nil {
		return nil, err
	}
	s := &session{c: c}
	steps := []struct {
		name string
		do   func() (milter.Response, error)
	}{
		{"connect", func() (milter.Response, error) {
			return c.Connect(fmt.Sprintf("mail%d.sender.test", ip), '4', 25000, fmt.Sprintf("203.0.113.%d", ip))
		}},
		{"helo", func() (milter.Response, error) { return c.Helo(fmt.Sprintf("mail%d.sender.test", ip)) }},
		{"mail", func() (milter.Response, error) { return c.Mail(from) }},
		{"rcpt", func() (milter.Response, error) { return c.Rcpt(rcpt) }},
	}
	for _, st := range steps {
		r, err := st.do()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		if r.Rejected() {
			s.at, s.r = st.name, r
			return s, nil
		}
	}
	return s, nil
}

// send finishes the session with raw and closes it.
func (s *session) send(raw []byte) outcome {
	defer s.c.Close()
	if s.at != "" {
		return outcome{code: s.r.SMTPCode(), text: s.at + ": " + s.r.Text}
	}
	r, _, err := s.c.Message(raw)
	if err != nil {
		return outcome{err: err}
	}
	return outcome{code: r.SMTPCode(), text: r.Text}
}

// message is a small plain message from from.
func message(from, id string) []byte {
	return []byte(fmt.Sprintf("From: Sender <%s>\r\nTo: <user@rcpt.test>\r\nSubject: robust %s\r\nMessage-ID: <%s@sender.test>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is message %s.\r\nNothing to see.\r\n",
		from, id, id, time.Now().UTC().Format(time.RFC1123Z), id))
}

// newDNS starts the test DNS server.
func newDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.NewServer(zone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// openProc opens /proc/PID/name of the daemon.
func openProc(d *daemon, name string) (*os.File, error) {
	return os.Open(fmt.Sprintf("/proc/%d/%s", d.cmd.Process.Pid, name))
}
