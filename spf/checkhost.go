package spf

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
)

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
