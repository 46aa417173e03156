package dkim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// dkimpy returns a python interpreter that can import dkimpy (Debian
// python3-dkim); without one the test is skipped, or fails under CI=true.
func dkimpy(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(py, "-c", "import dkim, nacl").Run(); err == nil {
			return py
		}
	}
	sharedtest.Missing(t, "dkimpy not available: install the Debian package python3-dkim")
	return ""
}

func helperPath(t *testing.T) string {
	p, err := filepath.Abs("testdata/dkimpy_helper.py")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDkimpySignsHamletVerifies: messages signed by dkimpy verify here.
func TestDkimpySignsHamletVerifies(t *testing.T) {
	py := dkimpy(t)
	rk, ek := testKeys(t)
	dir := t.TempDir()
	rsaPath := filepath.Join(dir, "rsa.pem")
	edPath := filepath.Join(dir, "ed.key")
	os.WriteFile(rsaPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o600)
	os.WriteFile(edPath, []byte(base64.StdEncoding.EncodeToString(ek.Seed())), 0o600)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(t, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(t, ek, "")},
	}}
	// A body with trailing white space, tabs and empty lines, so that the
	// two canonicalizations differ.
	raw := strings.Replace(testMessage, "Joe.\r\n", "Joe.  \t\r\n\tindented  line \r\n", 1)
	msgPath := filepath.Join(dir, "msg.eml")
	os.WriteFile(msgPath, []byte(raw), 0o644)
	type job struct {
		Key      string `json:"key"`
		Selector string `json:"selector"`
		Domain   string `json:"domain"`
		HCanon   string `json:"hcanon"`
		BCanon   string `json:"bcanon"`
		Alg      string `json:"alg"`
		Message  string `json:"message"`
		Out      string `json:"out"`
	}
	var jobs []job
	for _, alg := range []struct{ sel, key, name string }{{"rsa", rsaPath, "rsa-sha256"}, {"ed", edPath, "ed25519-sha256"}} {
		for _, c := range [][2]string{{"simple", "simple"}, {"relaxed", "relaxed"}, {"relaxed", "simple"}, {"simple", "relaxed"}} {
			jobs = append(jobs, job{alg.key, alg.sel, "example.com", c[0], c[1], alg.name, msgPath,
				filepath.Join(dir, fmt.Sprintf("sig-%s-%s-%s", alg.sel, c[0], c[1]))})
		}
	}
	jb, _ := json.Marshal(jobs)
	jobsPath := filepath.Join(dir, "jobs.json")
	os.WriteFile(jobsPath, jb, 0o644)
	if out, err := exec.Command(py, helperPath(t), "sign", jobsPath).CombinedOutput(); err != nil {
		t.Fatalf("dkimpy sign: %v: %s", err, out)
	}
	n := 0
	for _, j := range jobs {
		sig := readFile(t, j.Out)
		signed := string(sig) + raw
		res := Verify(context.Background(), r, message.Parse([]byte(signed)), nil)
		if len(res) != 1 || res[0].Status != StatusPass {
			t.Errorf("dkimpy %s %s/%s: %+v\n%s", j.Alg, j.HCanon, j.BCanon, res, signed)
			continue
		}
		n++
	}
	t.Logf("%d/8 dkimpy signatures verified by hamlet", n)
}

// TestHamletSignsDkimpyVerifies: messages signed here verify in dkimpy.
func TestHamletSignsDkimpyVerifies(t *testing.T) {
	py := dkimpy(t)
	rk, ek := testKeys(t)
	dir := t.TempDir()
	records := map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(t, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(t, ek, "")},
	}
	dnsPath := writeJSON(t, dir, records)
	raw := strings.Replace(testMessage, "Joe.\r\n", "Joe.  \t\r\n\tindented  line \r\n", 1)
	var files []string
	for _, alg := range []struct {
		sel string
		key interface{}
	}{{"rsa", rk}, {"ed", ek}} {
		for _, c := range []string{"simple/simple", "relaxed/relaxed", "relaxed/simple", "simple/relaxed"} {
			o := SignOptions{Domain: "example.com", Selector: alg.sel, Canonicalization: c}
			if alg.sel == "rsa" {
				o.Signer = rk
			} else {
				o.Signer = ek
			}
			p := filepath.Join(dir, alg.sel+"-"+strings.ReplaceAll(c, "/", "-")+".eml")
			os.WriteFile(p, []byte(signMessage(t, raw, o)), 0o644)
			files = append(files, p)
		}
	}
	got := runDkimpyVerify(t, py, dnsPath, files)
	n := 0
	for _, f := range files {
		if v := got[f+"\t0"]; v[0] != "pass" {
			t.Errorf("dkimpy on %s: %v", filepath.Base(f), v)
			continue
		}
		n++
	}
	t.Logf("%d/%d hamlet signatures verified by dkimpy", n, len(files))
}

func writeJSON(t *testing.T, dir string, records map[string][]string) string {
	t.Helper()
	lower := map[string][]string{}
	for k, v := range records {
		lower[strings.ToLower(strings.TrimSuffix(k, "."))] = v
	}
	b, err := json.Marshal(lower)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "dns.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runDkimpyVerify returns "file\tindex" -> [verdict, detail].
func runDkimpyVerify(t *testing.T, py, dnsPath string, files []string) map[string][2]string {
	t.Helper()
	cmd := exec.Command(py, append([]string{helperPath(t), "verify", dnsPath}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy verify: %v: %s", err, stderr.String())
	}
	res := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		p := strings.SplitN(line, "\t", 4)
		if len(p) < 3 {
			t.Fatalf("dkimpy output line not understood: %q", line)
		}
		res[p[0]+"\t"+p[1]] = [2]string{p[2], strings.Join(p[3:], "")}
	}
	return res
}

// TestDkimpyAgreesOnCorpus compares hamlet's verdict with dkimpy's for
// every signature of the Mail::DKIM corpus and the RFC vectors: pass must
// mean pass for both, except where RFC 8301 or RFC 6376 make hamlet
// stricter than dkimpy (rsa-sha1, which dkimpy still accepts; draft-era
// signatures without v=1).
func TestDkimpyAgreesOnCorpus(t *testing.T) {
	py := dkimpy(t)
	mdir := conformanceDir(t, "dkim/mail-dkim")
	rdir := conformanceDir(t, "dkim/rfc")
	fake := fakeDNS(t, filepath.Join(mdir, "FAKE_DNS.dat"))
	zone := zoneMock(t, filepath.Join(rdir, "keys.zone"))
	records := map[string][]string{}
	for k, v := range fake.TXT {
		records[k] = v
	}
	for k, v := range zone.TXT {
		records[k] = v
	}
	all := &dnstest.Mock{TXT: records, Fail: fake.Fail}
	files, _ := filepath.Glob(filepath.Join(mdir, "corpus", "*.txt"))
	for _, f := range []string{"rfc8463-A3-signed.eml", "rfc6376-A2-as-printed.eml", "rfc6376-A2-verifiable.eml"} {
		files = append(files, filepath.Join(rdir, f))
	}
	py2 := runDkimpyVerify(t, py, writeJSON(t, t.TempDir(), records), files)
	agree, deviate, total := 0, map[string]int{}, 0
	for _, f := range files {
		msg := message.Parse(readFile(t, f))
		res := Verify(context.Background(), all, msg, &Options{MaxSignatures: 10})
		for i, r := range res {
			total++
			theirs, ok := py2[f+"\t"+strconv.Itoa(i)]
			if !ok {
				t.Errorf("%s sig %d: no dkimpy verdict", filepath.Base(f), i)
				continue
			}
			oursPass, theirsPass := r.Status == StatusPass, theirs[0] == "pass"
			if oursPass == theirsPass {
				agree++
				continue
			}
			why := ""
			switch {
			case theirsPass && r.Algorithm == "rsa-sha1" && r.Status == StatusPolicy:
				why = "rsa-sha1 (RFC 8301)"
			case theirsPass && r.Signature == nil && strings.Contains(r.Reason, "v="):
				why = "no v=1 (RFC 6376 §6.1.1)"
			}
			if why == "" {
				t.Errorf("%s sig %d: hamlet %s (%s), dkimpy %s %s", filepath.Base(f), i, r.Status, r.Reason, theirs[0], theirs[1])
				continue
			}
			deviate[why]++
		}
	}
	t.Logf("dkimpy agreement: %d/%d signatures same verdict; explained differences: %v", agree, total, fmt.Sprint(deviate))
}
