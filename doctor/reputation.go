package doctor

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/senderscore"
)

// Senderscore bands for the report.
const (
	ScoreGood = 80 // at or above: pass
	ScorePoor = 50 // below: fail; between: warn
)

// reputation looks each outbound address up at Senderscore and on the
// DNS lists (RFC 5782).
func (d *doc) reputation(ctx context.Context) {
	for _, ip := range d.o.IPs {
		if d.o.SenderscoreZone != "-" {
			d.senderscore(ctx, ip)
		}
		for _, zone := range d.o.DNSLists {
			d.dnsList(ctx, ip, dns.Normalize(zone))
		}
	}
}

func (d *doc) senderscore(ctx context.Context, ip netip.Addr) {
	it := Item{ID: "reputation.senderscore", Section: SectionReputation, Subject: ip.String(), Title: "Sender Score"}
	res := senderscore.Lookup(ctx, d.r, ip, d.o.SenderscoreZone)
	fix := "find the cause (a compromised account or web form, an open relay, complaints about your mailing lists), stop it, and keep sending clean mail; see https://senderscore.org/"
	switch res.Status {
	case senderscore.Scored:
		it.Detail = fmt.Sprintf("%d of 100", res.Score)
		switch {
		case res.Score >= ScoreGood:
			it.Status = Pass
		case res.Score >= ScorePoor:
			it.Status, it.Fix = Warn, fix
			it.Detail += ": mediocre; some receivers filter such senders"
		default:
			it.Status, it.Fix = Fail, fix
			it.Detail += ": poor; many receivers refuse such senders"
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

// dnsList looks ip up in zone (RFC 5782 §2.1, §2.3: an A record in
// 127.0.0.0/8 means listed; its TXT record says why).
func (d *doc) dnsList(ctx context.Context, ip netip.Addr, zone string) {
	q := dns.ReverseLabels(ip) + "." + zone
	it := Item{ID: "reputation.dnsbl", Section: SectionReputation, Subject: zone + " " + ip.String(), Title: "DNS list"}
	as, err := d.r.LookupA(ctx, q)
	switch {
	case err != nil && dns.IsNotFound(err):
		it.Status, it.Detail = Pass, "not listed on "+zone
	case err != nil:
		it.Status, it.Detail, it.Fix = TempError, dnsFailure(q, err), tempFix
	default:
		var codes []string
		refused := false
		for _, a := range as {
			codes = append(codes, a.String())
			// Spamhaus and others answer 127.255.255.x to refuse a query
			// (public resolvers, over quota): not a listing.
			if a.Is4() && a.As4()[0] == 127 && a.As4()[1] == 255 && a.As4()[2] == 255 {
				refused = true
			}
		}
		if refused {
			it.Status = Warn
			it.Detail = fmt.Sprintf("%s refused the query (answer %s): the address's status is unknown", zone, strings.Join(codes, ", "))
			it.Fix = "ask through your own resolver (--dns), not a public one"
			break
		}
		it.Status = Fail
		it.Detail = fmt.Sprintf("listed on %s (answer %s)", zone, strings.Join(codes, ", "))
		if txts, err := d.r.LookupTXT(ctx, q); err == nil && len(txts) > 0 {
			it.Detail += ": " + strings.Join(txts, " ")
		}
		it.Fix = fmt.Sprintf("find and stop the cause (compromised account, open relay, infected host), then request removal on %s's web site (its lookup page names the reason)", zone)
	}
	d.out.add(it)
}
