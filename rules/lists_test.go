package rules

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the background reload.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable time for the modification checks.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func listSetup(t *testing.T, text string) (*Lists, *clock, *syncBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, dir, "deny.txt", text)
	logs := &syncBuffer{}
	ls := NewLists(slog.New(slog.NewTextHandler(logs, nil)))
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	ls.now = c.now
	ls.SetCheckInterval(10 * time.Second)
	return ls, c, logs, path
}

func rewrite(t *testing.T, path, text string, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// A modification time unlike the previous one, even on a file
	// system with coarse times.
	mt := time.Now().Add(age)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
}

func heloHit(s *Set, helo string) bool {
	in := testInput()
	in.Helo = helo
	return len(s.Eval(in)) == 1
}

// waitFor polls cond while the background look at the file runs; the
// bound only keeps a broken reload from hanging the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not seen after 5 s", what)
}

// TestListReloadOnChange: a scan after the check interval looks at the
// file; a new modification time brings the new entries in.
func TestListReloadOnChange(t *testing.T) {
	ls, c, logs, path := listSetup(t, "old.example\n")
	s, err := Compile([]Spec{{Name: "DENY", Field: "helo", List: path}}, Options{Lists: ls})
	if err != nil {
		t.Fatal(err)
	}
	if !heloHit(s, "old.example") || heloHit(s, "new.example") {
		t.Fatal("first contents not in force")
	}
	rewrite(t, path, "new.example\n", -time.Hour)
	// Within the interval the file is not looked at.
	if heloHit(s, "new.example") {
		t.Fatal("reloaded before the check interval")
	}
	c.add(11 * time.Second)
	heloHit(s, "x") // starts the look
	waitFor(t, "the new list", func() bool { return heloHit(s, "new.example") })
	if heloHit(s, "old.example") {
		t.Fatal("old entry still matches")
	}
	if !strings.Contains(logs.String(), "list file reloaded") {
		t.Errorf("no log line:\n%s", logs)
	}
}

// TestListKeepsOldContents: a list that disappears or gets a bad entry
// keeps its contents; the error is logged and returned by Check; once
// fixed, it is read.
func TestListKeepsOldContents(t *testing.T) {
	ls, _, logs, path := listSetup(t, "192.0.2.0/24\n")
	s, err := Compile([]Spec{{Name: "NET", Field: "ip", List: path}}, Options{Lists: ls})
	if err != nil {
		t.Fatal(err)
	}
	ipHit := func(ip string) bool {
		in := testInput()
		in.ClientIP = mustAddr(ip)
		return len(s.Eval(in)) == 1
	}
	if !ipHit("192.0.2.5") {
		t.Fatal("not loaded")
	}
	rewrite(t, path, "198.51.100.0/24\nnot-a-network\n", -time.Hour)
	errs := ls.Check()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), path+":2:") {
		t.Fatalf("Check errors %v", errs)
	}
	if !ipHit("192.0.2.5") || ipHit("198.51.100.1") {
		t.Fatal("a bad list replaced the old contents")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if errs := ls.Check(); len(errs) != 1 || !os.IsNotExist(unwrapAll(errs[0])) {
		t.Fatalf("Check of a removed file: %v", errs)
	}
	if !ipHit("192.0.2.5") {
		t.Fatal("a removed list lost its contents")
	}
	if n := strings.Count(logs.String(), "keeping its old contents"); n != 2 {
		t.Errorf("%d error lines, want 2:\n%s", n, logs)
	}
	rewrite(t, path, "198.51.100.0/24\n", -2*time.Hour)
	if errs := ls.Check(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if ipHit("192.0.2.5") || !ipHit("198.51.100.1") {
		t.Fatal("the fixed list is not in force")
	}
}

// TestCompileRereadsLists is the SIGHUP path: a new Compile with the same
// registry reads the list again, even with an unchanged modification
// time; a list that cannot be read keeps its old contents and the
// compile succeeds, while a list never read stops it.
func TestCompileRereadsLists(t *testing.T) {
	ls, _, logs, path := listSetup(t, "old.example\n")
	ls.SetCheckInterval(0)
	spec := []Spec{{Name: "DENY", Field: "helo", List: path}}
	if _, err := Compile(spec, Options{Lists: ls}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	rewrite(t, path, "new.example\n", 0)
	os.Chtimes(path, fi.ModTime(), fi.ModTime()) // the same time: only a forced read sees it
	s, err := Compile(spec, Options{Lists: ls})
	if err != nil {
		t.Fatal(err)
	}
	if !heloHit(s, "new.example") {
		t.Fatal("Compile did not read the list again")
	}
	os.Remove(path)
	s, err = Compile(spec, Options{Lists: ls})
	if err != nil {
		t.Fatalf("a list that was read once stopped the compile: %v", err)
	}
	if !heloHit(s, "new.example") {
		t.Fatal("old contents lost")
	}
	if !strings.Contains(logs.String(), "keeping its old contents") {
		t.Errorf("no error logged:\n%s", logs)
	}
	other := []Spec{{Name: "OTHER", Field: "helo", List: path + ".new"}}
	if _, err := Compile(other, Options{Lists: ls}); err == nil {
		t.Fatal("a list never read did not stop the compile")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestListPathRelative(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "l.txt", "a.example\n")
	s := mustCompile(t, Spec{Name: "REL", Field: "helo", List: "l.txt", File: filepath.Join(dir, "hamlet.toml")})
	if !heloHit(s, "a.example") {
		t.Fatal("relative list not read beside the file naming it")
	}
}
