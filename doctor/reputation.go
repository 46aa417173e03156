package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/senderscore"
)

// reputation looks each outbound address up at Senderscore and on the
// DNS lists (RFC 5782).
func (d *doc) reputation(ctx context.Context) {
	if len(d.o.IPs) > 0 && len(d.lists()) == 0 {
		d.out.add(Item{ID: "reputation.dnsbl", Section: SectionReputation, Title: "DNS lists", Status: Info,
			Detail: "no DNS list given: listings not checked",
			Fix:    "run again with --dnsbl ZONE (e.g. --dnsbl zen.spamhaus.org --dnsbl bl.spamcop.net) or -c with enabled [[dnsbl.list]] entries"})
	}
	for _, ip := range d.o.IPs {
		if d.o.SenderscoreZone != "-" {
			d.senderscore(ctx, ip)
		}
		for _, l := range d.lists() {
			if l.Kind == dnsbl.KindDomain || !familyOK(l, ip) {
				continue
			}
			d.dnsList(ctx, l, ip.String(), dns.ReverseLabels(ip)+"."+dns.Normalize(l.Zone))
		}
	}
	// Domain lists (e.g. Spamhaus DBL) are asked about the domain itself.
	for _, l := range d.lists() {
		if l.Kind == dnsbl.KindDomain {
			d.dnsList(ctx, l, d.o.Domain, d.o.Domain+"."+dns.Normalize(l.Zone))
		}
	}
}

// familyOK: an IP list is asked about the address families it lists
// (ip4 only when not said).
func familyOK(l dnsbl.ListConfig, ip netip.Addr) bool {
	fam := "ip4"
	if !ip.Unmap().Is4() {
		fam = "ip6"
	}
	if len(l.Families) == 0 {
		return fam == "ip4"
	}
	for _, f := range l.Families {
		if f == fam {
			return true
		}
	}
	return false
}

func (d *doc) senderscore(ctx context.Context, ip netip.Addr) {
	it := Item{ID: "reputation.senderscore", Section: SectionReputation, Subject: ip.String(), Title: "Sender Score"}
	res := senderscore.Lookup(ctx, d.r, ip, d.o.SenderscoreZone)
	fix := "find the cause (a compromised account or web form, an open relay, complaints about your mailing lists), stop it, and keep sending clean mail; see https://senderscore.org/"
	switch res.Status {
	case senderscore.Scored:
		// The filter's bands: what hamlet (and rspamd-like filters set up
		// the same way) does with mail from this address.
		b := d.o.SenderscoreBands
		it.Detail = fmt.Sprintf("%d of 100", res.Score)
		switch b.Of(res.Score) {
		case senderscore.Good:
			it.Status = Pass
		case senderscore.Neutral:
			it.Status = Pass
			it.Detail += fmt.Sprintf(": fair; hamlet's filter neither penalises nor rewards it (junk_below %d, good_above %d)", b.JunkBelow, b.GoodAbove)
		case senderscore.Junk:
			it.Status, it.Fix = Warn, fix
			it.Detail += fmt.Sprintf(": poor; hamlet's filter counts mail from it as junk (junk_below %d), as many receivers do", b.JunkBelow)
		default:
			it.Status, it.Fix = Fail, fix
			it.Detail += fmt.Sprintf(": very poor; hamlet's filter rejects mail from it (block_below %d), as many receivers do", b.BlockBelow)
		}
	case senderscore.NotListed:
		it.Status, it.Detail = Info, "no score: too little mail seen from this address (normal for a small server)"
	case senderscore.Skipped:
		it.Status, it.Detail = Info, "Senderscore lists IPv4 addresses only"
	case senderscore.Unusable:
		it.Status, it.Detail = Warn, fmt.Sprintf("the list answered %v, not a score: it refuses the DNS server asked (a public resolver?)", res.Answers)
		it.Fix = "ask through your own resolver (--dns)"
	default:
		it.Status, it.Detail, it.Fix = TempError, dnsFailure(res.Query, res.Err), tempFix
	}
	d.out.add(it)
}

// lists returns the DNS lists to ask: o.Lists, then a plain IP list for
// each zone of o.DNSLists not among them.
func (d *doc) lists() []dnsbl.ListConfig {
	out := append([]dnsbl.ListConfig(nil), d.o.Lists...)
	have := map[string]bool{}
	for _, l := range out {
		have[dns.Normalize(l.Zone)] = true
	}
	for _, z := range d.o.DNSLists {
		z = dns.Normalize(z)
		if have[z] {
			continue
		}
		have[z] = true
		out = append(out, dnsbl.ListConfig{Name: "list", Zone: z, Kind: dnsbl.KindIP, Families: []string{"ip4", "ip6"}, Weight: 1})
	}
	return out
}

// dnsList looks subject (an IP address, or the domain for a domain list)
// up in the list (RFC 5782 §2.1, §2.3: an A record in 127.0.0.0/8 means
// listed; its TXT record says why). Answers are decoded with the list's
// codes: a listing whose symbols all weigh ≤ 0 is an allowlisting.
func (d *doc) dnsList(ctx context.Context, cfg dnsbl.ListConfig, subject, q string) {
	zone := dns.Normalize(cfg.Zone)
	it := Item{ID: "reputation.dnsbl", Section: SectionReputation, Subject: zone + " " + subject, Title: "DNS list"}
	as, err := d.r.LookupA(ctx, q)
	switch {
	case err != nil && dns.IsNotFound(err):
		it.Status, it.Detail = Pass, "not listed on "+zone
	case err != nil:
		it.Status, it.Detail, it.Fix = TempError, dnsFailure(q, err), tempFix
	default:
		var codes []string
		for _, a := range as {
			codes = append(codes, a.String())
		}
		hits, bad, derr := dnsbl.DecodeAnswers(cfg, as)
		if derr != nil {
			it.Status, it.Detail = Warn, fmt.Sprintf("list %s: %v", zone, derr)
			break
		}
		if bad != "" {
			// Spamhaus and others answer 127.255.255.x to refuse a
			// query (public resolvers, over quota): not a listing.
			it.Status = Warn
			it.Detail = fmt.Sprintf("%s refused the query or answered oddly (%s): the status is unknown", zone, bad)
			it.Fix = "ask through your own resolver (--dns), not a public one"
			break
		}
		var bads, goods []string
		for _, h := range hits {
			name := h.Symbol
			if h.Description != "" {
				name += " (" + h.Description + ")"
			}
			if h.Weight > 0 {
				bads = append(bads, name)
			} else {
				goods = append(goods, name)
			}
		}
		if len(bads) == 0 {
			it.Status, it.Detail = Pass, fmt.Sprintf("listed as a good sender on %s (answer %s)", zone, strings.Join(codes, ", "))
			break
		}
		it.Status = Fail
		it.Detail = fmt.Sprintf("listed on %s (answer %s)", zone, strings.Join(codes, ", "))
		if cfg.Name != "list" {
			it.Detail += ": " + strings.Join(bads, ", ")
		}
		if txts, err := d.r.LookupTXT(ctx, q); err == nil && len(txts) > 0 {
			it.Detail += ": " + strings.Join(txts, " ")
		}
		it.Fix = fmt.Sprintf("find and stop the cause (compromised account, open relay, infected host), then request removal on %s's web site (its lookup page names the reason)", zone)
	}
	d.out.add(it)
}
