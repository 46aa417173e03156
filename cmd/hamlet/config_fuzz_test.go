package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `hamlet config check` on any file: exit status 0 or 2, never a panic,
// and a file it accepts prints an effective configuration that is itself
// accepted and prints the same again (what ExecStartPre= and a
// postmaster before a reload rely on).
func FuzzConfigCheck(f *testing.F) {
	for _, p := range []string{"../../hamlet.example.toml", "../../packaging/hamlet.toml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"data_dir = 5\n",
		"[senderscore]\ntag_below = 50\nblock_below = -1\n",
		"[milter]\nlisten = [\"unix:/var/spool/postfix/hamlet/milter.sock\"]\ntimeout = \"500ms\"\n",
		"[actions]\nreject = false\ngreylist = 4.0\n[symbols]\nR_SPF_FAIL = 1e309\n",
		"[allowlist]\nips = [\"0.0.0.0/8\", \"::/0\"]\nhostnames = [\"co.uk\"]\n",
		"[scan]\nlisten = \"0.0.0.0:11333\"\nmax_size = -1\nbody_timeout = \"2w\"\n",
		"[[dkim.sign]]\ndomain = \"example.org\"\n",
		"[dns]\nservers = [\"[::1]:53\", \"bad\"]\nattempts = 0\n",
		"x = [\n",
		"[greylist]\ndelay = \"5m\"\nretry_window = \"1m\"\n[unknown]\na = 1\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text []byte) {
		if len(text) > 64<<10 {
			return
		}
		file := filepath.Join(dir, "in.toml")
		if err := os.WriteFile(file, text, 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := cmdConfig([]string{"check", "-c", file, "--data", dir}, &out, &errb)
		if code != exitOK && code != exitConfig {
			t.Fatalf("exit %d for %q\n%s", code, text, errb.String())
		}
		if code != exitOK {
			if !strings.Contains(errb.String(), "problem(s)") {
				t.Fatalf("exit %d without the count of problems: %s", code, errb.String())
			}
			return
		}
		effective := filepath.Join(dir, "effective.toml")
		if err := os.WriteFile(effective, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		var again, errb2 bytes.Buffer
		if code := cmdConfig([]string{"check", "-c", effective, "--data", dir}, &again, &errb2); code != exitOK {
			t.Fatalf("input %q accepted, its effective configuration is not:\n%s\n%s", text, out.String(), errb2.String())
		}
		_, a, _ := strings.Cut(out.String(), "\n")
		_, b, _ := strings.Cut(again.String(), "\n")
		if a != b {
			t.Fatalf("input %q: the effective configuration changes when checked again:\n%s\n---\n%s", text, a, b)
		}
	})
}
