package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/doctor"
)

// doctorZone is example.org set up right for 192.0.2.25, with the DKIM
// record of rec at selector s1.
func doctorZone(rec string, drop ...string) string {
	lines := []string{
		"example.org. MX 10 mail.example.org.",
		"mail.example.org. A 192.0.2.25",
		`example.org. TXT "v=spf1 mx -all"`,
		`mail.example.org. TXT "v=spf1 a -all"`,
		"25.2.0.192.in-addr.arpa. PTR mail.example.org.",
		strings.TrimSpace(dkimkeys.ZoneRecord("s1", "example.org", rec)),
		`_dmarc.example.org. TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"`,
		`_mta-sts.example.org. TXT "v=STSv1; id=1"`,
		`_smtp._tls.example.org. TXT "v=TLSRPTv1; rua=mailto:tls@example.org"`,
		"25.2.0.192.score.senderscore.com. A 127.0.4.91",
	}
	var out []string
next:
	for _, l := range lines {
		for _, d := range drop {
			if strings.HasPrefix(l, d) {
				continue next
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCmd("dkim", "keygen", "-d", "example.org", "-s", "s1", "-a", "ed25519", "-o", dir); code != exitOK {
		t.Fatal(errOut)
	}
	keyFile := filepath.Join(dir, "example.org.s1.key")
	k, err := dkimkeys.ReadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := dkimkeys.KeyRecord(k.Public())
	serve := func(zone string) string {
		srv, err := startTestDNS(zone)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		return srv.Addr()
	}
	good := serve(doctorZone(rec))
	args := []string{"doctor", "example.org", "--ip", "192.0.2.25", "--helo", "mail.example.org", "--selector", "s1", "--key", keyFile, "--dns", good}

	code, out, errOut := runCmd(args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"[PASS] DKIM record matches the private key (s1)", "[PASS] SPF authorizes the outbound address (192.0.2.25): pass (mx)",
		"[INFO] DNS lists: no DNS list given", "0 fail, 0 temperror"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Options before the domain work too; --json gives the report.
	code, out, _ = runCmd("doctor", "--json", "--dns", good, "--ip", "192.0.2.25", "example.org")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || rep.Domain != "example.org" || len(rep.Find("spf.ip", "192.0.2.25")) != 1 {
		t.Fatalf("json: exit %d, %v\n%s", code, err, out)
	}

	// A fault: exit status 1 and the fix.
	bad := serve(doctorZone(rec, "25.2.0.192.in-addr.arpa."))
	args[len(args)-1] = bad
	code, out, _ = runCmd(args...)
	if code != exitFail || !strings.Contains(out, "[FAIL] PTR record (192.0.2.25)") || !strings.Contains(out, "fix: ask whoever provides 192.0.2.25") {
		t.Errorf("no PTR: exit %d\n%s", code, out)
	}

	// The keys and lists come from hamlet's configuration with -c.
	conf := filepath.Join(dir, "hamlet.toml")
	os.WriteFile(conf, []byte(`
[dns]
servers = ["`+good+`"]

[[dkim.sign]]
domain = "example.org"
selector = "s1"
key = "`+keyFile+`"
algorithm = "ed25519-sha256"

[dnsbl]
enabled = true
[[dnsbl.list]]
name = "testlist"
zone = "bl.test"
enabled = true

[senderscore]
junk_below = 95
good_above = 96
`), 0o644)
	code, out, errOut = runCmd("doctor", "-c", conf, "--ip", "192.0.2.25", "--helo", "mail.example.org", "example.org")
	if code != exitOK || !strings.Contains(out, "[PASS] DKIM record matches the private key (s1): the record publishes the public half of "+keyFile) ||
		!strings.Contains(out, "[PASS] DNS list (bl.test 192.0.2.25): not listed on bl.test") ||
		// The configured Senderscore bands judge the score (91 < junk_below 95).
		!strings.Contains(out, "91 of 100: poor; hamlet's filter counts mail from it as junk (junk_below 95)") {
		t.Errorf("-c: exit %d %s\n%s", code, errOut, out)
	}

	for _, a := range [][]string{
		{"doctor"},
		{"doctor", "a.example", "b.example"},
		{"doctor", "example.org", "--ip", "300.1.1.1"},
		{"doctor", "example.org", "--key", keyFile},
		{"doctor", "example.org", "--bogus"},
	} {
		if code, _, _ := runCmd(a...); code != exitConfig {
			t.Errorf("%v: exit %d, want %d", a, code, exitConfig)
		}
	}
	// A key others can read is refused with the fix.
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(keyFile)
	os.WriteFile(open, b, 0o644)
	os.Chmod(open, 0o644)
	if code, _, errOut := runCmd("doctor", "example.org", "--selector", "s1", "--key", open, "--dns", good); code != exitConfig || !strings.Contains(errOut, "chmod 600 "+open) {
		t.Errorf("readable key: exit %d %s", code, errOut)
	}
}
