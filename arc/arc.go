// Package arc validates Authenticated Received Chains (RFC 8617): the
// ARC-Authentication-Results, ARC-Message-Signature and ARC-Seal sets that
// forwarders and mailing lists add so that a later receiver can trust the
// authentication results they saw. It also seals (adds the next set).
//
// The signatures are DKIM signatures with other tags (RFC 8617 §4.1): this
// package reuses package dkim's tag-list parser, canonicalization, header
// selection, body hashing, key records and signature primitives.
//
// What this package does not do: it does not decide whether a sealer is
// trusted (a policy matter for DMARC, RFC 8617 §7.2), does not validate
// the ARC-Authentication-Results content beyond its instance tag, and does
// not produce Authentication-Results itself.
package arc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/message"
)

// Field names of an ARC set (RFC 8617 §4.1).
const (
	AARField  = "ARC-Authentication-Results"
	AMSField  = "ARC-Message-Signature"
	SealField = "ARC-Seal"
)

// Status is the chain validation status (RFC 8617 §4.4: cv= values).
type Status string

// Chain validation statuses.
const (
	None Status = "none" // no ARC sets
	Pass Status = "pass"
	Fail Status = "fail"
)

// Failure says why a chain failed, for the symbol and the log.
type Failure int

// Kinds of failure.
const (
	NoFailure Failure = iota
	// FailStructure: missing, duplicated or malformed ARC fields, bad
	// instance numbers or cv= values (RFC 8617 §5.2 steps 2-3).
	FailStructure
	// FailSignature: an ARC-Message-Signature or ARC-Seal did not verify,
	// or its key was unusable (RFC 8617 §5.2 steps 4 and 6).
	FailSignature
	// FailDNS: a key could not be fetched because of a temporary DNS
	// failure; the chain may validate later.
	FailDNS
)

func (f Failure) String() string {
	switch f {
	case FailStructure:
		return "structure"
	case FailSignature:
		return "signature"
	case FailDNS:
		return "dns"
	}
	return "none"
}

// Set is one ARC set: the three fields of one instance.
type Set struct {
	Instance int
	AAR      message.Field
	AMS      message.Field
	Seal     message.Field
	// AuthResults is the AAR value after "i=N;": the authserv-id and
	// results the sealer saw.
	AuthResults string
	AMSSig      *dkim.Signature
	SealSig     *dkim.Signature
}

// Result is the outcome of chain validation.
type Result struct {
	Status  Status
	Failure Failure
	Reason  string
	// Sets are the parsed sets, instance 1 first (empty when the structure
	// is invalid).
	Sets []Set
	// OldestPass is the lowest instance whose AMS and every later AMS
	// verify (RFC 8617 §5.2 step 5); 0 unless Status is pass.
	OldestPass int
}

// Instances returns the number of ARC sets.
func (r *Result) Instances() int { return len(r.Sets) }

// Sealer returns the d= and s= of the ARC-Seal of instance i (1-based).
func (r *Result) Sealer(i int) (domain, selector string) {
	if i < 1 || i > len(r.Sets) || r.Sets[i-1].SealSig == nil {
		return "", ""
	}
	s := r.Sets[i-1].SealSig
	return s.Domain, s.Selector
}

func fail(kind Failure, format string, args ...any) *Result {
	return &Result{Status: Fail, Failure: kind, Reason: fmt.Sprintf(format, args...)}
}

// ParseSets collects and checks the ARC sets of msg (RFC 8617 §5.2 steps
// 1-3, structure only, no signature checked). It returns no sets and no
// error for a message without ARC fields.
func ParseSets(msg *message.Message) ([]Set, error) {
	byInstance := map[int]*Set{}
	seen := 0
	for _, f := range msg.Fields {
		var kind dkim.Kind
		switch {
		case strings.EqualFold(f.Name, AARField):
			seen++
			i, rest, err := ParseAAR(f.Value())
			if err != nil {
				return nil, err
			}
			s := setFor(byInstance, i)
			if s.AAR.Raw != nil {
				return nil, fmt.Errorf("two %s fields with i=%d", AARField, i)
			}
			s.AAR, s.AuthResults = f, rest
			continue
		case strings.EqualFold(f.Name, AMSField):
			kind = dkim.KindAMS
		case strings.EqualFold(f.Name, SealField):
			kind = dkim.KindAS
		default:
			continue
		}
		seen++
		sig, err := dkim.ParseSignatureKind(kind, f.Value())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		s := setFor(byInstance, sig.Instance)
		if kind == dkim.KindAMS {
			if s.AMS.Raw != nil {
				return nil, fmt.Errorf("two %s fields with i=%d", AMSField, sig.Instance)
			}
			s.AMS, s.AMSSig = f, sig
		} else {
			if s.Seal.Raw != nil {
				return nil, fmt.Errorf("two %s fields with i=%d", SealField, sig.Instance)
			}
			s.Seal, s.SealSig = f, sig
		}
	}
	if seen == 0 {
		return nil, nil
	}
	// RFC 8617 §5.2 step 3 (and §4.2.1): instances run from 1 to N
	// without gaps, each with exactly one field of each kind, N <= 50.
	n := 0
	for i := range byInstance {
		n = max(n, i)
	}
	if n > dkim.MaxARCInstance {
		return nil, fmt.Errorf("instance %d above the limit of %d", n, dkim.MaxARCInstance)
	}
	sets := make([]Set, 0, n)
	for i := 1; i <= n; i++ {
		s := byInstance[i]
		switch {
		case s == nil:
			return nil, fmt.Errorf("no ARC set with i=%d", i)
		case s.AAR.Raw == nil:
			return nil, fmt.Errorf("no %s with i=%d", AARField, i)
		case s.AMS.Raw == nil:
			return nil, fmt.Errorf("no %s with i=%d", AMSField, i)
		case s.Seal.Raw == nil:
			return nil, fmt.Errorf("no %s with i=%d", SealField, i)
		}
		sets = append(sets, *s)
	}
	sort.Slice(sets, func(a, b int) bool { return sets[a].Instance < sets[b].Instance })
	return sets, nil
}

func setFor(m map[int]*Set, i int) *Set {
	if m[i] == nil {
		m[i] = &Set{Instance: i}
	}
	return m[i]
}

// ParseAAR splits an ARC-Authentication-Results value into its instance
// and the rest. RFC 8617 §4.1.1: "i=" instance ";" then an
// authres-payload (RFC 8601 §2.2) — the i= tag comes first.
func ParseAAR(v string) (instance int, rest string, err error) {
	v = strings.TrimLeft(v, " \t\r\n")
	if !strings.HasPrefix(v, "i=") {
		return 0, "", fmt.Errorf("%s does not start with i=", AARField)
	}
	v = v[2:]
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	num := v[:end]
	rest = strings.TrimLeft(v[end:], " \t\r\n")
	if !strings.HasPrefix(rest, ";") {
		return 0, "", fmt.Errorf("%s i= not followed by ';'", AARField)
	}
	n, err := strconv.Atoi(num)
	if err != nil || len(num) > 2 || n < 1 || n > dkim.MaxARCInstance {
		return 0, "", fmt.Errorf("%s has an invalid instance i=%q", AARField, num)
	}
	return n, strings.TrimSpace(rest[1:]), nil
}

// Validate runs the chain validation algorithm of RFC 8617 §5.2 on msg.
func Validate(ctx context.Context, r dns.Resolver, msg *message.Message) *Result {
	sets, err := ParseSets(msg)
	if err != nil {
		return fail(FailStructure, "%v", err)
	}
	if len(sets) == 0 {
		// §5.2 step 1 ... no sets: the chain status is "none".
		return &Result{Status: None}
	}
	n := len(sets)
	// §5.2 step 2: "If the value of the 'cv' tag on the highest-numbered
	// ARC-Seal is 'fail', then the Chain Validation Status is 'fail'".
	if sets[n-1].SealSig.ChainValidation == "fail" {
		return &Result{Status: Fail, Failure: FailSignature, Sets: sets, Reason: fmt.Sprintf("ARC-Seal i=%d says cv=fail", n)}
	}
	// §5.2 step 3 / §4.1.3: cv=none only on instance 1, pass elsewhere.
	for _, s := range sets {
		want := "pass"
		if s.Instance == 1 {
			want = "none"
		}
		if s.SealSig.ChainValidation != want {
			res := fail(FailStructure, "ARC-Seal i=%d has cv=%s, want %s", s.Instance, s.SealSig.ChainValidation, want)
			res.Sets = sets
			return res
		}
	}
	v := &validator{ctx: ctx, r: r, msg: msg, body: dkim.NewBodyHasher(msg.Body), keys: map[string]keyAnswer{}}
	// §5.2 step 4: the newest AMS must verify.
	if f, err := v.verifyAMS(sets[n-1]); err != nil {
		res := fail(f, "ARC-Message-Signature i=%d: %v", n, err)
		res.Sets = sets
		return res
	}
	// §5.2 step 5: the oldest instance from which every AMS verifies.
	oldest := n
	for i := n - 2; i >= 0; i-- {
		if _, err := v.verifyAMS(sets[i]); err != nil {
			break
		}
		oldest = i + 1
	}
	// §5.2 step 6: every ARC-Seal, newest first, must verify.
	for i := n - 1; i >= 0; i-- {
		if f, err := v.verifySeal(sets, i); err != nil {
			res := fail(f, "ARC-Seal i=%d: %v", i+1, err)
			res.Sets = sets
			return res
		}
	}
	// §5.2 step 7.
	return &Result{Status: Pass, Sets: sets, OldestPass: oldest}
}

type keyAnswer struct {
	key *dkim.Key
	err error
}

type validator struct {
	ctx  context.Context
	r    dns.Resolver
	msg  *message.Message
	body *dkim.BodyHasher
	keys map[string]keyAnswer
}

// key fetches (once) and checks the key of sig.
func (v *validator) key(sig *dkim.Signature) (*dkim.Key, Failure, error) {
	name := dkim.KeyName(sig.Selector, sig.Domain)
	ka, ok := v.keys[name]
	if !ok {
		ka.key, ka.err = dkim.LookupKey(v.ctx, v.r, sig.Selector, sig.Domain)
		v.keys[name] = ka
	}
	if ka.err != nil {
		if dkim.StatusOf(ka.err) == dkim.StatusTempError {
			return nil, FailDNS, ka.err
		}
		return nil, FailSignature, ka.err
	}
	// The key rules are DKIM's, RFC 8301 included (RFC 8617 §4.1.2,
	// §4.1.3 refer to RFC 6376 for them).
	if err := dkim.CheckKey(sig, ka.key); err != nil {
		return nil, FailSignature, err
	}
	if sig.Algorithm == dkim.RSASHA1 {
		return nil, FailSignature, errors.New("rsa-sha1 is not accepted (RFC 8301)")
	}
	return ka.key, NoFailure, nil
}

// verifyAMS verifies an ARC-Message-Signature like a DKIM signature
// (RFC 8617 §5.2 step 4, RFC 6376 §6.1.3).
func (v *validator) verifyAMS(s Set) (Failure, error) {
	sig := s.AMSSig
	key, f, err := v.key(sig)
	if err != nil {
		return f, err
	}
	sum, _ := v.body.Sum(sig.Algorithm.Hash(), sig.BodyCanon, -1)
	if subtle.ConstantTimeCompare(sum, sig.BodyHash) != 1 {
		return FailSignature, errors.New("body hash did not verify")
	}
	digest := dkim.HeaderDigest(sig.Algorithm.Hash(), sig.HeaderCanon, v.msg.Fields, sig.Headers, s.AMS.Raw)
	if err := dkim.VerifyDigest(sig.Algorithm, key.PublicKey, digest, sig.B); err != nil {
		return FailSignature, err
	}
	return NoFailure, nil
}

// sealFields returns the fields an ARC-Seal of instance i+1 signs before
// itself: every set up to it in instance order, each as AAR, AMS, AS
// (RFC 8617 §5.1.1), with the seal itself left out.
func sealFields(sets []Set, i int) [][]byte {
	out := make([][]byte, 0, 3*(i+1))
	for j := 0; j <= i; j++ {
		out = append(out, sets[j].AAR.Raw, sets[j].AMS.Raw)
		if j < i {
			out = append(out, sets[j].Seal.Raw)
		}
	}
	return out
}

// verifySeal verifies the ARC-Seal of sets[i] (RFC 8617 §5.2 step 6):
// relaxed header canonicalization, no body.
func (v *validator) verifySeal(sets []Set, i int) (Failure, error) {
	sig := sets[i].SealSig
	key, f, err := v.key(sig)
	if err != nil {
		return f, err
	}
	digest := dkim.DigestFields(sig.Algorithm.Hash(), dkim.Relaxed, sealFields(sets, i), sets[i].Seal.Raw)
	if err := dkim.VerifyDigest(sig.Algorithm, key.PublicKey, digest, sig.B); err != nil {
		return FailSignature, err
	}
	return NoFailure, nil
}
