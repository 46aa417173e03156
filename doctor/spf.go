package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/spf"
)

// spfRecord fetches the SPF records of domain (RFC 7208 §4.4, §4.5).
func spfRecords(ctx context.Context, r dns.Resolver, domain string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range txts {
		if spf.IsSPF(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// spfWalk follows a record's include and redirect terms to list what is
// wrong with them all at once (an evaluation stops at the first). What
// RFC 7208 §4.6.4 limits is counted by the SPF evaluator itself
// (spfCount), not here.
type spfWalk struct {
	r        dns.Resolver
	problems []string // includes without a usable record, loops, …
	ptr      []string // ptr terms (RFC 7208 §5.5: do not use)
	macros   []string // terms with macros, not followed by the walk
	temp     error    // the first temporary DNS failure
	visited  map[string]bool
	// all is the qualifier of the "all" ending the top-level record
	// (through redirect=), 0 when none.
	all     spf.Qualifier
	allText string
}

func hasMacro(s string) bool { return strings.Contains(s, "%") }

func (w *spfWalk) fail(err error) bool {
	if err == nil || dns.IsNotFound(err) {
		return false
	}
	if w.temp == nil {
		w.temp = err
	}
	return true
}

// walk evaluates rec (the record of domain) statically. top is true for
// the domain's own record and redirect targets: their "all" is the
// record's end.
func (w *spfWalk) walk(ctx context.Context, domain string, rec *spf.Record, top bool, depth int) {
	if depth > 10 {
		w.problems = append(w.problems, "include/redirect nesting deeper than 10 at "+domain)
		return
	}
	for _, dir := range rec.Directives {
		target := dir.Domain
		if target == "" {
			target = domain
		}
		if hasMacro(target) && dir.Kind != spf.MechAll {
			w.macros = append(w.macros, dir.Text)
			continue
		}
		switch dir.Kind {
		case spf.MechAll:
			if top {
				w.all, w.allText = dir.Qualifier, dir.Text
			}
			// RFC 7208 §5.1: terms after "all" are never evaluated.
			return
		case spf.MechInclude:
			w.follow(ctx, "include:"+target, target, false, depth)
		case spf.MechPTR:
			w.ptr = append(w.ptr, dir.Text)
		}
	}
	if rec.Redirect != nil {
		target := rec.Redirect.Value
		if hasMacro(target) {
			w.macros = append(w.macros, rec.Redirect.Text)
			return
		}
		w.follow(ctx, "redirect="+target, target, top, depth)
	}
}

func (w *spfWalk) follow(ctx context.Context, term, target string, top bool, depth int) {
	target = dns.Normalize(target)
	if w.visited[target] {
		w.problems = append(w.problems, term+": loop (the domain was already included)")
		return
	}
	w.visited[target] = true
	recs, err := spfRecords(ctx, w.r, target)
	if w.fail(err) {
		return
	}
	switch {
	case len(recs) == 0:
		// RFC 7208 §5.2 / §6.1: an include or redirect target without a
		// record is a permerror.
		w.problems = append(w.problems, term+": "+target+" has no SPF record (receivers get permerror)")
		return
	case len(recs) > 1:
		w.problems = append(w.problems, fmt.Sprintf("%s: %s has %d SPF records (permerror)", term, target, len(recs)))
		return
	}
	rec, err := spf.Parse(recs[0])
	if err != nil {
		w.problems = append(w.problems, fmt.Sprintf("%s: %v", term, err))
		return
	}
	w.walk(ctx, target, rec, top, depth+1)
}

// spfCount is the SPF evaluator's count of what RFC 7208 §4.6.4 limits —
// DNS-querying terms (10) and void lookups (2) — for a client that no
// term matches (spf.Checker.WorstCase), for IPv4 and IPv6 clients: the
// family with more void terms (an "a" with only AAAA records is void for
// IPv4 clients), named in family when the two differ. The limits are
// raised so that the count goes past them.
func spfCount(ctx context.Context, r dns.Resolver, domain string) (res *spf.Result, family string) {
	c := spf.Checker{Resolver: r, MaxLookups: 1000, MaxVoidLookups: 1000}
	v4 := c.WorstCase(ctx, domain, netip.MustParseAddr("192.0.2.1"))
	if v4.Code == spf.TempError {
		return v4, ""
	}
	v6 := c.WorstCase(ctx, domain, netip.MustParseAddr("2001:db8::1"))
	switch {
	case v6.Code == spf.TempError:
		return v6, ""
	case v6.VoidLookups > v4.VoidLookups:
		return v6, "IPv6"
	case v4.VoidLookups > v6.VoidLookups:
		return v4, "IPv4"
	case v6.Lookups > v4.Lookups:
		return v6, ""
	}
	return v4, ""
}

// suggestSPF is a record to publish for the outbound addresses.
func (d *doc) suggestSPF() string {
	terms := []string{"v=spf1", "mx"}
	for _, ip := range d.o.IPs {
		if ip.Unmap().Is4() {
			terms = append(terms, "ip4:"+ip.Unmap().String())
		} else {
			terms = append(terms, "ip6:"+ip.String())
		}
	}
	terms = append(terms, "-all")
	return fmt.Sprintf("%s.\tIN\tTXT\t%q", d.o.Domain, strings.Join(terms, " "))
}

// spf checks the SPF record of the domain (RFC 7208).
func (d *doc) spf(ctx context.Context) {
	dom := d.o.Domain
	add := func(id, title string, st Status, detail, fix string) {
		d.out.add(Item{ID: id, Section: SectionSPF, Title: title, Status: st, Detail: detail, Fix: fix})
	}
	recs, err := spfRecords(ctx, d.r, dom)
	if err != nil && !dns.IsNotFound(err) {
		add("spf.record", "SPF record", TempError, dnsFailure("TXT "+dom, err), tempFix)
		return
	}
	switch {
	case len(recs) == 0:
		add("spf.record", "SPF record", Fail, "no SPF record at "+dom+": receivers cannot tell your servers from forgers, and Google and Microsoft require SPF",
			"publish\n"+d.suggestSPF())
		return
	case len(recs) > 1:
		add("spf.record", "SPF record", Fail, fmt.Sprintf("%d SPF records at %s: receivers give permerror (RFC 7208 §4.5)", len(recs), dom),
			"merge them into one record, e.g.\n"+d.suggestSPF())
		return
	}
	add("spf.record", "SPF record", Pass, recs[0], "")
	rec, err := spf.Parse(recs[0])
	if err != nil {
		var se *spf.SyntaxError
		msg := err.Error()
		if errors.As(err, &se) {
			msg = se.Error()
		}
		add("spf.syntax", "SPF syntax", Fail, msg+": receivers give permerror, as if there were no record", "correct the record, e.g.\n"+d.suggestSPF())
		return
	}
	w := &spfWalk{r: d.r, visited: map[string]bool{dom: true}}
	w.walk(ctx, dom, rec, true, 0)
	count, family := spfCount(ctx, d.r, dom)
	if w.temp == nil && count.Code == spf.TempError {
		w.temp = count.Err
	}
	if count.Code == spf.PermError && len(w.problems) == 0 {
		// What the walk does not see, e.g. an mx term with more than 10
		// MX names (RFC 7208 §4.6.4).
		w.problems = append(w.problems, count.Problem)
	}
	if len(w.ptr) > 0 {
		add("spf.syntax", "SPF syntax", Warn, "valid, but uses "+strings.Join(w.ptr, " ")+": RFC 7208 §5.5 says not to (slow, unreliable; some receivers ignore it)",
			"replace ptr with ip4:/ip6: terms for your servers")
	} else {
		add("spf.syntax", "SPF syntax", Pass, "valid (RFC 7208 §4.6.1)", "")
	}
	if w.temp != nil {
		add("spf.lookups", "SPF DNS lookups", TempError, dnsFailure("the records SPF refers to", w.temp), tempFix)
	} else {
		detail := fmt.Sprintf("%d of the %d allowed DNS-querying terms (include, a, mx, ptr, exists, redirect; RFC 7208 §4.6.4), counted by the SPF evaluator for a client no term matches", count.Lookups, spf.DefaultMaxLookups)
		if count.Code == spf.PermError {
			detail += ", up to the error that stops receivers"
		}
		if len(w.macros) > 0 {
			detail += "; terms with macros (their names depend on the client; counted for an example one): " + strings.Join(w.macros, " ")
		}
		switch {
		case count.Lookups > spf.DefaultMaxLookups:
			add("spf.lookups", "SPF DNS lookups", Fail, detail+": receivers give permerror",
				"remove includes you no longer use, or replace include:/a/mx terms by the ip4:/ip6: ranges they stand for")
		case count.Lookups >= spf.DefaultMaxLookups-2:
			add("spf.lookups", "SPF DNS lookups", Warn, detail+": close to the limit; a provider adding one include breaks it",
				"replace include:/a/mx terms by ip4:/ip6: ranges where you can")
		default:
			add("spf.lookups", "SPF DNS lookups", Pass, detail, "")
		}
		switch {
		case len(w.problems) > 0:
			add("spf.includes", "SPF includes", Fail, strings.Join(w.problems, "; "),
				"remove or correct those terms: one broken include makes the whole record permerror")
		default:
			add("spf.includes", "SPF includes", Pass, "every include and redirect has one valid record", "")
		}
		voids := strings.Join(count.VoidTerms, " ")
		if family != "" {
			voids += " for " + family + " clients"
		}
		switch n := count.VoidLookups; {
		case n > spf.DefaultMaxVoidLookups:
			add("spf.void", "SPF void lookups", Fail, fmt.Sprintf("%d terms find nothing in DNS (%s); more than %d is permerror (RFC 7208 §4.6.4)", n, voids, spf.DefaultMaxVoidLookups),
				"remove the terms that point at names without records")
		case n > 0:
			add("spf.void", "SPF void lookups", Warn, fmt.Sprintf("%d term(s) find nothing in DNS (%s); %d are tolerated (RFC 7208 §4.6.4)", n, voids, spf.DefaultMaxVoidLookups),
				"remove the terms that point at names without records")
		default:
			add("spf.void", "SPF void lookups", Pass, "none", "")
		}
	}
	switch w.all {
	case spf.QualFail, spf.QualSoftFail:
		add("spf.all", "SPF ends in -all or ~all", Pass, w.allText, "")
	case spf.QualPass:
		add("spf.all", "SPF ends in -all or ~all", Fail, w.allText+" authorizes every host on the Internet to send as "+dom,
			"end the record with -all (or ~all):\n"+d.suggestSPF())
	case spf.QualNeutral:
		add("spf.all", "SPF ends in -all or ~all", Warn, w.allText+" says nothing about other hosts: forgeries get neutral",
			"end the record with -all (or ~all)")
	default:
		if w.temp == nil {
			add("spf.all", "SPF ends in -all or ~all", Warn, "the record has no final all: other hosts get neutral (RFC 7208 §4.7)",
				"end the record with -all (or ~all)")
		}
	}
	for _, ip := range d.o.IPs {
		res := spf.Check(ctx, d.r, spf.Args{IP: ip, MailFrom: "postmaster@" + dom, Helo: d.o.Helo})
		it := Item{ID: "spf.ip", Section: SectionSPF, Subject: ip.String(), Title: "SPF authorizes the outbound address"}
		term := "ip4:" + ip.Unmap().String()
		if !ip.Unmap().Is4() {
			term = "ip6:" + ip.String()
		}
		spfOutcome(&it, res, fmt.Sprintf("add %s before the all term of the record at %s", term, dom))
		d.out.add(it)
		d.spfHelo(ctx, ip)
	}
}

// spfHelo checks the HELO identity (RFC 7208 §2.3): receivers check it
// for bounces (null sender) and many check it always.
func (d *doc) spfHelo(ctx context.Context, ip netip.Addr) {
	h := d.o.Helo
	if h == "" || !validDomain(h) {
		return
	}
	it := Item{ID: "spf.helo", Section: SectionSPF, Subject: ip.String(), Title: "SPF of the HELO name"}
	c := spf.Checker{Resolver: d.r}
	res := c.CheckHelo(ctx, spf.Args{IP: ip, Helo: h})
	suggest := fmt.Sprintf("publish\n%s.\tIN\tTXT\t\"v=spf1 a -all\"", h)
	if res.Code == spf.None {
		it.Status, it.Detail, it.Fix = Warn, h+" has no SPF record: bounces (null sender) are checked against it", suggest
	} else {
		spfOutcome(&it, res, suggest)
	}
	d.out.add(it)
}

// spfOutcome reads an SPF result into it: pass (with the term that
// matched), temperror, or else fail with fix, saying what receivers get,
// the term and the problem.
func spfOutcome(it *Item, res *spf.Result, fix string) {
	switch res.Code {
	case spf.Pass:
		it.Status, it.Detail = Pass, "pass ("+res.Mechanism+")"
	case spf.TempError:
		it.Status, it.Detail, it.Fix = TempError, "temperror: "+res.Problem, tempFix
	default:
		it.Status, it.Detail, it.Fix = Fail, string(res.Code), fix
		if res.Mechanism != "" {
			it.Detail += " (" + res.Mechanism + ")"
		}
		if res.Problem != "" {
			it.Detail += ": " + res.Problem
		}
	}
}
