package spf

import (
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
)

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
