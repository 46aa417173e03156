package dmarc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/message"
)

// Status is a DMARC result in the words of RFC 8601 §2.7.
type Status string

// Results.
const (
	StatusPass      Status = "pass"
	StatusFail      Status = "fail"
	StatusNone      Status = "none"
	StatusTempError Status = "temperror"
	StatusPermError Status = "permerror"
)

// SPFInput is the SPF outcome DMARC uses: the domain SPF authenticated
// (the MAIL FROM domain, or the HELO name when MAIL FROM was null —
// RFC 7489 §3.1.2) and its RFC 7208 §2.6 result ("pass", "fail",
// "softfail", "neutral", "none", "temperror", "permerror").
type SPFInput struct {
	Domain string
	Result string
}

// DKIMInput is one DKIM signature's outcome: its d= domain, selector and
// RFC 8601 §2.7.1 result ("pass", "fail", "neutral", "policy", "none",
// "temperror", "permerror").
type DKIMInput struct {
	Domain   string
	Selector string
	Result   string
}

// Input is what Evaluate needs from the other checks.
type Input struct {
	// FromDomain is the RFC5322.From domain (the Author Domain); it is
	// normalised here (lower case, A-labels).
	FromDomain string
	SPF        SPFInput
	DKIM       []DKIMInput
}

// Result is the outcome of a DMARC evaluation.
type Result struct {
	Status Status
	// FromDomain is the normalised From domain and OrgDomain its
	// Organizational Domain.
	FromDomain, OrgDomain string
	// RecordDomain is where the policy record was found ("" if none).
	RecordDomain string
	Record       *Record
	// Policy is what the record requests for this message: p, or sp for
	// a subdomain found through the Organizational Domain, or np for a
	// non-existent subdomain. "" when there is no usable record.
	Policy Policy
	// PolicyTag names the tag Policy came from: "p", "sp" or "np".
	PolicyTag string
	// Disposition is the policy to apply to this message: PolicyNone for
	// a pass, Policy for a failure, one level lower when pct sampling
	// (or t=y) left the message out. "" when there is no usable record.
	Disposition Policy
	// SampledOut reports that pct or t=y lowered Disposition.
	SampledOut bool
	// SPFAligned and DKIMAligned report which authenticated identifier
	// passed and aligned; AlignedDKIM is the first such d= domain.
	SPFAligned  bool
	DKIMAligned bool
	AlignedDKIM string
	// Reasons explain the result in words fit for a log line.
	Reasons []string
	// Err is the error behind temperror, permerror or none.
	Err error
}

// Evaluator evaluates DMARC. The zero value is ready to use.
type Evaluator struct {
	// Rand returns a uniform integer in [0, n); nil uses math/rand/v2.
	// Tests inject a fixed source to check pct sampling.
	Rand func(n int) int
}

// Evaluate evaluates DMARC with the default Evaluator.
func Evaluate(ctx context.Context, r dns.Resolver, in Input) Result {
	var e Evaluator
	return e.Evaluate(ctx, r, in)
}

// Evaluate discovers the From domain's policy and checks whether an
// aligned identifier passed (RFC 7489 §6.6, RFC 9989 §4.10):
//
//   - pass: SPF or a DKIM signature passed for a domain aligned with the
//     From domain in the record's aspf/adkim mode (§3.1, §6.6.2);
//   - temperror: DNS failed during discovery, or no aligned identifier
//     passed and an aligned one had a temporary error (§6.6.2: the
//     policy cannot be applied);
//   - fail: a record exists and nothing aligned passed;
//   - none: no record (or several) — no DMARC processing;
//   - permerror: the record's policy is invalid without a valid rua, or
//     the From domain is not a usable name.
func (e *Evaluator) Evaluate(ctx context.Context, r dns.Resolver, in Input) Result {
	res := Result{}
	from, err := message.NormalizeDomain(in.FromDomain)
	if err != nil {
		res.Status, res.Err = StatusPermError, err
		res.Reasons = append(res.Reasons, err.Error())
		res.FromDomain = in.FromDomain
		return res
	}
	res.FromDomain = from
	res.OrgDomain = OrganizationalDomain(from)

	found, err := Discover(ctx, r, from)
	if found != nil {
		res.Reasons = append(res.Reasons, found.Notes...)
		res.Record, res.RecordDomain = found.Record, found.Domain
	}
	if err != nil {
		res.Err = err
		res.Reasons = append(res.Reasons, err.Error())
		switch {
		case errors.Is(err, ErrTemporary):
			res.Status = StatusTempError
		case errors.Is(err, ErrInvalidPolicy):
			res.Status = StatusPermError
		default:
			res.Status = StatusNone
		}
		return res
	}
	rec := found.Record
	res.Policy, res.PolicyTag = rec.Policy, "p"
	if found.Domain != from && rec.SubdomainPolicy != "" {
		res.Policy, res.PolicyTag = rec.SubdomainPolicy, "sp"
	}

	tempAligned := e.align(&res, rec, from, in)
	switch {
	case res.SPFAligned || res.DKIMAligned:
		res.Status, res.Disposition = StatusPass, PolicyNone
		return res
	case tempAligned != "":
		// RFC 7489 §6.6.2: a temporary error of an aligned identifier
		// means the policy cannot be applied yet.
		res.Status = StatusTempError
		res.Err = fmt.Errorf("%w: %s", ErrTemporary, tempAligned)
		res.Reasons = append(res.Reasons, tempAligned)
		return res
	}
	res.Status = StatusFail

	// RFC 9091 §2.1, RFC 9989 §4.10: np applies to a non-existent
	// subdomain whose policy came from the Organizational Domain.
	if found.Domain != from && rec.NonexistentPolicy != "" {
		exists, err := domainExists(ctx, r, from)
		switch {
		case err != nil:
			res.Reasons = append(res.Reasons, fmt.Sprintf("existence of %s unknown (%v); np not applied", from, err))
		case !exists:
			res.Policy, res.PolicyTag = rec.NonexistentPolicy, "np"
			res.Reasons = append(res.Reasons, from+" does not exist: np applies")
		}
	}

	res.Disposition = res.Policy
	// RFC 7489 §6.6.4: a message not selected by pct gets the next less
	// strict policy; RFC 9989 §4.7: t=y asks for the same as pct=0.
	pct := rec.Percent
	if rec.Testing {
		pct = 0
	}
	if res.Policy != PolicyNone && pct < 100 {
		rnd := e.Rand
		if rnd == nil {
			rnd = rand.IntN
		}
		if pct == 0 || rnd(100) >= pct {
			res.Disposition = res.Policy.lower()
			res.SampledOut = true
			if rec.Testing {
				res.Reasons = append(res.Reasons, fmt.Sprintf("t=y: %s applied as %s", res.Policy, res.Disposition))
			} else {
				res.Reasons = append(res.Reasons, fmt.Sprintf("sampled out by pct=%d: %s applied as %s", pct, res.Policy, res.Disposition))
			}
		}
	}
	return res
}

// align checks the SPF and DKIM identifiers against from and records the
// findings in res. It returns a description of an aligned identifier that
// had a temporary error, "" if none did.
func (e *Evaluator) align(res *Result, rec *Record, from string, in Input) (tempAligned string) {
	spfDom, spfErr := message.NormalizeDomain(in.SPF.Domain)
	spfRes := strings.ToLower(strings.TrimSpace(in.SPF.Result))
	spfAligned := spfErr == nil && Aligned(spfDom, from, rec.SPF)
	switch {
	case spfRes == "pass" && spfAligned:
		res.SPFAligned = true
	case spfRes == "pass":
		res.Reasons = append(res.Reasons, fmt.Sprintf("SPF pass for %s not aligned (%s)", spfDom, rec.SPF))
	case spfRes == "temperror" && spfAligned:
		tempAligned = "SPF temperror for aligned " + spfDom
	case spfRes == "" || spfRes == "none":
		res.Reasons = append(res.Reasons, "no SPF result")
	default:
		res.Reasons = append(res.Reasons, fmt.Sprintf("SPF %s for %s", spfRes, spfDom))
	}

	passed := false
	for _, d := range in.DKIM {
		dom, err := message.NormalizeDomain(d.Domain)
		if err != nil {
			continue
		}
		r := strings.ToLower(strings.TrimSpace(d.Result))
		aligned := Aligned(dom, from, rec.DKIM)
		switch {
		case r == "pass" && aligned:
			if !res.DKIMAligned {
				res.DKIMAligned, res.AlignedDKIM = true, dom
			}
		case r == "pass":
			passed = true
			res.Reasons = append(res.Reasons, fmt.Sprintf("DKIM pass for %s not aligned (%s)", dom, rec.DKIM))
		case r == "temperror" && aligned && tempAligned == "":
			tempAligned = "DKIM temperror for aligned " + dom
		}
	}
	if !res.DKIMAligned && !passed && len(in.DKIM) == 0 {
		res.Reasons = append(res.Reasons, "no DKIM signature")
	} else if !res.DKIMAligned && !passed {
		res.Reasons = append(res.Reasons, "no valid DKIM signature")
	}
	return tempAligned
}

// rank orders results for Strictest: a failure with a stronger
// disposition outranks a weaker one, then temperror, permerror, none,
// pass.
func (r Result) rank() int {
	switch r.Status {
	case StatusFail:
		return 10 + r.Disposition.strength()
	case StatusTempError:
		return 4
	case StatusPermError:
		return 3
	case StatusNone:
		return 2
	case StatusPass:
		return 1
	}
	return 0
}

// Strictest returns the strictest of results, for a From field with
// several author domains (RFC 7489 §6.6.1: apply the most strict policy
// among the checks that fail). It returns the zero Result for none.
func Strictest(results ...Result) Result {
	var best Result
	for i, r := range results {
		if i == 0 || r.rank() > best.rank() {
			best = r
		}
	}
	return best
}
