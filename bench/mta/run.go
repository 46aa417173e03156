package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runResult is one target's figures in one round.
type runResult struct {
	Target     string
	Round      int
	Messages   int
	Accepted   int
	Errors     int
	FirstError string
	Seconds    float64
	PerSecond  float64
	P50ms      float64
	P99ms      float64
	Delivered  int
	Scanned    int // by hamlet; -1 when hamlet is not in the path
	// CPU is milliseconds of CPU per message by process tree.
	CPU map[string]float64
	// Reads and Writes are hamlet's read(2)- and write(2)-like system
	// calls per message (/proc/PID/io syscr, syscw), when hamlet is in
	// the path.
	Reads, Writes float64
}

func (r runResult) String() string {
	s := fmt.Sprintf("%-16s %6.1f msg/s", r.Target, r.PerSecond)
	if r.P50ms > 0 {
		s += fmt.Sprintf("  p50 %6.1f ms  p99 %6.1f ms", r.P50ms, r.P99ms)
	}
	s += "  CPU ms/msg:"
	names := make([]string, 0, len(r.CPU))
	for n := range r.CPU {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s += fmt.Sprintf(" %s %.2f", n, r.CPU[n])
	}
	if r.Reads > 0 {
		s += fmt.Sprintf("  hamlet syscalls/msg: %.1f r %.1f w", r.Reads, r.Writes)
	}
	s += fmt.Sprintf("  (%d/%d accepted, %d delivered", r.Accepted, r.Messages, r.Delivered)
	if r.Scanned >= 0 {
		s += fmt.Sprintf(", %d scanned by hamlet", r.Scanned)
	}
	s += ")"
	if r.FirstError != "" {
		s += " first error: " + r.FirstError
	}
	return s
}

// complete reports a lost message: not accepted, not delivered, or (with
// hamlet in the path) not scanned.
func (r runResult) complete() error {
	if r.Accepted != r.Messages {
		return fmt.Errorf("%d of %d messages accepted (%d errors, first: %s)", r.Accepted, r.Messages, r.Errors, r.FirstError)
	}
	if r.Delivered != r.Accepted {
		return fmt.Errorf("%d accepted, %d delivered", r.Accepted, r.Delivered)
	}
	if r.Scanned >= 0 && r.Scanned != r.Accepted {
		return fmt.Errorf("%d accepted, %d scanned by hamlet", r.Accepted, r.Scanned)
	}
	return nil
}

func (w *world) addr(target string, i int) string {
	port, ok := postfixPorts[target]
	if !ok {
		port = smtpdPorts[target]
	}
	return fmt.Sprintf("%s:%d", clientIP(i), port)
}

func (w *world) delivered(target string) int {
	if direct(target) {
		return int(w.checked.Load())
	}
	if strings.HasPrefix(target, "opensmtpd") {
		return int(w.sink.delivered.Load())
	}
	return w.postfixSent()
}

// trees names the process trees whose CPU a target's run is charged.
func (w *world) trees(target string) map[string]int {
	t := map[string]int{"hamlet": w.hamlet.Process.Pid}
	if direct(target) {
		return t
	}
	if strings.HasPrefix(target, "opensmtpd") {
		t["opensmtpd"] = w.smtpd.Process.Pid
	} else {
		t["postfix"] = w.postfixPID
	}
	if w.rspamd != nil && strings.HasPrefix(target, "rspamd") {
		t["rspamd"] = w.rspamd.Process.Pid
	}
	return t
}

func (w *world) run(ctx context.Context, target string) (runResult, error) {
	res := runResult{Target: target, Messages: w.o.Messages, Scanned: -1}
	withHamlet := strings.Contains(target, "hamlet") || direct(target)
	if w.o.Warmup > 0 {
		before := w.delivered(target)
		r := w.drive(target, w.o.Warmup, w.o.Concurrency)
		w.waitDelivered(target, before+r.accepted, 60*time.Second)
	}
	scans0, _ := hamletScans()
	del0 := w.delivered(target)
	trees := w.trees(target)
	cpu0 := snapshot(trees, w.bin)
	r0, w0 := procIO(w.hamlet.Process.Pid)
	self0 := selfCPU()
	start := time.Now()
	r := w.drive(target, w.o.Messages, w.o.Concurrency)
	res.Seconds = time.Since(start).Seconds()
	w.waitDelivered(target, del0+r.accepted, 120*time.Second)
	cpu1 := snapshot(trees, w.bin)
	r1, w1 := procIO(w.hamlet.Process.Pid)
	self1 := selfCPU()
	res.Accepted, res.Errors, res.FirstError = r.accepted, r.errors, r.firstError
	res.PerSecond = float64(r.accepted) / res.Seconds
	res.Delivered = w.delivered(target) - del0
	if withHamlet {
		res.Reads = float64(r1-r0) / float64(max(r.accepted, 1))
		res.Writes = float64(w1-w0) / float64(max(r.accepted, 1))
		scans1, err := hamletScans()
		if err != nil {
			return res, err
		}
		res.Scanned = int(scans1 - scans0)
	}
	if len(r.lat) > 0 {
		sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
		res.P50ms = ms(r.lat[len(r.lat)/2])
		res.P99ms = ms(r.lat[len(r.lat)*99/100])
	}
	res.CPU = map[string]float64{}
	per := func(ticks float64) float64 { return ticks * 1000 / clockTicks / float64(max(r.accepted, 1)) }
	for name := range trees {
		if name == "hamlet" && !withHamlet {
			continue
		}
		res.CPU[name] = per(cpu1[name] - cpu0[name])
	}
	if f := cpu1["opensmtpd/hamlet"] - cpu0["opensmtpd/hamlet"]; withHamlet && strings.HasPrefix(target, "opensmtpd") {
		res.CPU["opensmtpd"] -= per(f)
		res.CPU["filter"] = per(f)
	}
	res.CPU["client+dns"] = (self1 - self0).Seconds() * 1000 / float64(max(r.accepted, 1))
	if target == "hamlet" || target == "hamlet-unix" {
		w.paceRate = res.PerSecond
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitDelivered waits until want messages were delivered, as long as
// deliveries go on: it gives up after stall without a new delivery (or
// maxDeliveryWait in all). OpenSMTPD's relay holds envelopes at its
// high-water mark and releases them in batches, seconds apart, so a
// fixed deadline cut off a long run's backlog that was still draining.
func (w *world) waitDelivered(target string, want int, stall time.Duration) {
	end := time.Now().Add(maxDeliveryWait)
	last, lastAt := w.delivered(target), time.Now()
	for last < want && time.Now().Before(end) && time.Since(lastAt) < stall {
		time.Sleep(20 * time.Millisecond)
		if n := w.delivered(target); n != last {
			last, lastAt = n, time.Now()
		}
	}
}

// maxDeliveryWait bounds waitDelivered however deliveries go on.
const maxDeliveryWait = 15 * time.Minute

type driveResult struct {
	accepted, errors int
	firstError       string
	lat              []time.Duration
}

// drive sends n messages over conc concurrent sessions, one message per
// connection.
func (w *world) drive(target string, n, conc int) driveResult {
	if w.o.Driver == "smtp-source" {
		return w.driveSMTPSource(target, n, conc)
	}
	var next atomic.Int64
	var pace <-chan time.Time
	rate := w.paceRate
	if w.o.Pace > 0 {
		rate = w.o.Pace
	}
	if direct(target) && rate > 0 {
		// At one rate for all direct targets: the CPU per message of
		// a daemon depends on how busy it is (batched commits, idle
		// wake-ups).
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		pace = t.C
	}
	var mu sync.Mutex
	var out driveResult
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok, bad := 0, 0
			first := ""
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					break
				}
				if pace != nil {
					<-pace
				}
				t0 := time.Now()
				var err error
				switch target {
				case "checkv2":
					err = w.checkv2(j)
				case "milter", "milter-unix":
					err = w.milterOne(target, j, 2*time.Minute)
				default:
					_, err = sendOne(w.addr(target, j), fmt.Sprintf("mail%d.good.test", 1+j%clients), "bounce@good.test", "user@"+rcptDomain, w.msgs[j%len(w.msgs)], 2*time.Minute)
				}
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				ok++
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			out.accepted += ok
			out.errors += bad
			if out.firstError == "" {
				out.firstError = first
			}
			out.lat = append(out.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// driveSMTPSource runs one smtp-source per session (-s 1), each sending
// its share of the messages from its own corpus message, one per
// connection. smtp-source reports no latency; accepted messages are
// counted by the MTA's deliveries.
func (w *world) driveSMTPSource(target string, n, conc int) driveResult {
	before := w.delivered(target)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var out driveResult
	for i := range conc {
		count := n / conc
		if i < n%conc {
			count++
		}
		if count == 0 {
			continue
		}
		file := filepath.Join(w.dir, fmt.Sprintf("msg-%d.eml", i))
		if _, err := os.Stat(file); err != nil {
			os.WriteFile(file, bytes.ReplaceAll(w.msgs[i%len(w.msgs)], []byte("\r\n"), []byte("\n")), 0o644)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("smtp-source", "-s", "1", "-m", strconv.Itoa(count), "-f", "bounce@good.test",
				"-t", "user@"+rcptDomain, "-F", file, "-M", fmt.Sprintf("mail%d.good.test", 1+i%clients), w.addr(target, i))
			b, err := cmd.CombinedOutput()
			if err != nil || len(b) > 0 {
				mu.Lock()
				if out.firstError == "" {
					out.firstError = strings.TrimSpace(fmt.Sprintf("smtp-source: %v %s", err, b))
				}
				out.errors++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	w.waitDelivered(target, before+n, 30*time.Second)
	out.accepted = w.delivered(target) - before
	return out
}

const clockTicks = 100 // USER_HZ on Linux

// snapshot returns, for each named tree, the CPU ticks its processes and
// their reaped children have used; "opensmtpd/hamlet" is the part of the
// opensmtpd tree that runs filterBin (`hamlet opensmtpd`, the filter),
// found by its command line: the process name is the binary's file name,
// cut to 15 bytes, and need not be "hamlet" (-hamlet names any binary).
func snapshot(trees map[string]int, filterBin string) map[string]float64 {
	type proc struct {
		ppid  int
		ticks float64
	}
	procs := map[int]proc{}
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 15 {
			continue
		}
		// fields after comm: state ppid ... utime(12) stime(13) cutime(14) cstime(15) (1-based after state)
		ppid, _ := strconv.Atoi(f[1])
		var t float64
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseFloat(f[k], 64)
			t += v
		}
		procs[pid] = proc{ppid: ppid, ticks: t}
		children[ppid] = append(children[ppid], pid)
	}
	out := map[string]float64{}
	for name, root := range trees {
		stack := []int{root}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			pr, ok := procs[p]
			if !ok {
				continue
			}
			out[name] += pr.ticks
			if name == "opensmtpd" && isFilter(p, filterBin) {
				out["opensmtpd/hamlet"] += pr.ticks
			}
			stack = append(stack, children[p]...)
		}
	}
	return out
}

// procIO returns the read and write system calls process pid has made
// (/proc/PID/io syscr and syscw, all its threads).
func procIO(pid int) (reads, writes int64) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "io"))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// isFilter reports whether process pid runs `bin opensmtpd …`.
func isFilter(pid int, bin string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	argv := strings.Split(string(b), "\x00")
	return len(argv) > 1 && argv[0] == bin && argv[1] == "opensmtpd"
}

// selfCPU is this process's CPU time and its waited-for children's (the
// load generator, the DNS server, smtp-source).
func selfCPU() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t
}

// checkv2 scans message j over hamlet's rspamd protocol with the envelope
// the MTA targets get, for the CPU per message of the same scan without
// an MTA and the milter in between.
func (w *world) checkv2(j int) error {
	req, err := http.NewRequest("POST", "http://"+hamletScan+"/checkv2", bytes.NewReader(w.msgs[j%len(w.msgs)]))
	if err != nil {
		return err
	}
	req.Header.Set("IP", clientIP(j))
	req.Header.Set("Helo", fmt.Sprintf("mail%d.good.test", 1+j%clients))
	req.Header.Set("Hostname", fmt.Sprintf("mail%d.good.test", 1+j%clients))
	req.Header.Set("From", "bounce@good.test")
	req.Header.Set("Rcpt", "user@"+rcptDomain)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("checkv2: %s", resp.Status)
	}
	w.checked.Add(1)
	return nil
}
