package doctor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/message"
)

// MaxIPs bounds the addresses one request may ask about.
const MaxIPs = 16

// Handler serves the doctor as JSON for the controller (the web UI):
//
//	GET /api/doctor?domain=example.org&ip=192.0.2.1&ip=…&helo=mail.example.org&selector=s1
//
// It answers 200 with the Report, 400 for a bad query. resolver gives the
// daemon's current resolver; defaults, when not nil, gives the options
// the daemon knows for a domain (its DNS lists, the selectors and public
// keys it signs the domain with), which the query's values extend.
// Private keys never travel over HTTP: only what defaults supplies is
// compared with DNS.
func Handler(resolver func() dns.Resolver, defaults func(domain string) Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		q := req.URL.Query()
		domain := dns.Normalize(strings.TrimSpace(q.Get("domain")))
		if a, err := message.NormalizeDomain(domain); err == nil {
			domain = a
		}
		if !validDomain(domain) {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("domain=%q is not a domain name", q.Get("domain")))
			return
		}
		var o Options
		if defaults != nil {
			o = defaults(domain)
		}
		o.Domain = domain
		ips := q["ip"]
		if len(ips) > MaxIPs {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("at most %d ip parameters", MaxIPs))
			return
		}
		if len(ips) > 0 {
			o.IPs = nil
		}
		for _, s := range ips {
			ip, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("ip=%q is not an IP address", s))
				return
			}
			o.IPs = append(o.IPs, ip.Unmap())
		}
		if h := q.Get("helo"); h != "" {
			o.Helo = h
		}
		for _, s := range q["selector"] {
			if !containsSelector(o.Selectors, s) {
				o.Selectors = append(o.Selectors, Selector{Name: strings.ToLower(strings.TrimSpace(s))})
			}
		}
		for _, z := range q["dnsbl"] {
			if z = dns.Normalize(strings.TrimSpace(z)); !validDomain(z) {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("dnsbl=%q is not a DNS zone", z))
				return
			}
			o.DNSLists = append(o.DNSLists, z)
		}
		rep := Run(req.Context(), resolver(), o)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodHead {
			return
		}
		json.NewEncoder(w).Encode(rep)
	})
}

func containsSelector(ss []Selector, name string) bool {
	for _, s := range ss {
		if strings.EqualFold(s.Name, strings.TrimSpace(name)) {
			return true
		}
	}
	return false
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
