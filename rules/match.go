package rules

import (
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/hamlet-mail/hamlet/message"
)

// nameSet holds names (lower case) for exact and suffix matching: one
// hash look-up per value, or per label boundary of a value for suffixes.
type nameSet map[string]struct{}

func (s nameSet) exact(v string) (string, bool) {
	_, ok := s[v]
	return v, ok
}

// suffix reports whether v or a parent domain of v (a suffix starting
// after a dot) is in s: "spam.example" matches "spam.example" and
// "a.spam.example", never "notspam.example".
func (s nameSet) suffix(v string) (string, bool) {
	for {
		if _, ok := s[v]; ok {
			return v, true
		}
		i := strings.IndexByte(v, '.')
		if i < 0 {
			return "", false
		}
		v = v[i+1:]
	}
}

// cidrSet holds networks by prefix length: a look-up masks the address
// once per distinct length present and asks a hash map, at most 33 (IPv4)
// or 129 (IPv6) look-ups whatever the number of networks.
type cidrSet struct {
	nets   map[netip.Prefix]struct{}
	lens4  []int
	lens16 []int
}

func newCIDRSet() *cidrSet { return &cidrSet{nets: map[netip.Prefix]struct{}{}} }

func (c *cidrSet) add(p netip.Prefix) {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	c.nets[p] = struct{}{}
	lens := &c.lens16
	if p.Addr().Is4() {
		lens = &c.lens4
	}
	for _, l := range *lens {
		if l == p.Bits() {
			return
		}
	}
	*lens = append(*lens, p.Bits())
	sort.Sort(sort.Reverse(sort.IntSlice(*lens)))
}

func (c *cidrSet) match(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	lens := c.lens16
	if a.Is4() {
		lens = c.lens4
	}
	for _, l := range lens {
		p, err := a.Prefix(l)
		if err != nil {
			continue
		}
		if _, ok := c.nets[p]; ok {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// parsePrefix reads a CIDR network or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	return p, err == nil
}

// normName is how names and addresses are compared: trimmed, lower case,
// no trailing dot; an internationalised domain name as A-labels.
func normName(s string) string {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if !isASCII(s) {
		local, dom, ok := strings.Cut(s, "@")
		if !ok {
			dom, local = local, ""
		}
		if a, err := message.NormalizeDomain(dom); err == nil {
			if ok {
				return local + "@" + a
			}
			return a
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// globRegexp turns a glob (* any run, ? one character, everything else
// literal) into an anchored, case-insensitive expression.
func globRegexp(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?is)\A`)
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.Compile(b.String())
}

func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil
}
