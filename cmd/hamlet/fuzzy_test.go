package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// fuzzyMail is a spam text and a copy of it with a few words changed.
func fuzzyMail(name string) []byte {
	return []byte("From: Lottery <win@promo.example>\r\nTo: " + name + "@example.org\r\nSubject: your prize\r\n\r\n" +
		"Dear " + name + ", congratulations! Your address was selected in our annual international lottery and you " +
		"have won a large sum of money. To claim your prize contact our agent with your full name, address and " +
		"telephone number before the end of the month, or the prize goes back to the treasury. Keep this notice " +
		"confidential until your claim has been processed.\r\n")
}

// TestLearnFeedsFuzzy: hamlet learn --spam stores the fuzzy hashes of
// what Bayes learned, a near copy then matches; learn --ham of a near copy
// removes them.
func TestLearnFeedsFuzzy(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	spam := filepath.Join(dir, "spam.eml")
	os.WriteFile(spam, fuzzyMail("alice"), 0o600)
	near := filepath.Join(dir, "near.eml")
	os.WriteFile(near, fuzzyMail("bob"), 0o600)

	matches := func() []fuzzy.Match {
		t.Helper()
		st, err := bolt.Open(filepath.Join(data, bolt.FileName), store.Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		db := fuzzy.New(st, fuzzy.DefaultConfig(), nil)
		raw, _ := os.ReadFile(near)
		ms, err := db.Check(context.Background(), db.Hashes(content.Parse(message.Parse(raw), content.Limits{})))
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	if code, out, errs := runLearnCmd(t, "--data", data, "--spam", spam); code != 0 {
		t.Fatalf("learn --spam = %d\n%s%s", code, out, errs)
	}
	ms := matches()
	if len(ms) != 1 || ms[0].Flag != fuzzy.FlagDenied || ms[0].Value != fuzzy.DefaultConfig().LearnWeight {
		t.Fatalf("near copy after learn --spam: %+v", ms)
	}
	// Learned again: Bayes says already learned, the weight does not grow.
	runLearnCmd(t, "--data", data, "--spam", spam)
	if ms := matches(); len(ms) != 1 || ms[0].Value != fuzzy.DefaultConfig().LearnWeight {
		t.Errorf("after a second learn of the same message: %+v", ms)
	}
	if code, out, errs := runLearnCmd(t, "--data", data, "--ham", near); code != 0 {
		t.Fatalf("learn --ham = %d\n%s%s", code, out, errs)
	}
	if ms := matches(); len(ms) != 0 {
		t.Errorf("after learn --ham of the near copy: %+v", ms)
	}
}

// TestRspamcFuzzyAgainstServe: rspamc fuzzy_add, a scan of a near copy
// (FUZZY_DENIED with the hash in the option), fuzzy_delhash of that hash,
// fuzzy_del, and learn_spam feeding the hashes, against `hamlet serve`.
func TestRspamcFuzzyAgainstServe(t *testing.T) {
	rspamc := sharedtest.Require(t, "rspamc", "rspamd")
	cfg := writeConfig(t, `
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = "127.0.0.1:0"
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
`)
	d := startServe(t, "-c", cfg, "--data", t.TempDir())
	ctl := d.addrs["controller"]
	dir := t.TempDir()
	file := func(name string, raw []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, raw, 0o600)
		return p
	}
	spam, near := file("spam.eml", fuzzyMail("alice")), file("near.eml", fuzzyMail("bob"))
	run := func(args ...string) string {
		var out bytes.Buffer
		cmd := exec.Command(rspamc, append([]string{"-h", ctl}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Logf("rspamc %v: %v", args, err)
		}
		return out.String()
	}
	if out := run("symbols", near); strings.Contains(out, "FUZZY_") {
		t.Fatalf("before any add:\n%s", out)
	}
	if out := run("fuzzy_add", "-f", "1", "-w", "10", spam); !strings.Contains(out, "success = true") {
		t.Fatalf("fuzzy_add:\n%s", out)
	}
	if out := run("stat"); !strings.Contains(out, `Fuzzy hashes in storage "local": 1`) {
		t.Errorf("rspamc stat after one fuzzy_add:\n%s", out)
	}
	out := run("symbols", near)
	m := regexp.MustCompile(`FUZZY_DENIED \(([0-9.]+)\)\[1:([0-9a-f]{32}):([0-9.]+):txt\]`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("near copy after fuzzy_add: no FUZZY_DENIED(score)[1:hash:share:txt]\n%s", out)
	}
	t.Logf("near copy: FUZZY_DENIED(%s) share %s", m[1], m[3])
	if out := run("fuzzy_delhash", m[2]); !strings.Contains(out, "success = true") {
		t.Fatalf("fuzzy_delhash %s:\n%s", m[2], out)
	}
	if out := run("symbols", near); strings.Contains(out, "FUZZY_DENIED") {
		t.Fatalf("after fuzzy_delhash:\n%s", out)
	}
	// learn_spam feeds the hashes; fuzzy_del removes them.
	if out := run("learn_spam", spam); !strings.Contains(out, "success = true") {
		t.Fatalf("learn_spam:\n%s", out)
	}
	if out := run("symbols", near); !strings.Contains(out, "FUZZY_DENIED") {
		t.Fatalf("near copy after learn_spam:\n%s", out)
	}
	if out := run("fuzzy_del", spam); !strings.Contains(out, "success = true") {
		t.Fatalf("fuzzy_del:\n%s", out)
	}
	if out := run("symbols", near); strings.Contains(out, "FUZZY_DENIED") {
		t.Fatalf("after fuzzy_del:\n%s", out)
	}
	if out := run("fuzzy_add", "-f", "7", spam); strings.Contains(out, "success = true") || !strings.Contains(out, fmt.Sprint(400)) {
		t.Errorf("fuzzy_add with an unknown flag:\n%s", out)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// TestFuzzyCommand: hamlet fuzzy stats, add, delhash and del against
// `hamlet serve`.
func TestFuzzyCommand(t *testing.T) {
	cfg := writeConfig(t, `
[scan]
listen = ["127.0.0.1:0"]
[controller]
listen = "127.0.0.1:0"
[milter]
listen = []
[dns]
servers = ["127.0.0.1:9"]
`)
	d := startServe(t, "-c", cfg, "--data", t.TempDir())
	ctl := "http://" + d.addrs["controller"]
	dir := t.TempDir()
	spam := filepath.Join(dir, "spam.eml")
	os.WriteFile(spam, fuzzyMail("alice"), 0o600)
	short := filepath.Join(dir, "short.eml")
	os.WriteFile(short, []byte("Subject: hi\r\n\r\nsee you\r\n"), 0o600)
	run := func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := cmdFuzzy(append([]string{"-controller", ctl}, args...), &out, &errs)
		return code, out.String(), errs.String()
	}
	if code, out, errs := run("stats"); code != 0 || !strings.HasPrefix(out, "0 hashes (at most 20000") {
		t.Fatalf("stats = %d %q %q", code, out, errs)
	}
	code, out, errs := run("-f", "2", "-w", "4", "add", spam)
	m := regexp.MustCompile(`added \[([0-9a-f]{32})\]`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("add = %d %q %q", code, out, errs)
	}
	if code, out, _ := run("stats"); code != 0 || !strings.HasPrefix(out, "1 hashes") {
		t.Fatalf("stats after add: %q", out)
	}
	if code, _, errs := run("add", short); code != exitFail || !strings.Contains(errs, "nothing to hash") {
		t.Errorf("add of a short message = %d %q", code, errs)
	}
	if code, out, errs := run("delhash", m[1]); code != 0 || out != "deleted 1 of 1\n" {
		t.Errorf("delhash = %d %q %q", code, out, errs)
	}
	if code, _, errs := run("del", spam); code != exitFail || !strings.Contains(errs, "404") {
		t.Errorf("del of a deleted message = %d %q", code, errs)
	}
	if code, _, _ := run("bogus", "x"); code != exitConfig {
		t.Errorf("unknown subcommand = %d", code)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
}

// TestConfigCheckSubTables: hamlet config check prints the sub-tables
// decoded beside their section ([dkim.replay], [dmarc.reports]), and its
// output reads back as a configuration with the same values.
func TestConfigCheckSubTables(t *testing.T) {
	cfg := writeConfig(t, "[dkim.replay]\nmax_networks = 7\n")
	var out, errs bytes.Buffer
	if code := run([]string{"config", "check", "-c", cfg}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("config check = %d: %s", code, errs.String())
	}
	for _, want := range []string{"[dkim.replay]", "max_networks = 7", "max_recipients = 50", "[dmarc.reports]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check output lacks %q", want)
		}
	}
	again := filepath.Join(t.TempDir(), "effective.toml")
	os.WriteFile(again, out.Bytes(), 0o600)
	var out2 bytes.Buffer
	if code := run([]string{"config", "check", "-c", again}, strings.NewReader(""), &out2, &errs); code != 0 || !strings.Contains(out2.String(), "max_networks = 7") {
		t.Errorf("the printed configuration read back = %d: %s", code, errs.String())
	}
}

// TestLearnBoundsFuzzy: a bulk hamlet learn --spam leaves the store
// within [fuzzy] max_hashes (the daemon's hourly background expiry did
// not run to its end in a command that closes the store when done).
func TestLearnBoundsFuzzy(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	st, err := bolt.Open(filepath.Join(data, bolt.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	// 300 hashes learned over the last days, a second apart.
	t0 := time.Now().Add(-48 * time.Hour)
	for i := range 300 {
		h := store.FuzzyHash{Digest: fmt.Sprintf("%032x", i+1), Flag: fuzzy.FlagDenied, Value: 5}
		if err := st.FuzzyAdd(context.Background(), t0.Add(time.Duration(i)*time.Second), h); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	spam := filepath.Join(dir, "spam.eml")
	os.WriteFile(spam, fuzzyMail("carol"), 0o600)
	cfg := writeConfig(t, fmt.Sprintf("data_dir = %q\n[fuzzy]\nmax_hashes = 100\n", data))
	if code, out, errs := runLearnCmd(t, "-c", cfg, "--spam", spam); code != 0 {
		t.Fatalf("learn --spam = %d\n%s%s", code, out, errs)
	}
	st, err = bolt.Open(filepath.Join(data, bolt.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.FuzzyStats(context.Background())
	if err != nil || fs.Hashes > 100 {
		t.Fatalf("after learn with max_hashes 100: %d hashes, %v", fs.Hashes, err)
	}
	// The message just learned is among those kept.
	db := fuzzy.New(st, fuzzy.DefaultConfig(), nil)
	raw, _ := os.ReadFile(spam)
	if ms, err := db.Check(context.Background(), db.Hashes(content.Parse(message.Parse(raw), content.Limits{}))); err != nil || len(ms) != 1 {
		t.Errorf("the learned message after the expiry: %+v %v", ms, err)
	}
}
