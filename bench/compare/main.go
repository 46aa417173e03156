// Command compare measures hamlet against rspamd 3.4 on the same corpus,
// the same machine and the same DNS, in one run, and prints the ratio.
//
// It starts a loopback DNS server (every name NXDOMAIN, so that neither
// scanner talks to the outside world and both pay for DNS alike), rspamd
// from Debian's package with a private configuration pointing at that
// server (fuzzy checks off; needs root to drop to _rspamd), and `hamlet
// serve` built from this tree; then it runs the load generator against
// each in turn, rounds times (each round starting with the next of them),
// and reports medians.
//
// hamlet runs with its defaults, which include every content check
// ([content], [headers]); -clamd adds a clamd that both scanners use.
// -bayes N adds two hamlets whose Bayes classifier learned N generated
// spam and N ham messages first (`hamlet learn`): one with the token
// cache (the default; the corpus repeats, so it is warm after a round)
// and one without it (cache_tokens = 0: every token read from the store).
//
//	go run ./bench/compare [-corpus DIR] [-c 16] [-n 3000] [-rounds 3] [-clamd] [-bayes 300]
//
// -rspamd "" leaves rspamd out: hamlet's variants only (what -bayes costs).
// -greylist=false turns hamlet's greylisting off (rspamd's needs Redis,
// which this comparison does not give it).
// -nohistory adds a hamlet that keeps no history ([history] enabled =
// false): what recording the history costs. Each hamlet's CPU time per
// message (all its threads, from /proc) is reported too: on a shared
// machine it varies less than msg/s.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
	"github.com/hamlet-mail/hamlet/internal/loadgen"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/internal/rspamdtest"
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
	rspamdBin := flag.String("rspamd", "/usr/bin/rspamd", "rspamd binary (\"\": hamlet's variants only, e.g. with -bayes)")
	workers := flag.Int("workers", 2, "rspamd normal workers (hamlet uses GOMAXPROCS)")
	withAV := flag.Bool("clamd", false, "also scan with ClamAV: one clamd (test signature database) for both")
	noHistory := flag.Bool("nohistory", false, "also run a hamlet that keeps no history ([history] enabled = false)")
	cpuprofile := flag.String("cpuprofile", "", "write the plain hamlet's CPU profile to `file` (and -nohistory's to file.nohistory)")
	greylist := flag.Bool("greylist", true, "hamlet greylists (its default; false: like this rspamd, which without Redis cannot)")
	bayesN := flag.Int("bayes", 0, "also run hamlet with Bayes trained on this many generated spam and ham messages (with and without its token cache)")
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
		rspamdAV = rspamdtest.ClamAV(av.Socket)
	}
	bin := filepath.Join(dir, "hamlet")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/hamlet").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	if !*greylist {
		hamletAV += "[greylist]\nenabled = false\n"
	}
	hamletURL, pid, stopHamlet, err := startHamlet(bin, dir, "hamlet", dnsSrv.Addr(), hamletAV, 0, *cpuprofile)
	if err != nil {
		return fmt.Errorf("hamlet: %w", err)
	}
	defer stopHamlet()
	targets := []struct{ name, url string }{{"hamlet", hamletURL}}
	pids := map[string]int{"hamlet": pid}
	if *noHistory {
		prof := ""
		if *cpuprofile != "" {
			prof = *cpuprofile + ".nohistory"
		}
		url, pid, stop, err := startHamlet(bin, dir, "hamlet-nohistory", dnsSrv.Addr(), hamletAV+"[history]\nenabled = false\n", 0, prof)
		if err != nil {
			return fmt.Errorf("hamlet-nohistory: %w", err)
		}
		defer stop()
		targets = append(targets, struct{ name, url string }{"hamlet-nohistory", url})
		pids["hamlet-nohistory"] = pid
	}
	if *bayesN > 0 {
		for _, v := range []struct{ name, extra string }{
			{"hamlet+bayes", ""},
			{"hamlet+bayes-nocache", "cache_tokens = 0\n"},
		} {
			section := fmt.Sprintf("[bayes]\nmin_learns = %d\n%s", min(*bayesN, 200), v.extra)
			url, pid, stop, err := startHamlet(bin, dir, v.name, dnsSrv.Addr(), hamletAV+section, *bayesN, "")
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			defer stop()
			targets = append(targets, struct{ name, url string }{v.name, url})
			pids[v.name] = pid
		}
	}
	if *rspamdBin != "" {
		rs, err := rspamdtest.Start(rspamdtest.Options{Bin: *rspamdBin, Dir: dir, DNS: dnsSrv.Addr(), Workers: *workers, Antivirus: rspamdAV})
		if err != nil {
			return fmt.Errorf("rspamd: %w", err)
		}
		defer rs.Stop()
		targets = append(targets, struct{ name, url string }{"rspamd", rs.URL})
	}

	opts := loadgen.Options{Concurrency: *conc, Messages: *n, Warmup: 100,
		IP: "192.0.2.1", Helo: "mail.example.com", From: "sender@example.com"}
	res := map[string][]loadgen.Result{}
	cpuMs := map[string][]float64{} // CPU time per message, ms
	ctx := context.Background()
	fmt.Printf("corpus: %d messages from %s; %d per round, concurrency %d, %d rounds; CPUs %s; ClamAV %v; Bayes trained on %d+%d\n",
		len(msgs), *corpus, *n, *conc, *rounds, cpus(), *withAV, *bayesN, *bayesN)
	for r := 0; r < *rounds; r++ {
		// Each round starts with the next target, so that none always
		// runs first (or right after the same one): on a shared machine
		// the order biases a fixed pair's ratio.
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			o := opts
			o.URL = t.url
			pid, isHamlet := pids[t.name]
			cpu0, sys0 := procCPU(pid)
			out, err := loadgen.Run(ctx, o, msgs)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			extra := ""
			if isHamlet {
				// The warm-up messages count: they are sent too.
				cpu1, sys1 := procCPU(pid)
				per := func(d time.Duration) float64 {
					return float64(d) / float64(time.Millisecond) / float64(o.Messages+o.Warmup)
				}
				ms := per(cpu1 - cpu0)
				cpuMs[t.name] = append(cpuMs[t.name], ms)
				extra = fmt.Sprintf(", CPU %.3f ms/msg (system %.3f)", ms, per(sys1-sys0))
			}
			fmt.Printf("round %d %-20s %s%s\n", r+1, t.name, out, extra)
			res[t.name] = append(res[t.name], out)
		}
	}
	fmt.Println()
	base := median(res["hamlet"])
	for _, t := range targets {
		h := median(res[t.name])
		line := fmt.Sprintf("median msg/s: %s %.0f, p50 latency %.2f ms", t.name, h.PerSecond, h.P50ms)
		if t.name != "hamlet" {
			line += fmt.Sprintf("; %.2f of hamlet's", h.PerSecond/base.PerSecond)
		}
		if c := cpuMs[t.name]; len(c) > 0 {
			line += fmt.Sprintf("; CPU %.3f ms/msg", medianF(c))
			if b := cpuMs["hamlet"]; t.name != "hamlet" && len(b) > 0 {
				line += fmt.Sprintf(" (%.2f of hamlet's)", medianF(c)/medianF(b))
			}
		}
		if t.name != "hamlet" && len(res[t.name]) == len(res["hamlet"]) {
			// The same round's pair: the machine's load changes from
			// round to round, less within one.
			var rate, cpu []float64
			for i, o := range res[t.name] {
				rate = append(rate, o.PerSecond/res["hamlet"][i].PerSecond)
			}
			if c, b := cpuMs[t.name], cpuMs["hamlet"]; len(c) == len(b) {
				for i := range c {
					cpu = append(cpu, c[i]/b[i])
				}
			}
			line += fmt.Sprintf("; median of the rounds' ratios: msg/s %.3f", medianF(rate))
			if len(cpu) > 0 {
				line += fmt.Sprintf(", CPU %.3f", medianF(cpu))
			}
		}
		if res["rspamd"] != nil && t.name != "rspamd" {
			s := median(res["rspamd"])
			line += fmt.Sprintf("; %s/rspamd throughput ratio %.2f (p50 %.2f ms vs %.2f ms)", t.name, h.PerSecond/s.PerSecond, h.P50ms, s.P50ms)
		}
		fmt.Println(line)
	}
	return nil
}

func cpus() string {
	b, _ := exec.Command("nproc").Output()
	return strings.TrimSpace(string(b))
}

func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// procCPU is the CPU time (user and system) process pid has used and
// the system part of it, from /proc/PID/stat (clock ticks of 1/100 s,
// Linux's USER_HZ).
func procCPU(pid int) (total, system time.Duration) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0, 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	tick := 10 * time.Millisecond
	return time.Duration(ut+st) * tick, time.Duration(st) * tick
}

func median(rs []loadgen.Result) loadgen.Result {
	rs = slices.Clone(rs) // the rounds' order pairs them
	sort.Slice(rs, func(i, j int) bool { return rs[i].PerSecond < rs[j].PerSecond })
	return rs[len(rs)/2]
}

// startHamlet runs `hamlet serve` as name (its own configuration and
// data directory under dir), after teaching its Bayes classifier bayesN
// generated spam and ham messages when bayesN > 0.
func startHamlet(bin, dir, name, dnsAddr, extra string, bayesN int, cpuprofile string) (string, int, func(), error) {
	data := filepath.Join(dir, name+"-data")
	if bayesN > 0 {
		if err := train(bin, dir, data, bayesN); err != nil {
			return "", 0, nil, err
		}
	}
	port, err := rspamdtest.FreePort()
	if err != nil {
		return "", 0, nil, err
	}
	cfg := filepath.Join(dir, name+".toml")
	text := fmt.Sprintf("[scan]\nlisten = [\"127.0.0.1:%d\"]\n[controller]\nlisten = \"\"\n[milter]\nlisten = []\n[log]\nlevel = \"warn\"\n", port) + extra
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return "", 0, nil, err
	}
	args := []string{"serve", "-c", cfg, "--data", data, "--dns", dnsAddr}
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
	if err := rspamdtest.WaitPing(url, 30*time.Second); err != nil {
		stop()
		return "", 0, nil, err
	}
	return url, cmd.Process.Pid, stop, nil
}

// train learns n generated spam and n ham messages into the data
// directory with `hamlet learn`.
func train(bin, dir, data string, n int) error {
	g := mailgen.New(4242)
	for _, class := range []string{"spam", "ham"} {
		src := filepath.Join(dir, "train-"+class)
		if _, err := os.Stat(src); err != nil {
			os.MkdirAll(src, 0o755)
			for i := range n {
				raw := g.Ham(3000)
				if class == "spam" {
					raw = g.Spam(3000)
				}
				if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("%05d.eml", i)), raw, 0o644); err != nil {
					return err
				}
			}
		}
		out, err := exec.Command(bin, "learn", "-q", "--"+class, "--data", data, src).CombinedOutput()
		if err != nil {
			return fmt.Errorf("hamlet learn --%s: %v\n%s", class, err, out)
		}
		fmt.Printf("%s: %s", filepath.Base(data), out)
	}
	return nil
}
