// Package hfilter judges the names an SMTP client shows: its HELO/EHLO
// argument and its reverse DNS (PTR) name. It follows the checks of
// rspamd's hfilter module: a HELO that is not a fully qualified domain
// name, an address literal that is not the client's or is private, a HELO
// that resolves to nothing, a HELO whose addresses do not include the
// client, a HELO that claims to be us, and names that look like a dynamic
// or residential address pool (Classify).
//
// The package is a pure library: a dns.Resolver and strings in, a rich
// result out. It does not name symbols or weigh findings (package checks
// does), and it does not verify the PTR name (package iprev does).
package hfilter

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/hamlet-mail/hamlet/dns"
)

// Options says who "we" are, for the forgery test.
type Options struct {
	// OurNames are our host names and the domains we receive mail for; a
	// HELO equal to one of them (case-insensitive) is a forgery.
	OurNames []string
	// OurIPs are our own addresses; a HELO literal naming one of them,
	// from another client, is a forgery.
	OurIPs []netip.Addr
	// NoDNS skips the DNS tests (resolution, A/AAAA including the client).
	NoDNS bool
	// MaxMX bounds how many MX hosts are resolved for the NORESOLVE_MX
	// test; 0 means 3.
	MaxMX int
}

// HeloResult is what CheckHelo found. The zero value means nothing wrong.
type HeloResult struct {
	Helo string // as given, trimmed

	// Literal is true when the HELO is an IP address, bracketed
	// (RFC 5321 §4.1.3 address literal) or not; IP is that address.
	Literal   bool
	Bracketed bool
	IP        netip.Addr
	// BareIP: an unbracketed address (RFC 5321 §4.1.1.1 allows an address
	// only as a bracketed literal), or a literal that is not the client's.
	BareIP bool
	// BadIP: a literal in private, loopback, link-local or reserved space
	// (not the client's own).
	BadIP bool

	// NotFQDN: not a syntactically valid fully qualified domain name
	// (RFC 5321 §2.3.5, §4.1.1.1; RFC 1123 §2.1).
	NotFQDN bool
	// Forged: the HELO claims one of Options.OurNames or OurIPs.
	Forged bool
	// Dynamic rates the name for looking dynamic/residential.
	Dynamic Match

	// Resolution, only for FQDN HELOs that are not forged and did not
	// match the pattern table (as rspamd's hfilter: a name already judged
	// by its look is not looked up).
	Checked bool // DNS tests were run
	// NoResolve: neither A, AAAA nor MX exists for the name.
	NoResolve bool
	// MXNoResolve: MX records exist but no MX host has an address.
	MXNoResolve bool
	// IPMismatch: the name has A/AAAA records, none is the client's.
	IPMismatch bool
	// DNSFail: a lookup failed temporarily; the DNS tests are inconclusive.
	DNSFail bool
	Err     error
}

// CheckHelo examines helo as sent by the client at address client.
func CheckHelo(ctx context.Context, r dns.Resolver, helo string, client netip.Addr, opt Options) HeloResult {
	client = client.Unmap()
	res := HeloResult{Helo: strings.TrimSpace(helo)}
	h := strings.ToLower(res.Helo)
	if h == "" {
		res.NotFQDN = true
		return res
	}
	if ip, bracketed, ok := parseLiteral(h); ok {
		res.Literal, res.Bracketed, res.IP = true, bracketed, ip
		res.checkLiteral(client, opt)
		return res
	} else if bracketed {
		// "[...]" that is no address: malformed.
		res.NotFQDN = true
		return res
	}
	name := strings.TrimSuffix(h, ".")
	for _, n := range opt.OurNames {
		if n = dns.Normalize(strings.TrimSpace(n)); n != "" && n == name {
			res.Forged = true
		}
	}
	res.Dynamic = ClassifyHelo(name, client)
	if !IsFQDN(h) {
		res.NotFQDN = true
		return res
	}
	if res.Forged || res.Dynamic.Severity > 0 || opt.NoDNS || r == nil {
		return res
	}
	res.resolve(ctx, r, name, client, opt)
	return res
}

func (res *HeloResult) checkLiteral(client netip.Addr, opt Options) {
	ip := res.IP
	if ip == client {
		// RFC 5321 §4.1.4 lets a client without a name give its address
		// as a literal; only the bare form is a syntax error.
		res.BareIP = !res.Bracketed
		return
	}
	for _, o := range opt.OurIPs {
		if o.Unmap() == ip {
			res.Forged = true
		}
	}
	if IsReserved(ip) {
		res.BadIP = true
		return
	}
	res.BareIP = true
}

// parseLiteral recognises an address HELO: "[192.0.2.1]", "[IPv6:2001:db8::1]"
// (RFC 5321 §4.1.3), a bare address, or a bare IPv4 written with '-' or 'x'
// between the octets (as rspamd's hfilter does). bracketed is true for a
// "[...]" form even when ok is false.
func parseLiteral(h string) (ip netip.Addr, bracketed, ok bool) {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return ip, true, false
		}
		inner := h[1 : len(h)-1]
		if rest, found := strings.CutPrefix(inner, "ipv6:"); found {
			ip, err := netip.ParseAddr(rest)
			if err != nil || !ip.Is6() || ip.Zone() != "" {
				return netip.Addr{}, true, false
			}
			return ip.Unmap(), true, true
		}
		ip, err := netip.ParseAddr(inner)
		// RFC 5321 §4.1.3 requires the "IPv6:" tag; accept an untagged
		// IPv6 literal anyway, it is still an address.
		if err != nil || ip.Zone() != "" {
			return netip.Addr{}, true, false
		}
		return ip.Unmap(), true, true
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() == "" {
		return ip.Unmap(), false, true
	}
	// 192-0-2-1, 192x0x2x1
	parts := strings.FieldsFunc(h, func(c rune) bool { return c == '-' || c == 'x' || c == '.' })
	if len(parts) != 4 || len(parts[0]) == 0 {
		return ip, false, false
	}
	for _, p := range parts {
		if len(p) > 3 {
			return ip, false, false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return ip, false, false
			}
		}
	}
	ip, err := netip.ParseAddr(strings.Join(trimZeros(parts), "."))
	if err != nil {
		return netip.Addr{}, false, false
	}
	return ip, false, true
}

func trimZeros(parts []string) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		p = strings.TrimLeft(p, "0")
		if p == "" {
			p = "0"
		}
		out[i] = p
	}
	return out
}

// reserved lists address space that never appears as a public mail
// client: RFC 6890 special-purpose registries (loopback, private, shared
// CGN space, link local, documentation, benchmarking, multicast, "this
// network" and future use) for IPv4 and IPv6.
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
		"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
		"192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32",
		"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsReserved reports whether ip lies in private, loopback, link-local,
// documentation or otherwise reserved space (RFC 6890).
func IsReserved(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IsFQDN reports whether name (without trailing dot) is a syntactically
// valid fully qualified host name: at least two labels of letters, digits
// and hyphens (RFC 1123 §2.1), each 1–63 octets not starting or ending with
// a hyphen, at most 253 octets in all (RFC 1035 §2.3.4), and a top-level
// label that is not all digits (RFC 3696 §2).
func IsFQDN(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(isDigit(c) || c == '-' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	allDigits := true
	for i := 0; i < len(tld); i++ {
		if !isDigit(tld[i]) {
			allDigits = false
		}
	}
	return !allDigits && len(tld) >= 2
}

type addrAnswer struct {
	addrs []netip.Addr
	err   error
}

// resolve runs the DNS tests of an FQDN HELO.
func (res *HeloResult) resolve(ctx context.Context, r dns.Resolver, name string, client netip.Addr, opt Options) {
	res.Checked = true
	a, aaaa := lookupBoth(ctx, r, name)
	var addrs []netip.Addr
	addrs = append(addrs, a.addrs...)
	addrs = append(addrs, aaaa.addrs...)
	if len(addrs) > 0 {
		// rspamd HFILTER_HELO_IP_A: the HELO has addresses, none is the
		// client's.
		for _, ip := range addrs {
			if ip.Unmap() == client {
				return
			}
		}
		if client.IsValid() {
			res.IPMismatch = true
		}
		return
	}
	for _, e := range []error{a.err, aaaa.err} {
		if dns.IsTemporary(e) {
			res.DNSFail, res.Err = true, e
			return
		}
	}
	mxs, err := r.LookupMX(ctx, name)
	if err != nil {
		if dns.IsNotFound(err) {
			res.NoResolve = true
		} else {
			res.DNSFail, res.Err = true, err
		}
		return
	}
	maxMX := opt.MaxMX
	if maxMX <= 0 {
		maxMX = 3
	}
	tried := 0
	for _, mx := range mxs {
		host := dns.Normalize(mx.Host)
		if host == "" { // RFC 7505 null MX
			continue
		}
		if tried == maxMX {
			break
		}
		tried++
		a, aaaa := lookupBoth(ctx, r, host)
		if len(a.addrs)+len(aaaa.addrs) > 0 {
			return
		}
		if dns.IsTemporary(a.err) || dns.IsTemporary(aaaa.err) {
			res.DNSFail = true
			res.Err = a.err
			if !dns.IsTemporary(a.err) {
				res.Err = aaaa.err
			}
			return
		}
	}
	if tried == 0 {
		res.NoResolve = true
		return
	}
	res.MXNoResolve = true
}

func lookupBoth(ctx context.Context, r dns.Resolver, name string) (a, aaaa addrAnswer) {
	var wg sync.WaitGroup
	wg.Go(func() { a.addrs, a.err = r.LookupA(ctx, name) })
	aaaa.addrs, aaaa.err = r.LookupAAAA(ctx, name)
	wg.Wait()
	return a, aaaa
}
