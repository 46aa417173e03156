// Package dns is hamlet's single DNS layer: every check that needs DNS asks
// through the Resolver interface defined here, so caching, deduplication of
// concurrent identical queries, timeouts and metrics are shared.
//
// Errors keep apart what the mail-authentication RFCs keep apart:
// NXDOMAIN and NODATA are "not found" (a void lookup in RFC 7208 §4.6.4,
// "none" in RFC 7489 §6.6.3), while SERVFAIL, REFUSED and timeouts are
// temporary (temperror in RFC 7208 §2.6.6 and RFC 8601 §2.7).
//
// This package does not recurse by itself: it talks to configured recursive
// resolvers (those of /etc/resolv.conf by default) and does not validate
// DNSSEC.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Kind classifies a failed lookup.
type Kind int

// Failure kinds. NXDomain and NoData mean the data does not exist
// (RFC 2308 §1: name error and NODATA); the others are temporary.
const (
	NXDomain  Kind = iota + 1 // RCODE 3: the name does not exist
	NoData                    // RCODE 0 with no records of the asked type
	ServFail                  // RCODE 2, or any other unexpected RCODE
	Refused                   // RCODE 5
	Timeout                   // no answer before the deadline
	Malformed                 // an answer that could not be parsed
)

var kindNames = map[Kind]string{
	NXDomain: "nxdomain", NoData: "nodata", ServFail: "servfail",
	Refused: "refused", Timeout: "timeout", Malformed: "malformed",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the error returned for every failed lookup.
type Error struct {
	Kind Kind
	Name string // the queried name, without trailing dot
	Type string // the query type, e.g. "TXT"
	Err  error  // underlying network error, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("dns: %s %s: %s", e.Type, e.Name, e.Kind)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether asking again later may give another answer.
func (e *Error) Temporary() bool { return e.Kind != NXDomain && e.Kind != NoData }

// Timeout reports whether the lookup timed out.
func (e *Error) Timeout() bool { return e.Kind == Timeout }

// KindOf returns the Kind of err, or 0 when err is not a *Error. A context
// error (deadline exceeded, cancelled) counts as Timeout.
func KindOf(err error) Kind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Timeout
	}
	return 0
}

// IsNXDomain reports whether err says the name does not exist.
func IsNXDomain(err error) bool { return KindOf(err) == NXDomain }

// IsNotFound reports whether err says there is no such data: NXDOMAIN or
// NODATA. RFC 7208 §4.6.4 counts both as a "void lookup".
func IsNotFound(err error) bool {
	k := KindOf(err)
	return k == NXDomain || k == NoData
}

// IsTemporary reports whether err is a failure that is not an authoritative
// "does not exist": SERVFAIL, REFUSED, timeout, malformed answer, or any
// error that is not from this package.
func IsTemporary(err error) bool { return err != nil && !IsNotFound(err) }

// MX is one mail exchanger record.
type MX struct {
	Host string // without trailing dot, lower case
	Pref uint16
}

// Resolver is what checks and standards packages use to ask DNS. Every
// method returns either at least one record or a non-nil error (a *Error
// for DNS-level failures; NODATA is an error of Kind NoData). Names may be
// given with or without the trailing dot; returned names have none and are
// lower case. CNAMEs are followed by the recursive server; the answer holds
// the records of the final name.
type Resolver interface {
	// LookupTXT returns one string per TXT record, the record's
	// character-strings concatenated without separator (RFC 7208 §3.3).
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupA returns the IPv4 addresses of name.
	LookupA(ctx context.Context, name string) ([]netip.Addr, error)
	// LookupAAAA returns the IPv6 addresses of name.
	LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error)
	// LookupMX returns the MX records of name, in the order received.
	LookupMX(ctx context.Context, name string) ([]MX, error)
	// LookupPTR returns the PTR names of ip (in-addr.arpa / ip6.arpa).
	LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error)
}

// LookupIP returns the A (for an IPv4 family) or AAAA records of name:
// family is "ip4" or "ip6".
func LookupIP(ctx context.Context, r Resolver, family, name string) ([]netip.Addr, error) {
	if family == "ip6" {
		return r.LookupAAAA(ctx, name)
	}
	return r.LookupA(ctx, name)
}

// Normalize returns name in lower case without trailing dot.
func Normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// ReverseName returns the in-addr.arpa or ip6.arpa name of ip, without
// trailing dot (RFC 1035 §3.5, RFC 3596 §2.5).
func ReverseName(ip netip.Addr) string {
	return ReverseLabels(ip) + suffixFor(ip)
}

// ReverseLabels returns ip's reversed octets (IPv4, and IPv4-mapped IPv6:
// "4.3.2.1") or nibbles (IPv6), the form DNS lists use in front of their
// zone (RFC 5782 §2.1, §2.4) and PTR names take before their suffix. It is
// the one reverse-name helper: ReverseName, the DNS lists, Senderscore and
// the doctor all build their names with it.
func ReverseLabels(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return fmt.Sprintf("%d.%d.%d.%d", a[3], a[2], a[1], a[0])
	}
	return ReverseNibbles(ip)
}

// ReverseNibbles returns the 32 reversed nibbles of ip's 16-byte form
// (RFC 3596 §2.5) whatever its family: an IPv4 or IPv4-mapped address
// keeps its ::ffff:a.b.c.d nibbles, as RFC 5782 §5's IPv6 test entries
// are written.
func ReverseNibbles(ip netip.Addr) string {
	a := ip.As16()
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		if i != 15 {
			b = append(b, '.')
		}
		b = append(b, hex[a[i]&0xf], '.', hex[a[i]>>4])
	}
	return string(b)
}

func suffixFor(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return ".in-addr.arpa"
	}
	return ".ip6.arpa"
}
