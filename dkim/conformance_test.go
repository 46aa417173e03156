package dkim

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// conformanceDir returns the shared conformance data sub, read in place.
func conformanceDir(t testing.TB, sub string) string {
	return sharedtest.Dir(t, filepath.Join("conformance", sub))
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zoneMock reads a zone file of `name. IN TXT "value"` lines.
func zoneMock(t testing.TB, path string) *dnstest.Mock {
	t.Helper()
	m := &dnstest.Mock{TXT: map[string][]string{}}
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, path))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "IN" || f[2] != "TXT" {
			t.Fatalf("zone line not understood: %q", line)
		}
		val := line[strings.Index(line, "TXT")+3:]
		val = strings.TrimSpace(val)
		val = strings.ReplaceAll(strings.Trim(val, `"`), `" "`, "")
		m.TXT[f[0]] = append(m.TXT[f[0]], val)
	}
	return m
}

type vectorFile struct {
	File       string `yaml:"file"`
	Now        int64  `yaml:"now"`
	Signatures []struct {
		D, S, A, C, BH string
		Expect         string `yaml:"expect"`
		ComputedBH     string `yaml:"computed_bh"`
	} `yaml:"signatures"`
}

// TestRFCVectors runs RFC 6376 Appendix A and RFC 8463 Appendix A.
func TestRFCVectors(t *testing.T) {
	dir := conformanceDir(t, "dkim/rfc")
	var vectors []vectorFile
	if err := yaml.Unmarshal(readFile(t, filepath.Join(dir, "vectors.yaml")), &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 3 {
		t.Fatalf("only %d vector files", len(vectors))
	}
	r := zoneMock(t, filepath.Join(dir, "keys.zone"))
	passed := 0
	total := 0
	for _, v := range vectors {
		t.Run(v.File, func(t *testing.T) {
			msg := message.Parse(readFile(t, filepath.Join(dir, v.File)))
			opts := &Options{}
			if v.Now != 0 {
				opts.Now = time.Unix(v.Now, 0)
			}
			res := Verify(context.Background(), r, msg, opts)
			if len(res) != len(v.Signatures) {
				t.Fatalf("got %d results, want %d", len(res), len(v.Signatures))
			}
			for i, want := range v.Signatures {
				total++
				got := res[i]
				if got.Domain != want.D || got.Selector != want.S || got.Algorithm != want.A {
					t.Errorf("sig %d: d=%s s=%s a=%s, want %s %s %s", i, got.Domain, got.Selector, got.Algorithm, want.D, want.S, want.A)
				}
				if string(got.Status) != want.Expect {
					t.Errorf("sig %d (s=%s): status %s (%s), want %s", i, want.S, got.Status, got.Reason, want.Expect)
					continue
				}
				if want.ComputedBH != "" {
					sig := got.Signature
					sum, _ := BodyHash(sig.Algorithm.Hash(), sig.BodyCanon, msg.Body, sig.Length)
					if b64(sum) != want.ComputedBH {
						t.Errorf("sig %d: computed bh %s, want %s", i, b64(sum), want.ComputedBH)
						continue
					}
				}
				passed++
			}
		})
	}
	t.Logf("RFC vectors: %d/%d signatures as expected", passed, total)
}

// fakeDNS reads Mail::DKIM's FAKE_DNS.dat: "<name> <TXT value>", NXDOMAIN,
// or ~~error~~ for a DNS failure.
func fakeDNS(t testing.TB, path string) *dnstest.Mock {
	t.Helper()
	m := &dnstest.Mock{TXT: map[string][]string{}, Fail: map[string]dns.Kind{}}
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, path))))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch {
		case val == "NXDOMAIN":
		case strings.HasPrefix(val, "~~"):
			kind := dns.ServFail
			if strings.Contains(strings.ToLower(val), "timed out") {
				kind = dns.Timeout
			}
			m.Fail["TXT "+name] = kind
		default:
			m.TXT[name] = append(m.TXT[name], val)
		}
	}
	return m
}

func b64(b []byte) string { return base64Std(b) }
