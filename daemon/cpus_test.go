package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestCPUs: cpus caps GOMAXPROCS at start, a reload to 0 gives Go's
// default back, and a negative count is refused.
func TestCPUs(t *testing.T) {
	initial := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(initial) })
	dir := t.TempDir()
	conf := filepath.Join(dir, "hamlet.toml")
	write := func(cpus string) {
		t.Helper()
		text := "data_dir = " + `"` + filepath.Join(dir, "data") + `"` + "\n" + cpus +
			"[scan]\nlisten = []\n[controller]\nlisten = []\n[milter]\nlisten = []\n[dns]\nservers = [\"127.0.0.1:9\"]\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// One more than the default: a change on any machine.
	want := initial + 1
	write(fmt.Sprintf("cpus = %d\n", want))
	d, err := New(conf, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeStore()
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Errorf("cpus = %d: GOMAXPROCS %d", want, got)
	}
	write("")
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != initial {
		t.Errorf("reload to cpus = 0: GOMAXPROCS %d, want the default %d", got, initial)
	}
	write("cpus = -2\n")
	if err := d.Reload(); err == nil {
		t.Error("cpus = -2 accepted")
	}
	if got := runtime.GOMAXPROCS(0); got != initial {
		t.Errorf("refused reload changed GOMAXPROCS to %d", got)
	}
}
