package dmarcreport

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dmarc"
)

// Summary is what the reports of one policy domain say about a period.
type Summary struct {
	Domain   string    `json:"domain"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reports  int       `json:"reports"`
	Messages int64     `json:"messages"`
	Pass     int64     `json:"pass"`
	Fail     int64     `json:"fail"`
	// Reporters are the reporting organisations, most messages first.
	Reporters []Reporter `json:"reporters"`
	// Sources are every source address, most messages first.
	Sources []*Source `json:"sources"`
	// Days are pass/fail volumes per day (UTC) of the reports' begin.
	Days []Day `json:"days"`
	// ForeignFailing are the sources that sent as the domain, failed
	// DMARC and are not the domain's own (spoofing, or a forwarder);
	// OwnFailing are own sources that failed (a forgotten ESP without
	// DKIM, a server missing from SPF). Indexes into Sources' order are
	// not used: both hold the same pointers.
	ForeignFailing []*Source `json:"foreign_failing"`
	OwnFailing     []*Source `json:"own_failing"`
	// Policy is the policy the newest report saw published.
	Policy *PolicyPublished `json:"policy,omitempty"`
	// PTRPending is how many sources' names DNS had not given within the
	// summary's budget (they are resolved meanwhile for the next view).
	PTRPending int `json:"ptr_pending,omitempty"`
}

// Reporter is one reporting organisation.
type Reporter struct {
	Org      string `json:"org"`
	Reports  int    `json:"reports"`
	Messages int64  `json:"messages"`
}

// Day is the volume of one day.
type Day struct {
	Day  time.Time `json:"day"`
	Pass int64     `json:"pass"`
	Fail int64     `json:"fail"`
}

// Source is one sending address, all its rows taken together.
type Source struct {
	IP  netip.Addr `json:"ip"`
	PTR string     `json:"ptr,omitempty"`
	// PTRConfirmed says PTR resolves back to IP (FCrDNS); an unconfirmed
	// name is whatever the address's holder chose to publish.
	PTRConfirmed bool  `json:"ptr_confirmed,omitempty"`
	Messages     int64 `json:"messages"`
	Pass         int64 `json:"pass"`
	Fail         int64 `json:"fail"`
	// Own says whether the source is the domain's own, and OwnWhy why.
	Own       bool     `json:"own"`
	OwnWhy    string   `json:"own_why,omitempty"`
	Reporters []string `json:"reporters"`
	// Counts of messages by aligned result (policy_evaluated), by
	// disposition, and by raw result "result domain" (auth_results).
	SPF          map[string]int64 `json:"spf"`
	DKIM         map[string]int64 `json:"dkim"`
	Dispositions map[string]int64 `json:"dispositions"`
	AuthSPF      map[string]int64 `json:"auth_spf,omitempty"`
	AuthDKIM     map[string]int64 `json:"auth_dkim,omitempty"`
	HeaderFrom   []string         `json:"header_from,omitempty"`
}

// ptrBudget bounds the PTR lookups of one summary.
const ptrBudget = 5 * time.Second

// Summarize builds the summary of domain's reports overlapping [from, to),
// with the PTR names of the sources (resolved once, cached).
func (s *Service) Summarize(ctx context.Context, domain string, from, to time.Time) (*Summary, error) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	rs, err := s.Reports(ctx, domain, from, to)
	if err != nil {
		return nil, err
	}
	cfg := s.Config()
	sum := Build(domain, from, to, rs, cfg.own)
	ips := make([]netip.Addr, len(sum.Sources))
	for i, src := range sum.Sources {
		ips[i] = src.IP
	}
	// PTR names are a help, not the answer: what DNS gives within
	// ptrBudget is shown, the rest is resolved for the next view.
	pctx, cancel := context.WithTimeout(ctx, ptrBudget)
	names := s.ptr.names(pctx, ips)
	cancel()
	org := dmarc.OrganizationalDomain(domain)
	for _, src := range sum.Sources {
		n, ok := names[src.IP]
		if !ok && s.ptr.res != nil {
			sum.PTRPending++
		}
		src.PTR, src.PTRConfirmed = n.Name, n.Confirmed
		// Only a forward-confirmed name says the server is ours.
		if !src.Own && n.Confirmed && dmarc.OrganizationalDomain(n.Name) == org {
			src.Own, src.OwnWhy = true, "its name "+n.Name+" (forward-confirmed) is in "+org
		}
	}
	sum.split()
	return sum, nil
}

// Build summarises reports; own reports whether an address is in the
// configured own networks (nil: none).
func Build(domain string, from, to time.Time, rs []*Report, own func(netip.Addr) bool) *Summary {
	sum := &Summary{Domain: domain, From: from, To: to, Reporters: []Reporter{}, Sources: []*Source{}, Days: []Day{}}
	org := dmarc.OrganizationalDomain(domain)
	inOrg := func(d string) bool { return d != "" && dmarc.OrganizationalDomain(d) == org }
	srcs := map[netip.Addr]*Source{}
	reporters := map[string]*Reporter{}
	days := map[time.Time]*Day{}
	var newest time.Time
	for _, r := range rs {
		sum.Reports++
		if sum.Policy == nil || r.End.After(newest) {
			p := r.Policy
			sum.Policy, newest = &p, r.End
		}
		rep := reporters[r.Org]
		if rep == nil {
			rep = &Reporter{Org: r.Org}
			reporters[r.Org] = rep
		}
		rep.Reports++
		day := r.Begin.UTC().Truncate(24 * time.Hour)
		d := days[day]
		if d == nil {
			d = &Day{Day: day}
			days[day] = d
		}
		for i := range r.Records {
			rec := &r.Records[i]
			n := rec.Count
			rep.Messages += n
			sum.Messages += n
			src := srcs[rec.SourceIP]
			if src == nil {
				src = &Source{IP: rec.SourceIP, SPF: map[string]int64{}, DKIM: map[string]int64{}, Dispositions: map[string]int64{}, AuthSPF: map[string]int64{}, AuthDKIM: map[string]int64{}}
				srcs[rec.SourceIP] = src
				if own != nil && own(rec.SourceIP) {
					src.Own, src.OwnWhy = true, "in own_networks"
				}
			}
			src.Messages += n
			if rec.Pass() {
				src.Pass += n
				sum.Pass += n
				d.Pass += n
			} else {
				src.Fail += n
				sum.Fail += n
				d.Fail += n
			}
			src.SPF[orNone(rec.SPF)] += n
			src.DKIM[orNone(rec.DKIM)] += n
			src.Dispositions[orNone(rec.Disposition)] += n
			for _, a := range rec.AuthSPF {
				src.AuthSPF[orNone(a.Result)+" "+a.Domain] += n
				if a.Result == "pass" && inOrg(a.Domain) && !src.Own {
					src.Own, src.OwnWhy = true, "SPF of "+a.Domain+" passes for it"
				}
			}
			for _, a := range rec.AuthDKIM {
				src.AuthDKIM[orNone(a.Result)+" "+a.Domain] += n
				if a.Result == "pass" && inOrg(a.Domain) && !src.Own {
					src.Own, src.OwnWhy = true, "it signs with a valid DKIM key of "+a.Domain
				}
			}
			if !slices.Contains(src.Reporters, r.Org) {
				src.Reporters = append(src.Reporters, r.Org)
			}
			if rec.HeaderFrom != "" && !slices.Contains(src.HeaderFrom, rec.HeaderFrom) && len(src.HeaderFrom) < 20 {
				src.HeaderFrom = append(src.HeaderFrom, rec.HeaderFrom)
			}
		}
	}
	for _, rep := range reporters {
		sum.Reporters = append(sum.Reporters, *rep)
	}
	slices.SortFunc(sum.Reporters, func(a, b Reporter) int {
		if c := cmp.Compare(b.Messages, a.Messages); c != 0 {
			return c
		}
		return strings.Compare(a.Org, b.Org)
	})
	for _, src := range srcs {
		sum.Sources = append(sum.Sources, src)
	}
	slices.SortFunc(sum.Sources, bySize)
	for _, d := range days {
		sum.Days = append(sum.Days, *d)
	}
	slices.SortFunc(sum.Days, func(a, b Day) int { return a.Day.Compare(b.Day) })
	sum.split()
	return sum
}

func bySize(a, b *Source) int {
	if a.Messages != b.Messages {
		if a.Messages > b.Messages {
			return -1
		}
		return 1
	}
	return a.IP.Compare(b.IP)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// split fills ForeignFailing and OwnFailing from Sources.
func (sum *Summary) split() {
	sum.ForeignFailing, sum.OwnFailing = []*Source{}, []*Source{}
	for _, src := range sum.Sources {
		if src.Fail == 0 {
			continue
		}
		if src.Own {
			sum.OwnFailing = append(sum.OwnFailing, src)
		} else {
			sum.ForeignFailing = append(sum.ForeignFailing, src)
		}
	}
}

func parseIP(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
