// Package dkimkeys holds hamlet's DKIM signing keys: their configuration
// ([[dkim.sign]] tables), loading private keys from PEM files (refusing
// files that others can read), choosing the keys for a From domain, making
// the signatures with package dkim, and generating new keys with the DNS
// record to publish.
package dkimkeys

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/message"
)

// Algorithms a key may be configured with.
const (
	AlgRSA     = "rsa-sha256"     // RFC 6376 §3.3.1
	AlgEd25519 = "ed25519-sha256" // RFC 8463 §3
)

// SignKey is one [[dkim.sign]] table: a key used to sign mail whose From
// domain is Domain (or, with Subdomains, any name below it).
type SignKey struct {
	// Domain is d= and the From domain this key signs for.
	Domain string `toml:"domain"`
	// Selector is s=: the key record is published at
	// <selector>._domainkey.<domain> (RFC 6376 §3.6.2.1).
	Selector string `toml:"selector"`
	// Key is the path of the private key: PEM (PKCS#1 "RSA PRIVATE KEY"
	// or PKCS#8 "PRIVATE KEY"), or for ed25519 the base64 of the 32-byte
	// seed as dkimpy writes it. Only hamlet's user may read it.
	Key string `toml:"key"`
	// Algorithm is "rsa-sha256" (default) or "ed25519-sha256"; it must
	// match the key's type.
	Algorithm string `toml:"algorithm"`
	// Subdomains makes the key sign mail from any subdomain of Domain as
	// well (d= stays Domain, which DMARC's relaxed alignment accepts,
	// RFC 7489 §3.1.1). A key configured for the subdomain itself wins.
	Subdomains bool `toml:"subdomains"`
	// Canonicalization is c=, "relaxed/relaxed" by default.
	Canonicalization string `toml:"canonicalization"`
	// Expire, when set, adds x= that far after t= (RFC 6376 §3.5), e.g.
	// "7d" or "168h".
	Expire duration.Duration `toml:"expire"`
	// Headers replaces the list of header fields signed (every instance
	// present); dkim.DefaultHeaders when empty. From is always signed.
	Headers []string `toml:"headers"`
	// Oversign replaces the fields signed once more than they occur, so
	// that none can be added later (RFC 6376 §8.15); dkim.DefaultOversign
	// (From, To, Cc, Subject, Date, Reply-To, Message-ID and the MIME
	// fields) when absent; ["none"] turns oversigning off.
	Oversign []string `toml:"oversign"`
}

// Normalize returns k with defaults filled in and names in lower case.
func (k SignKey) Normalize() SignKey {
	k.Domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(k.Domain), "."))
	// A U-label domain is signed as its A-labels (RFC 8616 §4), the form
	// From domains are compared in.
	if a, err := message.NormalizeDomain(k.Domain); err == nil {
		k.Domain = a
	}
	k.Selector = strings.ToLower(strings.TrimSpace(k.Selector))
	k.Algorithm = strings.ToLower(strings.TrimSpace(k.Algorithm))
	if k.Algorithm == "" {
		k.Algorithm = AlgRSA
	}
	if k.Canonicalization == "" {
		k.Canonicalization = "relaxed/relaxed"
	}
	return k
}

// Validate checks the table without reading the key file.
func (k SignKey) Validate() error {
	n := k.Normalize()
	where := fmt.Sprintf("dkim.sign (domain %q, selector %q)", k.Domain, k.Selector)
	if !validName(n.Domain) {
		return fmt.Errorf("%s: domain %q is not a domain name", where, k.Domain)
	}
	if !validLabel(n.Selector) && !validName(n.Selector) {
		return fmt.Errorf("%s: selector %q is not a valid selector (letters, digits, '-', dots)", where, k.Selector)
	}
	if strings.TrimSpace(k.Key) == "" {
		return fmt.Errorf("%s: key: the path of the private key file is missing", where)
	}
	switch n.Algorithm {
	case AlgRSA, AlgEd25519:
	default:
		return fmt.Errorf("%s: algorithm %q: want %q or %q", where, k.Algorithm, AlgRSA, AlgEd25519)
	}
	if _, _, err := dkim.ParseCanon(n.Canonicalization); err != nil {
		return fmt.Errorf("%s: canonicalization %q: want e.g. \"relaxed/relaxed\" or \"relaxed/simple\"", where, k.Canonicalization)
	}
	if k.Expire < 0 {
		return fmt.Errorf("%s: expire must not be negative", where)
	}
	if k.Expire > 0 && time.Duration(k.Expire) < time.Hour {
		return fmt.Errorf("%s: expire %s is shorter than an hour: receivers would reject mail delayed in a queue", where, time.Duration(k.Expire))
	}
	for _, h := range append(append([]string(nil), k.Headers...), k.Oversign...) {
		if !validFieldName(h) {
			return fmt.Errorf("%s: header field name %q is not valid", where, h)
		}
	}
	return nil
}

// ValidateAll validates every key and that no (domain, selector) pair is
// configured twice.
func ValidateAll(keys []SignKey) error {
	seen := map[string]bool{}
	var errs []error
	for _, k := range keys {
		if err := k.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		n := k.Normalize()
		id := n.Selector + "._domainkey." + n.Domain
		if seen[id] {
			errs = append(errs, fmt.Errorf("dkim.sign: selector %q of domain %q is configured twice", n.Selector, n.Domain))
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

// validName: a host name of LDH labels (RFC 1123 §2.1), with '_' allowed
// as DKIM selectors and some domains use it.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validFieldName: RFC 5322 §3.6.8 ftext, printable ASCII but ':'.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}
