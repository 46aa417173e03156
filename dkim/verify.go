package dkim

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/message"
)

// Status is a DKIM result as RFC 8601 §2.7.1 names it.
type Status string

// Results of RFC 8601 §2.7.1.
const (
	StatusNone      Status = "none"      // the message was not signed
	StatusPass      Status = "pass"      // the signature verified
	StatusFail      Status = "fail"      // it did not verify (hash mismatch)
	StatusPolicy    Status = "policy"    // it verified or might, but is not acceptable (RFC 8301)
	StatusNeutral   Status = "neutral"   // it could not be processed otherwise
	StatusTempError Status = "temperror" // a temporary failure, e.g. DNS
	StatusPermError Status = "permerror" // a permanent error, e.g. a syntax or key error
)

// Result is the outcome for one DKIM-Signature.
type Result struct {
	Status    Status
	Domain    string // d=
	Selector  string // s=
	Identity  string // i= (AUID), "@" + d= by default
	HeaderB   string // the first 8 characters of b= (RFC 6008 header.b)
	Algorithm string // a= as written, lower case
	KeyBits   int    // size of the public key, 0 when not fetched
	Testing   bool   // the key record says t=y
	// BodyLength is l=, -1 when absent. UnsignedBytes is how many bytes
	// of the canonical body follow the l= count and are not covered by the
	// signature (RFC 6376 §8.2): content anyone could have appended.
	BodyLength    int64
	UnsignedBytes int64
	// Reason says why the status is not pass, in words for a log line or
	// an Authentication-Results comment.
	Reason string
	// Skipped is true for signatures beyond Options.MaxSignatures; they
	// have status permerror and were not verified.
	Skipped bool
	// Signature is the parsed signature (nil when it did not parse); Key
	// the key record (nil when not fetched).
	Signature *Signature
	Key       *Key
}

// Options tune Verify. The zero value is ready to use.
type Options struct {
	// Now is the time to check t= and x= against; zero means time.Now().
	Now time.Time
	// ClockSkew is the tolerance for t= in the future and x= in the past;
	// zero means DefaultClockSkew, negative means none.
	ClockSkew time.Duration
	// MaxSignatures bounds how many signatures are verified (default
	// DefaultMaxSignatures). Later ones are reported as skipped.
	MaxSignatures int

	// allowWeak makes rsa-sha1 and short RSA keys verify; only this
	// package's tests set it, to exercise canonicalization with the
	// legacy corpus.
	allowWeak bool
}

// Defaults for Options.
const (
	DefaultClockSkew     = 5 * time.Minute
	DefaultMaxSignatures = 5
	// MinRSABits is RFC 8301 §3.2: "Verifiers MUST NOT consider
	// signatures using RSA keys of less than 1024 bits as valid".
	MinRSABits = 1024
	// MaxARCInstance is RFC 8617 §4.2.1's limit on i= of ARC sets.
	MaxARCInstance = 50
)

func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o *Options) skew() time.Duration {
	if o.ClockSkew == 0 {
		return DefaultClockSkew
	}
	if o.ClockSkew < 0 {
		return 0
	}
	return o.ClockSkew
}

// Verify checks the DKIM-Signature fields of msg, top first, and returns
// one Result per field; none when the message is not signed (RFC 8601
// "none" is then the caller's summary). Keys are fetched concurrently;
// each body hash is computed once per (canonicalization, l=) combination.
// Verify honours ctx's deadline (DNS lookups end as temperror).
func Verify(ctx context.Context, r dns.Resolver, msg *message.Message, opts *Options) []Result {
	if opts == nil {
		opts = &Options{}
	}
	max := opts.MaxSignatures
	if max <= 0 {
		max = DefaultMaxSignatures
	}
	var sigs []message.Field
	for _, f := range msg.Fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			sigs = append(sigs, f)
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	results := make([]Result, len(sigs))
	type job struct {
		i   int
		sig *Signature
	}
	var jobs []job
	for i, f := range sigs {
		res := &results[i]
		res.BodyLength = -1
		if i >= max {
			res.Status, res.Skipped = StatusPermError, true
			res.Reason = fmt.Sprintf("not verified: more than %d signatures", max)
			fillFromRaw(res, f)
			continue
		}
		sig, err := ParseSignature(f.Value())
		if err != nil {
			res.Status, res.Reason = StatusPermError, err.Error()
			fillFromRaw(res, f)
			continue
		}
		res.Signature = sig
		res.Domain, res.Selector, res.Identity = sig.Domain, sig.Selector, sig.Identity
		res.HeaderB, res.Algorithm, res.BodyLength = sig.HeaderB(8), sig.Algorithm.String(), sig.Length
		if err := checkTimes(sig, opts); err != nil {
			res.Status, res.Reason = StatusOf(err), err.Error()
			continue
		}
		// RFC 8301 §3.1: rsa-sha1 MUST NOT be considered valid. No
		// key lookup is needed to know that.
		if sig.Algorithm == RSASHA1 && !opts.allowWeak {
			res.Status, res.Reason = StatusPolicy, "rsa-sha1 signatures are not accepted (RFC 8301)"
			continue
		}
		jobs = append(jobs, job{i, sig})
	}
	// Fetch every distinct key once, concurrently.
	keys := make(map[string]*keyAnswer, len(jobs))
	for _, j := range jobs {
		name := KeyName(j.sig.Selector, j.sig.Domain)
		if keys[name] == nil {
			keys[name] = &keyAnswer{selector: j.sig.Selector, domain: j.sig.Domain}
		}
	}
	fetchKeys(ctx, r, keys)
	body := NewBodyHasher(msg.Body)
	for _, j := range jobs {
		res := &results[j.i]
		ka := keys[KeyName(j.sig.Selector, j.sig.Domain)]
		verifyOne(res, msg, sigs[j.i], j.sig, ka.key, ka.err, body, opts)
	}
	return results
}

type keyAnswer struct {
	selector, domain string
	key              *Key
	err              error
}

func fetchKeys(ctx context.Context, r dns.Resolver, keys map[string]*keyAnswer) {
	if len(keys) == 1 {
		for _, ka := range keys {
			ka.key, ka.err = LookupKey(ctx, r, ka.selector, ka.domain)
		}
		return
	}
	var wg sync.WaitGroup
	for _, ka := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ka.key, ka.err = LookupKey(ctx, r, ka.selector, ka.domain)
		}()
	}
	wg.Wait()
}

// fillFromRaw fills the result's identifiers from a field that did not
// parse, as far as its tags can be read, for the log and for
// Authentication-Results.
func fillFromRaw(res *Result, f message.Field) {
	tags, err := ParseTagList(f.Value())
	if err != nil {
		return
	}
	res.Domain, _ = tags.Get("d")
	res.Domain = strings.ToLower(res.Domain)
	res.Selector, _ = tags.Get("s")
	res.Identity, _ = tags.Get("i")
	a, _ := tags.Get("a")
	res.Algorithm = strings.ToLower(a)
	b, _ := tags.Get("b")
	b = stripFWS(b)
	if len(b) > 8 {
		b = b[:8]
	}
	res.HeaderB = b
}

// checkTimes applies RFC 6376 §3.5 t= and x=, with the configured skew.
// x=: "Signatures MAY be considered invalid if the verification time at
// the Verifier is past the expiration date" — §6.1.1 names that
// "PERMFAIL (signature expired)". t=: "Verifiers MAY ignore signatures
// with a timestamp in the future".
func checkTimes(sig *Signature, opts *Options) error {
	now := opts.now().Unix()
	skew := int64(opts.skew() / time.Second)
	if sig.Expiration >= 0 && now-skew > sig.Expiration {
		return errStatus(StatusPermError, "signature expired (x=%d)", sig.Expiration)
	}
	if sig.Timestamp >= 0 && sig.Timestamp > now+skew {
		return errStatus(StatusPermError, "signature timestamp t=%d is in the future", sig.Timestamp)
	}
	return nil
}

// verifyOne completes a Result once the key lookup is done.
func verifyOne(res *Result, msg *message.Message, f message.Field, sig *Signature, key *Key, keyErr error, body *BodyHasher, opts *Options) {
	if keyErr != nil {
		res.Status, res.Reason = StatusOf(keyErr), keyErr.Error()
		return
	}
	res.Key, res.KeyBits, res.Testing = key, key.Bits, key.Testing
	if err := checkKey(sig, key, opts.allowWeak); err != nil {
		res.Status, res.Reason = StatusOf(err), err.Error()
		return
	}
	// RFC 6376 §6.1.3: compute the body hash and compare with bh=.
	sum, canonLen := body.Sum(sig.Algorithm.Hash(), sig.BodyCanon, sig.Length)
	if sig.Length >= 0 {
		if canonLen < sig.Length {
			// §3.5 l=: a body shorter than l= cannot match what was
			// signed.
			res.Status, res.Reason = StatusFail, fmt.Sprintf("body shorter than l=%d", sig.Length)
			return
		}
		res.UnsignedBytes = canonLen - sig.Length
	}
	if subtle.ConstantTimeCompare(sum, sig.BodyHash) != 1 {
		res.Status, res.Reason = StatusFail, "body hash did not verify"
		return
	}
	digest := HeaderDigest(sig.Algorithm.Hash(), sig.HeaderCanon, msg.Fields, sig.Headers, f.Raw)
	if err := VerifyDigest(sig.Algorithm, key.PublicKey, digest, sig.B); err != nil {
		if errors.Is(err, ErrBadSignature) {
			res.Status, res.Reason = StatusFail, err.Error()
		} else {
			res.Status, res.Reason = StatusPermError, err.Error()
		}
		return
	}
	res.Status = StatusPass
	if res.UnsignedBytes > 0 {
		res.Reason = fmt.Sprintf("%d body bytes after l=%d are not signed", res.UnsignedBytes, sig.Length)
	}
}

// CheckKey applies the key-record rules of RFC 6376 §3.6.1 and §6.1.2 and
// RFC 8301 to a signature and its key. The error is an *Error.
func CheckKey(sig *Signature, key *Key) error { return checkKey(sig, key, false) }

func checkKey(sig *Signature, key *Key, allowWeak bool) error {
	switch {
	case key.Revoked:
		// §3.6.1 p=: "An empty value means that this public key has
		// been revoked"; §6.1.2 step 6: PERMFAIL (key revoked).
		return errStatus(StatusPermError, "key revoked")
	case key.KeyType != sig.Algorithm.KeyType():
		// §6.1.2 step 8: k= must match a=.
		return errStatus(StatusPermError, "key type k=%s does not match a=%s", key.KeyType, sig.Algorithm)
	case !key.AllowsHash(sig.Algorithm.HashName()):
		// §6.1.2 step 7: "inappropriate hash algorithm".
		return errStatus(StatusPermError, "key h= does not allow %s", sig.Algorithm.HashName())
	case !key.AllowsEmail():
		// §3.6.1 s=: a key for other services may not verify email.
		return errStatus(StatusPermError, "key s= does not include email")
	case sig.Kind == KindDKIM && key.Strict && sig.IdentityDomain() != sig.Domain:
		// §3.6.1 t=s: "the "i=" domain MUST NOT be a subdomain of
		// "d="".
		return errStatus(StatusPermError, "key t=s requires i= domain to equal d=")
	case key.KeyType == "rsa" && key.Bits < MinRSABits && !allowWeak:
		// RFC 8301 §3.2.
		return errStatus(StatusPolicy, "RSA key of %d bits is too short (RFC 8301)", key.Bits)
	}
	return nil
}

// Summary returns the RFC 8601 result for the message as a whole: pass
// when any signature passed, else the most telling failure, none when
// there were no signatures.
func Summary(results []Result) Status {
	if len(results) == 0 {
		return StatusNone
	}
	rank := map[Status]int{StatusPass: 6, StatusFail: 5, StatusPolicy: 4, StatusTempError: 3, StatusPermError: 2, StatusNeutral: 1}
	best := StatusNone
	for _, r := range results {
		if r.Skipped {
			continue
		}
		if rank[r.Status] > rank[best] {
			best = r.Status
		}
	}
	if best == StatusNone {
		return StatusPermError
	}
	return best
}
