// Package senderscore reads Validity's Sender Score reputation list. The
// list is an RFC 5782 IPv4 list whose answers are not listing codes but a
// score: the query d.c.b.a.score.senderscore.com for client a.b.c.d answers
// 127.0.4.N, N from 0 (worst) to 100 (best); an address without a score is
// NXDOMAIN.
//
// Answers outside 127.0.4.0–127.0.4.100 are not scores. Validity answers
// 127.255.255.255 (and other codes) to resolvers it does not serve, such as
// large public resolvers or unregistered high-volume users; such an answer
// makes the result Unusable, so that callers can ignore the list rather
// than read the code as a score.
//
// The package is a pure library: a dns.Resolver and an address in, a
// Result out. What a score means for a message (bands, weights, rejection)
// is the caller's policy. IPv6 has no scores: IPv6 clients are Skipped.
package senderscore

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/hamlet-mail/hamlet/dns"
)

// Zone is the list's DNS zone.
const Zone = "score.senderscore.com"

// Status is the outcome of one lookup.
type Status int

// Lookup outcomes.
const (
	Scored    Status = iota // the address has a score
	NotListed               // no score (NXDOMAIN/NODATA)
	Unusable                // the answer is not a score: the list refuses us
	Error                   // the lookup failed temporarily
	Skipped                 // not an IPv4 address
)

var statusNames = [...]string{"scored", "not listed", "unusable", "error", "skipped"}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status?"
}

// Result is the outcome of looking up one address.
type Result struct {
	Status  Status
	Score   int // 0..100 when Status is Scored
	Query   string
	Answers []netip.Addr
	Err     error
}

// Lookup asks zone (Zone when "") for the score of ip.
func Lookup(ctx context.Context, r dns.Resolver, ip netip.Addr, zone string) Result {
	ip = ip.Unmap()
	if !ip.Is4() {
		return Result{Status: Skipped}
	}
	if zone == "" {
		zone = Zone
	}
	// RFC 5782 §2.1: the address's octets in reverse order, then the zone.
	res := Result{Query: dns.ReverseLabels(ip) + "." + dns.Normalize(zone)}
	addrs, err := r.LookupA(ctx, res.Query)
	switch {
	case err == nil:
		res.Answers = addrs
		score, bad := Decode(addrs)
		if bad != nil {
			res.Status, res.Err = Unusable, bad
			return res
		}
		res.Status, res.Score = Scored, score
	case dns.IsNotFound(err):
		res.Status = NotListed
	default:
		res.Status = Error
		res.Err = fmt.Errorf("senderscore: %w", err)
	}
	return res
}

// Decode reads the score from the answers. Every answer must be
// 127.0.4.N with N ≤ 100; when several are given (none is expected) the
// lowest score counts. bad is non-nil when any answer is not a score, or
// there is no answer.
func Decode(answers []netip.Addr) (score int, bad error) {
	if len(answers) == 0 {
		return 0, fmt.Errorf("senderscore: empty answer")
	}
	score = 101
	for _, a := range answers {
		a = a.Unmap()
		if !a.Is4() {
			return 0, fmt.Errorf("senderscore: answer %s is not a score", a)
		}
		b := a.As4()
		if b[0] != 127 || b[1] != 0 || b[2] != 4 || b[3] > 100 {
			return 0, fmt.Errorf("senderscore: answer %s is not a score (127.0.4.0-127.0.4.100): the list refuses this resolver", a)
		}
		score = min(score, int(b[3]))
	}
	return score, nil
}
