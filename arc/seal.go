package arc

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/message/header"
)

// SealOptions describe the ARC set a sealer adds (RFC 8617 §5.1).
type SealOptions struct {
	Domain   string        // d= of the AMS and the seal
	Selector string        // s=
	Signer   crypto.Signer // RSA (rsa-sha256) or ed25519 key
	// Headers is the AMS h= list, used as given (a name listed twice signs
	// two instances, or one and the absence of another). When nil, every
	// instance present of dkim.DefaultHeaders. It must not name ARC-Seal
	// (RFC 8617 §4.1.2).
	Headers []string
	// Time is t=; zero means now.
	Time time.Time
}

// SealedSet is a new ARC set: the three field values (without the field
// names) to prepend to the message, ARC-Seal on top.
type SealedSet struct {
	Instance int
	CV       Status // the cv= of the seal
	AAR      string // ARC-Authentication-Results value
	AMS      string // ARC-Message-Signature value
	Seal     string // ARC-Seal value
}

// Fields returns the set as header fields in the order to prepend them,
// top first: ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results.
func (s *SealedSet) Fields() [][2]string {
	return [][2]string{{SealField, s.Seal}, {AMSField, s.AMS}, {AARField, s.AAR}}
}

// ErrChainFailed is returned by Seal when the newest existing seal already
// says cv=fail: RFC 8617 §5.1.2, a failed chain is not continued.
var ErrChainFailed = errors.New("arc: the chain already failed (cv=fail); no set added")

// Seal computes the next ARC set for msg (RFC 8617 §5.1). chain is the
// validation result of msg's existing chain (Validate); authResults is
// the payload of the new ARC-Authentication-Results after "i=N; ": the
// sealer's authserv-id and results (see Consolidate).
//
// The signatures use relaxed/relaxed canonicalization and the tag layout
// of the ValiMail suite (tags sorted, one space after each semicolon), so
// that results can be compared with published vectors.
func Seal(msg *message.Message, chain *Result, authResults string, o SealOptions) (*SealedSet, error) {
	if o.Signer == nil {
		return nil, errors.New("arc: seal: no key")
	}
	alg, err := dkim.AlgorithmFor(o.Signer)
	if err != nil {
		return nil, fmt.Errorf("arc: seal: %w", err)
	}
	if chain == nil {
		chain = &Result{Status: None}
	}
	n := len(chain.Sets)
	cv := chain.Status
	switch {
	case cv == Fail && n > 0 && chain.Sets[n-1].SealSig.ChainValidation == "fail":
		return nil, ErrChainFailed
	case cv == Fail && n == 0:
		// A chain too broken to parse: its sets cannot be numbered.
		// The new set continues after the highest instance seen.
		n = highestInstance(msg)
	}
	instance := n + 1
	if instance > dkim.MaxARCInstance {
		return nil, fmt.Errorf("arc: seal: instance %d above the limit of %d", instance, dkim.MaxARCInstance)
	}
	if cv == None && instance != 1 {
		cv = Fail
	}
	now := o.Time
	if now.IsZero() {
		now = time.Now()
	}
	t := strconv.FormatInt(now.Unix(), 10)
	set := &SealedSet{Instance: instance, CV: cv}
	i := strconv.Itoa(instance)

	// RFC 8617 §4.1.1: "i=" instance ";" authres-payload.
	set.AAR = "i=" + i + "; " + strings.TrimSpace(authResults)
	aarRaw := []byte(AARField + ": " + set.AAR + "\r\n")

	// RFC 8617 §4.1.2: the AMS is a DKIM signature with i= for v=.
	names := dkim.HeaderList(msg.Fields, nil, []string{})
	if o.Headers != nil {
		names = nil
		for _, h := range o.Headers {
			if h = strings.ToLower(strings.TrimSpace(h)); h == "arc-seal" {
				return nil, errors.New("arc: seal: the AMS must not sign ARC-Seal")
			} else if h != "" {
				names = append(names, h)
			}
		}
	}
	fields := append([]message.Field{{Name: AARField, Raw: aarRaw}}, msg.Fields...)
	sum, _ := dkim.BodyHash(alg.Hash(), dkim.Relaxed, msg.Body, -1)
	amsTags := []string{
		"a=" + alg.String(), "b=", "bh=" + b64(sum), "c=relaxed/relaxed", "d=" + o.Domain,
		"h=" + strings.Join(names, ":"), "i=" + i, "s=" + o.Selector, "t=" + t,
	}
	set.AMS, err = signTags(alg, o.Signer, AMSField, amsTags, dkim.SelectFields(fields, names, nil))
	if err != nil {
		return nil, err
	}

	// RFC 8617 §5.1.1: the seal signs every set, oldest first, each as
	// AAR, AMS, AS, then itself; with cv=fail only the set being added
	// (the chain before it cannot be vouched for).
	var selected [][]byte
	if cv != Fail {
		for _, s := range chain.Sets {
			selected = append(selected, s.AAR.Raw, s.AMS.Raw, s.Seal.Raw)
		}
	}
	selected = append(selected, aarRaw, []byte(AMSField+": "+set.AMS+"\r\n"))
	asTags := []string{
		"a=" + alg.String(), "b=", "cv=" + string(cv), "d=" + o.Domain, "i=" + i, "s=" + o.Selector, "t=" + t,
	}
	set.Seal, err = signTags(alg, o.Signer, SealField, asTags, selected)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// signTags signs the field made of tags (b= empty) and returns its value
// with the signature in b=. Lines are folded between tags (relaxed
// canonicalization reads a fold there as the space it replaced, so the
// hash does not depend on where). The seal's b= is folded inside as well
// (RFC 6376 §3.5 FWS; this hop's hashes never cover it). The AMS's b= is
// kept whole: the seal hashes the AMS, and a fold inside its b= would
// hash as a space inside the value, giving every seal a different b=
// from the published ARC signing vectors (and from a seal over a relay's
// refolded copy).
func signTags(alg dkim.Algorithm, s crypto.Signer, name string, tags []string, selected [][]byte) (string, error) {
	sig, err := dkim.SignatureOver(alg, s, dkim.Relaxed, selected, []byte(name+": "+foldTags(name, tags, "")+"\r\n"))
	if err != nil {
		return "", fmt.Errorf("arc: seal: %w", err)
	}
	return foldTags(name, tags, sig), nil
}

// foldTags writes tags joined by "; " with header's folding; the tag
// "b=" gets sig, folded inside in the ARC-Seal.
func foldTags(name string, tags []string, sig string) string {
	w := header.NewWriter(name)
	for k, tag := range tags {
		last := k == len(tags)-1
		switch {
		case tag == "b=" && name == SealField && sig != "":
			w.Word("b=")
			w.Base64(sig)
			if !last {
				w.Append(";")
			}
			continue
		case tag == "b=":
			tag += sig
		}
		if !last {
			tag += ";"
		}
		w.Word(tag)
	}
	return w.String()
}

// highestInstance returns the largest i= found on any ARC field, 0 when
// none can be read.
func highestInstance(msg *message.Message) int {
	n := 0
	for _, f := range msg.Fields {
		var i int
		switch {
		case strings.EqualFold(f.Name, AARField):
			i, _, _ = ParseAAR(f.Value())
		case strings.EqualFold(f.Name, AMSField), strings.EqualFold(f.Name, SealField):
			if tags, err := dkim.ParseTagList(f.Value()); err == nil {
				v, _ := tags.Get("i")
				i, _ = strconv.Atoi(v)
			}
		}
		if i <= dkim.MaxARCInstance {
			n = max(n, i)
		}
	}
	return n
}

// Consolidate returns the results of every Authentication-Results field
// of msg whose authserv-id is servID, in order, as an AAR payload:
// "servID; result;\r\n  result..." (the "AR consolidation" of the ValiMail
// suite). ok is false when no such field exists.
func Consolidate(msg *message.Message, servID string) (payload string, ok bool) {
	var results []string
	for _, f := range msg.Get("Authentication-Results") {
		parts := splitResults(f.Value())
		if len(parts) == 0 {
			continue
		}
		// RFC 8601 §2.2: authserv-id [ CFWS authres-version ].
		id := strings.Fields(parts[0])
		if len(id) == 0 || !strings.EqualFold(id[0], servID) {
			continue
		}
		ok = true
		for _, r := range parts[1:] {
			if r = strings.Join(strings.Fields(r), " "); r != "" {
				results = append(results, r)
			}
		}
	}
	if !ok {
		return "", false
	}
	if len(results) == 0 {
		return servID + "; none", true
	}
	return servID + "; " + strings.Join(results, ";\r\n  "), true
}

// splitResults splits an Authentication-Results value at the semicolons
// that are not inside a comment or a quoted string.
func splitResults(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
