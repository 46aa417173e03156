package dmarc

import (
	"strings"

	"golang.org/x/net/publicsuffix"
)

// OrganizationalDomain returns the Organizational Domain of domain
// (RFC 7489 §3.2): the public suffix plus one label. domain must already
// be normalised (lower case, A-labels, no trailing dot).
//
// The public suffix list is golang.org/x/net/publicsuffix's compiled-in
// copy, ICANN and PRIVATE sections together. Including the private
// section is a deliberate choice: names under a private suffix such as
// github.io or blogspot.com belong to different owners, so
// alice.github.io and bob.github.io must not align under relaxed mode,
// and a record at _dmarc.github.io must not govern alice.github.io. With
// the ICANN section alone both would happen. A domain that is itself a
// public suffix is its own Organizational Domain.
func OrganizationalDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// Aligned reports whether an authenticated identifier's domain is aligned
// with the From domain (RFC 7489 §3.1): in strict mode the two are equal;
// in relaxed mode their Organizational Domains are. Both domains must be
// normalised.
func Aligned(identifier, from string, mode Alignment) bool {
	if identifier == "" || from == "" {
		return false
	}
	if identifier == from {
		return true
	}
	if mode == Strict {
		return false
	}
	return OrganizationalDomain(identifier) == OrganizationalDomain(from)
}
