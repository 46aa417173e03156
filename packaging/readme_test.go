package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/daemon"
)

// installSection is the README's "Install" section.
func installSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Install")
	if !ok {
		t.Fatal("README has no Install section")
	}
	sec, _, _ := strings.Cut(rest, "\n## ")
	return sec
}

var fence = regexp.MustCompile("(?s)```(\\w*)\n(.*?)```")

// Every TOML snippet of the README's Install section, added to the
// packaged /etc/hamlet/hamlet.toml as a postmaster would, gives a
// configuration that loads; and the snippets say what the walkthrough
// promises (the chroot socket, the Senderscore floor).
func TestReadmeInstallSnippets(t *testing.T) {
	sec := installSection(t)
	etc, err := os.ReadFile("hamlet.toml")
	if err != nil {
		t.Fatal(err)
	}
	var tomls, others []string
	for _, m := range fence.FindAllStringSubmatch(sec, -1) {
		if m[1] == "toml" {
			tomls = append(tomls, m[2])
		} else {
			others = append(others, m[2])
		}
	}
	if len(tomls) < 2 {
		t.Fatalf("%d toml snippets in the Install section, want the Senderscore floor and the milter socket", len(tomls))
	}
	for i, snip := range tomls {
		// The packaged file already has a [milter] table: the snippet
		// replaces its listen line, as the README tells.
		base := string(etc)
		if strings.Contains(snip, "[milter]") {
			base = regexp.MustCompile(`(?m)^\[milter\]\n(#.*\n)*listen = .*\n`).ReplaceAllString(base, "[milter]\n")
			if base == string(etc) {
				t.Fatal("the packaged hamlet.toml has no [milter] listen line to replace")
			}
			snip = strings.TrimPrefix(snip, "[milter]\n")
			base = strings.Replace(base, "[milter]\n", "[milter]\n"+snip, 1)
		} else {
			base += "\n" + snip
		}
		f := filepath.Join(t.TempDir(), "hamlet.toml")
		if err := os.WriteFile(f, []byte(base), 0o644); err != nil {
			t.Fatal(err)
		}
		s, errs := daemon.CheckSettings(f, daemon.Overrides{})
		if len(errs) > 0 {
			t.Errorf("snippet %d:\n%s\ndoes not load: %v", i, snip, errs)
			continue
		}
		if strings.Contains(snip, "tag_below") && s.Senderscore.TagBelow != 50 {
			t.Errorf("snippet %d: tag_below = %d, want the README's 50", i, s.Senderscore.TagBelow)
		}
		if strings.Contains(snip, "milter.sock") {
			if got := strings.Join(s.Milter.Listen, " "); got != "unix:/var/spool/postfix/hamlet/milter.sock" {
				t.Errorf("snippet %d: milter listen %q", i, got)
			}
		}
	}
	// The packaged file's own hint names the socket the README does:
	// Postfix's chrooted smtpd cannot reach /run/hamlet.
	for _, want := range []string{`listen = ["unix:/var/spool/postfix/hamlet/milter.sock"]`, "smtpd_milters = unix:/hamlet/milter.sock"} {
		if !strings.Contains(string(etc), want) {
			t.Errorf("the packaged hamlet.toml does not suggest %s", want)
		}
	}
	// The socket the Postfix snippet names is where the unit may write.
	unit, err := os.ReadFile("hamlet.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nReadWritePaths=-/var/spool/postfix/hamlet\n") {
		t.Error("the unit does not let hamlet write /var/spool/postfix/hamlet (ProtectSystem=strict)")
	}
	// The OpenSMTPD line passes the address: smtpd's user cannot read
	// the conffile (0640 root:hamlet, set by postinst).
	var smtpd string
	for _, o := range others {
		if strings.Contains(o, "proc-exec") {
			smtpd = o
		}
	}
	if !strings.Contains(smtpd, `proc-exec "/usr/bin/hamlet opensmtpd --milter 127.0.0.1:11332`) {
		t.Errorf("OpenSMTPD filter line: %q", smtpd)
	}
	post, err := os.ReadFile("debian/postinst")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(post), "chmod 0640 /etc/hamlet/hamlet.toml") {
		t.Error("postinst no longer makes the conffile 0640: revisit the README's OpenSMTPD advice")
	}
	for _, cmd := range []string{"bash packaging/build-deb.sh", "apt-get install ./hamlet_*.deb", "hamlet config check -c /etc/hamlet/hamlet.toml"} {
		if !strings.Contains(sec, "    "+cmd) {
			t.Errorf("the Install section lacks %q, which TestDebInstallRunPurge runs", cmd)
		}
	}
}
