// Command compare measures hamlet against rspamd 3.4 on the same corpus,
// the same machine and the same DNS, in one run, and prints the ratio.
//
// It starts a loopback DNS server (every name NXDOMAIN, so that neither
// scanner talks to the outside world and both pay for DNS alike), rspamd
// from Debian's package with a private configuration pointing at that
// server (fuzzy checks off; needs root to drop to _rspamd), and `hamlet
// serve` built from this tree; then it runs the load generator against
// each in turn, rounds times, and reports medians.
//
// hamlet runs with its defaults, which include every content check
// ([content], [headers]); -clamd adds a clamd that both scanners use.
//
//	go run ./bench/compare [-corpus DIR] [-c 16] [-n 3000] [-rounds 3] [-clamd]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
	"github.com/hamlet-mail/hamlet/internal/loadgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run() error {
	corpus := flag.String("corpus", "../shared/corpus/spamassassin-testdata", "messages to scan")
	conc := flag.Int("c", 16, "concurrent requests")
	n := flag.Int("n", 3000, "messages per round")
	rounds := flag.Int("rounds", 3, "rounds per scanner (alternating)")
	rspamdBin := flag.String("rspamd", "/usr/bin/rspamd", "rspamd binary")
	workers := flag.Int("workers", 2, "rspamd normal workers (hamlet uses GOMAXPROCS)")
	withAV := flag.Bool("clamd", false, "also scan with ClamAV: one clamd (test signature database) for both")
	cpuprofile := flag.String("cpuprofile", "", "write hamlet serve's CPU profile to `file`")
	history := flag.Bool("history", true, "hamlet records its verdicts in the history ([history] enabled): run with -history=false for what recording costs")
	flag.Parse()

	msgs, err := loadgen.Load(*corpus)
	if err != nil || len(msgs) == 0 {
		return fmt.Errorf("corpus %s: %v (%d messages)", *corpus, err, len(msgs))
	}
	dir, err := os.MkdirTemp("", "hamlet-compare")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dnsSrv, err := dnstest.NewServer("")
	if err != nil {
		return err
	}
	defer dnsSrv.Close()

	hamletAV, rspamdAV := "", ""
	if *withAV {
		bin, err := exec.LookPath("clamd")
		if err != nil {
			return fmt.Errorf("-clamd: %w (apt-get install clamav-daemon)", err)
		}
		os.Chmod(dir, 0o755)
		av, err := clamdtest.Run(bin, filepath.Join(dir, "clamd"), false)
		if err != nil {
			return err
		}
		defer av.Stop()
		hamletAV = fmt.Sprintf("[antivirus]\nclamd = \"unix:%s\"\n", av.Socket)
		// The whole message, as hamlet sends it; rspamd's default would
		// send each attachment.
		rspamdAV = fmt.Sprintf("clamav {\n  type = \"clamav\";\n  servers = \"%s\";\n  symbol = \"CLAM_VIRUS\";\n  action = \"reject\";\n  scan_mime_parts = false;\n}\n", av.Socket)
	}
	if !*history {
		hamletAV += "[history]\nenabled = false\n"
	}
	hamletURL, hamletPID, stopHamlet, err := startHamlet(dir, dnsSrv.Addr(), hamletAV, *cpuprofile)
	if err != nil {
		return fmt.Errorf("hamlet: %w", err)
	}
	defer stopHamlet()
	rspamdURL, stopRspamd, err := startRspamd(*rspamdBin, dir, dnsSrv.Addr(), *workers, rspamdAV)
	if err != nil {
		return fmt.Errorf("rspamd: %w", err)
	}
	defer stopRspamd()

	opts := loadgen.Options{Concurrency: *conc, Messages: *n, Warmup: 100,
		IP: "192.0.2.1", Helo: "mail.example.com", From: "sender@example.com"}
	res := map[string][]loadgen.Result{}
	var cpuPerMsg []float64 // hamlet serve's CPU time per message, ms
	ctx := context.Background()
	fmt.Printf("corpus: %d messages from %s; %d per round, concurrency %d, %d rounds; CPUs %s; ClamAV %v; history %v\n",
		len(msgs), *corpus, *n, *conc, *rounds, cpus(), *withAV, *history)
	for r := 0; r < *rounds; r++ {
		for _, t := range []struct{ name, url string }{{"hamlet", hamletURL}, {"rspamd", rspamdURL}} {
			o := opts
			o.URL = t.url
			cpu0 := procCPU(hamletPID)
			out, err := loadgen.Run(ctx, o, msgs)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			extra := ""
			if t.name == "hamlet" {
				// The warm-up messages count: the load generator sends
				// them too.
				ms := float64(procCPU(hamletPID)-cpu0) / float64(time.Millisecond) / float64(*n+opts.Warmup)
				cpuPerMsg = append(cpuPerMsg, ms)
				extra = fmt.Sprintf(", hamlet CPU %.3f ms/msg", ms)
			}
			fmt.Printf("round %d %-7s %s%s\n", r+1, t.name, out, extra)
			res[t.name] = append(res[t.name], out)
		}
	}
	h, s := median(res["hamlet"]), median(res["rspamd"])
	fmt.Printf("\nmedian msg/s: hamlet %.0f, rspamd %.0f — hamlet/rspamd throughput ratio %.2f\n", h.PerSecond, s.PerSecond, h.PerSecond/s.PerSecond)
	fmt.Printf("median p50 latency: hamlet %.2f ms, rspamd %.2f ms\n", h.P50ms, s.P50ms)
	sort.Float64s(cpuPerMsg)
	fmt.Printf("median hamlet CPU per message: %.3f ms (all threads of hamlet serve; the neighbours on a shared machine change it less than msg/s)\n", cpuPerMsg[len(cpuPerMsg)/2])
	return nil
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/PID/stat (in clock ticks of 1/100 s, Linux's USER_HZ).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func cpus() string {
	b, _ := exec.Command("nproc").Output()
	return strings.TrimSpace(string(b))
}

func median(rs []loadgen.Result) loadgen.Result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].PerSecond < rs[j].PerSecond })
	return rs[len(rs)/2]
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitPing(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer /ping within %v", url, d)
}

func startHamlet(dir, dnsAddr, extra, cpuprofile string) (string, int, func(), error) {
	bin := filepath.Join(dir, "hamlet")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/hamlet").CombinedOutput(); err != nil {
		return "", 0, nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	cfg := filepath.Join(dir, "hamlet.toml")
	text := fmt.Sprintf("[scan]\nlisten = [\"127.0.0.1:%d\"]\n[controller]\nlisten = \"\"\n[milter]\nlisten = []\n[log]\nlevel = \"warn\"\n", port) + extra
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return "", 0, nil, err
	}
	args := []string{"serve", "-c", cfg, "--data", filepath.Join(dir, "hamlet-data"), "--dns", dnsAddr}
	if cpuprofile != "" {
		args = append(args, "--cpuprofile", cpuprofile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	if err := waitPing(url, 30*time.Second); err != nil {
		stop()
		return "", 0, nil, err
	}
	return url, cmd.Process.Pid, stop, nil
}

// startRspamd runs rspamd 3.4 on loopback with a private configuration:
// one normal worker pool on a free port, no controller or proxy, fuzzy
// checks off, DNS from the test server.
func startRspamd(bin, dir, dnsAddr string, workers int, antivirus string) (string, func(), error) {
	if _, err := os.Stat(bin); err != nil {
		return "", nil, fmt.Errorf("%s not installed (apt-get install rspamd): %w", bin, err)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	root := filepath.Join(dir, "rspamd")
	files := map[string]string{
		"local/override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = %d;\n", port, workers),
		"local/override.d/worker-controller.inc": "enabled = false;\n",
		"local/override.d/worker-proxy.inc":      "enabled = false;\n",
		"local/local.d/options.inc":              fmt.Sprintf("dns { nameserver = [\"%s\"]; timeout = 1s; retransmits = 1; }\n", dnsAddr),
		"local/local.d/fuzzy_check.conf":         "enabled = false;\n",
		"local/local.d/logging.inc":              "level = \"error\";\n",
	}
	if antivirus != "" {
		files["local/local.d/antivirus.conf"] = antivirus
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return "", nil, err
		}
	}
	for _, d := range []string{"db", "run", "log"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if u, err := user.Lookup("_rspamd"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
		os.Chmod(dir, 0o755)
	}
	cmd := exec.Command(bin, "-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd",
		"--var=LOCAL_CONFDIR="+filepath.Join(root, "local"), "--var=DBDIR="+filepath.Join(root, "db"),
		"--var=RUNDIR="+filepath.Join(root, "run"), "--var=LOGDIR="+filepath.Join(root, "log"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	if err := waitPing(url, 180*time.Second); err != nil {
		stop()
		return "", nil, fmt.Errorf("%w (log in %s)", err, filepath.Join(root, "log"))
	}
	return url, stop, nil
}
