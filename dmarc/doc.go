// Package dmarc implements DMARC policy evaluation for receivers
// (RFC 7489), with the changes of DMARCbis (RFC 9989) where they are
// stricter or clearer: the np tag for non-existent subdomains, t=y in
// place of pct=0, psd parsed, tags p/pct/rf/ri order and presence only
// warned about.
//
// It is a pure library: Parse reads a record, Discover finds the record
// for a From domain through a dns.Resolver, Evaluate combines the record
// with SPF and DKIM outcomes given as plain strings, and
// VerifyExternalDestination performs the RFC 7489 §7.1 check a report
// sender (or a domain doctor) needs. Author domains come from
// message.FromDomains.
//
// Organizational Domains come from the public suffix list compiled into
// golang.org/x/net/publicsuffix, private section included (see
// OrganizationalDomain), not from the RFC 9989 DNS tree walk.
//
// This package does not decide what to do with a failing message (that
// is the policy of the caller), does not send or parse aggregate or
// failure reports, and does not verify SPF or DKIM itself.
package dmarc
