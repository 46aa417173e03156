package authres

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/message"
)

func TestQuoteValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"192.0.2.1", "192.0.2.1"},
		{"user@example.com", "user@example.com"}, // pvalue address form
		{"@example.com", "@example.com"},         // header.i form
		{"first.last@sub.example.com", "first.last@sub.example.com"},
		{"a b@example.com", `"a b@example.com"`},
		{"2001:db8::1", `"2001:db8::1"`}, // ':' is a tspecial
		{"AbC/dE+f", `"AbC/dE+f"`},       // '/' is a tspecial
		{"abc=", `"abc="`},
		{"", `""`},
		{`say "hi"\now`, `"say \"hi\"\\now"`},
		{"line\r\nbreak", `"line  break"`},
		{"a;b", `"a;b"`},
		{"user@[192.0.2.1]", `"user@[192.0.2.1]"`},
		{"Ünïcode", `"Ünïcode"`},
		// RFC 8601 §2.2 domain-name is RFC 5321's: no underscore, no
		// edge hyphen, no U-label unquoted.
		{"user@a_b.example", `"user@a_b.example"`},
		{"user@-x.example", `"user@-x.example"`},
		{"user@bücher.example", `"user@bücher.example"`},
		{"user@localhost", "user@localhost"},
	}
	for _, tt := range tests {
		if strings.Contains(tt.in, "@") && tt.want == tt.in && quoteValue(tt.in) == tt.in {
			t.Errorf("quoteValue(%q) left an address unquoted", tt.in)
		}
		if got := quotePValue(tt.in); got != tt.want {
			t.Errorf("quotePValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func sample() Header {
	return Header{
		AuthServID: "mx.example.org",
		Results: []Result{
			IPRev("pass", "192.0.2.10", "mail.example.com"),
			SPF("pass", "bounce@example.com", "mail.example.com"),
			DKIM(DKIMInfo{Result: "pass", Domain: "example.com", Selector: "sel2026", Signature: "dGhpcyBpcyBu/b3QgYSByZWFs\r\n IHNpZ25hdHVyZQ=="}),
			DKIM(DKIMInfo{Result: "fail", Reason: "body hash did not verify", Domain: "esp.example", Identity: "@esp.example", Selector: "s1", Algorithm: "rsa-sha256", Signature: "QUJDREVGR0hJSktM"}),
			DMARC("pass", "example.com", "reject", "example.com", "none"),
			ARC("pass", 1, "2001:db8::25"),
		},
	}
}

func TestHeaderString(t *testing.T) {
	got := sample().String()
	want := `mx.example.org; iprev=pass (mail.example.com) policy.iprev=192.0.2.10; spf=pass smtp.mailfrom=bounce@example.com; dkim=pass header.d=example.com header.s=sel2026 header.b=dGhpcyBp; dkim=fail reason="body hash did not verify" header.d=esp.example header.i=@esp.example header.s=s1 header.a=rsa-sha256 header.b=QUJDREVG; dmarc=pass (p=reject dis=none) header.from=example.com polrec.p=reject; arc=pass header.oldest-pass=1 smtp.remote-ip="2001:db8::25"`
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if got := (Header{AuthServID: "example.org", Version: "1"}).String(); got != "example.org 1; none" {
		t.Errorf("no results: %q", got)
	}
}

func TestHeaderFoldGolden(t *testing.T) {
	got := FieldName + ": " + sample().Fold() + "\r\n"
	golden := filepath.Join("testdata", "sample.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Fold() =\n%s\nwant\n%s", got, want)
	}
}

func TestFoldLineLengths(t *testing.T) {
	h := sample()
	h.Results = append(h.Results, Result{Method: "x-long", Result: "pass", Props: []Prop{
		{"policy", "one", strings.Repeat("a", 30)}, {"policy", "two", strings.Repeat("b", 30)},
		{"policy", "three", strings.Repeat("c", 30)}, {"policy", "huge", strings.Repeat("d", 120)},
	}})
	field := FieldName + ": " + h.Fold()
	lines := strings.Split(field, "\r\n")
	if len(lines) < len(h.Results)+1 {
		t.Fatalf("only %d lines:\n%s", len(lines), field)
	}
	for i, l := range lines {
		if i > 0 && !strings.HasPrefix(l, "\t") {
			t.Errorf("line %d does not start with a tab: %q", i, l)
		}
		if width := len(l) + 7*strings.Count(l, "\t"); width > maxLine && !strings.Contains(l, strings.Repeat("d", 120)) {
			t.Errorf("line %d is %d columns: %q", i, width, l)
		}
	}
	if strings.Contains(field, "\n\r") || strings.Contains(strings.ReplaceAll(field, "\r\n\t", ""), "\n") {
		t.Errorf("bare line break in %q", field)
	}
	// the folded and unfolded forms parse to the same thing
	a, err := Parse(h.Fold())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("folded %+v != unfolded %+v", a, b)
	}
}

func TestRoundTrip(t *testing.T) {
	h := sample()
	h.Results = append(h.Results,
		SPF("fail", "", "helo.example"),
		Result{Method: "auth", Result: "pass", Props: []Prop{{"smtp", "auth", `we"ird\user`}}},
		Result{Method: "dkim", Version: "1", Result: "none"},
	)
	got, err := Parse(h.Fold())
	if err != nil {
		t.Fatalf("Parse(Fold()): %v", err)
	}
	// DKIM signatures were cut to 8 characters by the builder.
	if !reflect.DeepEqual(*got, h) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, h)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
	}{
		{"RFC 8601 B.2", "example.org 1; none", Header{AuthServID: "example.org", Version: "1"}},
		{"RFC 8601 B.3", "example.com;\r\n   spf=pass smtp.mailfrom=example.net",
			Header{AuthServID: "example.com", Results: []Result{{Method: "spf", Result: "pass", Props: []Prop{{"smtp", "mailfrom", "example.net"}}}}}},
		{"RFC 8601 B.4", "example.com;\r\n  auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n  spf=pass smtp.mailfrom=example.net",
			Header{AuthServID: "example.com", Results: []Result{
				{Method: "auth", Result: "pass", Comment: "cram-md5", Props: []Prop{{"smtp", "auth", "sender@example.net"}}},
				{Method: "spf", Result: "pass", Props: []Prop{{"smtp", "mailfrom", "example.net"}}}}}},
		{"RFC 8601 B.4 iprev", "example.com; iprev=pass\r\n  policy.iprev=192.0.2.200",
			Header{AuthServID: "example.com", Results: []Result{{Method: "iprev", Result: "pass", Props: []Prop{{"policy", "iprev", "192.0.2.200"}}}}}},
		{"RFC 8601 B.6", "mail-router.example.net;\r\n dkim=pass (good signature) header.d=newyork.example.com\r\n header.b=oINEO8hg;\r\n dkim=fail (bad signature) header.d=mail-router.example.net\r\n header.b=EToRSuvU",
			Header{AuthServID: "mail-router.example.net", Results: []Result{
				{Method: "dkim", Result: "pass", Comment: "good signature", Props: []Prop{{"header", "d", "newyork.example.com"}, {"header", "b", "oINEO8hg"}}},
				{Method: "dkim", Result: "fail", Comment: "bad signature", Props: []Prop{{"header", "d", "mail-router.example.net"}, {"header", "b", "EToRSuvU"}}}}}},
		{"RFC 8601 B.7 reason", `example.com; dkim=pass reason="good signature" header.i=@mail-router.example.net; dkim=fail reason="bad signature" header.i=@newyork.example.com`,
			Header{AuthServID: "example.com", Results: []Result{
				{Method: "dkim", Result: "pass", Reason: "good signature", Props: []Prop{{"header", "i", "@mail-router.example.net"}}},
				{Method: "dkim", Result: "fail", Reason: "bad signature", Props: []Prop{{"header", "i", "@newyork.example.com"}}}}}},
		{"RFC 8601 B.8 comments everywhere", "foo.example.net (foobar) 1 (baz);\r\n    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n      policy (A dot can go here) . (like that) expired\r\n      (this surprised me) = (as I wasn't expecting it) 1362471462",
			Header{AuthServID: "foo.example.net", Version: "1", Results: []Result{
				{Method: "dkim", Version: "1", Result: "fail", Comment: "Because I like it One yay wait for it A dot can go here like that this surprised me as I wasn't expecting it",
					Props: []Prop{{"policy", "expired", "1362471462"}}}}}},
		{"gmail style", "mx.google.com;\r\n       dkim=pass header.i=@gmail.com header.s=20230601 header.b=Ab/C+d=e;\r\n       spf=pass (google.com: domain of x@gmail.com designates 209.85.220.41 as permitted sender) smtp.mailfrom=x@gmail.com;\r\n       dmarc=pass (p=NONE sp=QUARANTINE dis=NONE) header.from=gmail.com",
			Header{AuthServID: "mx.google.com", Results: []Result{
				{Method: "dkim", Result: "pass", Props: []Prop{{"header", "i", "@gmail.com"}, {"header", "s", "20230601"}, {"header", "b", "Ab/C+d=e"}}},
				{Method: "spf", Result: "pass", Comment: "google.com: domain of x@gmail.com designates 209.85.220.41 as permitted sender", Props: []Prop{{"smtp", "mailfrom", "x@gmail.com"}}},
				{Method: "dmarc", Result: "pass", Comment: "p=NONE sp=QUARANTINE dis=NONE", Props: []Prop{{"header", "from", "gmail.com"}}}}}},
		{"quoted id and values", `"mx example"; spf=none smtp.mailfrom="a b"@example.com smtp.helo=""; `,
			Header{AuthServID: "mx example", Results: []Result{{Method: "spf", Result: "none", Props: []Prop{{"smtp", "mailfrom", `"a b"@example.com`}, {"smtp", "helo", ""}}}}}},
		{"empty mailfrom", "mx.example; spf=pass smtp.mailfrom=; dkim=none",
			Header{AuthServID: "mx.example", Results: []Result{{Method: "spf", Result: "pass", Props: []Prop{{"smtp", "mailfrom", ""}}}, {Method: "dkim", Result: "none"}}}},
		{"id only", "mx.example", Header{AuthServID: "mx.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, id, want string }{
		{"", "", "missing value"},
		{"; spf=pass", "", "authserv-id"},
		{"(unterminated mx.example; spf=pass", "", "unterminated comment"},
		{"mx.example; spf", "mx.example", "expected '='"},
		{"mx.example; spf=", "mx.example", "missing result"},
		{"mx.example; spf=pass smtp", "mx.example", "expected '.'"},
		{"mx.example; spf=pass smtp.mailfrom", "mx.example", "expected '='"},
		{"mx.example; spf=pass smtp.=x", "mx.example", "missing property"},
		{"mx.example; =pass", "mx.example", "expected a method"},
		{"mx.example spf=pass", "mx.example", "expected ';'"},
		{"mx.example; none; spf=pass", "mx.example", "after none"},
		{`mx.example; spf=pass reason="open`, "mx.example", "unterminated quoted"},
		{"mx.example; dkim/=pass", "mx.example", "missing method version"},
	}
	for _, tt := range tests {
		h, err := Parse(tt.in)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error %v, want ErrSyntax containing %q", tt.in, err, tt.want)
		}
		if h == nil || h.AuthServID != tt.id {
			t.Errorf("Parse(%q) header %+v, want authserv-id %q", tt.in, h, tt.id)
		}
	}
}

func TestResultProp(t *testing.T) {
	r := DKIM(DKIMInfo{Result: "pass", Domain: "example.com", Selector: "s"})
	if r.Prop("HEADER", "D") != "example.com" || r.Prop("header", "b") != "" {
		t.Errorf("Prop lookups wrong: %+v", r)
	}
	if got := ARC("none", 0, "").Props; len(got) != 0 {
		t.Errorf("ARC with nothing to say has props %v", got)
	}
	if got := SPF("none", "", "").Props; len(got) != 0 {
		t.Errorf("SPF with no identity has props %v", got)
	}
	if got := DMARC("none", "sub.example.com", "", "", ""); got.Comment != "" || len(got.Props) != 1 {
		t.Errorf("DMARC none: %+v", got)
	}
	if got := DMARC("fail", "sub.example.com", "quarantine", "example.com", ""); got.Prop("polrec", "domain") != "example.com" || got.Comment != "p=quarantine" {
		t.Errorf("DMARC org record: %+v", got)
	}
}

func TestKeywordSanitised(t *testing.T) {
	h := Header{AuthServID: "mx.example", Results: []Result{{Method: "sp f;x", Result: "pa\r\nss", Comment: "a) (b", Props: []Prop{{"smtp;", "mail from", "x"}}}}}
	s := h.Fold()
	got, err := Parse(s)
	if err != nil {
		t.Fatalf("sanitised field does not parse: %v\n%s", err, s)
	}
	if len(got.Results) != 1 || got.Results[0].Method != "sp_f_x" || got.Results[0].Comment != "a) (b" {
		t.Errorf("got %+v", got.Results)
	}
}

func TestOwn(t *testing.T) {
	raw := "Authentication-Results: other.example; spf=pass smtp.mailfrom=a@b.example\r\n" +
		"Received: from x\r\n" +
		"Authentication-Results: MX.Example.ORG.; dkim=pass header.d=bank.example\r\n" +
		"authentication-results: (sneaky) mx.example.org; dmarc=pass header.from=bank.example\r\n" +
		"Authentication-Results: mx.example.org.evil.example; dmarc=pass\r\n" +
		"Authentication-Results: (broken\r\n" +
		"Authentication-Results: \"mx.example.org\"; none\r\n" +
		"From: a@b.example\r\n\r\nbody\r\n"
	m := message.Parse([]byte(raw))
	got := Own(m, "mx.example.org")
	want := []int{6, 5, 3, 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Own = %v, want %v", got, want)
	}
	if got := Own(m, "other.example", "nothing.example"); !reflect.DeepEqual(got, []int{5, 1}) {
		t.Errorf("Own(other) = %v, want [5 1]", got)
	}
	if got := Own(message.Parse([]byte("From: a@b.example\r\n\r\n")), "mx.example.org"); len(got) != 0 {
		t.Errorf("Own without fields = %v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"example.org 1; none",
		"example.com; spf=pass smtp.mailfrom=example.net",
		"foo.example.net (foobar) 1 (baz);\r\n dkim (x) / 1 (y) = (z) fail policy (a) . (b) expired (c) = (d) 1362471462",
		`"mx example"; spf=none smtp.mailfrom="a b"@example.com; dkim=pass reason="ok" header.b=Ab/C+d=`,
		sample().Fold(), "(", "\"", "x;", "x; a/", "x; a=b c.d=\"", "x; none; none",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if h == nil {
			t.Fatal("nil header")
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		id, err := ParseAuthServID(s)
		if err != nil || id != h.AuthServID {
			t.Fatalf("ParseAuthServID = %q, %v; Parse gave %q", id, err, h.AuthServID)
		}
		// What parsed can be written back, and that parses again to
		// the same methods and results.
		again, err := Parse(h.Fold())
		if err != nil {
			t.Fatalf("Parse(Fold(%+v)) = %v\n%s", h, err, h.Fold())
		}
		if len(again.Results) != len(h.Results) {
			t.Fatalf("results %d, again %d", len(h.Results), len(again.Results))
		}
		for i := range h.Results {
			if again.Results[i].Method != keyword(h.Results[i].Method) || again.Results[i].Result != keyword(h.Results[i].Result) {
				t.Fatalf("result %d: %+v became %+v", i, h.Results[i], again.Results[i])
			}
		}
	})
}

func BenchmarkFold(b *testing.B) {
	h := sample()
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Fold()
	}
}

func BenchmarkParse(b *testing.B) {
	s := sample().Fold()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
