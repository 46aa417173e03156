// Command mta measures hamlet where users meet it: behind a real MTA.
//
// It runs, in a private network and mount namespace of its own (so it
// needs root and unshare), a test DNS server on that namespace's port 53,
// a private Postfix 3.7 instance delivering to its discard transport,
// `hamlet serve` built from this tree, rspamd 3.4's milter proxy, and
// optionally OpenSMTPD 6.8 with `hamlet opensmtpd` relaying to a sink.
// Clients connect from documentation-range addresses (203.0.113.1–16,
// each with a PTR, a matching A record and SPF) carrying corpus messages
// re-signed with DKIM for good.test, so that SPF, DKIM, DMARC and FCrDNS
// all pass as for a real correspondent.
//
// Each round runs every target in turn (alternating, so the machine's
// noise falls on all of them alike): Postfix without a filter, with
// hamlet over TCP, with hamlet over a unix socket, with rspamd's milter
// proxy over TCP and over a unix socket; OpenSMTPD without and with
// hamlet. The null-milter target (a milter that negotiates what hamlet
// does and decides nothing) is the ceiling for any milter. It prints msg/s, the latency
// per message as the sending client sees it (connect to the 250 after
// the final dot, p50/p99) and the CPU per message of each process tree,
// then the medians and the ratios.
//
//	go run ./bench/mta [-c 16] [-n 3000] [-rounds 3] [-targets postfix,hamlet,hamlet-unix,rspamd,rspamd-unix,opensmtpd,opensmtpd-hamlet]
//
// -driver smtp-source feeds the MTAs with Postfix's smtp-source instead of
// the built-in client (one smtp-source per session, -s 1; it reports no
// latency). -cpuprofile writes hamlet serve's CPU profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/internal/mtaenv"
)

const innerEnv = "HAMLET_MTABENCH_INNER"

func main() {
	o := defaultOptions()
	flag.StringVar(&o.Corpus, "corpus", o.Corpus, "`directory` of messages (re-signed for good.test)")
	flag.IntVar(&o.Concurrency, "c", o.Concurrency, "concurrent SMTP sessions")
	flag.IntVar(&o.Messages, "n", o.Messages, "messages per target and round")
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds (targets alternate within each)")
	targets := flag.String("targets", strings.Join(o.Targets, ","), "comma-separated targets: "+strings.Join(allTargets, ", "))
	flag.StringVar(&o.Driver, "driver", o.Driver, "load `generator`: go (built in, measures latency) or smtp-source")
	flag.StringVar(&o.HamletBin, "hamlet", "", "hamlet `binary` to test (default: built from this tree)")
	flag.IntVar(&o.HamletCPUs, "hamlet-cpus", 0, "hamlet's `cpus` option (GOMAXPROCS; 0: every CPU)")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write hamlet serve's CPU profile to `file`")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (logs, configuration)")
	flag.BoolVar(&o.QuickackRoute, "quickack-route", false, "set `quickack 1` on the namespace's 127.0.0.1 route (the kernel then acknowledges at once: no milter needs TCP_QUICKACK)")
	flag.Float64Var(&o.Pace, "pace", 0, "`msg/s` of the direct targets (checkv2, milter, milter-unix); 0: the preceding hamlet run's rate, or unpaced")
	flag.Parse()
	o.Targets = splitList(*targets)
	if os.Getenv(innerEnv) == "1" {
		rep, err := runInner(context.Background(), o, os.Stdout)
		if err == nil {
			err = rep.check()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mta bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := reexec(o, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mta bench:", err)
		os.Exit(1)
	}
}

// allTargets: checkv2 scans the same messages over hamlet's HTTP API, no
// MTA in the way, at the rate the last hamlet run reached: the reference
// for the milter path's CPU per message.
// null-milter is Postfix with a milter that decides nothing (in this
// process, counted in client+dns): what any milter costs Postfix;
// null-milter-unix the same on a unix socket (the ceiling for hamlet-unix).
// rspamd-unix is rspamd's milter proxy on a unix socket, as hamlet-unix.
// milter and milter-unix scan the same messages over hamlet's milter
// listener (TCP, unix socket) with a client playing Postfix, no MTA in the
// way, paced as checkv2: the like-for-like comparison with checkv2.
var allTargets = []string{"postfix", "hamlet", "hamlet-unix", "rspamd", "rspamd-unix", "opensmtpd", "opensmtpd-hamlet", "checkv2", "null-milter", "null-milter-unix", "milter", "milter-unix"}

// direct reports whether target talks to hamlet with no MTA in the way.
func direct(target string) bool {
	return target == "checkv2" || target == "milter" || target == "milter-unix"
}

// Options configure a benchmark run.
type Options struct {
	Corpus      string
	Concurrency int
	Messages    int
	Rounds      int
	Targets     []string
	Driver      string
	HamletBin   string
	HamletCPUs  int
	CPUProfile  string
	Keep        bool
	Warmup      int
	// QuickackRoute sets quickack on the loopback route (ip-route(8)).
	QuickackRoute bool
	// Pace is the rate (msg/s) of the direct targets (checkv2, milter,
	// milter-unix); zero: the preceding Postfix + hamlet run's rate, or
	// as fast as they go when there was none.
	Pace float64
}

func defaultOptions() Options {
	// As internal/sharedtest: $HAMLET_CORPUS, $HAMLET_SHARED/corpus,
	// ../shared/corpus beside the module.
	corpus := os.Getenv("HAMLET_CORPUS")
	if corpus == "" {
		shared := os.Getenv("HAMLET_SHARED")
		if shared == "" {
			root, _ := mtaenv.RepoRoot()
			shared = filepath.Join(root, "..", "shared")
		}
		corpus = filepath.Join(shared, "corpus")
	}
	return Options{
		Corpus:      filepath.Join(corpus, "spamassassin-testdata", "nice"),
		Concurrency: 16, Messages: 3000, Rounds: 3, Driver: "go", Warmup: 50,
		Targets: []string{"postfix", "hamlet", "hamlet-unix", "rspamd", "rspamd-unix", "opensmtpd", "opensmtpd-hamlet"},
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// missing names what the machine lacks for the targets.
func missing(o Options) []string {
	var lack []string
	if os.Geteuid() != 0 {
		lack = append(lack, "root (network namespaces, MTAs)")
	}
	tools := []string{"unshare", "ip", "mount", "postfix", "go"}
	if o.Driver == "smtp-source" {
		tools = append(tools, "smtp-source")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			lack = append(lack, t)
		}
	}
	for _, t := range o.Targets {
		switch t {
		case "rspamd", "rspamd-unix":
			if _, err := os.Stat(rspamdBin); err != nil {
				lack = append(lack, "rspamd ("+rspamdBin+")")
			}
		case "opensmtpd", "opensmtpd-hamlet":
			if _, err := os.Stat(filepath.Join(mtaenv.OpenSMTPDRoot(), "usr/sbin/smtpd")); err != nil {
				lack = append(lack, "opensmtpd (unpacked in "+mtaenv.OpenSMTPDRoot()+", .ci/install-e2e)")
			}
		}
	}
	return dedup(lack)
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// reexec builds hamlet when needed and runs this program again inside
// private network and mount namespaces.
func reexec(o Options, args []string) error {
	for _, t := range o.Targets {
		if !contains(allTargets, t) {
			return fmt.Errorf("unknown target %q (have %s)", t, strings.Join(allTargets, ", "))
		}
	}
	if lack := missing(o); len(lack) > 0 {
		return fmt.Errorf("missing %s", strings.Join(lack, ", "))
	}
	bin := o.HamletBin
	if bin == "" {
		dir, err := os.MkdirTemp("", "hamlet-mtabench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		bin = filepath.Join(dir, "hamlet")
		root, err := mtaenv.RepoRoot()
		if err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/hamlet")
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building hamlet: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	corpus, err := filepath.Abs(o.Corpus)
	if err != nil {
		return err
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--mount", "--propagation", "private", "--fork", "--", self}, args...)...)
	cmd.Env = append(os.Environ(), innerEnv+"=1", "HAMLET_MTABENCH_BIN="+abs, "HAMLET_MTABENCH_CORPUS="+corpus)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// report collects every run.
type report struct {
	runs map[string][]runResult
	// order is the targets in the order they ran.
	order []string
}

// check fails when a run lost a message: each accepted message must be
// delivered, and each scanned by the filter the target has.
func (r *report) check() error {
	for _, t := range r.order {
		for i, x := range r.runs[t] {
			if err := x.complete(); err != nil {
				return fmt.Errorf("%s round %d: %w", t, i+1, err)
			}
		}
	}
	return nil
}

func (r *report) add(t string, x runResult) {
	if r.runs == nil {
		r.runs = map[string][]runResult{}
	}
	if _, ok := r.runs[t]; !ok {
		r.order = append(r.order, t)
	}
	r.runs[t] = append(r.runs[t], x)
}

func (r *report) median(t string) runResult {
	rs := append([]runResult(nil), r.runs[t]...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].PerSecond < rs[j].PerSecond })
	return rs[len(rs)/2]
}

func (r *report) print(w *os.File) {
	fmt.Fprintf(w, "\nmedians:\n")
	for _, t := range r.order {
		fmt.Fprintf(w, "  %s\n", r.median(t))
	}
	ratio := func(a, b string) {
		if len(r.runs[a]) == 0 || len(r.runs[b]) == 0 {
			return
		}
		var rs []float64
		for i := range min(len(r.runs[a]), len(r.runs[b])) {
			rs = append(rs, r.runs[a][i].PerSecond/r.runs[b][i].PerSecond)
		}
		sort.Float64s(rs)
		fmt.Fprintf(w, "  %s / %s throughput: median %.2f (per round %s)\n", a, b, rs[len(rs)/2], fmtFloats(rs))
	}
	fmt.Fprintln(w, "ratios (same round):")
	ratio("hamlet", "postfix")
	ratio("hamlet-unix", "postfix")
	ratio("hamlet", "rspamd")
	ratio("hamlet-unix", "rspamd")
	ratio("hamlet-unix", "rspamd-unix")
	ratio("rspamd", "postfix")
	ratio("rspamd-unix", "postfix")
	ratio("null-milter", "postfix")
	ratio("null-milter-unix", "postfix")
	ratio("hamlet", "null-milter")
	ratio("hamlet-unix", "null-milter-unix")
	ratio("opensmtpd-hamlet", "opensmtpd")
	cpu := func(a string) {
		if len(r.runs[a]) == 0 || len(r.runs["checkv2"]) == 0 {
			return
		}
		var rs []float64
		for i := range min(len(r.runs[a]), len(r.runs["checkv2"])) {
			rs = append(rs, r.runs[a][i].CPU["hamlet"]/r.runs["checkv2"][i].CPU["hamlet"])
		}
		sort.Float64s(rs)
		fmt.Fprintf(w, "  hamlet CPU per message, %s / checkv2: median %.2f (per round %s)\n", a, rs[len(rs)/2], fmtFloats(rs))
	}
	cpu("hamlet")
	cpu("hamlet-unix")
	cpu("milter")
	cpu("milter-unix")
}

func fmtFloats(fs []float64) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%.2f", f))
	}
	return strings.Join(s, " ")
}

// runInner runs inside the namespaces.
func runInner(ctx context.Context, o Options, out *os.File) (*report, error) {
	bin := os.Getenv("HAMLET_MTABENCH_BIN")
	if c := os.Getenv("HAMLET_MTABENCH_CORPUS"); c != "" {
		o.Corpus = c
	}
	w, err := newWorld(o, bin, out)
	if err != nil {
		return nil, err
	}
	defer w.close()
	fmt.Fprintf(out, "%d messages (%.1f KB average, from %s), %d per target and round, %d sessions, %d rounds, driver %s, CPUs %d\n",
		len(w.msgs), w.avgKB(), o.Corpus, o.Messages, o.Concurrency, o.Rounds, o.Driver, numCPU())
	rep := &report{}
	for round := 1; round <= o.Rounds; round++ {
		for _, t := range o.Targets {
			x, err := w.run(ctx, t)
			if err != nil {
				return rep, fmt.Errorf("%s: %w", t, err)
			}
			x.Round = round
			fmt.Fprintf(out, "round %d %s\n", round, x)
			rep.add(t, x)
		}
	}
	rep.print(out)
	return rep, nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\nprocessor") + 1
}

var _ = time.Second
