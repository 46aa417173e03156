package arc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// conformanceDir returns the shared conformance data sub, read in place.
func conformanceDir(t testing.TB, sub string) string {
	return sharedtest.Dir(t, filepath.Join("conformance", sub))
}

// suiteDoc is one scenario of the ValiMail suite. The file repeats some
// test names inside one mapping, which a YAML decoder into a Go map
// refuses; so the tests are read from the node tree, duplicates kept.
type suiteTest struct {
	Name        string
	Message     string            `yaml:"message"`
	CV          string            `yaml:"cv"`
	T           int64             `yaml:"t"`
	SigHeaders  string            `yaml:"sig-headers"`
	SrvID       string            `yaml:"srv-id"`
	AS          string            `yaml:"AS"`
	AMS         string            `yaml:"AMS"`
	AAR         string            `yaml:"AAR"`
	Description string            `yaml:"description"`
	TXT         map[string]string `yaml:"-"`
	Domain      string            `yaml:"-"`
	Selector    string            `yaml:"-"`
	PrivateKey  string            `yaml:"-"`
}

func readSuite(t *testing.T, path string) []suiteTest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []suiteTest
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		var tests *yaml.Node
		txt := map[string]string{}
		var domain, sel, key string
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i].Value, root.Content[i+1]
			switch k {
			case "tests":
				tests = v
			case "txt-records":
				for j := 0; j+1 < len(v.Content); j += 2 {
					txt[v.Content[j].Value] = v.Content[j+1].Value
				}
			case "domain":
				domain = v.Value
			case "sel":
				sel = v.Value
			case "privatekey":
				key = v.Value
			}
		}
		if tests == nil {
			t.Fatalf("%s: scenario without tests", path)
		}
		for i := 0; i+1 < len(tests.Content); i += 2 {
			var st suiteTest
			if err := tests.Content[i+1].Decode(&st); err != nil {
				t.Fatalf("%s: test %s: %v", path, tests.Content[i].Value, err)
			}
			st.Name, st.TXT, st.Domain, st.Selector, st.PrivateKey = tests.Content[i].Value, txt, domain, sel, key
			out = append(out, st)
		}
	}
	return out
}

// suiteMessage turns a suite message (LF line ends) into a Message.
func suiteMessage(s string) *message.Message {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	raw := strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.Contains(raw, "\r\n\r\n") && !strings.HasPrefix(raw, "\r\n") {
		raw += "\r\n" // a message without body still ends its header
	}
	return message.Parse([]byte(raw))
}

// suiteResolver serves the scenario's TXT records. The validation file's
// folded values may hold spaces inside p=, which the tag-list grammar
// allows (RFC 6376 §3.2, §3.6.1); the signing file writes them as literal
// blocks whose line breaks (bare LF) no DNS TXT record would carry: they
// are served as spaces, as a zone file's separate strings would be.
func suiteResolver(txt map[string]string) *dnstest.Mock {
	m := &dnstest.Mock{TXT: map[string][]string{}}
	for k, v := range txt {
		m.TXT[k] = []string{strings.ReplaceAll(strings.TrimSpace(v), "\n", " ")}
	}
	return m
}

func TestValidationSuite(t *testing.T) {
	dir := conformanceDir(t, "arc")
	tests := readSuite(t, filepath.Join(dir, "arc-draft-validation-tests.yml"))
	if len(tests) < 171 {
		t.Fatalf("read %d validation tests, want at least 171", len(tests))
	}
	passed := 0
	for i, st := range tests {
		st := st
		t.Run(st.Name, func(t *testing.T) {
			want := Status(strings.ToLower(st.CV))
			if want == "" {
				// SOURCE.md: three tests have an empty cv; RFC 8617
				// §5.2 step 2 makes them fail (the newest seal says
				// cv=fail).
				want = Fail
			}
			res := Validate(context.Background(), suiteResolver(st.TXT), suiteMessage(st.Message))
			if res.Status != want {
				t.Errorf("#%d %s (%s): got cv=%s (%s: %s), want %s", i, st.Name, st.Description, res.Status, res.Failure, res.Reason, want)
				return
			}
			if res.Status == Pass && (res.OldestPass < 1 || res.OldestPass > res.Instances()) {
				t.Errorf("oldest-pass %d of %d instances", res.OldestPass, res.Instances())
			}
			passed++
		})
	}
	t.Logf("ARC validation suite: %d/%d pass", passed, len(tests))
}
