package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/iprev"
)

// addresses looks up the A and AAAA records of name. err is a temporary
// failure of either lookup; a name with neither gives no addresses and
// no error.
func addresses(ctx context.Context, r dns.Resolver, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, fam := range []string{"ip4", "ip6"} {
		as, err := dns.LookupIP(ctx, r, fam, name)
		if err != nil && !dns.IsNotFound(err) {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

func joinAddrs(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// mx checks the MX records and each exchanger's addresses (RFC 5321 §5.1;
// RFC 7505 null MX).
func (d *doc) mx(ctx context.Context) {
	const title = "MX records"
	dom := d.o.Domain
	mxs, err := d.r.LookupMX(ctx, dom)
	switch {
	case err != nil && !dns.IsNotFound(err):
		d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: TempError, Detail: dnsFailure("MX "+dom, err), Fix: tempFix})
		return
	case err != nil:
		// RFC 5321 §5.1: without MX the domain's own address is used.
		as, aerr := addresses(ctx, d.r, dom)
		switch {
		case aerr != nil:
			d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: TempError, Detail: dnsFailure("A/AAAA "+dom, aerr), Fix: tempFix})
		case len(as) > 0:
			d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: Warn,
				Detail: fmt.Sprintf("no MX record; mail for %s goes to its address %s (RFC 5321 §5.1 implicit MX)", dom, joinAddrs(as)),
				Fix:    fmt.Sprintf("publish an MX record naming your mail server, e.g.\n%s.\tIN\tMX\t10 mail.%s.", dom, dom)})
		default:
			d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: Fail,
				Detail: fmt.Sprintf("no MX record and no address for %s: no one can reply to its mail, and receivers reject senders whose domain cannot receive", dom),
				Fix:    fmt.Sprintf("publish an MX record and the server's address, e.g.\n%s.\tIN\tMX\t10 mail.%s.\nmail.%s.\tIN\tA\t192.0.2.25", dom, dom, dom)})
		}
		return
	}
	if len(mxs) == 1 && (mxs[0].Host == "" || mxs[0].Host == ".") {
		// RFC 7505 §3: a single MX with an empty exchange ("."): the
		// domain accepts no mail; §4.2: such a sender domain may be
		// rejected.
		d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: Fail,
			Detail: fmt.Sprintf("%s publishes a null MX (RFC 7505): it accepts no mail, and receivers may refuse mail from it", dom),
			Fix:    fmt.Sprintf("replace the null MX with your mail server, e.g.\n%s.\tIN\tMX\t10 mail.%s.", dom, dom)})
		return
	}
	var list []string
	for _, m := range mxs {
		list = append(list, fmt.Sprintf("%d %s", m.Pref, m.Host))
	}
	d.out.add(Item{ID: "mx.records", Section: SectionMX, Title: title, Status: Pass, Detail: strings.Join(list, ", ")})
	for _, m := range mxs {
		it := Item{ID: "mx.address", Section: SectionMX, Subject: m.Host, Title: "MX host address"}
		if _, err := netip.ParseAddr(m.Host); err == nil {
			it.Status, it.Detail = Fail, "the MX names an IP address; RFC 5321 §5.1 requires a host name"
			it.Fix = fmt.Sprintf("name a host instead, e.g.\n%s.\tIN\tMX\t10 mail.%s.\nmail.%s.\tIN\tA\t%s", dom, dom, dom, m.Host)
			d.out.add(it)
			continue
		}
		as, err := addresses(ctx, d.r, m.Host)
		switch {
		case err != nil:
			it.Status, it.Detail, it.Fix = TempError, dnsFailure("A/AAAA "+m.Host, err), tempFix
		case len(as) == 0:
			it.Status = Fail
			it.Detail = m.Host + " has no A or AAAA record: mail cannot be delivered to it"
			it.Fix = fmt.Sprintf("publish its address, e.g.\n%s.\tIN\tA\t192.0.2.25", m.Host)
		default:
			it.Status, it.Detail = Pass, joinAddrs(as)
			for _, a := range as {
				if !a.IsGlobalUnicast() || a.IsPrivate() {
					it.Status = Fail
					it.Detail += fmt.Sprintf("; %s is not a public address", a)
					it.Fix = "publish the server's public address"
				}
			}
		}
		d.out.add(it)
	}
}

// genericPTR matches reverse names that look assigned by an access
// provider (the address's digits in the name, or words such as dynamic):
// receivers treat them as consumer lines (rspamd's hfilter does too).
var genericPTR = regexp.MustCompile(`(?i)(\d{1,3}[.-]\d{1,3}[.-]\d{1,3}[.-]\d{1,3})|(^|[.-])(dyn|dynamic|dhcp|pool|dsl|adsl|xdsl|cable|dialup|dial-up|ppp|broadband|customer|cpe)\d*([.-]|$)`)

func orgOf(name string) string { return dmarc.OrganizationalDomain(name) }

// rdns checks each outbound address: PTR present, forward-confirmed
// (FCrDNS, RFC 8601 §3 iprev), consistent with the domain, and the HELO
// name.
func (d *doc) rdns(ctx context.Context) {
	if len(d.o.IPs) == 0 {
		d.out.add(Item{ID: "rdns.ptr", Section: SectionRDNS, Title: "Reverse DNS", Status: Info,
			Detail: "no outbound address given: reverse DNS, HELO, SPF pass and reputation not checked",
			Fix:    "run again with --ip YOUR.OUTBOUND.IP (and --helo NAME)"})
		return
	}
	dom := d.o.Domain
	for _, ip := range d.o.IPs {
		sub := ip.String()
		res := iprev.Verify(ctx, d.r, ip)
		suggested := "mail." + dom
		if d.o.Helo != "" {
			suggested = d.o.Helo
		}
		ptrFix := fmt.Sprintf("ask whoever provides %s (hosting provider, ISP) to set its reverse DNS (PTR) to %s, and publish\n%s.\tIN\t%s\t%s",
			sub, suggested, suggested, aType(ip), sub)
		switch res.Status {
		case iprev.TempError:
			what := "PTR " + sub
			if !res.PTRFailed {
				what = "the addresses of " + strings.Join(res.Names, ", ")
			}
			d.out.add(Item{ID: "rdns.ptr", Section: SectionRDNS, Subject: sub, Title: "PTR record", Status: TempError, Detail: dnsFailure(what, res.Err), Fix: tempFix})
			continue
		case iprev.PermError:
			d.out.add(Item{ID: "rdns.ptr", Section: SectionRDNS, Subject: sub, Title: "PTR record", Status: Fail,
				Detail: "no PTR record for " + sub + ": Microsoft, Google and most receivers refuse mail from addresses without reverse DNS",
				Fix:    ptrFix})
			d.helo(ctx, ip, nil)
			continue
		}
		d.out.add(Item{ID: "rdns.ptr", Section: SectionRDNS, Subject: sub, Title: "PTR record", Status: Pass, Detail: strings.Join(res.Names, ", ")})
		if res.Status == iprev.Fail {
			d.out.add(Item{ID: "rdns.fcrdns", Section: SectionRDNS, Subject: sub, Title: "Forward-confirmed reverse DNS", Status: Fail,
				Detail: fmt.Sprintf("%s does not resolve back to %s (FCrDNS fails)", strings.Join(res.Names, ", "), sub),
				Fix:    fmt.Sprintf("publish\n%s.\tIN\t%s\t%s", res.Names[0], aType(ip), sub)})
		} else {
			d.out.add(Item{ID: "rdns.fcrdns", Section: SectionRDNS, Subject: sub, Title: "Forward-confirmed reverse DNS", Status: Pass,
				Detail: fmt.Sprintf("%s resolves back to %s", res.Name, sub)})
		}
		name := res.Name
		if name == "" {
			name = res.Names[0]
		}
		it := Item{ID: "rdns.domain", Section: SectionRDNS, Subject: sub, Title: "PTR name fits the domain"}
		switch {
		case genericPTR.MatchString(strings.TrimSuffix(name, "."+orgOf(name))):
			it.Status = Fail
			it.Detail = name + " looks like an access provider's generic name: receivers treat the address as a home or dynamic line"
			it.Fix = ptrFix
		case orgOf(name) == orgOf(dom) || (d.o.Helo != "" && name == d.o.Helo):
			it.Status, it.Detail = Pass, name
		default:
			it.Status = Warn
			it.Detail = fmt.Sprintf("%s is not under %s: acceptable for a shared or hosted server, but a name of your own is better", name, orgOf(dom))
			it.Fix = ptrFix
		}
		d.out.add(it)
		d.helo(ctx, ip, res.Names)
	}
}

func aType(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return "A"
	}
	return "AAAA"
}

// helo checks the HELO name for ip: a fully-qualified host name
// (RFC 5321 §4.1.1.1) that resolves to ip, ideally the PTR name.
func (d *doc) helo(ctx context.Context, ip netip.Addr, ptrs []string) {
	sub := ip.String()
	it := Item{ID: "rdns.helo", Section: SectionRDNS, Subject: sub, Title: "HELO name"}
	h := d.o.Helo
	if h == "" {
		it.Status, it.Detail = Info, "not given (--helo): not checked"
		it.Fix = "run again with --helo NAME (Postfix: smtp_helo_name, OpenSMTPD: the hostname of the relay action)"
		d.out.add(it)
		return
	}
	fix := fmt.Sprintf("make the MTA announce a name that resolves to %s and matches its PTR", sub)
	if len(ptrs) > 0 {
		fix = fmt.Sprintf("make the MTA announce %s (Postfix: smtp_helo_name = %s)", ptrs[0], ptrs[0])
	}
	if !validDomain(h) {
		it.Status, it.Detail, it.Fix = Fail, h+" is not a fully-qualified host name (RFC 5321 §4.1.1.1)", fix
		d.out.add(it)
		return
	}
	as, err := addresses(ctx, d.r, h)
	if err != nil {
		it.Status, it.Detail, it.Fix = TempError, dnsFailure("A/AAAA "+h, err), tempFix
		d.out.add(it)
		return
	}
	found := false
	for _, a := range as {
		if a == ip.Unmap() {
			found = true
		}
	}
	matchesPTR := false
	for _, p := range ptrs {
		if p == h {
			matchesPTR = true
		}
	}
	switch {
	case !found && len(as) == 0:
		it.Status = Fail
		it.Detail = h + " does not resolve: receivers (and rspamd's hfilter) score an unresolvable HELO as spam"
		it.Fix = fmt.Sprintf("publish\n%s.\tIN\t%s\t%s\nor %s", h, aType(ip), sub, fix)
	case !found:
		it.Status = Fail
		it.Detail = fmt.Sprintf("%s resolves to %s, not to %s", h, joinAddrs(as), sub)
		it.Fix = fmt.Sprintf("publish\n%s.\tIN\t%s\t%s\nor %s", h, aType(ip), sub, fix)
	case !matchesPTR && len(ptrs) > 0:
		it.Status = Warn
		it.Detail = fmt.Sprintf("%s resolves to %s but the PTR is %s", h, sub, strings.Join(ptrs, ", "))
		it.Fix = fix
	case !matchesPTR:
		it.Status, it.Detail = Warn, fmt.Sprintf("%s resolves to %s; the address has no PTR", h, sub)
		it.Fix = fix
	default:
		it.Status, it.Detail = Pass, fmt.Sprintf("%s resolves to %s and is its PTR name", h, sub)
	}
	d.out.add(it)
}
