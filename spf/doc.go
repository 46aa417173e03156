// Package spf evaluates Sender Policy Framework policies (RFC 7208).
//
// It is a pure library: a dns.Resolver and the SMTP identities go in, a
// *Result comes out, carrying the result code, the decisive mechanism, the
// explanation, the problem for errors, the DNS lookup counts and a
// Received-SPF header (RFC 7208 §9.1).
//
//	res := spf.Check(ctx, resolver, spf.Args{IP: ip, MailFrom: from, Helo: helo})
//	if res.Code == spf.Fail { ... res.Explanation ... }
//
// Parse exposes the record parser on its own, e.g. for a domain doctor
// that reports syntax errors; Checker.WorstCase counts the DNS-querying
// and void terms of a policy for a client no term matches (what `hamlet
// doctor` reports).
//
// The files follow the RFC: record.go parses records (§4.5, §4.6), macro.go
// expands macros (§7), eval.go is the API and the <domain> checks (§4.3),
// checkhost.go is check_host() and the mechanisms (§4.6–§5, the limits of
// §4.6.4), ptr.go the validated names of ptr and %{p} (§5.5), explain.go
// exp= (§6.2), result.go the results and Received-SPF (§2.6, §9.1).
//
// Every rule is commented with the section of RFC 7208 it implements. The
// limits of §4.6.4 (10 DNS-querying terms, 2 void lookups, 10 names per mx
// or ptr term) bound the work a hostile record can cause; the context's
// deadline bounds the time.
package spf
