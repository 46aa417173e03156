package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// TestDKIMKeygen: the printed zone text, served as it is by the test DNS
// server, verifies a signature made with the written key, configured with
// the printed hamlet.toml lines.
func TestDKIMKeygen(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args    []string
		alg     string
		strings int // how many character-strings the TXT record has
	}{
		{[]string{"-d", "Example.ORG", "-s", "2026a", "-o", dir}, "rsa-sha256", 2},
		{[]string{"-d", "example.org", "-s", "2026e", "-a", "ed25519", "-o", dir}, "ed25519-sha256", 1},
		{[]string{"-d", "example.org", "-s", "big", "--bits", "3072", "-o", dir}, "rsa-sha256", 3},
	} {
		code, out, errOut := runCmd(append([]string{"dkim", "keygen"}, tt.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		var file struct {
			DKIM checks.DKIMConfig `toml:"dkim"`
		}
		if _, err := toml.Decode(errOut[strings.Index(errOut, "[[dkim.sign]]"):], &file); err != nil || len(file.DKIM.Sign) != 1 {
			t.Fatalf("config lines do not decode: %v\n%s", err, errOut)
		}
		cfg := file.DKIM
		k := cfg.Sign[0]
		if k.Algorithm != tt.alg || k.Domain != "example.org" || !filepath.IsAbs(k.Key) {
			t.Errorf("config %+v", k)
		}
		st, err := os.Stat(k.Key)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file %s: %v %v", k.Key, st.Mode(), err)
		}
		if n := strings.Count(out, `"`) / 2; n != tt.strings {
			t.Errorf("%s: %d strings in\n%s", tt.alg, n, out)
		}
		for _, line := range strings.Split(out, "\n") {
			for i, s := range strings.Split(line, `"`) {
				if i%2 == 1 && len(s) > 255 {
					t.Errorf("string of %d bytes", len(s))
				}
			}
		}
		srv, err := startTestDNS(out)
		if err != nil {
			t.Fatalf("zone text does not load: %v\n%s", err, out)
		}
		defer srv.Close()
		res, _ := dns.NewClient(dns.Config{Servers: []string{srv.Addr()}, Timeout: duration.Duration(2 * time.Second), Attempts: 1})
		f, err := checks.NewDKIMSign(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw := "From: a@example.org\r\nTo: b@example.net\r\nSubject: s\r\n\r\nbody\r\n"
		v := engine.Verdict{}
		if err := f.Finish(context.Background(), &engine.Transaction{Outbound: true, Message: message.Parse([]byte(raw))}, nil, &v); err != nil || len(v.DKIMSignatures) != 1 {
			t.Fatalf("sign: %v %v", err, v.DKIMSignatures)
		}
		r := dkim.Verify(context.Background(), res, message.Parse([]byte("DKIM-Signature: "+v.DKIMSignatures[0]+"\r\n"+raw)), nil)
		if len(r) != 1 || r[0].Status != dkim.StatusPass {
			t.Errorf("%s: %+v", tt.alg, r)
		}

		// dkim record prints the same record for the key.
		code, out2, errOut := runCmd("dkim", "record", "-d", "example.org", "-s", k.Selector, k.Key)
		if code != exitOK || out2 != out {
			t.Errorf("dkim record: exit %d %s\n%s\nwant\n%s", code, errOut, out2, out)
		}
	}

	// Never overwrite a key.
	code, _, errOut := runCmd("dkim", "keygen", "-d", "example.org", "-s", "2026a", "-o", dir)
	if code != exitFail || !strings.Contains(errOut, "does not overwrite") {
		t.Errorf("overwrite: exit %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"dkim"},
		{"dkim", "frob"},
		{"dkim", "keygen", "-s", "x"},
		{"dkim", "keygen", "-d", "example.org"},
		{"dkim", "keygen", "-d", "example.org", "-s", "x", "-a", "dsa"},
		{"dkim", "keygen", "-d", "example.org", "-s", "x", "--bits", "512", "-o", dir},
		{"dkim", "record", "-d", "example.org", "-s", "x"},
	} {
		if code, _, _ := runCmd(args...); code != exitConfig {
			t.Errorf("%v: exit %d, want %d", args, code, exitConfig)
		}
	}
	// dkim record refuses a key others can read.
	open := filepath.Join(dir, "open.key")
	b, _ := os.ReadFile(filepath.Join(dir, "example.org.2026a.key"))
	os.WriteFile(open, b, 0o644)
	os.Chmod(open, 0o644)
	if code, _, errOut := runCmd("dkim", "record", "-d", "example.org", "-s", "x", open); code != exitFail || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("readable key: exit %d %s", code, errOut)
	}
}

// startTestDNS starts a dnstest server, trying again when the random UDP port's
// TCP twin is taken by another process (dnstest binds both).
func startTestDNS(zone string) (*dnstest.Server, error) {
	for i := 0; ; i++ {
		srv, err := dnstest.NewServer(zone)
		if err == nil || i == 9 || !strings.Contains(err.Error(), "address already in use") {
			return srv, err
		}
	}
}
