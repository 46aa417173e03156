package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
)

// Limits of RFC 7208 §4.6.4.
const (
	// DefaultMaxLookups is the limit on terms that query DNS.
	DefaultMaxLookups = 10
	// DefaultMaxVoidLookups is the limit on such terms whose answer is
	// empty (NODATA) or NXDOMAIN.
	DefaultMaxVoidLookups = 2
	// MaxNameLookups limits the address lookups of one mx or ptr term.
	MaxNameLookups = 10
	// maxDepth bounds include/redirect nesting even when MaxLookups is
	// raised; with the default limit, the lookup count ends loops first.
	maxDepth = 30
)

// DefaultExplanation is the explanation (a macro-string, RFC 7208 §6.2)
// used for a fail when the record has no usable exp= modifier.
const DefaultExplanation = "%{o} does not designate %{c} as permitted sender"

// Errors that end an evaluation with permerror.
var (
	ErrTooManyLookups     = errors.New("more than 10 DNS-querying terms (RFC 7208 section 4.6.4)")
	ErrTooManyVoidLookups = errors.New("more than 2 void lookups (RFC 7208 section 4.6.4)")
	ErrTooManyMX          = errors.New("mx term with more than 10 MX records (RFC 7208 section 4.6.4)")
	ErrMultipleRecords    = errors.New("more than one SPF record (RFC 7208 section 4.5)")
	ErrNoRecord           = errors.New("include or redirect target has no SPF record (RFC 7208 section 5.2, section 6.1)")
	ErrTooDeep            = errors.New("include/redirect nesting too deep")
)

// Args are the inputs of an SMTP-time SPF check.
type Args struct {
	IP       netip.Addr // the SMTP client's address
	MailFrom string     // MAIL FROM address without angle brackets; "" for <>
	Helo     string     // the HELO/EHLO name
	// Receiver is the receiving host's name, used for the %{r} macro and
	// the Received-SPF header; optional.
	Receiver string
}

// Checker evaluates SPF policies. The zero value, given a Resolver, uses
// the RFC's defaults. A Checker is safe for concurrent use.
type Checker struct {
	Resolver dns.Resolver
	// MaxLookups and MaxVoidLookups override the limits of RFC 7208
	// §4.6.4 when positive.
	MaxLookups     int
	MaxVoidLookups int
	// DefaultExplanation is a macro-string expanded for a fail without a
	// usable exp= (RFC 7208 §6.2); "" means the package default.
	DefaultExplanation string
	// Now gives the time for the %{t} macro; nil means time.Now.
	Now func() time.Time
}

// Check evaluates the SPF policy of args with the default limits (see
// Checker.Check).
func Check(ctx context.Context, r dns.Resolver, args Args) *Result {
	c := Checker{Resolver: r}
	return c.Check(ctx, args)
}

// Check evaluates the MAIL FROM identity, or the HELO identity when MAIL
// FROM is empty (RFC 7208 §2.4: the null reverse-path is checked as
// "postmaster@" + HELO). It never returns nil. ctx's deadline bounds the
// evaluation; a lookup that times out gives temperror.
func (c *Checker) Check(ctx context.Context, args Args) *Result {
	// Tolerate the SMTP form of the reverse-path, "<a@example.com>" or "<>".
	if len(args.MailFrom) >= 2 && args.MailFrom[0] == '<' && args.MailFrom[len(args.MailFrom)-1] == '>' {
		args.MailFrom = args.MailFrom[1 : len(args.MailFrom)-1]
	}
	if args.MailFrom == "" {
		return c.CheckHelo(ctx, args)
	}
	local, domain := splitSender(args.MailFrom)
	return c.run(ctx, args, IdentityMailFrom, local, domain, false)
}

// CheckHelo evaluates the HELO identity on its own (RFC 7208 §2.3), which
// RFC 7208 recommends checking before MAIL FROM. <sender> is
// "postmaster@" + HELO (§4.3).
func (c *Checker) CheckHelo(ctx context.Context, args Args) *Result {
	return c.run(ctx, args, IdentityHelo, "postmaster", args.Helo, false)
}

// WorstCase evaluates the MAIL FROM policy of domain as for a client that
// no mechanism matches (a forger, with an address of ip's family): every
// term up to the first "all" is evaluated and every include followed to
// its end, whatever it answers; a ptr term is counted without its query
// (its answer depends on the client). The Result's Lookups, VoidLookups
// and VoidTerms are then the most that any receiver counts against the
// limits of RFC 7208 §4.6.4 for that family — what `hamlet doctor`
// reports. Raise MaxLookups and MaxVoidLookups to count past the limits.
func (c *Checker) WorstCase(ctx context.Context, domain string, ip netip.Addr) *Result {
	return c.run(ctx, Args{IP: ip, MailFrom: "postmaster@" + domain}, IdentityMailFrom, "postmaster", domain, true)
}

// splitSender splits a MAIL FROM address at its last "@". RFC 7208 §4.3:
// without a local-part, "postmaster" stands in.
func splitSender(s string) (local, domain string) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "postmaster", s
	}
	local, domain = s[:i], s[i+1:]
	if local == "" {
		local = "postmaster"
	}
	return local, domain
}

func (c *Checker) run(ctx context.Context, args Args, id Identity, local, domain string, worst bool) *Result {
	ip := args.IP.Unmap() // RFC 7208 §5: an IPv4-mapped client is IPv4
	domain = strings.TrimSuffix(domain, ".")
	res := &Result{
		Identity: id, Domain: strings.ToLower(domain), Sender: local + "@" + domain,
		IP: ip, Helo: args.Helo, MailFrom: args.MailFrom, Receiver: args.Receiver,
	}
	if !ip.IsValid() {
		res.Code, res.Problem = None, "no valid client IP address"
		return res
	}
	// RFC 7208 §4.3: a domain that is not a valid multi-label FQDN
	// (empty or over-long labels, domain literals, a bare host name)
	// gives "none" without any query.
	if why := checkDomainName(domain); why != "" {
		res.Code, res.Problem = None, fmt.Sprintf("%q is not a valid domain: %s", domain, why)
		return res
	}
	e := &evaluator{
		c: c, ctx: ctx, ip: ip, res: res, worst: worst,
		maxLookups: c.MaxLookups, maxVoid: c.MaxVoidLookups,
		env: macroEnv{
			sender: res.Sender, local: local, senderDomain: domain,
			ip: ip, helo: args.Helo, receiver: args.Receiver,
		},
	}
	if e.maxLookups <= 0 {
		e.maxLookups = DefaultMaxLookups
	}
	if e.maxVoid <= 0 {
		e.maxVoid = DefaultMaxVoidLookups
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	e.env.now = func() int64 { return now().Unix() }
	e.env.validated = e.validatedName
	o := e.checkHost(domain, 0, false)
	res.Code, res.Mechanism, res.Explanation = o.code, o.mech, o.exp
	if o.err != nil {
		res.Err = o.err
		res.Problem = o.err.Error()
	}
	res.Lookups, res.VoidLookups, res.VoidTerms = e.lookups, e.voids, e.voidTerms
	return res
}

// checkDomainName returns why name is not usable as an SPF <domain>
// (RFC 7208 §4.3), or "".
func checkDomainName(name string) string {
	if name == "" {
		return "empty"
	}
	if len(name) > 253 {
		return "longer than 253 characters"
	}
	if strings.IndexByte(name, '.') < 0 {
		return "not a fully qualified domain name"
	}
	var last string
	for rest := name; rest != ""; {
		l, tail, _ := strings.Cut(rest, ".")
		if l == "" || strings.HasSuffix(rest, ".") && tail == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(isAlpha(c) || isDigit(c) || c == '-' || c == '_') {
				return fmt.Sprintf("invalid character %q", c)
			}
		}
		last, rest = l, tail
	}
	if allDigits(last) {
		if _, err := netip.ParseAddr(name); err == nil {
			return "an IP address"
		}
	}
	return ""
}

// queryName prepares an expanded target-name for a query: RFC 7208 §7.3
// truncates names over 253 characters from the left, label by label; a
// name that still cannot be queried (empty or over-long labels) is
// reported with ok false and treated as not existing (§4.3, §4.8).
func queryName(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for len(name) > 253 {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return "", false
		}
		name = name[i+1:]
	}
	if name == "" {
		return "", false
	}
	for rest := name; ; {
		l, tail, more := strings.Cut(rest, ".")
		if l == "" || len(l) > 63 {
			return "", false
		}
		if !more {
			break
		}
		rest = tail
	}
	return name, true
}
