// Package trustscope refuses trust grants (allowlist entries, outbound
// networks) so wide that they trust strangers: a public suffix such as
// co.uk or github.io, under which anyone can register a name, and networks
// that are no client's (0.0.0.0/8, multicast) or most of the Internet.
//
// It does not judge whether a grant is wise, only whether it can name one
// party: example.co.uk and 192.0.2.0/24 pass.
package trustscope

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Shortest prefixes accepted: a /8 is already a sixteenth of a billion
// IPv4 addresses; IPv6 allocations to a registry are /12 to /23, so a
// /16 or wider names no single party.
const (
	MinBits4 = 8
	MinBits6 = 16
)

var (
	thisNet4  = netip.MustParsePrefix("0.0.0.0/8")   // RFC 1122 §3.2.1.3: "this host on this network", never a source
	mcast4    = netip.MustParsePrefix("224.0.0.0/4") // RFC 5771
	bcast4    = netip.MustParsePrefix("255.255.255.255/32")
	mcast6    = netip.MustParsePrefix("ff00::/8") // RFC 4291 §2.7
	unspec6   = netip.MustParsePrefix("::/128")   // RFC 4291 §2.5.2
	reserved4 = netip.MustParsePrefix("240.0.0.0/4")
)

// Network returns an error when p would trust no client or too many.
func Network(p netip.Prefix) error {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	if p.Addr().Is4() {
		switch {
		case p.Bits() < MinBits4:
			return fmt.Errorf("%s is too wide: it would trust %s of all IPv4 addresses (at most a /%d)", p, fraction(p.Bits()), MinBits4)
		case p.Overlaps(thisNet4):
			return fmt.Errorf("%s is \"this network\" (0.0.0.0/8, RFC 1122): no client connects from it; an address of 0 usually means a typo", p)
		case p.Overlaps(mcast4), p.Overlaps(reserved4), p.Overlaps(bcast4):
			return fmt.Errorf("%s is multicast, reserved or broadcast space: no client connects from it", p)
		}
		return nil
	}
	switch {
	case p.Bits() < MinBits6:
		return fmt.Errorf("%s is too wide: no single party holds an IPv6 network shorter than /%d", p, MinBits6)
	case p.Overlaps(unspec6):
		return fmt.Errorf("%s contains the unspecified address ::, from which no client connects", p)
	case p.Overlaps(mcast6):
		return fmt.Errorf("%s is multicast space: no client connects from it", p)
	}
	return nil
}

func fraction(bits int) string {
	return fmt.Sprintf("1/%d", 1<<bits)
}

// Domain returns an error when name (a domain, or ".domain" meaning any
// name under it) is a public suffix: allowlisting it would trust every
// domain registered under it. The Public Suffix List compiled into
// golang.org/x/net/publicsuffix decides, with both its ICANN and its
// private sections (github.io, compute.amazonaws.com: anyone can have a
// name there too).
func Domain(name string) error {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(name), "."), "."))
	if n == "" {
		return fmt.Errorf("empty name")
	}
	if !strings.Contains(n, ".") {
		return fmt.Errorf("%q is a top-level domain: allowlisting it would trust every domain under it", n)
	}
	suffix, _ := publicsuffix.PublicSuffix(n)
	if suffix == n {
		reg := "example." + n
		return fmt.Errorf("%q is a public suffix: anyone can register a name under it, so allowlisting it would trust them all; name the organisation's own domain (e.g. %s)", n, reg)
	}
	return nil
}
