//go:debug rsa1024min=0

package dkim

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/message"
)

// mailDKIMCase is one row of mail-dkim/expected.tsv.
type mailDKIMCase struct {
	file     string
	expected string // Mail::DKIM's default verdict: pass, fail, invalid
	sigs     []string
}

func readMailDKIM(t *testing.T) (string, []mailDKIMCase) {
	dir := conformanceDir(t, "dkim/mail-dkim")
	var cases []mailDKIMCase
	for _, line := range strings.Split(string(readFile(t, filepath.Join(dir, "expected.tsv"))), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 4 {
			t.Fatalf("expected.tsv line not understood: %q", line)
		}
		exp, _, _ := strings.Cut(cols[1], " ") // "pass (skipped upstream)" -> pass
		// Signatures are separated by spaces, but a DNS error text may
		// hold spaces too ("Query timed out").
		var sigs []string
		for _, f := range strings.Fields(cols[3]) {
			if strings.HasPrefix(f, "DK") || len(sigs) == 0 {
				sigs = append(sigs, f)
			} else {
				sigs[len(sigs)-1] += " " + f
			}
		}
		cases = append(cases, mailDKIMCase{file: cols[0], expected: exp, sigs: sigs})
	}
	if len(cases) < 70 {
		t.Fatalf("only %d rows in expected.tsv", len(cases))
	}
	return dir, cases
}

// verdictOf maps our results to Mail::DKIM's three words.
func verdictOf(results []Result) string {
	switch Summary(results) {
	case StatusPass:
		return "pass"
	case StatusFail:
		return "fail"
	case StatusNone:
		return "none"
	case StatusPolicy:
		return "policy"
	}
	return "invalid"
}

// weakOnly reports whether every signature of the row is rsa-sha1 or uses
// an RSA key under 1024 bits: RFC 8301 forbids accepting those.
func weakOnly(sigs []string) bool {
	for _, s := range sigs {
		p := strings.Split(s, ":")
		if len(p) < 4 || p[0] != "DKIM" {
			return false
		}
		if p[1] == "?" {
			continue // a signature that does not even parse
		}
		weak := p[1] == "rsa-sha1" || p[len(p)-1] == "rsa512" || p[len(p)-1] == "rsa768"
		if !weak {
			return false
		}
	}
	return len(sigs) > 0
}

func isDomainKeys(sigs []string) bool {
	for _, s := range sigs {
		if !strings.HasPrefix(s, "DK:") {
			return false
		}
	}
	return true
}

// Where RFC 6376 itself disagrees with Mail::DKIM's (RFC 4871-era) table.
var mailDKIMDeviations = map[string]struct{ want, why string }{
	// RFC 6376 removed the key record's g= tag (RFC 4871 §3.6.1); its
	// verifiers ignore it, so these verify.
	"badkey_8.txt":  {"pass", "g= tag ignored since RFC 6376"},
	"badkey_9.txt":  {"pass", "g= tag ignored since RFC 6376"},
	"badkey_12.txt": {"pass", "g= tag ignored since RFC 6376"},
	"badkey_13.txt": {"pass", "g= tag ignored since RFC 6376"},
}

// TestMailDKIMCorpus verifies the Mail::DKIM corpus twice: as hamlet runs
// (RFC 8301: sha1 and short keys give "policy"), and with those two checks
// lifted, which exercises canonicalization against the legacy messages.
func TestMailDKIMCorpus(t *testing.T) {
	dir, cases := readMailDKIM(t)
	r := fakeDNS(t, filepath.Join(dir, "FAKE_DNS.dat"))
	now := time.Date(2024, 11, 14, 0, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	notes := map[string]int{}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			msg := message.Parse(readFile(t, filepath.Join(dir, "corpus", c.file)))
			for _, weak := range []bool{false, true} {
				res := Verify(context.Background(), r, msg, &Options{Now: now, allowWeak: weak})
				got := verdictOf(res)
				want := c.expected
				note := ""
				switch {
				case preRFC(msg):
					// Draft-era signatures (no v=, or v=0.5) Mail::DKIM
					// still accepts: RFC 6376 §3.5 requires v=1 and
					// §6.1.1 makes anything else PERMFAIL.
					want, note = "invalid", "pre-RFC draft signature"
				case isDomainKeys(c.sigs):
					// DomainKeys (RFC 4870) is not DKIM; hamlet does not
					// read DomainKey-Signature.
					want, note = "none", "DomainKeys not supported"
				case !weak && weakOnly(c.sigs) && c.expected != "invalid":
					want, note = "policy", "RFC 8301 overrides Mail::DKIM"
				case !weak && weakOnly(c.sigs) && got == "policy":
					// "invalid" rows: RFC 8301's "policy" is as unusable
					// as the key problem Mail::DKIM found.
					want, note = "policy", "RFC 8301 policy before the key error"
				default:
					if d, ok := mailDKIMDeviations[c.file]; ok && weak {
						want, note = d.want, d.why
					} else if d, ok := mailDKIMDeviations[c.file]; ok && !weak {
						want, note = "policy", d.why+"; RFC 8301 overrides"
					}
				}
				if got != want {
					var reasons []string
					for _, r := range res {
						reasons = append(reasons, string(r.Status)+": "+r.Reason)
					}
					t.Errorf("%s weak=%v: got %s, want %s (Mail::DKIM %s; %s) %q", c.file, weak, got, want, c.expected, note, reasons)
					continue
				}
				if weak {
					counts["weak"]++
				} else {
					counts["strict"]++
				}
				if note != "" && !weak {
					counts["noted"]++
					notes[note]++
				}
			}
		})
	}
	t.Logf("Mail::DKIM corpus: %d/%d as expected (RFC 8301 mode), %d/%d with sha1/short keys allowed; %d rows where RFC 6376/8301 overrides the table",
		counts["strict"], len(cases), counts["weak"], len(cases), counts["noted"])
	for n, c := range notes {
		t.Logf("  %2d × %s", c, n)
	}
}

// preRFC reports whether every DKIM-Signature of msg lacks v=1.
func preRFC(msg *message.Message) bool {
	fields := msg.Get("DKIM-Signature")
	for _, f := range fields {
		tags, err := ParseTagList(f.Value())
		if err != nil {
			continue
		}
		if v, _ := tags.Get("v"); v == "1" {
			return false
		}
	}
	return len(fields) > 0
}
