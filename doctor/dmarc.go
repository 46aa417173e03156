package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns"
)

// dmarc checks the DMARC record (RFC 7489 §6) and its reporting
// destinations (§7.1).
func (d *doc) dmarc(ctx context.Context) {
	dom := d.o.Domain
	org := dmarc.OrganizationalDomain(dom)
	add := func(id, subject, title string, st Status, detail, fix string) {
		d.out.add(Item{ID: id, Section: SectionDMARC, Subject: subject, Title: title, Status: st, Detail: detail, Fix: fix})
	}
	suggest := fmt.Sprintf("_dmarc.%s.\tIN\tTXT\t\"v=DMARC1; p=none; rua=mailto:dmarc-reports@%s\"", org, org)
	f, err := dmarc.Discover(ctx, d.r, dom)
	switch {
	case errors.Is(err, dmarc.ErrTemporary):
		add("dmarc.record", "", "DMARC record", TempError, dnsFailure("TXT _dmarc."+dom, err), tempFix)
		return
	case errors.Is(err, dmarc.ErrNoRecord):
		add("dmarc.record", "", "DMARC record", Fail,
			"no DMARC record at _dmarc."+dom+" nor _dmarc."+org+": Google and Yahoo require one from bulk senders, and forgeries of your domain go unchecked",
			"publish (start with p=none, read the reports, then tighten to quarantine and reject)\n"+suggest)
		return
	case errors.Is(err, dmarc.ErrMultipleRecords):
		add("dmarc.record", "", "DMARC record", Fail, err.Error()+": receivers then ignore DMARC (RFC 7489 §6.6.3)", "keep only one record")
		return
	case errors.Is(err, dmarc.ErrInvalidPolicy):
		detail := err.Error()
		if f != nil && f.Record != nil {
			detail += ": " + strings.Join(problems(f.Record, dmarc.Invalid), "; ")
		}
		add("dmarc.record", "", "DMARC record", Fail, detail, "correct the record, e.g.\n"+suggest)
		return
	case err != nil:
		add("dmarc.record", "", "DMARC record", Fail, err.Error(), "publish\n"+suggest)
		return
	}
	rec := f.Record
	where := "_dmarc." + f.Domain
	if f.Domain != dom {
		where += " (the organizational domain's record applies to " + dom + ")"
	}
	add("dmarc.record", "", "DMARC record", Pass, where+": "+rec.Raw, "")

	if bad := problems(rec, dmarc.Invalid); len(bad) > 0 {
		add("dmarc.syntax", "", "DMARC syntax", Fail, strings.Join(bad, "; ")+" (receivers use the defaults instead, RFC 7489 §6.3)", "correct those tags")
	} else if warn := problems(rec, dmarc.Warning); len(warn) > 0 {
		add("dmarc.syntax", "", "DMARC syntax", Warn, strings.Join(warn, "; "), "correct those tags")
	} else {
		add("dmarc.syntax", "", "DMARC syntax", Pass, "valid", "")
	}

	pol := rec.Policy
	if f.Domain != dom && rec.SubdomainPolicy != "" {
		pol = rec.SubdomainPolicy
	}
	switch {
	case pol == dmarc.PolicyNone:
		add("dmarc.policy", "", "DMARC policy", Warn, "p=none: monitoring only, forgeries of your domain are delivered",
			"once the aggregate reports show all your mail passing, publish p=quarantine, then p=reject")
	case rec.Testing || (rec.PercentSet && rec.Percent < 100):
		add("dmarc.policy", "", "DMARC policy", Warn, fmt.Sprintf("p=%s applied to part of the mail only (pct=%d, t=%v)", pol, rec.Percent, rec.Testing),
			"remove pct= and t=y when the reports look right")
	default:
		add("dmarc.policy", "", "DMARC policy", Pass, "p="+string(pol), "")
	}
	add("dmarc.alignment", "", "DMARC alignment", Pass,
		fmt.Sprintf("adkim=%s aspf=%s: hamlet signs with d=%s, which aligns; the envelope sender must be under %s for SPF to align",
			rec.DKIM, rec.SPF, dom, map[bool]string{true: dom, false: org}[rec.SPF == dmarc.Strict]), "")

	if len(rec.RUA) == 0 {
		add("dmarc.rua", "", "DMARC aggregate reports", Warn, "no valid rua=: you get no reports of who sends as your domain",
			fmt.Sprintf("add rua=mailto:dmarc-reports@%s to the record", org))
	} else {
		var list []string
		for _, u := range rec.RUA {
			list = append(list, u.Raw)
		}
		add("dmarc.rua", "", "DMARC aggregate reports", Pass, "rua="+strings.Join(list, ","), "")
	}
	if len(rec.RUF) > 0 {
		var list []string
		for _, u := range rec.RUF {
			list = append(list, u.Raw)
		}
		add("dmarc.ruf", "", "DMARC failure reports", Info, "ruf="+strings.Join(list, ",")+" (few receivers send them)", "")
	}
	for _, set := range []struct {
		uris []dmarc.URI
		ruf  bool
	}{{rec.RUA, false}, {rec.RUF, true}} {
		for _, u := range set.uris {
			d.external(ctx, f.Domain, u, set.ruf)
		}
	}
}

// external checks that a reporting address outside the domain agreed to
// receive its reports (RFC 7489 §7.1).
func (d *doc) external(ctx context.Context, policyDomain string, u dmarc.URI, ruf bool) {
	tag := "rua"
	if ruf {
		tag = "ruf"
	}
	it := Item{ID: "dmarc.external", Section: SectionDMARC, Subject: tag + "=" + u.Raw, Title: "External report destination authorized"}
	a, err := dmarc.VerifyExternalDestination(ctx, d.r, policyDomain, u, ruf)
	switch {
	case errors.Is(err, dmarc.ErrNotMailto):
		it.Status, it.Detail = Info, "not a mailto: URI; not checked"
	case err != nil:
		it.Status, it.Detail, it.Fix = TempError, dnsFailure("TXT "+a.Query, err), tempFix
	case !a.Needed:
		return // same organizational domain: nothing to authorize
	case a.Authorized:
		it.Status, it.Detail = Pass, a.Query+" authorizes the reports"
	default:
		it.Status = Fail
		it.Detail = fmt.Sprintf("%s is outside %s and %s has no v=DMARC1 record: receivers will not send the reports (RFC 7489 §7.1)", u.Domain, policyDomain, a.Query)
		it.Fix = fmt.Sprintf("the operator of %s must publish\n%s.\tIN\tTXT\t\"v=DMARC1\"\nor send the reports to an address under %s", u.Domain, a.Query, policyDomain)
	}
	d.out.add(it)
}

func problems(rec *dmarc.Record, sev dmarc.Severity) []string {
	var out []string
	for _, p := range rec.Problems {
		if p.Severity == sev {
			out = append(out, p.String())
		}
	}
	return out
}

// transport reports the MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460
// §3) records: informational, as neither affects whether mail from the
// domain is accepted.
func (d *doc) transport(ctx context.Context) {
	dom := d.o.Domain
	for _, c := range []struct {
		id, name, prefix, title, fix string
	}{
		{"mtasts.record", "_mta-sts." + dom, "v=STSv1", "MTA-STS record",
			fmt.Sprintf("optional: to make senders use TLS to you, serve a policy at https://mta-sts.%s/.well-known/mta-sts.txt and publish\n_mta-sts.%s.\tIN\tTXT\t\"v=STSv1; id=20260101\"", dom, dom)},
		{"tlsrpt.record", "_smtp._tls." + dom, "v=TLSRPTv1", "TLS-RPT record",
			fmt.Sprintf("optional: to get reports of TLS failures, publish\n_smtp._tls.%s.\tIN\tTXT\t\"v=TLSRPTv1; rua=mailto:tls-reports@%s\"", dom, dom)},
	} {
		it := Item{ID: c.id, Section: SectionTransport, Title: c.title}
		txts, err := d.r.LookupTXT(ctx, c.name)
		var found []string
		for _, t := range txts {
			if strings.HasPrefix(t, c.prefix) {
				found = append(found, t)
			}
		}
		switch {
		case err != nil && !dns.IsNotFound(err):
			it.Status, it.Detail, it.Fix = TempError, dnsFailure("TXT "+c.name, err), tempFix
		case len(found) == 1:
			it.Status, it.Detail = Pass, c.name+": "+found[0]
		case len(found) > 1:
			it.Status, it.Detail, it.Fix = Warn, fmt.Sprintf("%d records at %s: senders ignore them all", len(found), c.name), "keep one record"
		default:
			it.Status, it.Detail, it.Fix = Info, "none at "+c.name, c.fix
		}
		d.out.add(it)
	}
}
