// Package dnsname checks the text form of a domain name: the one place that
// says whether a string is a name hamlet looks up, signs for, allowlists or
// writes into a header.
//
// The base rules are the host-name syntax of RFC 1035 §2.3.1 as relaxed by
// RFC 1123 §2.1 (a label may start with a digit): labels of letters, digits
// and hyphens (LDH), 1–63 octets, not starting or ending with a hyphen, the
// name at most 253 octets (255 on the wire, RFC 1035 §3.1). Letters of
// either case are accepted (RFC 4343). A label that starts with "xn--" is an
// A-label (RFC 5890 §2.3.2.1) and must decode to a U-label that encodes back
// to the same label, so "xn--abc" and "xn--" are refused. Other labels with
// hyphens in the third and fourth position ("reserved LDH labels", RFC 5890
// §2.3.1) are valid DNS labels and accepted.
//
// Rules widens this for callers that need it: underscores (RFC 2181 §11),
// U-labels (RFC 8616, RFC 6531), a minimum number of labels, and a trailing
// dot. A trailing dot is refused unless Rules.TrailingDot is set: callers
// decide explicitly whether an absolute name ("example.com.") is accepted.
//
// The package does not normalise (lower-case, map or convert) a name: it only
// answers whether the name is acceptable; message.NormalizeDomain converts.
package dnsname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid domain name")

// MaxName is the longest name in text form without a trailing dot: 255 octets
// on the wire (RFC 1035 §3.1) less the first length octet and the root label.
const MaxName = 253

// MaxLabel is the longest label (RFC 1035 §2.3.4).
const MaxLabel = 63

// Rules says which names Check accepts beyond the LDH host-name syntax.
type Rules struct {
	// MinLabels is the least number of labels; 0 and 1 accept a single
	// label ("localhost"), 2 asks for at least one dot.
	MinLabels int
	// Underscore accepts '_' anywhere in a label, as DNS does (RFC 2181
	// §11) for names such as _dmarc.example.com and DKIM selectors.
	Underscore bool
	// ULabels accepts labels with non-ASCII characters when they are valid
	// U-labels (RFC 5890 §2.3.2.1, as golang.org/x/net/idna's lookup
	// profile decides); their length counts in A-label form.
	ULabels bool
	// TrailingDot accepts one final dot (an absolute name, RFC 1034 §3.1).
	TrailingDot bool
}

// Host is a host or mail domain name as users type it: LDH labels, at least
// one dot, no trailing dot.
var Host = Rules{MinLabels: 2}

// Valid reports whether Check accepts name.
func (r Rules) Valid(name string) bool { return r.Check(name) == nil }

// Check returns nil when name is a domain name under r, else an error
// wrapping ErrInvalid that says why.
func (r Rules) Check(name string) error {
	if r.TrailingDot && strings.HasSuffix(name, ".") && name != "." {
		name = name[:len(name)-1]
	}
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalid)
	}
	size, labels := 0, 0
	for rest := name; ; {
		l, tail, more := strings.Cut(rest, ".")
		n, err := r.label(l)
		if err != nil {
			return err
		}
		size += n
		labels++
		if !more {
			break
		}
		size++ // the dot
		rest = tail
	}
	if size > MaxName {
		return fmt.Errorf("%w: %d octets, longer than %d", ErrInvalid, size, MaxName)
	}
	if labels < r.MinLabels {
		return fmt.Errorf("%w: %q has %d label(s), want at least %d", ErrInvalid, name, labels, r.MinLabels)
	}
	return nil
}

// label checks one label and returns its length on the wire.
func (r Rules) label(l string) (int, error) {
	if l == "" {
		return 0, fmt.Errorf("%w: empty label", ErrInvalid)
	}
	if !isASCII(l) {
		if !r.ULabels {
			return 0, fmt.Errorf("%w: non-ASCII label %q", ErrInvalid, l)
		}
		if !utf8.ValidString(l) {
			return 0, fmt.Errorf("%w: label %q is not UTF-8", ErrInvalid, l)
		}
		// An A-label spends "xn--" and at least one octet per code
		// point (RFC 3492 §3), so a U-label of more code points
		// cannot fit in MaxLabel. Refuse it before converting: the
		// Punycode encoder's time grows with the square of the
		// label's length, and d= of a hostile DKIM-Signature or
		// ARC field is a label of any length.
		if n := utf8.RuneCountInString(l); n > MaxLabel-len("xn--") {
			return 0, fmt.Errorf("%w: label %.40q… of %d code points longer than %d octets as an A-label", ErrInvalid, l, n, MaxLabel)
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil || strings.Contains(a, ".") {
			return 0, fmt.Errorf("%w: label %q is not a U-label", ErrInvalid, l)
		}
		l = a
	}
	if len(l) > MaxLabel {
		return 0, fmt.Errorf("%w: label %q longer than %d octets", ErrInvalid, l, MaxLabel)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return 0, fmt.Errorf("%w: label %q starts or ends with a hyphen", ErrInvalid, l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		case c == '_' && r.Underscore:
		default:
			return 0, fmt.Errorf("%w: label %q has %q", ErrInvalid, l, c)
		}
	}
	if len(l) >= 4 && strings.EqualFold(l[:4], "xn--") && !isALabel(strings.ToLower(l)) {
		return 0, fmt.Errorf("%w: %q is not a valid A-label", ErrInvalid, l)
	}
	return len(l), nil
}

// isALabel: a lower-case "xn--" label that decodes to a non-ASCII U-label
// which encodes back to the same label (RFC 5891 §5.4).
func isALabel(l string) bool {
	u, err := idna.Lookup.ToUnicode(l)
	if err != nil || isASCII(u) {
		return false
	}
	a, err := idna.Lookup.ToASCII(u)
	return err == nil && a == l
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
