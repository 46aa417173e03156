// Package authres writes and reads the Authentication-Results header
// field (RFC 8601): Header.Fold builds the one field a receiver adds,
// with values quoted where RFC 8601 §2.2 requires; Parse reads incoming
// fields well enough to find their authserv-id and results; Own lists the
// incoming fields that claim our authserv-id, which RFC 8601 §5 says to
// remove.
//
// It is a pure library. It does not evaluate any method itself, and does
// not decide which authserv-ids are inside the trust boundary: the caller
// passes them.
package authres

import (
	"strconv"
	"strings"
)

// FieldName is the header field name.
const FieldName = "Authentication-Results"

// Prop is one property of a result: ptype "." property "=" pvalue
// (RFC 8601 §2.2), e.g. smtp.mailfrom=user@example.com.
type Prop struct {
	Type     string // "smtp", "header", "body", "policy", …
	Property string // "mailfrom", "d", "b", …
	Value    string // unquoted
}

// Result is one resinfo: a method's result with its reason and
// properties (RFC 8601 §2.2).
type Result struct {
	Method  string // "spf", "dkim", "dmarc", "arc", "iprev", "auth", …
	Version string // method version; "" for version 1
	Result  string // "pass", "fail", …
	Reason  string // optional reason="…"
	// Comment is an optional human-readable comment placed after the
	// result; it is not machine-readable (RFC 8601 §2.3).
	Comment string
	Props   []Prop
}

// Prop returns the value of the property ptype.property ("" when absent;
// names compare case-insensitively).
func (r Result) Prop(ptype, property string) string {
	for _, p := range r.Props {
		if strings.EqualFold(p.Type, ptype) && strings.EqualFold(p.Property, property) {
			return p.Value
		}
	}
	return ""
}

// Header is one Authentication-Results field.
type Header struct {
	// AuthServID names the service that did the checks (RFC 8601 §2.5),
	// usually the host name.
	AuthServID string
	// Version is the field's version; "" for 1 (RFC 8601 §2.2).
	Version string
	// Results are the resinfos; none gives "; none".
	Results []Result
}

// SPF returns an spf result (RFC 8601 §2.7.2) for the MAIL FROM identity,
// or for the HELO identity when mailfrom is empty.
func SPF(result, mailfrom, helo string) Result {
	r := Result{Method: "spf", Result: result}
	if mailfrom != "" {
		r.Props = append(r.Props, Prop{"smtp", "mailfrom", mailfrom})
	} else if helo != "" {
		r.Props = append(r.Props, Prop{"smtp", "helo", helo})
	}
	return r
}

// DKIMInfo is what a dkim result reports about one signature.
type DKIMInfo struct {
	Result    string
	Reason    string
	Domain    string // d=
	Identity  string // i=, optional
	Selector  string // s=
	Algorithm string // a=, optional
	Signature string // b=, whole or leading part
}

// DKIM returns a dkim result (RFC 8601 §2.7.1) with header.d, header.i
// (when given), header.s, header.a (when given) and header.b: the first 8
// characters of the signature, enough to tell signatures apart (RFC 8601
// §2.7.1 recommends at least 8).
func DKIM(d DKIMInfo) Result {
	r := Result{Method: "dkim", Result: d.Result, Reason: d.Reason}
	if d.Domain != "" {
		r.Props = append(r.Props, Prop{"header", "d", d.Domain})
	}
	if d.Identity != "" {
		r.Props = append(r.Props, Prop{"header", "i", d.Identity})
	}
	if d.Selector != "" {
		r.Props = append(r.Props, Prop{"header", "s", d.Selector})
	}
	if d.Algorithm != "" {
		r.Props = append(r.Props, Prop{"header", "a", d.Algorithm})
	}
	if b := stripSpace(d.Signature); b != "" {
		if len(b) > 8 {
			b = b[:8]
		}
		r.Props = append(r.Props, Prop{"header", "b", b})
	}
	return r
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// DMARC returns a dmarc result (RFC 7489 §11.2: header.from; RFC 9989
// §11.5: polrec.p, the published policy, and polrec.domain, where the
// record was found when it differs from the From domain). disposition,
// when given, is put in a comment for readers ("p=reject dis=quarantine").
func DMARC(result, fromDomain, policy, recordDomain, disposition string) Result {
	r := Result{Method: "dmarc", Result: result}
	if policy != "" {
		c := "p=" + policy
		if disposition != "" {
			c += " dis=" + disposition
		}
		r.Comment = c
	}
	if fromDomain != "" {
		r.Props = append(r.Props, Prop{"header", "from", fromDomain})
	}
	if policy != "" {
		r.Props = append(r.Props, Prop{"polrec", "p", policy})
	}
	if recordDomain != "" && !strings.EqualFold(recordDomain, fromDomain) {
		r.Props = append(r.Props, Prop{"polrec", "domain", recordDomain})
	}
	return r
}

// ARC returns an arc result (RFC 8617 §10.1: header.oldest-pass, given
// when positive, and smtp.remote-ip, given when not "").
func ARC(result string, oldestPass int, remoteIP string) Result {
	r := Result{Method: "arc", Result: result}
	if oldestPass > 0 {
		r.Props = append(r.Props, Prop{"header", "oldest-pass", strconv.Itoa(oldestPass)})
	}
	if remoteIP != "" {
		r.Props = append(r.Props, Prop{"smtp", "remote-ip", remoteIP})
	}
	return r
}

// IPRev returns an iprev result (RFC 8601 §2.7.3: policy.iprev is the
// client IP address); ptr, when given, goes into a comment.
func IPRev(result, ip, ptr string) Result {
	r := Result{Method: "iprev", Result: result, Comment: ptr}
	if ip != "" {
		r.Props = append(r.Props, Prop{"policy", "iprev", ip})
	}
	return r
}
