package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A reload that changes what only a restart applies says so, naming the
// options; a reload of anything else names none.
func TestRestartOnly(t *testing.T) {
	load := func(text string) *Settings {
		t.Helper()
		f := filepath.Join(t.TempDir(), "hamlet.toml")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSettings(f, Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := "data_dir = \"/var/lib/hamlet\"\n[milter]\nlisten = [\"127.0.0.1:11332\"]\n"
	for _, c := range []struct {
		name, now string
		want      []string
	}{
		{"same file", base, nil},
		{"weights only", base + "[symbols]\nR_SPF_FAIL = 5.0\n[actions]\nreject = 12.0\n", nil},
		{"milter socket", "data_dir = \"/var/lib/hamlet\"\n[milter]\nlisten = [\"unix:/var/spool/postfix/hamlet/milter.sock\"]\n", []string{"[milter]"}},
		{"on_error", base + "on_error = \"accept\"\n", []string{"[milter]"}},
		{"data_dir and scan", "data_dir = \"/srv/hamlet\"\n[scan]\nlisten = [\"127.0.0.1:1\"]\nmax_size = 1000\n[milter]\nlisten = [\"127.0.0.1:11332\"]\n",
			[]string{"data_dir", "scan.listen", "scan.max_size, max_inflight_bytes, body_timeout, max_connections"}},
		{"store", base[:len(base)-len("[milter]\nlisten = [\"127.0.0.1:11332\"]\n")] + "store = \"redis://127.0.0.1:6379/0\"\n[milter]\nlisten = [\"127.0.0.1:11332\"]\n", []string{"store"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := restartOnly(load(base), load(c.now))
			if !slices.Equal(got, c.want) {
				t.Errorf("restartOnly = %q, want %q", got, c.want)
			}
		})
	}
}
