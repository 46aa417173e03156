package message

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address // compared on Name, Local, Domain, Group
	}{
		{"user@example.com", []Address{{Local: "user", Domain: "example.com"}}},
		{"  <user@example.com>  ", []Address{{Local: "user", Domain: "example.com"}}},
		{"John Doe <john.doe@example.com>", []Address{{Name: "John Doe", Local: "john.doe", Domain: "example.com"}}},
		{`"Doe, John" <john@example.com>`, []Address{{Name: "Doe, John", Local: "john", Domain: "example.com"}}},
		{`"a \"quoted\" name" <a@b.example>`, []Address{{Name: `a "quoted" name`, Local: "a", Domain: "b.example"}}},
		{"john@example.com (John Doe)", []Address{{Local: "john", Domain: "example.com"}}},
		{"(comment (nested \\) still)) john@example.com", []Address{{Local: "john", Domain: "example.com"}}},
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
			[]Address{{Name: "Pete", Local: "pete", Domain: "silly.test"}}},
		// RFC 5322 Appendix A.1.2
		{`Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>`, []Address{
			{Name: "Mary Smith", Local: "mary", Domain: "x.test"},
			{Local: "jdoe", Domain: "example.org"},
			{Name: "Who?", Local: "one", Domain: "y.test"}}},
		{`<boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>`, []Address{
			{Local: "boss", Domain: "nil.test"},
			{Name: `Giant; "Big" Box`, Local: "sysservices", Domain: "example.net"}}},
		// RFC 5322 Appendix A.1.3: groups
		{"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", []Address{
			{Name: "Ed Jones", Local: "c", Domain: "a.test", Group: "A Group"},
			{Local: "joe", Domain: "where.test", Group: "A Group"},
			{Name: "John", Local: "jdoe", Domain: "one.test", Group: "A Group"}}},
		{"Undisclosed recipients:;", nil},
		{"undisclosed-recipients:", nil},
		// RFC 5322 Appendix A.6.1 / A.6.3: obsolete syntax
		{"Joe Q. Public <john.q.public@example.com>", []Address{{Name: "Joe Q. Public", Local: "john.q.public", Domain: "example.com"}}},
		{"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example", []Address{
			{Name: "Mary Smith", Local: "mary", Domain: "example.net"},
			{Local: "jdoe", Domain: "test.example"}}},
		{"John Doe <jdoe@machine(comment).  example>", []Address{{Name: "John Doe", Local: "jdoe", Domain: "machine.example"}}},
		{"Pete(A wonderful \\) chap) <pete(his account)@silly(his host).test>",
			[]Address{{Name: "Pete", Local: "pete", Domain: "silly.test"}}},
		{"<@a.test,@b.test:user@c.test>", []Address{{Local: "user", Domain: "c.test"}}},
		{"john . doe @ example . com", []Address{{Local: "john.doe", Domain: "example.com"}}},
		{`"john doe"@example.com`, []Address{{Local: `"john doe"`, Domain: "example.com"}}},
		{"user@[192.0.2.1]", []Address{{Local: "user", Domain: "[192.0.2.1]"}}},
		{"user@example.com.", []Address{{Local: "user", Domain: "example.com"}}},
		// folding left in
		{"John\r\n Doe\r\n\t<john@example.com>", []Address{{Name: "John Doe", Local: "john", Domain: "example.com"}}},
		// RFC 6532 UTF-8 and RFC 2047 names
		{"Jöhn <jöhn@bücher.example>", []Address{{Name: "Jöhn", Local: "jöhn", Domain: "bücher.example"}}},
		{"=?UTF-8?Q?J=C3=B6hn?= <j@x.example>", []Address{{Name: "Jöhn", Local: "j", Domain: "x.example"}}},
		// lenient: unquoted address as display name
		{"alice@evil.example <bob@bank.example>", []Address{{Name: "alice@evil.example", Local: "bob", Domain: "bank.example"}}},
		{",,a@b.example,,", []Address{{Local: "a", Domain: "b.example"}}},
	}
	for _, tt := range tests {
		got, err := ParseAddressList(tt.in)
		if err != nil {
			t.Errorf("ParseAddressList(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseAddressList(%q) = %+v, want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseAddressList(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseAddressListErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, // empty is not an error: no addresses
		{"John Doe", "has no @domain"},
		{"John Doe john@example.com", "space inside local part"},
		{"<john@example.com", "missing >"},
		{"<>", "empty angle address"},
		{"john@", "missing domain"},
		{"@example.com", "empty local part"},
		{`"unterminated@example.com`, "unterminated quoted string"},
		{"(unterminated john@example.com", "unterminated comment"},
		{"john@exa mple.com", "unexpected"},
		{"a@b.example <c@d.example> <e@f.example>", "unexpected"},
		{"john.@example.com", "ends with a dot"},
		{"john..doe@example.com", "empty word"},
		{"user@[1.2.3.4", "unterminated domain literal"},
		{"user@a..b", "unexpected"},
		{"g: h: a@b.example;;", "group inside group"},
		{"<a@b.example> x", "unexpected"},
		{"a@b.example; c@d.example", "unexpected"},
	}
	for _, tt := range tests {
		got, err := ParseAddressList(tt.in)
		if tt.want == "" {
			if err != nil || len(got) != 0 {
				t.Errorf("ParseAddressList(%q) = %v, %v; want nothing, no error", tt.in, got, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddressList(%q) = %+v, want error containing %q", tt.in, got, tt.want)
			continue
		}
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseAddressList(%q) error %q, want ErrSyntax containing %q", tt.in, err, tt.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.EXAMPLE", "xn--bcher-kva.example"},
		{"münchen.de", "xn--mnchen-3ya.de"},
		{"пример.рф", "xn--e1afmkfd.xn--p1ai"},
		{"mail_gw.example.com", "mail_gw.example.com"},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", ".", "[192.0.2.1]", "a..b", "-bad-ü.example", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com", "a b.example"} {
		if got, err := NormalizeDomain(bad); err == nil || !errors.Is(err, ErrBadDomain) {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want ErrBadDomain", bad, got, err)
		}
	}
}

func TestFromDomains(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		want    []string
		wantErr []error
	}{
		{"one", "From: John <John@Example.COM>\r\n", []string{"example.com"}, nil},
		{"idn", "From: <user@BÜCHER.example>\r\n", []string{"xn--bcher-kva.example"}, nil},
		{"none", "To: a@b.example\r\n", nil, []error{ErrNoFrom}},
		{"two fields", "From: a@one.example\r\nFrom: b@two.example\r\n", []string{"one.example", "two.example"}, []error{ErrMultipleFrom}},
		{"two fields same domain", "From: a@one.example\r\nFrom: b@one.example\r\n", []string{"one.example"}, []error{ErrMultipleFrom}},
		{"two authors", "From: a@one.example, b@Two.example\r\n", []string{"one.example", "two.example"}, []error{ErrMultipleAuthors}},
		{"two authors one domain", "From: a@one.example, b@one.example\r\n", []string{"one.example"}, []error{ErrMultipleAuthors}},
		{"unparsable", "From: John Doe\r\n", nil, []error{ErrSyntax}},
		{"unparsable, domain guessed", "From: \"info@Bank.example\r\n", []string{"bank.example"}, []error{ErrSyntax}},
		{"unterminated angle, domain guessed", "From: Bank <info@bank.example\r\n", []string{"bank.example"}, []error{ErrSyntax}},
		{"unparsable, no usable guess", "From: a@b@\r\n", nil, []error{ErrSyntax}},
		{"unparsable, single label guess refused", "From: x y@localhost\r\n", nil, []error{ErrSyntax}},
		{"empty group", "From: undisclosed-recipients:;\r\n", nil, []error{ErrNoAuthor}},
		{"domain literal", "From: a@[192.0.2.1]\r\n", nil, []error{ErrBadDomain}},
		{"bad and good field", "From: broken\r\nFrom: a@ok.example\r\n", []string{"ok.example"}, []error{ErrMultipleFrom, ErrSyntax}},
		{"folded", "From: John\r\n Doe <john@\r\n example.com>\r\n", []string{"example.com"}, nil},
		{"case of field name", "FROM: a@x.example\r\n", []string{"x.example"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Parse([]byte(tt.header + "\r\nbody\r\n"))
			got, err := FromDomains(m)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("domains = %q, want %q", got, tt.want)
			}
			if len(tt.wantErr) == 0 && err != nil {
				t.Errorf("problem = %v, want none", err)
			}
			if len(tt.wantErr) > 0 && err == nil {
				t.Errorf("problem = nil, want %v", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("problem %v does not wrap %v", err, w)
				}
			}
		})
	}
}

func TestParseAddressListBounded(t *testing.T) {
	in := strings.Repeat("a@b.example,", maxAddresses+5)
	if _, err := ParseAddressList(in); err == nil {
		t.Fatal("no error for more than maxAddresses addresses")
	}
	in = strings.Repeat("a@b.example,", maxAddresses)
	got, err := ParseAddressList(in)
	if err != nil || len(got) != maxAddresses {
		t.Fatalf("got %d, %v; want %d addresses", len(got), err, maxAddresses)
	}
}

func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{
		"user@example.com", "John Doe <john@example.com>", `"Doe, John" <j@x.example>`,
		"A Group:Ed Jones <c@a.test>,joe@where.test;", "<@a.test,@b.test:user@c.test>",
		"(c (n) \\)) a . b @ c . d", "a@[1.2.3.4]", "=?UTF-8?Q?J=C3=B6hn?= <j@x.example>",
		"Jöhn <jöhn@bücher.example>", "a@b <c@d>", ",,", "g:;", "\"\\", "(", "<", "a@b.", "\xff@\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := ParseAddressList(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			if addrs != nil {
				t.Fatalf("addresses %v returned with error", addrs)
			}
			return
		}
		for _, a := range addrs {
			if a.Local == "" || a.Domain == "" {
				t.Fatalf("empty part in %+v from %q", a, s)
			}
			if d, err := a.ASCIIDomain(); err == nil {
				if d != strings.ToLower(d) || strings.HasSuffix(d, ".") {
					t.Fatalf("ASCIIDomain(%q) = %q not normalised", a.Domain, d)
				}
				for i := 0; i < len(d); i++ {
					if d[i] >= 0x80 {
						t.Fatalf("ASCIIDomain(%q) = %q not ASCII", a.Domain, d)
					}
				}
			}
		}
	})
}

func BenchmarkParseAddressList(b *testing.B) {
	in := `"Doe, John" (work) <john.doe@example.com>, Mary Smith <mary@x.test>, jdoe@example.org`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAddressList(in); err != nil {
			b.Fatal(err)
		}
	}
}
