package rules_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/internal/samplemail"
	"github.com/hamlet-mail/hamlet/internal/samplerules"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/rules"
)

// BenchmarkEval measures Set.Eval alone on the parsed 10 KB newsletter
// with the 1 000 rules and 100 000-entry lists of samplerules ("set"),
// against running the 500 body expressions one by one as a naive engine
// would ("naive-body-regexps") — what the literal pre-filter saves — and
// without the 5 body expressions that have no literal.
func BenchmarkEval(b *testing.B) {
	specs, err := samplerules.Specs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.Compile(specs, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := message.Parse(samplemail.News10KB())
	c := content.Parse(m, content.Limits{})
	in := &rules.Input{ClientIP: netip.MustParseAddr("192.0.2.1"), Helo: "mx.example.org", MailFrom: "a@example.org",
		Rcpts: []string{"b@example.net"}, Message: m, Content: c}
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if hits := set.Eval(in); len(hits) != 1 {
				b.Fatalf("%d hits", len(hits))
			}
		}
	})
	// The same without the 5 expressions that have no literal (they run
	// on every body): what the other 995 rules and the lists cost.
	var withLits []rules.Spec
	for _, s := range specs {
		if s.Field != "body" || !strings.HasPrefix(s.Values[0], "[A-Z]") {
			withLits = append(withLits, s)
		}
	}
	set2, err := rules.Compile(withLits, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("set-without-literal-less", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if hits := set2.Eval(in); len(hits) != 1 {
				b.Fatalf("%d hits", len(hits))
			}
		}
	})
	var res []*regexp.Regexp
	for _, s := range specs {
		if s.Field == "body" {
			res = append(res, regexp.MustCompile(s.Values[0]))
		}
	}
	body := ""
	for _, t := range c.Texts {
		body += t.Text + "\n"
	}
	b.Run("naive-body-regexps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, re := range res {
				if re.MatchString(body) {
					n++
				}
			}
			if n != 1 {
				b.Fatalf("%d matches", n)
			}
		}
	})
}

// BenchmarkCompile is the start-up (and SIGHUP) cost of the same set:
// reading the three 100 000-entry lists and compiling 1 000 rules.
func BenchmarkCompile(b *testing.B) {
	specs, err := samplerules.Specs(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Compile(specs, rules.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
