package dmarc

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamlet-mail/hamlet/dns"
)

// Discovery errors. Test them with errors.Is.
var (
	// ErrNoRecord: no DMARC record at the From domain nor at its
	// Organizational Domain (result "none").
	ErrNoRecord = errors.New("dmarc: no policy record")
	// ErrMultipleRecords: more than one DMARC record where the search
	// ended (RFC 7489 §6.6.3 step 6: no DMARC processing, result "none").
	ErrMultipleRecords = errors.New("dmarc: several policy records")
	// ErrTemporary: a DNS lookup failed temporarily (result "temperror").
	ErrTemporary = errors.New("dmarc: temporary DNS failure")
	// ErrInvalidPolicy: the record's p (or sp) is missing or invalid and
	// it has no valid rua to fall back on (RFC 7489 §6.6.3 step 7; result
	// "permerror").
	ErrInvalidPolicy = errors.New("dmarc: invalid policy record")
)

// Found is the outcome of policy discovery.
type Found struct {
	Record *Record
	// Domain is where the record was found: the From domain or its
	// Organizational Domain.
	Domain string
	// Notes says what discovery saw on the way (a record set that was
	// discarded, a fallback to p=none, syntax problems of the record).
	Notes []string
}

// Discover finds the DMARC policy record for the normalised From domain
// (RFC 7489 §6.6.3):
//
//  1. query TXT _dmarc.<from>; keep the answers that begin with v=DMARC1;
//  2. if there is not exactly one, and the Organizational Domain differs,
//     query _dmarc.<organizational domain> the same way;
//  3. no record, or several, ends discovery (ErrNoRecord,
//     ErrMultipleRecords);
//  4. a record whose p is missing or invalid, or whose sp is invalid, is
//     used as p=none when it has a valid rua, and otherwise ends DMARC
//     processing (ErrInvalidPolicy).
//
// A temporary DNS failure at either step gives an error wrapping
// ErrTemporary (and the *dns.Error). When the From domain is below its
// Organizational Domain, both queries are sent at once, as the second is
// nearly always needed; its answer is used only as step 2 says.
func Discover(ctx context.Context, r dns.Resolver, from string) (*Found, error) {
	f := &Found{}
	org := OrganizationalDomain(from)
	var orgAns chan fetched
	if org != from {
		orgAns = make(chan fetched, 1) // buffered: never blocks if unused
		go func() { orgAns <- fetch(ctx, r, org) }()
	}
	first := fetch(ctx, r, from)
	f.Notes = append(f.Notes, first.notes...)
	if first.err != nil {
		return f, first.err
	}
	recs, at := first.recs, from
	if len(recs) != 1 && orgAns != nil {
		if len(recs) > 1 {
			f.Notes = append(f.Notes, fmt.Sprintf("%d records at _dmarc.%s discarded", len(recs), from))
		}
		second := <-orgAns
		f.Notes = append(f.Notes, second.notes...)
		if second.err != nil {
			return f, second.err
		}
		recs, at = second.recs, org
	}
	switch {
	case len(recs) == 0:
		return f, fmt.Errorf("%w for %s", ErrNoRecord, from)
	case len(recs) > 1:
		return f, fmt.Errorf("%w (%d) at _dmarc.%s", ErrMultipleRecords, len(recs), at)
	}
	rec := recs[0]
	f.Domain = at
	for _, p := range rec.Problems {
		if p.Severity == Invalid {
			f.Notes = append(f.Notes, p.String())
		}
	}
	if !rec.PolicyValid() {
		// RFC 7489 §6.6.3 step 7.
		if len(rec.RUA) == 0 {
			f.Record = rec
			return f, fmt.Errorf("%w at _dmarc.%s: p or sp invalid and no valid rua", ErrInvalidPolicy, at)
		}
		fixed := *rec
		fixed.Policy, fixed.SubdomainPolicy, fixed.NonexistentPolicy = PolicyNone, "", ""
		fixed.pInvalid, fixed.spInvalid = false, false
		rec = &fixed
		f.Notes = append(f.Notes, "invalid p or sp with a valid rua: treated as p=none (RFC 7489 §6.6.3)")
	}
	f.Record = rec
	return f, nil
}

// fetched is the answer of fetch.
type fetched struct {
	recs  []*Record
	notes []string
	err   error
}

// fetch returns the DMARC records at _dmarc.<domain>. NXDOMAIN and NODATA
// give none; other failures wrap ErrTemporary.
func fetch(ctx context.Context, r dns.Resolver, domain string) fetched {
	var out fetched
	name := "_dmarc." + domain
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if !dns.IsNotFound(err) {
			out.err = fmt.Errorf("%w: %w", ErrTemporary, err)
		}
		return out
	}
	for _, t := range txts {
		rec, err := Parse(t)
		if rec == nil {
			// RFC 7489 §6.6.3 step 3: not a DMARC record, discarded.
			if !errors.Is(err, ErrNotDMARC) {
				out.notes = append(out.notes, fmt.Sprintf("%s: %v", name, err))
			}
			continue
		}
		out.recs = append(out.recs, rec)
	}
	return out
}

// domainExists reports whether domain exists in DNS, for the np policy
// (RFC 9091 §2.1, RFC 9989 §4.10): a domain is non-existent when its A,
// AAAA and MX queries all give NXDOMAIN. A temporary failure counts as
// existing and is returned as err.
func domainExists(ctx context.Context, r dns.Resolver, domain string) (bool, error) {
	if _, err := r.LookupA(ctx, domain); !dns.IsNXDomain(err) {
		return true, tempOnly(err)
	}
	if _, err := r.LookupAAAA(ctx, domain); !dns.IsNXDomain(err) {
		return true, tempOnly(err)
	}
	if _, err := r.LookupMX(ctx, domain); !dns.IsNXDomain(err) {
		return true, tempOnly(err)
	}
	return false, nil
}

func tempOnly(err error) error {
	if err == nil || dns.IsNotFound(err) {
		return nil
	}
	return err
}
