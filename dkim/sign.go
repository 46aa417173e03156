package dkim

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/message/header"
)

// DefaultHeaders are signed when SignOptions.Headers is nil: the fields
// RFC 6376 §5.4.1 recommends, each instance present in the message.
var DefaultHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date",
	"Resent-From", "Resent-To", "Resent-Cc", "In-Reply-To", "References",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"Message-ID", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-ID", "Content-Description",
}

// DefaultOversign are the fields named once more than they occur when
// SignOptions.Oversign is nil, so that no instance can be added later
// without breaking the signature (RFC 6376 §8.15, "over-signing").
var DefaultOversign = []string{
	"From", "To", "Cc", "Subject", "Date", "Reply-To", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// SignOptions describe a signature to make.
type SignOptions struct {
	Domain   string        // d=
	Selector string        // s=
	Signer   crypto.Signer // *rsa.PrivateKey, ed25519.PrivateKey or equivalent
	// Identity is i= (optional): an address or "@domain" within Domain.
	Identity string
	// Headers are the field names to sign (every instance present);
	// DefaultHeaders when nil. From is always signed.
	Headers []string
	// Oversign are field names signed once more than they occur;
	// DefaultOversign when nil, none when empty but not nil.
	Oversign []string
	// Canonicalization is c=, e.g. "relaxed/simple"; "relaxed/relaxed"
	// when empty.
	Canonicalization string
	// Time is t=; zero means now.
	Time time.Time
	// Expire, when positive, adds x= = t= + Expire.
	Expire time.Duration
	// BodyLength, when true, adds l= with the canonical body length. It
	// weakens the signature (RFC 6376 §8.2); off by default.
	BodyLength bool
}

// Sign returns the value of a DKIM-Signature field for msg (RFC 6376
// §5): everything after "DKIM-Signature:", folded with CRLF + TAB, with no
// final CRLF. The field must be added as "DKIM-Signature:" + value +
// CRLF, unchanged, for a simple header canonicalization to verify.
func Sign(msg *message.Message, o SignOptions) (string, error) {
	return sign(msg, o, NewBodyHasher(msg.Body))
}

// SignAll makes one signature per options (e.g. an RSA and an ed25519
// key for the same domain, RFC 8463 §6 suggests both during the
// transition) and returns the field values in order; signatures that share
// a body canonicalization share one body hash.
func SignAll(msg *message.Message, opts []SignOptions) ([]string, error) {
	body := NewBodyHasher(msg.Body)
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		v, err := sign(msg, o, body)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func sign(msg *message.Message, o SignOptions, body *BodyHasher) (string, error) {
	if o.Signer == nil {
		return "", errors.New("dkim: sign: no key")
	}
	alg, err := AlgorithmFor(o.Signer)
	if err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if !validDomain(o.Domain) || !validSelector(o.Selector) {
		return "", fmt.Errorf("dkim: sign: invalid domain %q or selector %q", o.Domain, o.Selector)
	}
	canon := o.Canonicalization
	if canon == "" {
		canon = "relaxed/relaxed"
	}
	hc, bc, err := ParseCanon(canon)
	if err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	canon = hc.String() + "/" + bc.String()
	now := o.Time
	if now.IsZero() {
		now = time.Now()
	}
	names := HeaderList(msg.Fields, o.Headers, o.Oversign)

	w := header.NewWriter("DKIM-Signature")
	tag := func(name, value string) { w.Word(name + "=" + value + ";") }
	tag("v", "1")
	tag("a", alg.String())
	tag("c", canon)
	tag("d", o.Domain)
	tag("s", o.Selector)
	if o.Identity != "" {
		tag("i", o.Identity)
	}
	tag("t", strconv.FormatInt(now.Unix(), 10))
	if o.Expire > 0 {
		tag("x", strconv.FormatInt(now.Add(o.Expire).Unix(), 10))
	}
	sum, n := body.Sum(alg.Hash(), bc, -1)
	if o.BodyLength {
		tag("l", strconv.FormatInt(n, 10))
	}
	writeList(w, "h", names)
	tag("bh", base64.StdEncoding.EncodeToString(sum))
	return SignFields(alg, o.Signer, hc, "DKIM-Signature", w, SelectFields(msg.Fields, names, nil))
}

// SignFields completes a DKIM-Signature written into w up to its last tag
// but b=: it adds an empty "b=", hashes the field "name: value" after the
// selected fields (RFC 6376 §3.7), signs, and writes the signature into
// b=, folded inside (§3.5). It returns the complete field value.
func SignFields(alg Algorithm, s crypto.Signer, c Canon, name string, w *header.Writer, selected [][]byte) (string, error) {
	w.Word("b=")
	sig, err := SignatureOver(alg, s, c, selected, []byte(name+": "+w.String()+"\r\n"))
	if err != nil {
		return "", err
	}
	w.Base64(sig)
	return w.String(), nil
}

// SignatureOver signs the selected fields followed by field, the new
// signature field as it will be written with an empty b= (RFC 6376 §3.7:
// "the signature field is hashed as if its b= were empty"), all
// canonicalized with c. It returns the signature in base64.
func SignatureOver(alg Algorithm, s crypto.Signer, c Canon, selected [][]byte, field []byte) (string, error) {
	digest := DigestFields(alg.Hash(), c, selected, field)
	sig, err := SignDigest(alg, s, digest)
	if err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// HeaderList returns the h= list for fields: each name of headers once
// per instance present, then each name of oversign once more (RFC 6376
// §5.4.2: an h= name with no instance left is signed as absent). From is
// always included (§5.4).
func HeaderList(fields []message.Field, headers, oversign []string) []string {
	if headers == nil {
		headers = DefaultHeaders
	}
	if oversign == nil {
		oversign = DefaultOversign
	}
	count := map[string]int{}
	for _, f := range fields {
		count[strings.ToLower(f.Name)]++
	}
	var out []string
	done := map[string]bool{}
	add := func(name string, extra bool) {
		k := strings.ToLower(name)
		if done[k] && !extra {
			return
		}
		done[k] = true
		for i := 0; i < count[k]; i++ {
			out = append(out, k)
		}
	}
	add("from", false)
	for _, h := range headers {
		add(h, false)
	}
	for _, h := range oversign {
		k := strings.ToLower(h)
		if !done[k] {
			add(k, false)
		}
		out = append(out, k)
	}
	return out
}

// writeList writes a colon-separated tag list ("h=from:to:subject;"),
// folding after a colon when the line gets long (h= allows FWS around
// colons, RFC 6376 §3.5).
func writeList(w *header.Writer, name string, items []string) {
	line := name + "="
	for i, it := range items {
		sep := ":"
		if i == len(items)-1 {
			sep = ";"
		}
		if len(line)+len(it)+1 > header.Width-8 && line != name+"=" {
			w.Word(line)
			line = ""
		}
		line += it + sep
	}
	if len(items) == 0 {
		line += ";"
	}
	w.Word(line)
}
