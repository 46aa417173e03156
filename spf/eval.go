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

type evaluator struct {
	c          *Checker
	ctx        context.Context
	ip         netip.Addr
	res        *Result
	env        macroEnv
	lookups    int
	voids      int
	maxLookups int
	maxVoid    int
	voidTerms  []string
	// worst makes no mechanism match (WorstCase).
	worst bool

	pDone bool
	pName string
}

// outcome is check_host()'s result for one domain.
type outcome struct {
	code Code
	mech string // the directive that decided, or "default"
	exp  string // explanation, for a fail outside include
	err  error
}

func permErr(err error) outcome { return outcome{code: PermError, err: err} }
func tempErr(err error) outcome { return outcome{code: TempError, err: err} }

// lookupTerm counts a DNS-querying term (RFC 7208 §4.6.4).
func (e *evaluator) lookupTerm() error {
	e.lookups++
	if e.lookups > e.maxLookups {
		return ErrTooManyLookups
	}
	return nil
}

// void counts a void lookup by term (RFC 7208 §4.6.4).
func (e *evaluator) void(term string) error {
	e.voids++
	e.voidTerms = append(e.voidTerms, term)
	if e.voids > e.maxVoid {
		return ErrTooManyVoidLookups
	}
	return nil
}

// query runs one lookup, first checking that the deadline has not passed.
func query[T any](e *evaluator, typ, name string, f func() ([]T, error)) ([]T, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, &dns.Error{Kind: dns.Timeout, Name: name, Type: typ, Err: err}
	}
	e.res.Queries++
	return f()
}

func (e *evaluator) txt(name string) ([]string, error) {
	return query(e, "TXT", name, func() ([]string, error) { return e.c.Resolver.LookupTXT(e.ctx, name) })
}

func (e *evaluator) addrs(name string, family netip.Addr) ([]netip.Addr, error) {
	if family.Is4() {
		return query(e, "A", name, func() ([]netip.Addr, error) { return e.c.Resolver.LookupA(e.ctx, name) })
	}
	return query(e, "AAAA", name, func() ([]netip.Addr, error) { return e.c.Resolver.LookupAAAA(e.ctx, name) })
}

// record fetches and parses the SPF record of domain (RFC 7208 §4.4,
// §4.5). It returns a nil record and a zero outcome code for "none".
func (e *evaluator) record(domain string, depth int) (*Record, outcome) {
	txts, err := e.txt(domain)
	if err != nil {
		// RFC 7208 §4.4: NXDOMAIN or no records is "none"; any other
		// DNS failure is temperror.
		if dns.IsNotFound(err) {
			return nil, outcome{code: None, err: fmt.Errorf("no SPF record at %s: %w", domain, err)}
		}
		return nil, tempErr(fmt.Errorf("looking up the SPF record of %s: %w", domain, err))
	}
	// RFC 7208 §4.5: keep the records starting with "v=spf1"; none is
	// "none", more than one is permerror. Other TXT records are ignored.
	var found string
	n := 0
	for _, t := range txts {
		if IsSPF(t) {
			if n == 0 {
				found = t
			}
			n++
		}
	}
	switch {
	case n == 0:
		return nil, outcome{code: None, err: fmt.Errorf("no SPF record at %s", domain)}
	case n > 1:
		return nil, permErr(fmt.Errorf("%w at %s (%d found)", ErrMultipleRecords, domain, n))
	}
	rec, err := Parse(found)
	if err != nil {
		if depth == 0 {
			return nil, permErr(err)
		}
		return nil, permErr(fmt.Errorf("%s: %w", domain, err))
	}
	return rec, outcome{}
}

// checkHost implements check_host() (RFC 7208 §4). inInclude is true
// inside an include, where exp= is not used (§6.2).
func (e *evaluator) checkHost(domain string, depth int, inInclude bool) outcome {
	if depth > maxDepth {
		return permErr(ErrTooDeep)
	}
	domain = strings.ToLower(domain)
	if why := checkDomainName(domain); why != "" {
		// §4.3: an invalid domain gives none (include/redirect turn
		// this into permerror).
		return outcome{code: None, err: fmt.Errorf("%q is not a valid domain: %s", domain, why)}
	}
	rec, o := e.record(domain, depth)
	if rec == nil {
		return o
	}
	if depth == 0 {
		e.res.Record = rec.Text
	}
	prevDomain := e.env.domain
	e.env.domain = domain
	defer func() { e.env.domain = prevDomain }()

	// RFC 7208 §4.6.2: directives are evaluated left to right; the first
	// match gives the result.
	for i := range rec.Directives {
		d := &rec.Directives[i]
		matched, o := e.match(d, domain, depth)
		if o.code != "" {
			o.err = e.wrap(depth, domain, d.Text, o.err)
			return o
		}
		if matched {
			out := outcome{code: d.Qualifier.Code(), mech: d.Text}
			if out.code == Fail && !inInclude {
				out.exp = e.explain(rec)
			}
			return out
		}
	}
	// RFC 7208 §6.1: redirect applies when no directive matched. The
	// target's result is the result, except that "none" becomes
	// permerror; the exp= of this record is not used (§6.2).
	if rec.Redirect != nil {
		if err := e.lookupTerm(); err != nil {
			return permErr(e.wrap(depth, domain, rec.Redirect.Text, err))
		}
		target := rec.Redirect.value.expand(&e.env)
		name, ok := queryName(target)
		if !ok {
			return permErr(e.wrap(depth, domain, rec.Redirect.Text, fmt.Errorf("invalid target name %q", target)))
		}
		o := e.checkHost(name, depth+1, inInclude)
		if o.code == None {
			return permErr(e.wrap(depth, domain, rec.Redirect.Text, fmt.Errorf("%w: %v", ErrNoRecord, o.err)))
		}
		return o
	}
	// RFC 7208 §4.7: no match and no redirect is neutral.
	return outcome{code: Neutral, mech: "default"}
}

// wrap adds the term, and below the top level the domain, to err.
func (e *evaluator) wrap(depth int, domain, term string, err error) error {
	if depth == 0 {
		return fmt.Errorf("%s: %w", term, err)
	}
	return fmt.Errorf("%s: %s: %w", domain, term, err)
}

// target expands a mechanism's domain-spec, or returns <domain> when it
// has none (RFC 7208 §4.6.1, §7).
func (e *evaluator) target(d *Directive, domain string) (string, bool) {
	if d.domain == nil {
		return domain, true
	}
	return queryName(d.domain.expand(&e.env))
}

// match evaluates one mechanism (RFC 7208 §5). A non-empty o.code ends
// the evaluation with that (error) result.
func (e *evaluator) match(d *Directive, domain string, depth int) (bool, outcome) {
	if d.Kind.CountsLookup() {
		if err := e.lookupTerm(); err != nil {
			return false, permErr(err)
		}
	}
	switch d.Kind {
	case MechAll: // §5.1
		return true, outcome{}
	case MechIP4, MechIP6: // §5.6
		return !e.worst && d.Network.Addr().Is4() == e.ip.Is4() && d.Network.Contains(e.ip), outcome{}
	case MechInclude: // §5.2
		name, ok := e.target(d, domain)
		if !ok {
			return false, permErr(fmt.Errorf("invalid target name"))
		}
		o := e.checkHost(name, depth+1, true)
		switch o.code {
		case Pass:
			return !e.worst, outcome{}
		case Fail, SoftFail, Neutral:
			return false, outcome{}
		case TempError:
			return false, o
		case None:
			return false, permErr(fmt.Errorf("%w: %v", ErrNoRecord, o.err))
		default:
			return false, o
		}
	case MechA: // §5.3
		name, ok := e.target(d, domain)
		if !ok {
			return false, outcome{} // §4.8: cannot exist, no match
		}
		addrs, err := e.addrs(name, e.ip)
		if err != nil {
			return false, e.lookupFailed(err, d.Text)
		}
		return e.contains(addrs, d), outcome{}
	case MechMX: // §5.4
		name, ok := e.target(d, domain)
		if !ok {
			return false, outcome{}
		}
		mxs, err := query(e, "MX", name, func() ([]dns.MX, error) { return e.c.Resolver.LookupMX(e.ctx, name) })
		if err != nil {
			return false, e.lookupFailed(err, d.Text)
		}
		// §4.6.4: at most 10 MX names are looked up; more is permerror.
		if len(mxs) > MaxNameLookups {
			return false, permErr(fmt.Errorf("%w: %d at %s", ErrTooManyMX, len(mxs), name))
		}
		var tempErr error
		for _, mx := range mxs {
			host, ok := queryName(mx.Host)
			if !ok {
				continue // RFC 7505 null MX "." or an unusable name
			}
			addrs, err := e.addrs(host, e.ip)
			if err != nil {
				if !dns.IsNotFound(err) && tempErr == nil {
					tempErr = err
				}
				continue
			}
			if e.contains(addrs, d) {
				return true, outcome{}
			}
		}
		if tempErr != nil {
			return false, outcome{code: TempError, err: tempErr}
		}
		return false, outcome{}
	case MechPTR: // §5.5
		name, ok := e.target(d, domain)
		if !ok || e.worst {
			return false, outcome{}
		}
		names, err := e.validatedNames()
		if err != nil {
			// §5.5: a DNS error on the PTR lookup is no match; a void
			// answer still counts against the void limit.
			if dns.IsNotFound(err) {
				if verr := e.void(d.Text); verr != nil {
					return false, permErr(verr)
				}
			}
			return false, outcome{}
		}
		for _, n := range names {
			if n == name || strings.HasSuffix(n, "."+name) {
				return true, outcome{}
			}
		}
		return false, outcome{}
	case MechExists: // §5.7: an A query, whatever the client's family
		name, ok := e.target(d, domain)
		if !ok {
			return false, outcome{}
		}
		_, err := query(e, "A", name, func() ([]netip.Addr, error) { return e.c.Resolver.LookupA(e.ctx, name) })
		if err != nil {
			return false, e.lookupFailed(err, d.Text)
		}
		return !e.worst, outcome{}
	}
	return false, permErr(fmt.Errorf("unknown mechanism"))
}

// lookupFailed turns a failed lookup of term into no match (void, with
// the void limit checked) or temperror.
func (e *evaluator) lookupFailed(err error, term string) outcome {
	if dns.IsNotFound(err) {
		if verr := e.void(term); verr != nil {
			return permErr(verr)
		}
		return outcome{}
	}
	return tempErr(err)
}

func (e *evaluator) contains(addrs []netip.Addr, d *Directive) bool {
	if e.worst {
		return false
	}
	bits := d.CIDR6
	if e.ip.Is4() {
		bits = d.CIDR4
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// validatedNames returns the client's validated domain names: PTR names
// (the first 10, RFC 7208 §4.6.4) whose addresses include the client
// (§5.5). Lookup errors on the names are skipped.
func (e *evaluator) validatedNames() ([]string, error) {
	ptrs, err := query(e, "PTR", dns.ReverseName(e.ip), func() ([]string, error) { return e.c.Resolver.LookupPTR(e.ctx, e.ip) })
	if err != nil {
		return nil, err
	}
	if len(ptrs) > MaxNameLookups {
		ptrs = ptrs[:MaxNameLookups]
	}
	var out []string
	for _, p := range ptrs {
		name, ok := queryName(p)
		if !ok {
			continue
		}
		addrs, err := e.addrs(name, e.ip)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == e.ip {
				out = append(out, name)
				break
			}
		}
	}
	return out, nil
}

// validatedName gives the %{p} macro: a validated name of the client,
// preferring <domain>, then one of its subdomains, else "unknown"
// (RFC 7208 §7.3). It is looked up once per evaluation.
func (e *evaluator) validatedName() string {
	if e.pDone {
		return pick(e.pName, e.env.domain)
	}
	e.pDone = true
	names, err := e.validatedNames()
	if err != nil || len(names) == 0 {
		e.pName = ""
	} else {
		e.pName = strings.Join(names, " ")
	}
	return pick(e.pName, e.env.domain)
}

func pick(joined, domain string) string {
	if joined == "" {
		return "unknown"
	}
	names := strings.Split(joined, " ")
	for _, n := range names {
		if n == domain {
			return n
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, "."+domain) {
			return n
		}
	}
	return names[0]
}

// explain computes the explanation for a fail of rec (RFC 7208 §6.2):
// the TXT record at exp='s expanded target, itself macro-expanded. Any
// problem (DNS error, no or several records, bad syntax, non-ASCII)
// falls back to the default explanation. The exp lookup does not count
// against the limits.
func (e *evaluator) explain(rec *Record) string {
	if rec.Exp != nil {
		if s, ok := e.expText(rec.Exp); ok {
			return s
		}
	}
	def := e.c.DefaultExplanation
	if def == "" {
		def = DefaultExplanation
	}
	ms, err := parseMacroString(def, true)
	if err != nil {
		return def
	}
	return ms.expand(&e.env)
}

func (e *evaluator) expText(m *Modifier) (string, bool) {
	name, ok := queryName(m.value.expand(&e.env))
	if !ok {
		return "", false
	}
	txts, err := e.txt(name)
	if err != nil || len(txts) != 1 {
		return "", false
	}
	for i := 0; i < len(txts[0]); i++ {
		if txts[0][i] > 0x7e {
			return "", false // §6.2: US-ASCII only
		}
	}
	ms, err := parseMacroString(txts[0], true)
	if err != nil {
		return "", false
	}
	return ms.expand(&e.env), true
}
