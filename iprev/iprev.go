// Package iprev implements the "iprev" authentication method of RFC 8601
// §3: the client IP address's PTR names are looked up, and the address is
// confirmed when one of those names resolves (A for IPv4, AAAA for IPv6)
// back to the same address. This is what mail administrators call
// forward-confirmed reverse DNS (FCrDNS).
//
// The package is a pure library: it takes a dns.Resolver and an address
// and returns a Result whose Status uses RFC 8601's words. It does not
// decide what a result means for a message, does not cache (the resolver
// does), and does not judge what a PTR name looks like (package hfilter
// does).
package iprev

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
)

// Status is an iprev result as RFC 8601 §2.7.3 names it.
type Status string

// The iprev results of RFC 8601 §2.7.3.
const (
	// Pass: the reverse and forward lookups agreed.
	Pass Status = "pass"
	// Fail: PTR names exist but none of their forward lookups returned the
	// client address (including forward lookups that found no record).
	Fail Status = "fail"
	// TempError: a lookup failed in a way that may be transient.
	TempError Status = "temperror"
	// PermError: no PTR data is published for the address.
	PermError Status = "permerror"
)

// MaxNames is how many PTR names are tried at most. RFC 8601 §3 leaves the
// bound to the implementation; 10 is the limit RFC 7208 §4.6.4 sets for the
// same kind of validation (the "ptr" mechanism), and what common MTAs use.
const MaxNames = 10

// Result is the outcome of verifying one client address.
type Result struct {
	Status Status
	IP     netip.Addr
	// Names are the PTR names returned (lower case, no trailing dot), all
	// of them even beyond MaxNames; only the first MaxNames are tried.
	Names []string
	// Name is the first PTR name (in Names order) confirmed by its forward
	// lookup; "" unless Status is Pass.
	Name string
	// Err is the lookup error behind a TempError or PermError, or the last
	// forward-lookup error for a Fail; nil for a Pass.
	Err error
	// PTRFailed is true when the TempError came from the PTR lookup itself
	// rather than from the forward lookups.
	PTRFailed bool
}

// String gives a one-line summary for logs.
func (r Result) String() string {
	s := fmt.Sprintf("iprev=%s ip=%s", r.Status, r.IP)
	if r.Name != "" {
		s += " name=" + r.Name
	} else if len(r.Names) > 0 {
		s += " ptr=" + strings.Join(r.Names, ",")
	}
	if r.Err != nil {
		s += " err=" + r.Err.Error()
	}
	return s
}

// Verify checks ip as RFC 8601 §3 describes: a reverse (PTR) lookup of the
// address, then a forward lookup of each name found, the client address
// being expected among the forward answers. It never panics and returns
// when ctx ends (with TempError).
func Verify(ctx context.Context, r dns.Resolver, ip netip.Addr) Result {
	ip = ip.Unmap()
	res := Result{IP: ip}
	if !ip.IsValid() {
		res.Status = PermError
		res.Err = fmt.Errorf("iprev: invalid client address")
		return res
	}
	names, err := r.LookupPTR(ctx, ip)
	if err != nil {
		// RFC 8601 §2.7.3 "permerror: ... no PTR data are published for the
		// connecting IP address, e.g., a DNS RCODE of 3 ... or an RCODE of
		// 0 (NOERROR) in a reply containing no answers".
		if dns.IsNotFound(err) {
			res.Status = PermError
		} else {
			res.Status = TempError
			res.PTRFailed = true
		}
		res.Err = fmt.Errorf("iprev: PTR %s: %w", ip, err)
		return res
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = dns.Normalize(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		res.Names = append(res.Names, n)
	}
	if len(res.Names) == 0 {
		res.Status = PermError
		res.Err = fmt.Errorf("iprev: PTR %s: no usable name", ip)
		return res
	}
	try := res.Names
	if len(try) > MaxNames {
		try = try[:MaxNames]
	}
	return confirm(ctx, r, ip, try, res)
}

// forward is the outcome of one forward lookup.
type forward struct {
	idx   int
	match bool
	err   error
}

// confirm runs the forward lookups of names concurrently and fills res.
func confirm(ctx context.Context, r dns.Resolver, ip netip.Addr, names []string, res Result) Result {
	family := "ip4"
	if ip.Is6() {
		family = "ip6"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan forward, len(names))
	for i, n := range names {
		go func() {
			addrs, err := dns.LookupIP(ctx, r, family, n)
			f := forward{idx: i, err: err}
			for _, a := range addrs {
				if a.Unmap() == ip {
					f.match = true
					break
				}
			}
			out <- f
		}()
	}
	// The pass reported is the first confirmed name in PTR order, whatever
	// order the answers come in: return as soon as every name before a
	// confirmed one has answered.
	results := make([]forward, len(names))
	done := make([]bool, len(names))
	for range names {
		f := <-out
		results[f.idx] = f
		done[f.idx] = true
		for i := range names {
			if !done[i] {
				break
			}
			if results[i].match {
				res.Status = Pass
				res.Name = names[i]
				return res
			}
		}
	}
	var tempErr, lastErr error
	for _, f := range results {
		if f.err != nil {
			lastErr = f.err
			if dns.IsTemporary(f.err) && tempErr == nil {
				tempErr = f.err
			}
		}
	}
	// RFC 8601 §2.7.3: "temperror: The DNS evaluation could not be completed
	// due to some error that is likely transient in nature". A name whose
	// forward lookup failed temporarily might still have confirmed.
	if tempErr != nil {
		res.Status = TempError
		res.Err = fmt.Errorf("iprev: forward lookup: %w", tempErr)
		return res
	}
	// RFC 8601 §2.7.3: "fail: ... the "reverse" and "forward" lookups
	// each produced results, but they were not in agreement, or the
	// "forward" query completed but produced no result".
	res.Status = Fail
	if lastErr != nil {
		res.Err = fmt.Errorf("iprev: forward lookup: %w", lastErr)
	} else {
		res.Err = fmt.Errorf("iprev: no PTR name of %s resolves back to it", ip)
	}
	return res
}
