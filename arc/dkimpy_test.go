package arc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// dkimpyARC returns a python that imports dkimpy and authres (Debian
// python3-dkim, python3-authres); skips without, fails under CI=true.
func dkimpyARC(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import dkim, authres").Run() == nil {
			return py
		}
	}
	sharedtest.Missing(t, "dkimpy with authres not available: install python3-dkim and python3-authres")
	return ""
}

// TestDkimpyARC: chains sealed by hamlet validate in dkimpy, and a set
// added by dkimpy on top of hamlet's validates in hamlet.
func TestDkimpyARC(t *testing.T) {
	py := dkimpyARC(t)
	helper, err := filepath.Abs("../dkim/testdata/dkimpy_helper.py")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	record := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	txt := map[string][]string{"s1._domainkey.list.example": {record}, "s2._domainkey.fwd.example": {record}}
	r := &dnstest.Mock{TXT: txt}
	dir := t.TempDir()
	dnsJSON, _ := json.Marshal(txt)
	dnsPath := filepath.Join(dir, "dns.json")
	os.WriteFile(dnsPath, dnsJSON, 0o644)
	keyPath := filepath.Join(dir, "key.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)

	raw := "Authentication-Results: list.example; spf=pass smtp.mailfrom=origin.example\r\n" +
		"From: a@origin.example\r\nTo: l@list.example\r\nSubject: hello  there\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n" +
		"body line  \r\n\tindented\r\n\r\n"
	// Hop 1 and 2 sealed by hamlet.
	for i, o := range []SealOptions{
		{Domain: "list.example", Selector: "s1", Signer: key},
		{Domain: "fwd.example", Selector: "s2", Signer: key},
	} {
		msg := message.Parse([]byte(raw))
		set, err := Seal(msg, Validate(context.Background(), r, msg), o.Domain+"; arc=pass; spf=pass smtp.mailfrom=origin.example", o)
		if err != nil {
			t.Fatalf("hop %d: %v", i+1, err)
		}
		var b strings.Builder
		for _, f := range set.Fields() {
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
		raw = b.String() + raw
	}
	hamletSealed := filepath.Join(dir, "hamlet.eml")
	os.WriteFile(hamletSealed, []byte(raw), 0o644)
	out, err := exec.Command(py, helper, "arcverify", dnsPath, hamletSealed).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy arcverify: %v: %s", err, out)
	}
	if f := strings.Split(strings.TrimSpace(string(out)), "\t"); len(f) < 2 || f[1] != "pass" {
		t.Fatalf("dkimpy on hamlet's 2-hop chain: %q", out)
	}

	// Hop 3 sealed by dkimpy on top: hamlet must validate the whole chain.
	withAR := "Authentication-Results: list.example; arc=pass; dkim=none\r\n" + raw
	in := filepath.Join(dir, "in.eml")
	os.WriteFile(in, []byte(withAR), 0o644)
	jobs, _ := json.Marshal([]map[string]any{{
		"key": keyPath, "selector": "s1", "domain": "list.example", "srvid": "list.example",
		"headers": []string{"from", "to", "subject", "date"}, "timestamp": 1764151200,
		"message": in, "out": filepath.Join(dir, "set.txt"),
	}})
	jobsPath := filepath.Join(dir, "jobs.json")
	os.WriteFile(jobsPath, jobs, 0o644)
	if out, err := exec.Command(py, helper, "arcsign", jobsPath).CombinedOutput(); err != nil {
		t.Fatalf("dkimpy arcsign: %v: %s", err, out)
	}
	set, err := os.ReadFile(filepath.Join(dir, "set.txt"))
	if err != nil || !bytes.Contains(set, []byte("ARC-Seal:")) {
		t.Fatalf("dkimpy added no ARC set: %v %q", err, set)
	}
	final := message.Parse(append(set, withAR...))
	res := Validate(context.Background(), r, final)
	if res.Status != Pass || res.Instances() != 3 {
		t.Fatalf("hamlet on dkimpy's 3rd hop: %s (%s: %s), %d instances\n%s", res.Status, res.Failure, res.Reason, res.Instances(), fmt.Sprint(string(set)))
	}
}
