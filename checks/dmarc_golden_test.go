package checks

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/spf"
)

// sections splits a golden file into its "-- name --" sections; the text
// before the first one is a comment.
func sections(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	name := ""
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			if name != "" {
				out[name] = b.String()
			}
			name = strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --")
			b.Reset()
			continue
		}
		if name != "" {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
	if name != "" {
		out[name] = b.String()
	}
	return out
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \t"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestDMARCGolden runs every testdata/dmarc/*.txt case through the DMARC
// check and the Authentication-Results builder.
func TestDMARCGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "dmarc", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := sections(t, string(data))
			mock := &dnstest.Mock{TXT: map[string][]string{}, A: map[string][]string{}}
			for _, l := range lines(sec["dns"]) {
				typ, rest, _ := strings.Cut(l, " ")
				name, value, _ := strings.Cut(rest, " ")
				switch typ {
				case "TXT":
					mock.TXT[name] = append(mock.TXT[name], value)
				case "A":
					mock.A[name] = append(mock.A[name], value)
				default:
					t.Fatalf("bad dns line %q", l)
				}
			}
			deps := dmarcDeps{}
			var sigs []dkim.Result
			for _, l := range lines(sec["results"]) {
				f := strings.Fields(l)
				if len(f) < 2 {
					t.Fatalf("bad results line %q", l)
				}
				dom := ""
				if len(f) > 2 {
					dom = f[2]
				}
				switch f[0] {
				case "spf":
					deps["spf"] = &spf.Result{Code: spf.Code(f[1]), Domain: dom, Identity: spf.IdentityMailFrom, MailFrom: "bounce@" + dom}
				case "dkim":
					sigs = append(sigs, dkim.Result{Status: dkim.Status(f[1]), Domain: dom, Selector: "s"})
				default:
					t.Fatalf("bad results line %q", l)
				}
			}
			if sigs != nil {
				deps["dkim"] = sigs
			}
			cfg := DefaultDMARCConfig()
			for _, l := range lines(sec["config"]) {
				switch f := strings.Fields(l); {
				case len(f) == 2 && f[0] == "reject":
					cfg.Reject = f[1] == "true"
				case len(f) == 2 && f[0] == "trusted":
					cfg.TrustedARCSealers = append(cfg.TrustedARCSealers, f[1])
				default:
					t.Fatalf("bad config line %q", l)
				}
			}
			c, err := NewDMARC(cfg, mock)
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.ReplaceAll(sec["message"], "\n", "\r\n")
			tx := &engine.Transaction{Message: message.Parse([]byte(raw))}
			res := c.Run(context.Background(), tx, deps)
			if len(res.Symbols) != 1 {
				t.Fatalf("symbols %+v", res.Symbols)
			}
			got := res.Symbols[0]
			var wantOpts, wantAR []string
			wantForce := engine.NoAction
			for _, l := range lines(sec["want"]) {
				key, val, _ := strings.Cut(l, " ")
				switch key {
				case "symbol":
					if got.Name != val {
						t.Errorf("symbol %s, want %s (options %q)", got.Name, val, got.Options)
					}
				case "option":
					wantOpts = append(wantOpts, val)
				case "force":
					wantForce = engine.Reject
				case "authres":
					wantAR = append(wantAR, val)
				default:
					t.Fatalf("bad want line %q", l)
				}
			}
			if !slices.Equal(got.Options, wantOpts) {
				t.Errorf("options\n got %q\nwant %q", got.Options, wantOpts)
			}
			if got.Force != wantForce {
				t.Errorf("force %v, want %v", got.Force, wantForce)
			}
			deps["dmarc"] = res.Value
			ar := AuthResultsHeader("mx.example.org", tx, deps).String()
			for _, w := range wantAR {
				if !strings.Contains(ar, w) {
					t.Errorf("Authentication-Results %q lacks %q", ar, w)
				}
			}
		})
	}
}
