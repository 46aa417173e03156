package rules

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
)

const testMsg = "From: \"Alice\" <alice@Sender.Example>\r\n" +
	"Reply-To: scammer@mx.freemail.example\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: =?utf-8?q?Urgent_wire_transfer?=\r\n" +
	"X-Mailer: BulkMailer 3.0\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
	"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<p>Please send the <b>wire   transfer</b> today. Visit <a href=\"https://login.evil.example/x\">here</a> or http://192.0.2.9/path</p>\r\n" +
	"--b\r\nContent-Type: application/octet-stream; name=\"invoice.exe\"\r\n" +
	"Content-Disposition: attachment; filename=\"Invoice.EXE\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA==\r\n" +
	"--b--\r\n"

func testInput() *Input {
	m := message.Parse([]byte(testMsg))
	return &Input{
		ClientIP: netip.MustParseAddr("203.0.113.7"), Helo: "Mail.Sender.Example", PTR: "host7.dyn.isp.example.",
		MailFrom: "Bounce@sender.example", Rcpts: []string{"bob@example.net", "Carol@Example.ORG"},
		Message: m, Content: content.Parse(m, content.Limits{}),
		SPFDomain: "sender.example", DKIMDomains: []string{"sender.example", "esp.example"}, DMARCDomain: "sender.example",
	}
}

func mustCompile(t *testing.T, specs ...Spec) *Set {
	t.Helper()
	for i := range specs {
		if specs[i].Name == "" {
			specs[i].Name = "R" + string(rune('A'+i))
		}
	}
	s, err := Compile(specs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFields covers every field with the match types it allows.
func TestFields(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		mod  func(*Input)
		want []string // options of the hit; nil: no hit
	}{
		{"ip cidr", Spec{Field: "ip", Values: []string{"198.51.100.0/24", "203.0.113.0/24"}}, nil, []string{"ip=203.0.113.7"}},
		{"ip bare address", Spec{Field: "ip", Values: []string{"203.0.113.7"}}, nil, []string{"ip=203.0.113.7"}},
		{"ip other network", Spec{Field: "ip", Values: []string{"203.0.112.0/24"}}, nil, nil},
		{"ip v6", Spec{Field: "ip", Values: []string{"2001:db8::/32"}}, func(in *Input) { in.ClientIP = netip.MustParseAddr("2001:db8::25") }, []string{"ip=2001:db8::25"}},
		{"ip v4-mapped", Spec{Field: "ip", Values: []string{"203.0.113.0/24"}}, func(in *Input) { in.ClientIP = netip.MustParseAddr("::ffff:203.0.113.9") }, []string{"ip=203.0.113.9"}},
		{"ip unknown", Spec{Field: "ip", Values: []string{"0.0.0.0/0"}}, func(in *Input) { in.ClientIP = netip.Addr{} }, nil},
		{"helo exact any case", Spec{Field: "helo", Values: []string{"mail.SENDER.example"}}, nil, []string{"helo=mail.sender.example"}},
		{"helo suffix", Spec{Field: "helo", Match: "suffix", Values: []string{"sender.example"}}, nil, []string{"helo=mail.sender.example"}},
		{"helo suffix not a label boundary", Spec{Field: "helo", Match: "suffix", Values: []string{"der.example"}}, nil, nil},
		{"helo suffix written *.", Spec{Field: "helo", Match: "suffix", Values: []string{"*.sender.example"}}, nil, []string{"helo=mail.sender.example"}},
		{"ptr glob", Spec{Field: "ptr", Match: "glob", Values: []string{"*.dyn.*"}}, nil, []string{"ptr=host7.dyn.isp.example"}},
		{"ptr regex", Spec{Field: "ptr", Match: "regex", Values: []string{`^host\d+\.`}}, nil, []string{"ptr=host7.dyn.isp.example"}},
		{"ptr none", Spec{Field: "ptr", Match: "glob", Values: []string{"*"}}, func(in *Input) { in.PTR = "" }, nil},
		{"auth_user", Spec{Field: "auth_user", Values: []string{"bob"}}, func(in *Input) { in.AuthUser = "Bob" }, []string{"auth_user=bob"}},
		{"mail_from exact", Spec{Field: "mail_from", Values: []string{"bounce@SENDER.example"}}, nil, []string{"mail_from=bounce@sender.example"}},
		{"mail_from null sender", Spec{Field: "mail_from", Values: []string{""}}, func(in *Input) { in.MailFrom = "" }, []string{"mail_from="}},
		{"mail_from_domain suffix", Spec{Field: "mail_from_domain", Match: "suffix", Values: []string{"example"}}, nil, []string{"mail_from_domain=sender.example"}},
		{"mail_from_local", Spec{Field: "mail_from_local", Values: []string{"bounce"}}, nil, []string{"mail_from_local=bounce"}},
		{"rcpt", Spec{Field: "rcpt", Values: []string{"carol@example.org"}}, nil, []string{"rcpt=carol@example.org"}},
		{"rcpt_domain two values", Spec{Field: "rcpt_domain", Match: "glob", Values: []string{"example.*"}}, nil, []string{"rcpt_domain=example.net", "rcpt_domain=example.org"}},
		{"rcpt_local", Spec{Field: "rcpt_local", Match: "glob", Values: []string{"car*"}}, nil, []string{"rcpt_local=carol"}},
		{"header decoded", Spec{Field: "header", Header: "subject", Match: "regex", Values: []string{`(?i)wire transfer`}}, nil, []string{"subject=Urgent wire transfer"}},
		{"header regex is case-sensitive", Spec{Field: "header", Header: "Subject", Match: "regex", Values: []string{`WIRE`}}, nil, nil},
		{"header raw", Spec{Field: "header", Header: "Subject", Raw: true, Match: "regex", Values: []string{`=\?utf-8\?q\?`}}, nil, []string{"Subject==?utf-8?q?Urgent_wire_transfer?="}},
		{"header decoded has no encoded word", Spec{Field: "header", Header: "Subject", Match: "regex", Values: []string{`=\?utf-8\?q\?`}}, nil, nil},
		{"header exact any case", Spec{Field: "header", Header: "X-Mailer", Values: []string{"bulkmailer 3.0"}}, nil, []string{"X-Mailer=BulkMailer 3.0"}},
		{"header absent", Spec{Field: "header", Header: "X-Absent", Match: "glob", Values: []string{"*"}}, nil, nil},
		{"from", Spec{Field: "from", Values: []string{"alice@sender.example"}}, nil, []string{"from=alice@sender.example"}},
		{"from_domain", Spec{Field: "from_domain", Values: []string{"sender.example"}}, nil, []string{"from_domain=sender.example"}},
		{"reply_to", Spec{Field: "reply_to", Match: "glob", Values: []string{"scammer@*"}}, nil, []string{"reply_to=scammer@mx.freemail.example"}},
		{"reply_to_domain suffix", Spec{Field: "reply_to_domain", Match: "suffix", Values: []string{"freemail.example"}}, nil, []string{"reply_to_domain=mx.freemail.example"}},
		{"url", Spec{Field: "url", Match: "regex", Values: []string{`^http://192\.0\.2\.`}}, nil, []string{"url=http://192.0.2.9/…"}},
		{"url_host", Spec{Field: "url_host", Values: []string{"login.evil.example"}}, nil, []string{"url_host=login.evil.example"}},
		{"url_domain", Spec{Field: "url_domain", Values: []string{"evil.example"}}, nil, []string{"url_domain=evil.example"}},
		{"attachment_name glob", Spec{Field: "attachment_name", Match: "glob", Values: []string{"*.exe"}}, nil, []string{"attachment_name=Invoice.EXE"}},
		{"attachment_name exact any case", Spec{Field: "attachment_name", Values: []string{"invoice.exe"}}, nil, []string{"attachment_name=Invoice.EXE"}},
		{"attachment_type detected", Spec{Field: "attachment_type", Values: []string{"exe"}}, nil, []string{"attachment_type=exe"}},
		{"attachment_type declared", Spec{Field: "attachment_type", Values: []string{"application/octet-stream"}}, nil, []string{"attachment_type=application/octet-stream"}},
		{"body regex shows the expression, not the text", Spec{Field: "body", Values: []string{`(?i)wire\s+transfer`}}, nil, []string{`body=/(?i)wire\s+transfer/`}},
		{"body is the visible text", Spec{Field: "body", Values: []string{`<b>`}}, nil, nil},
		{"body regex without literal", Spec{Field: "body", Values: []string{`\d{3}\.\d`}}, nil, []string{`body=/\d{3}\.\d/`}},
		{"body before data", Spec{Field: "body", Values: []string{`.`}}, func(in *Input) { in.Message, in.Content = nil, nil }, nil},
		{"spf_domain", Spec{Field: "spf_domain", Values: []string{"sender.example"}}, nil, []string{"spf_domain=sender.example"}},
		{"spf not passed", Spec{Field: "spf_domain", Values: []string{"sender.example"}}, func(in *Input) { in.SPFDomain = "" }, nil},
		{"dkim_domain", Spec{Field: "dkim_domain", Values: []string{"esp.example"}}, nil, []string{"dkim_domain=esp.example"}},
		{"dmarc_domain", Spec{Field: "dmarc_domain", Match: "suffix", Values: []string{"sender.example"}}, nil, []string{"dmarc_domain=sender.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, tt.spec)
			in := testInput()
			if tt.mod != nil {
				tt.mod(in)
			}
			hits := s.Eval(in)
			var got []string
			if len(hits) > 0 {
				got = hits[0].Options()
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("options %q, want %q", got, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestListFiles: each match type reads its entries from a list file,
// with comments, blank lines and rspamd's "entry # comment" lines.
func TestListFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "domains.txt", "# deny list\n\nother.example\nsender.example   # since 2026\r\n")
	writeFile(t, dir, "nets.txt", "# networks\n198.51.100.0/24\n203.0.113.0/28 partner\n2001:db8::/32\n")
	writeFile(t, dir, "globs.txt", "# globs\n*.scr\n*.EXE\n")
	writeFile(t, dir, "regex.txt", "# scams\n(?i)lottery\n(?i)wire\\s+transfer\n")
	writeFile(t, dir, "subjects.txt", "# exact subjects\nurgent wire transfer\n")
	file := filepath.Join(dir, "hamlet.toml")
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Field: "from_domain", List: "domains.txt"}, "from_domain=sender.example"},
		{Spec{Field: "helo", Match: "suffix", List: "domains.txt"}, "helo=mail.sender.example"},
		{Spec{Field: "ip", List: "nets.txt"}, "ip=203.0.113.7"},
		{Spec{Field: "attachment_name", Match: "glob", List: "globs.txt"}, "attachment_name=Invoice.EXE"},
		{Spec{Field: "body", List: "regex.txt"}, `body=/(?i)wire\s+transfer/`},
		{Spec{Field: "header", Header: "Subject", List: "subjects.txt"}, "Subject=Urgent wire transfer"},
		{Spec{Field: "helo", List: "domains.txt"}, ""}, // exact: the HELO is a subdomain
	}
	for _, tt := range tests {
		t.Run(tt.spec.Field+"/"+tt.spec.List, func(t *testing.T) {
			tt.spec.Name, tt.spec.File = "LISTED", file
			s := mustCompile(t, tt.spec)
			hits := s.Eval(testInput())
			got := ""
			if len(hits) == 1 && len(hits[0].Values) > 0 {
				got = hits[0].Options()[0]
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHitsInOrder: several rules, each hit once, in the order written,
// the others silent.
func TestHitsInOrder(t *testing.T) {
	s := mustCompile(t,
		Spec{Name: "B_BODY", Field: "body", Values: []string{`(?i)wire`, `today`}},
		Spec{Name: "A_NONE", Field: "body", Values: []string{`lottery`}},
		Spec{Name: "C_RCPT", Field: "rcpt_domain", Values: []string{"example.net", "example.org"}},
	)
	hits := s.Eval(testInput())
	var names []string
	for _, h := range hits {
		names = append(names, h.Rule.Name+":"+strings.Join(h.Values, ","))
	}
	want := []string{"B_BODY:/(?i)wire/,/today/", "C_RCPT:example.net,example.org"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("hits %q, want %q", names, want)
	}
}

// TestDescriptions: a rule without a description is shown with what it
// matches and what it does beyond its weight (a weight-0 rule that
// forces reject must say so beside its symbol); a written one is kept.
func TestDescriptions(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "deny.txt")
	if err := os.WriteFile(list, []byte("spam.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustCompile(t,
		Spec{Name: "ONE", Field: "header", Header: "Subject", Match: "regex", Values: []string{"x"}},
		Spec{Name: "MANY", Field: "attachment_name", Match: "glob", Values: []string{"*.exe", "*.scr"}, Action: "reject"},
		Spec{Name: "LISTED", Field: "from_domain", Match: "suffix", Values: []string{"a.example"}, List: list},
		Spec{Name: "NET", Field: "ip", Values: []string{"192.0.2.0/24"}, PreResult: "accept"},
		Spec{Name: "RAW", Field: "header", Header: "X-Mailer", Raw: true, List: list},
		Spec{Name: "COMP", Expression: "ONE & !NET", Action: "soft_reject"},
		Spec{Name: "OWN", Field: "helo", Values: []string{"x"}, Description: "Our own words", Action: "reject"},
	)
	want := map[string]string{
		"ONE":    "Local rule: header Subject matches (regex) 1 value",
		"MANY":   "Local rule: attachment_name matches (glob) 2 values; forces reject",
		"LISTED": "Local rule: from_domain matches (suffix) 1 value and list deny.txt",
		"NET":    "Local rule: ip matches (cidr) 1 value; pre-result accept",
		"RAW":    "Local rule: header X-Mailer (raw) matches (exact) list deny.txt",
		"COMP":   "Local composite: ONE & !NET; forces soft_reject",
		"OWN":    "Our own words",
	}
	for _, r := range s.Rules() {
		if r.Description != want[r.Name] {
			t.Errorf("%s: description %q, want %q", r.Name, r.Description, want[r.Name])
		}
	}
}

func TestComposites(t *testing.T) {
	s := mustCompile(t,
		Spec{Name: "ONLY_A", Expression: "A & !B"},
		Spec{Name: "PREC", Expression: "A | B & C"},
		Spec{Name: "PAREN", Expression: "(A | B) & C"},
		Spec{Name: "DOUBLE", Expression: "!!A && C || B"},
		Spec{Name: "OF_OTHER", Expression: "ONLY_A & !PREC_MISSING"},
		Spec{Name: "LATER", Expression: "EARLIER | B"},
		Spec{Name: "EARLIER", Expression: "C"},
	)
	tests := []struct {
		have string
		want string
	}{
		{"A", "ONLY_A PREC OF_OTHER"},
		{"A B", "PREC DOUBLE LATER"},
		{"B C", "PREC PAREN DOUBLE LATER EARLIER"},
		{"A C", "ONLY_A PREC PAREN DOUBLE OF_OTHER LATER EARLIER"},
		{"", ""},
	}
	for _, tt := range tests {
		have := map[string]bool{}
		for _, n := range strings.Fields(tt.have) {
			have[n] = true
		}
		var got []string
		held, _ := s.Compose(func(n string) bool { return have[n] })
		for _, r := range held {
			got = append(got, r.Name)
		}
		// Compose returns dependency order; compare as sets in the
		// written order.
		var inOrder []string
		for _, r := range s.Rules() {
			for _, g := range got {
				if g == r.Name {
					inOrder = append(inOrder, g)
				}
			}
		}
		if strings.Join(inOrder, " ") != tt.want {
			t.Errorf("with %q: %q, want %q", tt.have, inOrder, tt.want)
		}
	}
	if got := s.Referenced(); !reflect.DeepEqual(got, []string{"A", "B", "C", "PREC_MISSING"}) {
		t.Errorf("Referenced() = %q", got)
	}
}

// TestCompositeRemoval: what the composites that hold take from the
// symbols they name, as rspamd's composites: policy remove_all by
// default, "~" the weight only, "-" nothing, "^" everything; names under
// "!" are never taken; a symbol is taken from only as far as every
// composite that holds and names it agrees.
func TestCompositeRemoval(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		have  string
		want  string // NAME=w (weight), NAME=s (symbol), NAME=ws (both), sorted
	}{
		{"default remove_all", []Spec{{Name: "C", Expression: "A & B"}}, "A B", "A=ws B=ws"},
		{"does not hold", []Spec{{Name: "C", Expression: "A & B"}}, "A", ""},
		{"negated names are kept", []Spec{{Name: "C", Expression: "A & !B"}}, "A", "A=ws"},
		{"negation deep in the tree", []Spec{{Name: "C", Expression: "A & !(B | ~D)"}}, "A", "A=ws"},
		{"or: only those present", []Spec{{Name: "C", Expression: "A | B"}}, "B", "B=ws"},
		{"or: both present", []Spec{{Name: "C", Expression: "A | B"}}, "A B", "A=ws B=ws"},
		{"~ takes the weight", []Spec{{Name: "C", Expression: "~A & B"}}, "A B", "A=w B=ws"},
		{"- takes nothing", []Spec{{Name: "C", Expression: "-A & B"}}, "A B", "B=ws"},
		{"policy leave", []Spec{{Name: "C", Expression: "A & B", Policy: "leave"}}, "A B", ""},
		{"policy remove_weight", []Spec{{Name: "C", Expression: "A & B", Policy: "remove_weight"}}, "A B", "A=w B=w"},
		{"policy remove_symbol", []Spec{{Name: "C", Expression: "A & B", Policy: "remove_symbol"}}, "A B", "A=s B=s"},
		{"policy remove_all", []Spec{{Name: "C", Expression: "A & B", Policy: "remove_all"}}, "A B", "A=ws B=ws"},
		{"^ overrides leave", []Spec{{Name: "C", Expression: "^A & B", Policy: "leave"}}, "A B", "A=ws"},
		{"~ under remove_symbol takes nothing", []Spec{{Name: "C", Expression: "~A & B", Policy: "remove_symbol"}}, "A B", "B=s"},
		{"two composites: leave wins", []Spec{{Name: "C1", Expression: "A & B"}, {Name: "C2", Expression: "A & D", Policy: "leave"}}, "A B D", "B=ws"},
		{"two composites: ~ keeps the symbol", []Spec{{Name: "C1", Expression: "A & B"}, {Name: "C2", Expression: "~A & D"}}, "A B D", "A=w B=ws D=ws"},
		{"two composites: ^ beats leave", []Spec{{Name: "C1", Expression: "^A & B"}, {Name: "C2", Expression: "-A & D"}}, "A B D", "A=ws B=ws D=ws"},
		{"one holds, the other does not", []Spec{{Name: "C1", Expression: "A & B"}, {Name: "C2", Expression: "-A & E"}}, "A B", "A=ws B=ws"},
		{"composite of a composite", []Spec{{Name: "C1", Expression: "A & B"}, {Name: "C2", Expression: "C1 & D"}}, "A B D", "A=ws B=ws C1=ws D=ws"},
		{"later composites see all symbols", []Spec{{Name: "C1", Expression: "A & B"}, {Name: "C2", Expression: "A & D"}}, "A B D", "A=ws B=ws D=ws"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, tt.specs...)
			have := map[string]bool{}
			for _, n := range strings.Fields(tt.have) {
				have[n] = true
			}
			held, removed := s.Compose(func(n string) bool { return have[n] })
			if len(held) == 0 && removed != nil {
				t.Fatalf("nothing holds, yet %v removed", removed)
			}
			var got []string
			for n, rm := range removed {
				f := ""
				if rm&RemoveWeight != 0 {
					f += "w"
				}
				if rm&RemoveSymbol != 0 {
					f += "s"
				}
				got = append(got, n+"="+f)
			}
			slices.Sort(got)
			if strings.Join(got, " ") != tt.want {
				t.Errorf("with %q: removed %q, want %q", tt.have, got, tt.want)
			}
		})
	}
}

func TestParseExpr(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"A", "A", ""},
		{"A & !B", "(A & !B)", ""},
		{"A | B & C", "(A | (B & C))", ""},
		{"(A|B)&C", "((A | B) & C)", ""},
		{"A && B || !C", "((A & B) | !C)", ""},
		{"DMARC_POLICY_REJECT & !R_DKIM_ALLOW", "(DMARC_POLICY_REJECT & !R_DKIM_ALLOW)", ""},
		{"~A & -B | ^C & !~D", "((~A & -B) | (^C & !~D))", ""},
		{"~-A", "~-A", ""},
		{"A & ~", "", `"~" at offset 4 is not followed by a symbol name`},
		{"A & ~(B)", "", "not followed by a symbol name"},
		{"", "", "ends where a symbol name is expected"},
		{"A &", "", "ends where a symbol name is expected"},
		{"(A", "", "missing )"},
		{"A B", "", `unexpected "B"`},
		{"A & )", "", `unexpected ")"`},
		{"A + B", "", `unexpected "+"`},
		{strings.Repeat("(", 100) + "A" + strings.Repeat(")", 100), "", "nested too deeply"},
	}
	for _, tt := range tests {
		n, err := parseExpr(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseExpr(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseExpr(%q): %v", tt.in, err)
			continue
		}
		if n.String() != tt.want {
			t.Errorf("parseExpr(%q) = %s, want %s", tt.in, n, tt.want)
		}
	}
}

// TestBadRules: every problem is reported at its file and line, naming
// the rule.
func TestBadRules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad-nets.txt", "192.0.2.0/24\n# fine so far\nnot-a-network\n")
	writeFile(t, dir, "bad-regex.txt", "good\n(unclosed\n")
	text := `[[rules]]
name = "BAD_REGEX"
field = "body"
values = ["fine", "(?i)wire\\s+(transfer"]

[[rules]]
name = "lower_case"
field = "helo"
values = ["x"]

[[rules]]
name = "NO_FIELD"
values = ["x"]

[[rules]]
name = "UNKNOWN_FIELD"
field = "colour"
values = ["red"]

[[rules]]
name = "WRONG_MATCH"
field = "ip"
match = "suffix"
values = ["x"]

[[rules]]
name = "BODY_EXACT"
field = "body"
match = "exact"
values = ["x"]

[[rules]]
name = "NOTHING"
field = "helo"

[[rules]]
name = "BAD_NET"
field = "ip"
values = ["192.0.2.300"]

[[rules]]
name = "BAD_ACTION"
field = "helo"
values = ["x"]
action = "explode"

[[rules]]
name = "MESSAGE_ALONE"
field = "helo"
values = ["x"]
message = "go away"

[[rules]]
name = "BAD_PRE"
field = "helo"
values = ["x"]
pre_result = "maybe"

[[rules]]
name = "HEADER_NO_NAME"
field = "header"
values = ["x"]

[[rules]]
name = "BAD_EXPR"
expression = "A &"

[[rules]]
name = "EXPR_AND_FIELD"
expression = "A"
field = "helo"

[[rules]]
name = "CYCLE_A"
expression = "CYCLE_B"

[[rules]]
name = "CYCLE_B"
expression = "!CYCLE_A"

[[rules]]
name = "MISSING_LIST"
field = "helo"
list = "nope.txt"

[[rules]]
name = "BAD_LIST"
field = "ip"
list = "bad-nets.txt"

[[rules]]
name = "BAD_REGEX_LIST"
field = "body"
list = "bad-regex.txt"

[[rules]]
name = "BAD_REGEX"
field = "helo"
values = ["x"]

[[rules]]
name = "BAD_POLICY"
expression = "A & B"
policy = "remove_everything"

[[rules]]
name = "POLICY_NO_EXPR"
field = "helo"
values = ["x"]
policy = "leave"
`
	file := filepath.Join(dir, "rules.toml")
	specs, err := Parse(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(specs, Options{})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		file + ":4: rule BAD_REGEX: regex `(?i)wire\\s+(transfer`: missing closing )",
		file + ":7: rule lower_case: name \"lower_case\" is not a symbol name",
		file + ":11: rule NO_FIELD: no field (what the rule looks at) and no expression",
		file + ":17: rule UNKNOWN_FIELD: unknown field \"colour\" (attachment_name, ",
		file + ":23: rule WRONG_MATCH: field ip cannot be matched by \"suffix\" (cidr)",
		file + ":29: rule BODY_EXACT: field body cannot be matched by \"exact\" (regex)",
		file + ":32: rule NOTHING: neither values nor list",
		file + ":39: rule BAD_NET: \"192.0.2.300\" is not an address or CIDR network",
		file + ":45: rule BAD_ACTION: \"explode\" is not an action",
		file + ":51: rule MESSAGE_ALONE: a reply message needs an action",
		file + ":57: rule BAD_PRE: \"maybe\" is not accept or skip_greylist",
		file + ":61: rule HEADER_NO_NAME: field \"header\" needs header = \"Field-Name\"",
		file + ":66: rule BAD_EXPR: expression ends where a symbol name is expected",
		file + ":70: rule EXPR_AND_FIELD: a composite (expression) has no field",
		file + ":84: rule MISSING_LIST: open " + filepath.Join(dir, "nope.txt") + ": no such file or directory",
		filepath.Join(dir, "bad-nets.txt") + ":3: rule BAD_LIST: \"not-a-network\" is not an address or CIDR network",
		filepath.Join(dir, "bad-regex.txt") + ":2: rule BAD_REGEX_LIST: regex `(unclosed`: missing closing )",
		file + ":97: rule BAD_REGEX: a rule of this name is written before",
		file + ":104: rule BAD_POLICY: \"remove_everything\" is not remove_all, remove_weight, remove_symbol or leave",
		file + ":110: rule POLICY_NO_EXPR: policy is for composites (rules with an expression)",
		file + ":75: rule CYCLE_A: composites name each other: CYCLE_A → CYCLE_B → CYCLE_A",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i := range min(len(lines), len(want)) {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, lines[i], want[i])
		}
	}
	var re *Error
	if !errors.As(err, &re) || re.Rule == "" || re.Line == 0 {
		t.Errorf("errors are not *Error with a rule and a line: %#v", re)
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"[[rules]]\nname = \"A\"\nfield = \"helo\"\nvalues = [\"x\"]\ncolour = \"red\"\n", `f.toml:5: rule A: unknown option "colour"`},
		{"[[rules]]\nname = \"A\"\nvalues = [\n", "f.toml:3: "},
		{"[other]\nx = 1\n", `f.toml: unknown option "other.x"`},
	}
	for _, tt := range tests {
		_, err := Parse("f.toml", []byte(tt.text))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error %v, want %q…", tt.text, err, tt.want)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rules.d"), 0o755)
	writeFile(t, dir, "rules.d/20-b.toml", "[[rules]]\nname = \"B\"\nfield = \"helo\"\nvalues = [\"b\"]\n")
	writeFile(t, dir, "rules.d/10-a.toml", "# first\n\n[[rules]]\nname = \"A\"\nfield = \"helo\"\nvalues = [\"a\"]\n")
	specs, empty, err := LoadFiles(dir, []string{"rules.d/*.toml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "A" || specs[1].Name != "B" || specs[0].Line != 3 || specs[0].File != filepath.Join(dir, "rules.d/10-a.toml") || len(empty) != 0 {
		t.Fatalf("specs %+v, empty %v", specs, empty)
	}
	// Issue 14: a glob matching nothing (the last file of a conf.d-style
	// directory removed, or the directory itself) adds no rules and is
	// reported; a file name that names no file is an error.
	for _, tt := range []struct {
		patterns []string
		rules    int
		empty    []string
		err      string
	}{
		{[]string{"nothing/*.toml"}, 0, []string{filepath.Join(dir, "nothing/*.toml")}, ""},
		{[]string{"rules.d/*.conf", "rules.d/1?-*.toml"}, 1, []string{filepath.Join(dir, "rules.d/*.conf")}, ""},
		{[]string{"rules.d/[3-9]*.toml"}, 0, []string{filepath.Join(dir, "rules.d/[3-9]*.toml")}, ""},
		{[]string{"rules.d/10-a.toml"}, 1, nil, ""},
		{[]string{"rules.d/*.toml", "rules.d/gone.toml"}, 0, nil, `rule file "` + filepath.Join(dir, "rules.d/gone.toml") + `": no such file`},
		{[]string{"rules.d/[.toml"}, 0, nil, "syntax error in pattern"},
	} {
		specs, empty, err := LoadFiles(dir, tt.patterns)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.patterns, err, tt.err)
			}
			continue
		}
		if err != nil || len(specs) != tt.rules || !slices.Equal(empty, tt.empty) {
			t.Errorf("%q: %d rules, empty %q, %v; want %d rules, empty %q", tt.patterns, len(specs), empty, err, tt.rules, tt.empty)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestUnfiltered(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "l.txt", "(?i)lottery\n\\d{5}\n")
	s := mustCompile(t,
		Spec{Name: "A", Field: "body", Values: []string{`(?i)wire\s+transfer`, `[A-Z]{12}`}},
		Spec{Name: "B", Field: "body", Values: []string{`(?i)bitcoin`}},
		Spec{Name: "C", Field: "header", Header: "Subject", Match: "regex", Values: []string{`.`}},
		Spec{Name: "D", Field: "body", List: "l.txt", File: filepath.Join(dir, "x.toml")},
	)
	if got := s.Unfiltered(); !reflect.DeepEqual(got, []string{"A", "D"}) {
		t.Fatalf("Unfiltered() = %q", got)
	}
}

// TestURLOption: a url hit shows the scheme and host only — no path,
// query or user information (a recipient's address or token would go
// into the history).
func TestURLOption(t *testing.T) {
	for in, want := range map[string]string{
		"https://login.evil.example/verify?u=bob@example.net&t=8f3a": "https://login.evil.example/…",
		"http://user:secret@192.0.2.9:8080/x":                        "http://192.0.2.9:8080/…",
		"https://evil.example":                                       "https://evil.example",
		"https://evil.example?id=1":                                  "https://evil.example/…",
		"www.evil.example/track#bob":                                 "www.evil.example/…",
		`http://evil.example\@good.example/`:                         "http://evil.example/…",
	} {
		if got := urlOption(in); got != want {
			t.Errorf("urlOption(%q) = %q, want %q", in, got, want)
		}
	}
}
