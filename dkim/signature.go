package dkim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/dns/dnsname"
)

// Kind says which header field a Signature was parsed from: the tag
// rules of DKIM-Signature and of the two signing ARC fields differ a little.
type Kind int

// The kinds of signature header field.
const (
	KindDKIM Kind = iota // DKIM-Signature (RFC 6376 §3.5)
	KindAMS              // ARC-Message-Signature (RFC 8617 §4.1.2)
	KindAS               // ARC-Seal (RFC 8617 §4.1.3)
)

func (k Kind) String() string {
	switch k {
	case KindAMS:
		return "ARC-Message-Signature"
	case KindAS:
		return "ARC-Seal"
	}
	return "DKIM-Signature"
}

// Signature is a parsed DKIM-Signature (or ARC-Message-Signature /
// ARC-Seal) field value.
type Signature struct {
	Kind      Kind
	Version   string    // v=, DKIM only
	Algorithm Algorithm // a=
	// B is the signature (b=, decoded); BText is its base64 text without
	// white space, whose prefix is RFC 6008's header.b.
	B     []byte
	BText string
	// BodyHash is bh= decoded (not in ARC-Seal).
	BodyHash    []byte
	HeaderCanon Canon    // c= header part
	BodyCanon   Canon    // c= body part
	Domain      string   // d=, lower case
	Headers     []string // h=, as written
	// Identity is i= of a DKIM-Signature (the AUID, RFC 6376 §3.5); it
	// defaults to "@" + d=.
	Identity string
	// Instance is i= of an ARC field (RFC 8617 §4.2.1), 1 to 50.
	Instance int
	// Length is l= (RFC 6376 §3.5), -1 when absent: only that many
	// bytes of the canonicalized body are signed.
	Length   int64
	Selector string // s=
	// Timestamp (t=) and Expiration (x=) are Unix times, -1 when absent.
	Timestamp  int64
	Expiration int64
	// ChainValidation is cv= of an ARC-Seal (RFC 8617 §4.1.3), lower case.
	ChainValidation string
	// Tags holds every tag as written, unknown ones too.
	Tags TagList
}

// HeaderB returns the first n characters of b= (RFC 6008 §4 header.b).
func (s *Signature) HeaderB(n int) string {
	if len(s.BText) <= n {
		return s.BText
	}
	return s.BText[:n]
}

// SignsHeader reports whether h= names the field name (case-insensitive).
func (s *Signature) SignsHeader(name string) bool {
	for _, h := range s.Headers {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// ErrSignatureSyntax is wrapped by every signature parse error; RFC 6376
// §6.1.1 makes such a signature PERMFAIL (permerror).
var ErrSignatureSyntax = errors.New("invalid signature")

// ParseSignature parses a DKIM-Signature field value (everything after the
// colon) and applies the checks of RFC 6376 §6.1.1 that need no DNS.
func ParseSignature(value string) (*Signature, error) {
	return ParseSignatureKind(KindDKIM, value)
}

// ParseSignatureKind parses the value of a field of the given kind.
func ParseSignatureKind(kind Kind, value string) (*Signature, error) {
	tags, err := ParseTagList(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignatureSyntax, err)
	}
	s, err := signatureFromTags(kind, tags)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignatureSyntax, err)
	}
	return s, nil
}

// requiredTags: RFC 6376 §3.5 (DKIM-Signature), RFC 8617 §4.1.2 (AMS:
// the DKIM set with i= for v=) and §4.1.3 (ARC-Seal).
var requiredTags = map[Kind][]string{
	KindDKIM: {"v", "a", "b", "bh", "d", "h", "s"},
	KindAMS:  {"i", "a", "b", "bh", "d", "h", "s"},
	KindAS:   {"i", "a", "b", "cv", "d", "s"},
}

func signatureFromTags(kind Kind, tags TagList) (*Signature, error) {
	s := &Signature{Kind: kind, Tags: tags, Length: -1, Timestamp: -1, Expiration: -1}
	if kind == KindAMS {
		// RFC 8617 does not restate c='s default for the AMS; ARC
		// implementations (and the ValiMail suite, ams_fields_c_na)
		// use relaxed/relaxed, the only form RFC 8617 §5.1 signers
		// are shown to produce.
		s.HeaderCanon, s.BodyCanon = Relaxed, Relaxed
	}
	required := requiredTags[kind]
	// RFC 6376 §6.1.1: "If any tag listed as "required" in Section 3.5 is
	// omitted from the DKIM-Signature header field, the Verifier MUST
	// ignore the DKIM-Signature header field and return PERMFAIL".
	for _, name := range required {
		if !tags.Has(name) {
			return nil, fmt.Errorf("required tag %s= missing", name)
		}
	}
	var err error
	for _, t := range tags {
		v := t.Value
		switch t.Name {
		case "v":
			if kind != KindDKIM {
				continue
			}
			// RFC 6376 §3.5: v= MUST be "1"; §6.1.1: otherwise
			// PERMFAIL (incompatible version).
			if v != "1" {
				return nil, fmt.Errorf("incompatible version v=%s", v)
			}
			s.Version = v
		case "a":
			if s.Algorithm, err = ParseAlgorithm(v); err != nil {
				return nil, err
			}
		case "b":
			s.BText = stripFWS(v)
			if s.B, err = base64.StdEncoding.DecodeString(s.BText); err != nil || len(s.B) == 0 {
				return nil, fmt.Errorf("b= is not valid base64")
			}
		case "bh":
			if kind == KindAS {
				continue
			}
			if s.BodyHash, err = base64.StdEncoding.DecodeString(stripFWS(v)); err != nil || len(s.BodyHash) == 0 {
				return nil, fmt.Errorf("bh= is not valid base64")
			}
		case "c":
			if kind == KindAS {
				// The seal is always relaxed (RFC 8617 §5.1.1);
				// c= has no meaning there and is ignored.
				continue
			}
			if s.HeaderCanon, s.BodyCanon, err = ParseCanon(v); err != nil {
				return nil, err
			}
		case "d":
			if !validDomain(v) {
				return nil, fmt.Errorf("d=%q is not a domain name", v)
			}
			s.Domain = strings.ToLower(v)
		case "h":
			if kind == KindAS {
				// RFC 8617 §4.1.3: "The ARC-Seal header field does not
				// use ... h=": its presence makes the seal invalid.
				return nil, errors.New("h= is not allowed in ARC-Seal")
			}
			names := strings.Split(v, ":")
			s.Headers = make([]string, 0, len(names))
			for _, h := range names {
				h = trimFWS(h)
				if h == "" {
					// Not in the §3.5 grammar, but harmless: an empty
					// name selects no field. The ARC suite expects it
					// accepted (ams_fields_h_mis_hdr, ams_fields_h_empty).
					continue
				}
				if !validFieldName(h) {
					return nil, fmt.Errorf("h= holds an invalid field name %q", h)
				}
				s.Headers = append(s.Headers, h)
			}
		case "i":
			if kind == KindDKIM {
				// §3.5: i= is dkim-quoted-printable (§2.11).
				if s.Identity, err = decodeQP(v); err != nil {
					return nil, fmt.Errorf("invalid i=: %w", err)
				}
				continue
			}
			// RFC 8617 §4.2.1: instance 1 to 50, plain digits.
			n, err := parseDigits(v, 2)
			if err != nil || n < 1 || n > MaxARCInstance {
				return nil, fmt.Errorf("invalid instance i=%q", v)
			}
			s.Instance = int(n)
		case "l":
			if kind != KindDKIM {
				continue
			}
			if s.Length, err = parseDigits(v, 76); err != nil {
				return nil, fmt.Errorf("invalid body length l=%q", v)
			}
		case "q":
			if kind != KindDKIM {
				continue
			}
			// RFC 6376 §3.5 q=: "dns/txt" is the only method; §6.1.1
			// an unsupported method is PERMFAIL.
			ok := false
			for _, m := range strings.Split(v, ":") {
				m, opt, hasOpt := strings.Cut(trimFWS(m), "/")
				if strings.EqualFold(m, "dns") && (!hasOpt || strings.EqualFold(opt, "txt")) {
					ok = true
				}
			}
			if !ok {
				return nil, fmt.Errorf("unsupported query method q=%s", v)
			}
		case "s":
			if !validSelector(v) {
				return nil, fmt.Errorf("s=%q is not a selector", v)
			}
			s.Selector = v
		case "t":
			if s.Timestamp, err = parseDigits(v, 12); err != nil {
				return nil, fmt.Errorf("invalid timestamp t=%q", v)
			}
		case "x":
			if kind != KindDKIM {
				continue
			}
			if s.Expiration, err = parseDigits(v, 12); err != nil {
				return nil, fmt.Errorf("invalid expiration x=%q", v)
			}
		case "cv":
			if kind != KindAS {
				continue
			}
			// RFC 8617 §4.1.3: cv= is none, fail or pass.
			switch cv := strings.ToLower(v); cv {
			case "none", "fail", "pass":
				s.ChainValidation = cv
			default:
				return nil, fmt.Errorf("invalid chain validation cv=%q", v)
			}
		}
	}
	switch kind {
	case KindDKIM:
		if err := checkDKIMIdentity(s); err != nil {
			return nil, err
		}
		// RFC 6376 §5.4: "The From header field MUST be signed"; a
		// signature whose h= lacks it is invalid (§6.1.1).
		if !s.SignsHeader("From") {
			return nil, errors.New("h= does not include From")
		}
		// RFC 6376 §3.5 x=: "the value of the x= tag MUST be greater
		// than the value of the t= tag if both are present".
		if s.Timestamp >= 0 && s.Expiration >= 0 && s.Expiration < s.Timestamp {
			return nil, errors.New("x= is before t=")
		}
	case KindAMS:
		// RFC 8617 §4.1.2: the AMS "MUST NOT" sign ARC-Seal fields.
		if s.SignsHeader("ARC-Seal") {
			return nil, errors.New("h= includes ARC-Seal")
		}
	}
	return s, nil
}

// checkDKIMIdentity applies RFC 6376 §3.5 i=: "The domain part of the
// address MUST be the same as, or a subdomain of, the value of the d= tag";
// the default is "@" followed by d=.
func checkDKIMIdentity(s *Signature) error {
	if s.Identity == "" {
		if s.Tags.Has("i") {
			return errors.New("empty i=")
		}
		s.Identity = "@" + s.Domain
		return nil
	}
	at := strings.LastIndexByte(s.Identity, '@')
	if at < 0 {
		return fmt.Errorf("i=%q has no @", s.Identity)
	}
	dom := strings.ToLower(s.Identity[at+1:])
	if dom != s.Domain && !strings.HasSuffix(dom, "."+s.Domain) {
		return fmt.Errorf("i= domain %q is not within d=%s", dom, s.Domain)
	}
	return nil
}

// IdentityDomain returns the domain part of i= (lower case).
func (s *Signature) IdentityDomain() string {
	at := strings.LastIndexByte(s.Identity, '@')
	return strings.ToLower(s.Identity[at+1:])
}

// decodeQP decodes dkim-quoted-printable (RFC 6376 §2.11): "=XX" hex
// escapes, with FWS ignored.
func decodeQP(v string) (string, error) {
	v = stripFWS(v)
	if !strings.Contains(v, "=") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '=' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", errors.New("truncated =XX escape")
		}
		hi, ok1 := unhex(v[i+1])
		lo, ok2 := unhex(v[i+2])
		if !ok1 || !ok2 {
			return "", errors.New("bad =XX escape")
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseDigits(s string, max int) (int64, error) {
	if s == "" || len(s) > max {
		return 0, errors.New("bad number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad number")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// More digits than int64 holds: treat as "very large".
		return 1<<63 - 1, nil
	}
	return n, nil
}

// validDomain accepts a domain name as d= allows (RFC 6376 §3.5,
// domain-name of RFC 5321, plus U-labels per RFC 8616 §4). Underscores are
// tolerated although RFC 5321's grammar has none: the key is looked up in
// DNS, which allows them (RFC 2181 §11), and other verifiers (dkimpy) do
// not refuse them either.
func validDomain(s string) bool { return dkimNames.Valid(s) }

var dkimNames = dnsname.Rules{Underscore: true, ULabels: true}

// validSelector: RFC 6376 §3.1, selectors are sub-domains (may have dots).
func validSelector(s string) bool { return validDomain(s) }

// validFieldName: RFC 5322 §3.6.8 ftext.
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 32 || s[i] >= 127 || s[i] == ':' {
			return false
		}
	}
	return s != ""
}
