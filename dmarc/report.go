package dmarc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
)

// Authorization is the outcome of the external destination check.
type Authorization struct {
	// Needed is false when the destination's Organizational Domain is the
	// policy domain's: no check is required (RFC 7489 §7.1).
	Needed bool
	// Authorized reports whether reports may be sent to the URI.
	Authorized bool
	// Query is the name that was asked ("" when not Needed).
	Query string
	// Override holds the rua (or ruf) URIs of the verification record
	// that replace the requested one (RFC 7489 §7.1 step 4); only those
	// within the destination's Organizational Domain are kept.
	Override []URI
}

// ErrNotMailto: only mailto: destinations can be verified.
var ErrNotMailto = errors.New("dmarc: reporting URI is not mailto:")

// VerifyExternalDestination checks whether the destination of a
// reporting URI published by policyDomain (the domain where the DMARC
// record was found) accepts reports for it (RFC 7489 §7.1, RFC 9990
// §4): when the URI's domain is in another Organizational Domain, a TXT
// record beginning with "v=DMARC1" must exist at
// <policyDomain>._report._dmarc.<destination domain>. ruf selects which
// override tag of the verification record is read (ruf= instead of rua=).
//
// NXDOMAIN and NODATA mean not authorized (nil error); a temporary DNS
// failure returns an error wrapping ErrTemporary.
func VerifyExternalDestination(ctx context.Context, r dns.Resolver, policyDomain string, uri URI, ruf bool) (Authorization, error) {
	var a Authorization
	if uri.URL == nil || uri.URL.Scheme != "mailto" || uri.Domain == "" {
		return a, fmt.Errorf("%w: %q", ErrNotMailto, uri.Raw)
	}
	policyDomain = strings.TrimSuffix(strings.ToLower(policyDomain), ".")
	if OrganizationalDomain(uri.Domain) == OrganizationalDomain(policyDomain) {
		a.Authorized = true
		return a, nil
	}
	a.Needed = true
	a.Query = policyDomain + "._report._dmarc." + uri.Domain
	txts, err := r.LookupTXT(ctx, a.Query)
	if err != nil {
		if dns.IsNotFound(err) {
			return a, nil
		}
		return a, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	for _, t := range txts {
		// RFC 7489 §7.1 step 3: a record that begins with v=DMARC1
		// authorizes, whatever else it says.
		rec, _ := Parse(t)
		if rec == nil {
			continue
		}
		a.Authorized = true
		over := rec.RUA
		if ruf {
			over = rec.RUF
		}
		destOrg := OrganizationalDomain(uri.Domain)
		for _, o := range over {
			if o.Domain != "" && OrganizationalDomain(o.Domain) == destOrg {
				a.Override = append(a.Override, o)
			}
		}
		break
	}
	return a, nil
}
