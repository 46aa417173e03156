package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

func runLearnCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"learn"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestLearnCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := mailgen.New(7)
	// 30 spam in an mbox, 20 ham in a Maildir (one in tmp/, not learned).
	var mbox bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&mbox, "From spammer@example Mon Mar  2 10:00:%02d 2026\n%s\n\n", i, bytes.ReplaceAll(g.Spam(400), []byte("\r\n"), []byte("\n")))
	}
	box := filepath.Join(dir, "spam.mbox")
	os.WriteFile(box, mbox.Bytes(), 0o600)
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	for i := range 20 {
		os.WriteFile(filepath.Join(md, "cur", fmt.Sprintf("%d.host:2,S", i)), g.Ham(400), 0o600)
	}
	os.WriteFile(filepath.Join(md, "tmp", "x"), g.Ham(400), 0o600)

	code, out, errs := runLearnCmd(t, "--data", data, "--spam", box)
	if code != 0 || !strings.HasPrefix(out, "learned 30 messages as spam (30 new, 0 relearned from ham), 0 already learned") {
		t.Fatalf("learn --spam = %d\n%s%s", code, out, errs)
	}
	code, out, errs = runLearnCmd(t, "--data", data, "--ham", md)
	if code != 0 || !strings.HasPrefix(out, "learned 20 messages as ham (20 new") || !strings.Contains(out, "database: 30 spam, 20 ham") {
		t.Fatalf("learn --ham = %d\n%s%s", code, out, errs)
	}
	// Again: each message is learned once.
	if _, out, _ = runLearnCmd(t, "--data", data, "--spam", box); !strings.Contains(out, "(0 new, 0 relearned from ham), 30 already learned") {
		t.Errorf("second learn: %s", out)
	}
	// As the other class: relearned, the counts move.
	if _, out, _ = runLearnCmd(t, "--data", data, "--ham", box); !strings.Contains(out, "(0 new, 30 relearned from spam)") || !strings.Contains(out, "database: 0 spam, 50 ham") {
		t.Errorf("relearn: %s", out)
	}
	st, err := bolt.Open(filepath.Join(data, bolt.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.BayesStats(context.Background())
	st.Close()
	if err != nil || s.Spam != 0 || s.Ham != 50 || s.Learned != 50 || s.Tokens == 0 {
		t.Errorf("store after the runs: %+v %v", s, err)
	}

	for _, bad := range [][]string{{"--spam", "--ham", box}, {"--spam"}, {box}} {
		if code, _, _ := runLearnCmd(t, append([]string{"--data", data}, bad...)...); code != exitConfig {
			t.Errorf("learn %v = %d, want %d", bad, code, exitConfig)
		}
	}
	if code, _, _ := runLearnCmd(t, "--data", data, "--spam", filepath.Join(dir, "nosuch")); code != exitFail {
		t.Errorf("a missing path = %d, want %d", code, exitFail)
	}
}

// TestRspamcLearnAgainstServe: rspamd's own client learns through the
// controller of `hamlet serve` (admin password given with -P; refused
// without), `hamlet learn` goes through the same endpoints while the
// daemon holds the store, and the next scan carries BAYES_SPAM.
func TestRspamcLearnAgainstServe(t *testing.T) {
	rspamc := sharedtest.Require(t, "rspamc", "rspamd")
	d, cfg := startLearningServe(t, "s3cret", 20)
	ctl := d.addrs["controller"]
	dir := t.TempDir()
	g := mailgen.New(11)
	file := func(name string, raw []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, raw, 0o600)
		return p
	}
	one := file("one.eml", g.Spam(600))
	rspamcOut := func(args ...string) string {
		out, err := exec.Command(rspamc, append([]string{"-h", ctl}, args...)...).CombinedOutput()
		if err != nil {
			t.Logf("rspamc %v: %v", args, err)
		}
		return string(out)
	}
	if out := rspamcOut("learn_spam", one); strings.Contains(out, "success = true") {
		t.Fatalf("learn_spam without the password succeeded:\n%s", out)
	}
	if out := rspamcOut("-P", "s3cret", "learn_spam", one); !strings.Contains(out, "success = true") {
		t.Fatalf("learn_spam -P:\n%s", out)
	}
	if out := rspamcOut("-P", "s3cret", "learn_spam", one); !strings.Contains(out, "already learned as spam") {
		t.Fatalf("learn_spam again:\n%s", out)
	}
	if out := rspamcOut("-P", "s3cret", "learn_ham", one); !strings.Contains(out, "success = true") {
		t.Fatalf("learn_ham of the same message (relearn):\n%s", out)
	}
	if out := rspamcOut("-P", "s3cret", "symbols", one); !strings.Contains(out, "BAYES_UNTRAINED") || !strings.Contains(out, "spam 0/20, ham 1/20") {
		t.Fatalf("symbols after relearn:\n%s", out)
	}
	// Bulk: hamlet learn through the controller (the daemon holds the
	// embedded store).
	spamDir, hamDir := filepath.Join(dir, "spam"), filepath.Join(dir, "ham")
	os.MkdirAll(spamDir, 0o700)
	os.MkdirAll(hamDir, 0o700)
	for i := range 25 {
		os.WriteFile(filepath.Join(spamDir, fmt.Sprint(i)), g.Spam(600), 0o600)
		os.WriteFile(filepath.Join(hamDir, fmt.Sprint(i)), g.Ham(600), 0o600)
	}
	if code, out, errs := runLearnCmd(t, "-c", cfg, "--controller", "http://"+ctl, "--spam", spamDir); code != exitFail || !strings.Contains(errs, "password") {
		t.Errorf("hamlet learn without the password = %d\n%s%s", code, out, errs)
	}
	for _, run := range [][]string{{"--spam", spamDir}, {"--ham", hamDir}} {
		code, out, errs := runLearnCmd(t, append([]string{"-c", cfg, "--controller", "http://" + ctl, "-P", "s3cret"}, run...)...)
		if code != 0 || !strings.Contains(out, "learned 25 messages") {
			t.Fatalf("hamlet learn %v = %d\n%s%s", run, code, out, errs)
		}
	}
	// The last summary line has the daemon's counts (from /stat): the
	// first message was relearned as ham.
	if _, out, _ := runLearnCmd(t, "-c", cfg, "--controller", "http://"+ctl, "-P", "s3cret", "--ham", hamDir); !strings.Contains(out, "25 already learned") || !strings.Contains(out, "database: 25 spam, 26 ham") {
		t.Errorf("hamlet learn again through the controller:\n%s", out)
	}
	probe := file("probe.eml", mailgen.New(12).Spam(800))
	if out := rspamcOut("-P", "s3cret", "symbols", probe); !strings.Contains(out, "BAYES_SPAM") {
		t.Errorf("a new spam after learning:\n%s", out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// hamlet check --bayes classifies with what hamlet learn taught the
// embedded store, and says so when a running daemon holds it.
func TestCheckBayes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := writeConfig(t, fmt.Sprintf("data_dir = %q\n[bayes]\nmin_learns = 10\n[scan]\nlisten = [\"127.0.0.1:0\"]\n[controller]\nlisten = \"127.0.0.1:0\"\n[milter]\nlisten = []\n[dns]\nservers = [\"127.0.0.1:9\"]\n", data))
	g := mailgen.New(41)
	for _, class := range []string{"spam", "ham"} {
		d := filepath.Join(dir, class)
		os.MkdirAll(d, 0o700)
		for i := range 15 {
			raw := g.Ham(1500)
			if class == "spam" {
				raw = g.Spam(1500)
			}
			os.WriteFile(filepath.Join(d, fmt.Sprint(i)), raw, 0o600)
		}
		if code, out, errs := runLearnCmd(t, "-c", cfg, "-q", "--"+class, d); code != 0 {
			t.Fatalf("learn %s = %d\n%s%s", class, code, out, errs)
		}
	}
	msg := filepath.Join(dir, "probe.eml")
	os.WriteFile(msg, g.Spam(2000), 0o600)
	check := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"check", "-c", cfg}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := check(msg); code != 0 || strings.Contains(out, "BAYES_") {
		t.Errorf("check without --bayes = %d (no Bayes wanted)\n%s%s", code, out, errs)
	}
	if code, out, errs := check("--bayes", msg); code != 0 || !strings.Contains(out, "BAYES_SPAM") {
		t.Errorf("check --bayes = %d\n%s%s", code, out, errs)
	}
	d := startServe(t, "-c", cfg)
	if code, out, errs := check("--bayes", msg); code != exitFail || !strings.Contains(errs, "in use by a running hamlet") || !strings.Contains(errs, "rspamc") {
		t.Errorf("check --bayes with the daemon running = %d\n%s%s", code, out, errs)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// Learning straight into an embedded store says which one, and points at
// the installed configuration when -c was not given.
func TestLearnSaysWhichStore(t *testing.T) {
	dir := t.TempDir()
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, mailgen.New(3).Spam(400), 0o600)
	old := installedConfig
	t.Cleanup(func() { installedConfig = old })

	installedConfig = filepath.Join(dir, "absent.toml")
	data := filepath.Join(dir, "data")
	code, _, errs := runLearnCmd(t, "-q", "--data", data, "--spam", msg)
	if code != 0 || !strings.Contains(errs, "learning into the embedded store in "+data+"\n") {
		t.Fatalf("learn = %d, stderr %q", code, errs)
	}
	installedConfig = filepath.Join(dir, "hamlet.toml")
	os.WriteFile(installedConfig, []byte("data_dir = \"/nonexistent\"\n"), 0o600)
	code, _, errs = runLearnCmd(t, "-q", "--data", data, "--ham", msg)
	if code != 0 || !strings.Contains(errs, "in "+data+" (no -c given: "+installedConfig+" was not read)") {
		t.Fatalf("learn = %d, stderr %q", code, errs)
	}
}
