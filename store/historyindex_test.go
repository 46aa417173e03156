package store

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestHistoryTerms(t *testing.T) {
	r := HistoryRecord{QueueID: "4XyZ12", Action: "reject", Symbols: []string{"RBL_X", "RBL_X", "SPF_FAIL"},
		From: "Bob@Example.ORG", RcptList: []string{"a@example.com", "b@example.com"}, ClientIP: "::ffff:192.0.2.7"}
	want := []string{"a:a@example.com", "a:b@example.com", "a:bob@example.org", "d:example.com", "d:example.org",
		"i:192.0.2.7", "n:192.0.0.0/16", "n:192.0.2.0/24", "q:4xyz12", "s:RBL_X", "s:SPF_FAIL", "x:reject"}
	if got := HistoryTerms(&r); !slices.Equal(got, want) {
		t.Errorf("terms\n got %q\nwant %q", got, want)
	}
	r6 := HistoryRecord{ClientIP: "2001:db8:1:2::9", From: strings.Repeat("x", 250) + "@example.org"}
	want6 := []string{"d:example.org", "i:2001:db8:1:2::9", "n:2001:db8:1:2::/64", "n:2001:db8:1::/48"}
	if got := HistoryTerms(&r6); !slices.Equal(got, want6) {
		t.Errorf("IPv6, an address too long to index:\n got %q\nwant %q", got, want6)
	}
}

func TestNetTerm(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"192.0.2.7/32", "i:192.0.2.7"},
		{"192.0.2.0/24", "n:192.0.2.0/24"},
		{"192.0.2.128/25", "n:192.0.2.0/24"},
		{"192.0.0.0/20", "n:192.0.0.0/16"},
		{"192.0.0.0/16", "n:192.0.0.0/16"},
		{"10.0.0.0/8", ""},
		{"2001:db8:1:2::/64", "n:2001:db8:1:2::/64"},
		{"2001:db8:1::/56", "n:2001:db8:1::/48"},
		{"2001:db8::/32", ""},
		{"2001:db8::1/128", "i:2001:db8::1"},
	} {
		if got := NetTerm(netip.MustParsePrefix(tc.prefix)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

// oldTerms is HistoryTerms as it was built from the Term functions
// (which the controller's queries use): the byte-built terms must equal
// them.
func oldTerms(r *HistoryRecord) []string {
	var out []string
	add := func(t string) {
		if t != "" {
			out = append(out, t)
		}
	}
	add(TermQueueID(r.QueueID))
	add(TermAction(r.Action))
	for _, s := range r.Symbols {
		add(TermSymbol(s))
	}
	for _, a := range append([]string{r.From}, r.RcptList...) {
		if a == "" {
			continue
		}
		add(TermAddr(a))
		if i := strings.LastIndexByte(a, '@'); i >= 0 && i+1 < len(a) {
			add(TermDomain(a[i+1:]))
		}
	}
	if ip, err := netip.ParseAddr(r.ClientIP); err == nil {
		add(TermIP(ip))
		lens := IndexNets4
		if ip.Unmap().Is6() {
			lens = IndexNets6
		}
		for _, n := range lens {
			if p, err := ip.Unmap().Prefix(n); err == nil {
				add(TermNet(p))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestHistoryTermsAsTermFuncs(t *testing.T) {
	long := strings.Repeat("y", 199)
	for _, r := range []HistoryRecord{
		{QueueID: "4XyZ12", Action: "reject", Symbols: []string{"RBL_X", "RBL_X"}, From: "Bob@Example.ORG.", ClientIP: "::ffff:192.0.2.7"},
		{QueueID: "İQ", From: "Ünïcode@EXAMPLE.Org", RcptList: []string{"ÀB@Ünï.example", "x@", "@y", "plain"}, ClientIP: "fe80::1%eth0"},
		{QueueID: long[:198], Action: long, Symbols: []string{long[:198], long + "zzz"}, From: long[:190] + "@" + long[:100] + ".",
			ClientIP: "2001:db8::1"},
		{QueueID: strings.Repeat("İ", 66), From: "a@" + strings.Repeat("İ", 66), ClientIP: "not an ip"},
		{},
	} {
		if got, want := HistoryTerms(&r), oldTerms(&r); !slices.Equal(got, want) {
			t.Errorf("%+v:\n got %q\nwant %q", r, got, want)
		}
	}
}

// caseFold agrees with strings.EqualFold, which the history filters'
// Match uses: equal folds for EqualFold strings (else the index misses a
// record the scan finds), different ones otherwise.
func TestCaseFoldAsEqualFold(t *testing.T) {
	for r := rune(0); r <= 0x1ffff; r++ {
		if f := foldRune(r); !strings.EqualFold(string(r), string(f)) {
			t.Fatalf("foldRune(%U) = %U: not EqualFold", r, f)
		}
		for g := unicode.SimpleFold(r); g != r; g = unicode.SimpleFold(g) {
			if foldRune(g) != foldRune(r) {
				t.Fatalf("foldRune(%U) = %U, foldRune(%U) = %U", r, foldRune(r), g, foldRune(g))
			}
		}
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"ſam@ſpam.example", "SAM@spam.EXAMPLE", true},
		{"\u212aelvin@example.org", "kelvin@example.org", true},
		{"ΣΟΦΟΣ", "σοφος", true},
		{"İ", "i", false},
		{"İ", "I", false},
		{"Bob@Example.ORG", "bob@example.org", true},
	} {
		if strings.EqualFold(tc.a, tc.b) != tc.same {
			t.Fatalf("EqualFold(%q, %q) is not %v", tc.a, tc.b, tc.same)
		}
		if got := TermAddr(tc.a) == TermAddr(tc.b); got != tc.same {
			t.Errorf("TermAddr(%q) = %q, TermAddr(%q) = %q", tc.a, TermAddr(tc.a), tc.b, TermAddr(tc.b))
		}
	}
	// A record's terms are those a filter on an EqualFold value looks up.
	r := HistoryRecord{QueueID: "\u212aQ1", From: "ſam@ſpam.example", ClientIP: "192.0.2.1"}
	terms := HistoryTerms(&r)
	for _, want := range []string{TermQueueID("kq1"), TermAddr("sam@spam.example"), TermDomain("SPAM.example")} {
		if !slices.Contains(terms, want) {
			t.Errorf("terms %q lack %q", terms, want)
		}
	}
}
