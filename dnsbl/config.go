package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Kinds of list (RFC 5782 §2).
const (
	KindIP     = "ip"     // IP address lists, DNSxL (RFC 5782 §2.1, §2.4)
	KindDomain = "domain" // domain name lists, RHSBL (RFC 5782 §2.2)
)

// Domain sources a domain list may be asked about.
const (
	SourceHelo     = "helo"     // the HELO/EHLO name
	SourceRDNS     = "rdns"     // the client's PTR name
	SourceMailFrom = "mailfrom" // the envelope sender's domain
	SourceFrom     = "from"     // the header From domain
	// SourceURL is the registrable domain of each URL in the message
	// (SURBL/URIBL style, RFC 5782 §2.2 on the domain). Only lists that
	// name it in Check are asked.
	SourceURL = "url"
)

// Code maps list answers to a symbol.
type Code struct {
	// Answer is an address ("127.0.0.2"), an inclusive range
	// ("127.0.0.4-127.0.0.7") or a prefix ("127.0.1.0/24").
	Answer string `toml:"answer"`
	// Bits, instead of Answer, matches an answer 127.0.0.x whose last
	// octet has one of these bits set: lists that add up their categories
	// (multi.surbl.org, multi.uribl.com; rspamd's returnbits).
	Bits        uint8   `toml:"bits"`
	Symbol      string  `toml:"symbol"`
	Weight      float64 `toml:"weight"`
	Description string  `toml:"description"`
	// Reject overrides the list's Reject for this code when set.
	Reject *bool `toml:"reject"`
}

// ListConfig defines one DNS list.
type ListConfig struct {
	// Name identifies the list in logs and metrics ("spamhaus_zen").
	Name    string `toml:"name"`
	Zone    string `toml:"zone"`
	Enabled bool   `toml:"enabled"`
	// Kind is "ip" (default) or "domain".
	Kind string `toml:"kind"`
	// Families are the client address families an IP list is asked
	// about: "ip4", "ip6"; empty means ip4 only.
	Families []string `toml:"families"`
	// Check lists the domains a domain list is asked about: "helo",
	// "rdns", "mailfrom", "from", "url" (the domains of the URLs in the
	// message); empty means the first four.
	Check []string `toml:"check"`
	// Symbol and Weight are used for a listed answer that matches no
	// Code (rspamd's "unknown" result); Symbol defaults to RBL_<NAME>.
	Symbol      string  `toml:"symbol"`
	Weight      float64 `toml:"weight"`
	Description string  `toml:"description"`
	Codes       []Code  `toml:"code"`
	// Reject makes a hit force a reject (unless its Code says otherwise),
	// with Message as the reply text.
	Reject  bool   `toml:"reject"`
	Message string `toml:"message"`
	// SkipHealthCheck turns off the RFC 5782 §5 test-entry check.
	SkipHealthCheck bool `toml:"skip_health_check"`
	// TestListed and TestUnlisted override the RFC 5782 §5 test entries
	// (127.0.0.2 and 127.0.0.1 for IPv4 lists, ::ffff:7f00:2 and
	// ::ffff:7f00:1 for IPv6-only lists, "test" and "invalid" for domain
	// lists).
	TestListed   string `toml:"test_listed"`
	TestUnlisted string `toml:"test_unlisted"`
	// ErrorAnswers are answers by which an operator says it refuses to
	// answer (Spamhaus's 127.255.255.252-255 for open resolvers or too many
	// queries): the list is then unusable and disabled. Default
	// 127.255.255.0/24.
	ErrorAnswers []string `toml:"error_answers"`
}

var (
	symbolRE = regexp.MustCompile(`^[A-Z0-9_]+$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9_-]+$`)
)

// Validate checks the list definition and names the faulty field.
func (c *ListConfig) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("dnsbl list %q: name must be lower-case letters, digits, '-' or '_'", c.Name)
	}
	pfx := fmt.Sprintf("dnsbl list %q", c.Name)
	if !validZone(c.Zone) {
		return fmt.Errorf("%s: zone %q is not a domain name", pfx, c.Zone)
	}
	switch c.Kind {
	case "", KindIP, KindDomain:
	default:
		return fmt.Errorf("%s: kind %q: want %q or %q", pfx, c.Kind, KindIP, KindDomain)
	}
	for _, f := range c.Families {
		if f != "ip4" && f != "ip6" {
			return fmt.Errorf("%s: families: %q is not ip4 or ip6", pfx, f)
		}
	}
	for _, s := range c.Check {
		switch s {
		case SourceHelo, SourceRDNS, SourceMailFrom, SourceFrom, SourceURL:
		default:
			return fmt.Errorf("%s: check: %q is not helo, rdns, mailfrom, from or url", pfx, s)
		}
	}
	if c.Symbol != "" && !symbolRE.MatchString(c.Symbol) {
		return fmt.Errorf("%s: symbol %q: use upper-case letters, digits and '_'", pfx, c.Symbol)
	}
	for i, code := range c.Codes {
		if code.Bits != 0 {
			if code.Answer != "" {
				return fmt.Errorf("%s: code %d: set answer or bits, not both", pfx, i+1)
			}
		} else if _, err := ParseAnswer(code.Answer); err != nil {
			return fmt.Errorf("%s: code %d: %w", pfx, i+1, err)
		}
		if !symbolRE.MatchString(code.Symbol) {
			return fmt.Errorf("%s: code %d: symbol %q: use upper-case letters, digits and '_'", pfx, i+1, code.Symbol)
		}
	}
	for _, a := range c.ErrorAnswers {
		if _, err := ParseAnswer(a); err != nil {
			return fmt.Errorf("%s: error_answers: %w", pfx, err)
		}
	}
	if c.Kind == KindDomain {
		for _, t := range []string{c.TestListed, c.TestUnlisted} {
			if t != "" && !validZone(t) {
				return fmt.Errorf("%s: test entry %q is not a domain name", pfx, t)
			}
		}
	} else {
		for _, t := range []string{c.TestListed, c.TestUnlisted} {
			if _, err := netip.ParseAddr(t); t != "" && err != nil {
				return fmt.Errorf("%s: test entry %q is not an address", pfx, t)
			}
		}
	}
	return nil
}

// DefaultSymbol returns the symbol for answers that match no code.
func (c *ListConfig) DefaultSymbol() string {
	if c.Symbol != "" {
		return c.Symbol
	}
	return "RBL_" + strings.ToUpper(strings.NewReplacer("-", "_").Replace(c.Name))
}

// ValidateLists validates each list and that names are unique.
func ValidateLists(lists []ListConfig) error {
	seen := map[string]bool{}
	var errs []error
	for i := range lists {
		if err := lists[i].Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[lists[i].Name] {
			errs = append(errs, fmt.Errorf("dnsbl list %q: defined twice", lists[i].Name))
		}
		seen[lists[i].Name] = true
	}
	return errors.Join(errs...)
}

// validZone reports whether s is a plausible domain name: labels of 1–63
// octets, no spaces, 253 octets at most (RFC 1035 §2.3.4).
func validZone(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if c <= ' ' || c >= 0x7f || c == '\\' || c == '"' {
				return false
			}
		}
	}
	return true
}

// Matcher matches list answers against one answer specification.
type Matcher struct {
	lo, hi netip.Addr
	// wild marks IPv4 octets written '*' (match any value); lo and hi
	// then hold the fixed octets.
	wild [4]bool
	// bits, when not zero, matches 127.0.0.x with x&bits != 0.
	bits byte
	spec string
}

// BitsMatcher matches an answer 127.0.0.x whose last octet has one of
// bits set.
func BitsMatcher(bits uint8) Matcher {
	return Matcher{bits: bits, spec: fmt.Sprintf("127.0.0.x&%d", bits)}
}

// String returns the specification the matcher was parsed from.
func (m Matcher) String() string { return m.spec }

// Match reports whether the answer a is covered.
func (m Matcher) Match(a netip.Addr) bool {
	a = a.Unmap()
	if m.bits != 0 {
		b := a.As16()
		return a.Is4() && b[12] == 127 && b[13] == 0 && b[14] == 0 && b[15]&m.bits != 0
	}
	if m.wild != [4]bool{} {
		if !a.Is4() {
			return false
		}
		got, want := a.As4(), m.lo.As4()
		for i := range 4 {
			if !m.wild[i] && got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if a.BitLen() != m.lo.BitLen() {
		return false
	}
	return !a.Less(m.lo) && !m.hi.Less(a)
}

// ParseAnswer parses an answer specification: an address ("127.0.0.2"),
// an inclusive range ("127.0.0.4-127.0.0.7"), a prefix ("127.0.1.0/24")
// or an IPv4 address with '*' octets ("127.0.*.3", for lists that encode a
// category and a level in separate octets).
func ParseAnswer(s string) (Matcher, error) {
	s = strings.TrimSpace(s)
	m := Matcher{spec: s}
	switch {
	case s == "":
		return m, errors.New("empty answer")
	case strings.Contains(s, "*"):
		parts := strings.Split(s, ".")
		if len(parts) != 4 {
			return m, fmt.Errorf("answer %q: a wildcard needs four IPv4 octets", s)
		}
		for i, p := range parts {
			if p == "*" {
				m.wild[i] = true
				parts[i] = "0"
			}
		}
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		if err != nil || !a.Is4() {
			return Matcher{spec: s}, fmt.Errorf("answer %q: not an IPv4 address with '*' octets", s)
		}
		m.lo, m.hi = a, a
		return m, nil
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return m, fmt.Errorf("answer %q: %w", s, err)
		}
		p = p.Masked()
		m.lo, m.hi = p.Addr(), lastAddr(p)
		return m, nil
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		lo, err1 := netip.ParseAddr(strings.TrimSpace(a))
		hi, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || lo.BitLen() != hi.BitLen() || hi.Less(lo) || lo.Zone() != "" || hi.Zone() != "" {
			return m, fmt.Errorf("answer %q: want lo-hi addresses of one family, lo ≤ hi", s)
		}
		m.lo, m.hi = lo, hi
		return m, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return m, fmt.Errorf("answer %q: %w", s, err)
	}
	if a.Zone() != "" {
		return m, fmt.Errorf("answer %q: zoned address", s)
	}
	m.lo, m.hi = a, a
	return m, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 7; j >= 0; j-- {
			if i*8+(7-j) >= bits {
				b[i] |= 1 << j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func boolp(b bool) *bool { return &b }

// DefaultLists are the lists hamlet ships, all disabled: which third
// parties see client addresses is the postmaster's choice. Codes and
// weights follow the operators' documentation and rspamd's defaults.
func DefaultLists() []ListConfig {
	return []ListConfig{
		{
			Name: "spamhaus_zen", Zone: "zen.spamhaus.org", Families: []string{"ip4", "ip6"},
			Symbol: "RBL_SPAMHAUS", Description: "Unrecognised result from Spamhaus ZEN",
			Message: "Client address listed by Spamhaus, see https://check.spamhaus.org/",
			Codes: []Code{
				{Answer: "127.0.0.2", Symbol: "RBL_SPAMHAUS_SBL", Weight: 4.0, Description: "Client address is listed in ZEN SBL"},
				{Answer: "127.0.0.3", Symbol: "RBL_SPAMHAUS_CSS", Weight: 2.0, Description: "Client address is listed in ZEN CSS"},
				{Answer: "127.0.0.4-127.0.0.7", Symbol: "RBL_SPAMHAUS_XBL", Weight: 4.0, Description: "Client address is listed in ZEN XBL"},
				{Answer: "127.0.0.9", Symbol: "RBL_SPAMHAUS_DROP", Weight: 7.0, Description: "Client address is listed in ZEN DROP"},
				{Answer: "127.0.0.10-127.0.0.11", Symbol: "RBL_SPAMHAUS_PBL", Weight: 2.0, Description: "Client address is listed in ZEN PBL (ISP list)", Reject: boolp(false)},
			},
		},
		{
			Name: "spamhaus_dbl", Zone: "dbl.spamhaus.org", Kind: KindDomain,
			Check:  []string{SourceHelo, SourceRDNS, SourceMailFrom, SourceFrom, SourceURL},
			Symbol: "DBL", Description: "Unrecognised result from Spamhaus DBL",
			TestListed: "dbltest.com",
			Codes: []Code{
				{Answer: "127.0.1.2", Symbol: "DBL_SPAM", Weight: 6.5, Description: "Domain listed in Spamhaus DBL as spam"},
				{Answer: "127.0.1.4", Symbol: "DBL_PHISH", Weight: 6.5, Description: "Domain listed in Spamhaus DBL as phishing"},
				{Answer: "127.0.1.5", Symbol: "DBL_MALWARE", Weight: 6.5, Description: "Domain listed in Spamhaus DBL as malware"},
				{Answer: "127.0.1.6", Symbol: "DBL_BOTNET", Weight: 5.0, Description: "Domain listed in Spamhaus DBL as botnet C&C"},
				{Answer: "127.0.1.102-127.0.1.106", Symbol: "DBL_ABUSE", Weight: 3.0, Description: "Domain listed in Spamhaus DBL as abused legitimate domain"},
			},
		},
		{
			// SURBL and URIBL list the domains of URLs found in spam
			// (RFC 5782 §2.2 on the registrable domain), bits added up.
			Name: "surbl", Zone: "multi.surbl.org", Kind: KindDomain, Check: []string{SourceURL},
			Symbol: "SURBL_MULTI", Description: "Unrecognised result from SURBL",
			TestListed: "test.surbl.org", ErrorAnswers: []string{"127.0.0.1"},
			Codes: []Code{
				{Bits: 8, Symbol: "PH_SURBL_MULTI", Weight: 7.5, Description: "A domain in the message is listed in SURBL as phishing"},
				{Bits: 16, Symbol: "MW_SURBL_MULTI", Weight: 7.5, Description: "A domain in the message is listed in SURBL as malware"},
				{Bits: 64, Symbol: "ABUSE_SURBL", Weight: 5.0, Description: "A domain in the message is listed in SURBL as abused"},
				{Bits: 128, Symbol: "CRACKED_SURBL", Weight: 5.0, Description: "A domain in the message is listed in SURBL as cracked"},
				{Bits: 4 | 32, Symbol: "DM_SURBL", Weight: 0, Description: "A domain in the message is listed in SURBL (other categories)"},
			},
		},
		{
			Name: "uribl", Zone: "multi.uribl.com", Kind: KindDomain, Check: []string{SourceURL},
			Symbol: "URIBL_MULTI", Description: "Unrecognised result from URIBL",
			TestListed: "test.uribl.com", ErrorAnswers: []string{"127.0.0.1"},
			Codes: []Code{
				{Bits: 2, Symbol: "URIBL_BLACK", Weight: 7.5, Description: "A domain in the message is listed in URIBL.com black"},
				{Bits: 4, Symbol: "URIBL_GREY", Weight: 2.5, Description: "A domain in the message is listed in URIBL.com grey"},
				{Bits: 8, Symbol: "URIBL_RED", Weight: 0.5, Description: "A domain in the message is listed in URIBL.com red"},
			},
		},
		{
			Name: "spamcop", Zone: "bl.spamcop.net", Symbol: "RBL_SPAMCOP", Weight: 2.0,
			Description: "Client address is listed in SpamCop BL",
		},
		{
			Name: "mailspike", Zone: "rep.mailspike.net", Symbol: "MAILSPIKE",
			Description: "Unrecognised result from Mailspike",
			Codes: []Code{
				{Answer: "127.0.0.10", Symbol: "RBL_MAILSPIKE_WORST", Weight: 2.0, Description: "Mailspike: worst possible reputation"},
				{Answer: "127.0.0.11", Symbol: "RBL_MAILSPIKE_VERYBAD", Weight: 1.5, Description: "Mailspike: very bad reputation"},
				{Answer: "127.0.0.12", Symbol: "RBL_MAILSPIKE_BAD", Weight: 1.0, Description: "Mailspike: bad reputation"},
				{Answer: "127.0.0.13", Symbol: "RWL_MAILSPIKE_NEUTRAL", Weight: 0, Description: "Mailspike: neutral"},
				{Answer: "127.0.0.14", Symbol: "RWL_MAILSPIKE_POSSIBLE", Weight: 0, Description: "Mailspike: possibly legitimate"},
				{Answer: "127.0.0.15", Symbol: "RWL_MAILSPIKE_GOOD", Weight: -0.1, Description: "Mailspike: good reputation"},
				{Answer: "127.0.0.16", Symbol: "RWL_MAILSPIKE_VERYGOOD", Weight: -0.2, Description: "Mailspike: very good reputation"},
				{Answer: "127.0.0.17", Symbol: "RWL_MAILSPIKE_EXCELLENT", Weight: -0.4, Description: "Mailspike: excellent reputation"},
			},
		},
		{
			Name: "dnswl", Zone: "list.dnswl.org", Symbol: "RCVD_IN_DNSWL",
			Description: "Unrecognised result from dnswl.org",
			Codes: []Code{
				// 127.0.<category>.<trust>
				{Answer: "127.0.*.0", Symbol: "RCVD_IN_DNSWL_NONE", Weight: 0, Description: "Client listed at dnswl.org, no trust"},
				{Answer: "127.0.*.1", Symbol: "RCVD_IN_DNSWL_LOW", Weight: -0.1, Description: "Client listed at dnswl.org, low trust"},
				{Answer: "127.0.*.2", Symbol: "RCVD_IN_DNSWL_MED", Weight: -0.2, Description: "Client listed at dnswl.org, medium trust"},
				{Answer: "127.0.*.3", Symbol: "RCVD_IN_DNSWL_HI", Weight: -0.5, Description: "Client listed at dnswl.org, high trust"},
			},
			ErrorAnswers: []string{"127.0.0.255"},
		},
		{
			Name: "blocklistde", Zone: "bl.blocklist.de", Symbol: "RBL_BLOCKLISTDE", Weight: 4.0,
			Description: "Client address is listed in blocklist.de",
		},
		{
			Name: "sem", Zone: "bl.spameatingmonkey.net", Symbol: "RBL_SEM", Weight: 1.0,
			Description: "Client address is listed in Spameatingmonkey RBL",
		},
		{
			Name: "nixspam", Zone: "ix.dnsbl.manitu.net", Symbol: "RBL_NIXSPAM", Weight: 4.0,
			Description: "Client address is listed in NiX Spam",
		},
		{
			Name: "psbl", Zone: "psbl.surriel.com", Symbol: "RBL_PSBL", Weight: 1.0,
			Description: "Client address is listed in the Passive Spam Block List",
		},
	}
}
