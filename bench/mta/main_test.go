package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// TestBriefRun runs the benchmark briefly so that it cannot rot: a few
// hundred messages through Postfix and OpenSMTPD, each target once. It
// asserts only that every message was accepted, delivered and (with
// hamlet in the path) scanned — never a speed.
func TestBriefRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the benchmark run takes about a minute")
	}
	o := defaultOptions()
	o.Targets = []string{"postfix", "hamlet", "hamlet-unix", "null-milter", "null-milter-unix", "opensmtpd", "opensmtpd-hamlet"}
	if lack := missing(o); len(lack) > 0 {
		msg := "mta benchmark needs " + strings.Join(lack, ", ") + " (run .ci/install and .ci/install-e2e)"
		sharedtest.Missing(t, "%s", msg)
	}
	if _, err := os.Stat(o.Corpus); err != nil {
		sharedtest.Missing(t, "corpus missing (set HAMLET_SHARED): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "mtabench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-n", "200", "-c", "8", "-rounds", "1", "-corpus", o.Corpus,
		"-targets", strings.Join(o.Targets, ","))
	cmd.Dir = "."
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("benchmark failed: %v", err)
	}
	// The program checks completeness itself (exit 1 otherwise); make
	// sure every target really ran and reported it.
	for _, target := range o.Targets {
		re := regexp.MustCompile(`(?m)^round 1 ` + regexp.QuoteMeta(target) + ` .*\(200/200 accepted, 200 delivered(, 200 scanned by hamlet)?\)`)
		m := re.FindSubmatch(out)
		if m == nil {
			t.Errorf("%s: no complete run reported", target)
			continue
		}
		if strings.Contains(target, "hamlet") && len(m[1]) == 0 {
			t.Errorf("%s: scans by hamlet not reported", target)
		}
	}
	// The filter's CPU is measured (it was once 0.00: the filter was
	// looked for by process name).
	if m := regexp.MustCompile(`(?m)^round 1 opensmtpd-hamlet .* filter ([0-9.]+) `).FindSubmatch(out); m == nil {
		t.Error("opensmtpd-hamlet: no filter CPU reported")
	} else if f, _ := strconv.ParseFloat(string(m[1]), 64); f <= 0 {
		t.Errorf("opensmtpd-hamlet: filter CPU %s ms per message", m[1])
	}
}
