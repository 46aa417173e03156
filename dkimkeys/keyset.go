package dkimkeys

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/message"
)

// Key is a loaded signing key with its configuration.
type Key struct {
	Config SignKey // normalized
	Signer crypto.Signer
	Bits   int // RSA modulus length; 256 for Ed25519
}

// Set is the loaded keys, by domain. It is immutable and safe for
// concurrent use.
type Set struct {
	keys     []*Key
	byDomain map[string][]*Key
}

// Load validates the tables and loads every key file. A key file that
// group or others may read, a key whose type is not the configured
// algorithm, or an RSA key under MinRSABits is an error naming the file.
// Warnings (e.g. an RSA key under 2048 bits) are returned for logging.
func Load(cfgs []SignKey) (*Set, []string, error) {
	if err := ValidateAll(cfgs); err != nil {
		return nil, nil, err
	}
	s := &Set{byDomain: map[string][]*Key{}}
	var errs []error
	var warnings []string
	for _, c := range cfgs {
		c = c.Normalize()
		signer, err := ReadKeyFile(c.Key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k, warn, err := newKey(c, signer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		warnings = append(warnings, warn...)
		s.keys = append(s.keys, k)
		s.byDomain[c.Domain] = append(s.byDomain[c.Domain], k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, warnings, err
	}
	return s, warnings, nil
}

// NewSet builds a Set from keys already in memory (tests, embedding).
func NewSet(keys []Key) (*Set, error) {
	var cfgs []SignKey
	for _, k := range keys {
		c := k.Config
		if c.Key == "" {
			c.Key = "(memory)"
		}
		cfgs = append(cfgs, c)
	}
	if err := ValidateAll(cfgs); err != nil {
		return nil, err
	}
	s := &Set{byDomain: map[string][]*Key{}}
	for _, k := range keys {
		nk, _, err := newKey(k.Config.Normalize(), k.Signer)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, nk)
		s.byDomain[nk.Config.Domain] = append(s.byDomain[nk.Config.Domain], nk)
	}
	return s, nil
}

func newKey(c SignKey, signer crypto.Signer) (*Key, []string, error) {
	alg, err := KeyAlgorithm(signer)
	if err != nil {
		return nil, nil, fmt.Errorf("dkim key %s: %w", c.Key, err)
	}
	if alg != c.Algorithm {
		return nil, nil, fmt.Errorf("dkim key %s is an %s key but algorithm is %q (selector %q, domain %q): set algorithm = %q",
			c.Key, strings.TrimSuffix(alg, "-sha256"), c.Algorithm, c.Selector, c.Domain, alg)
	}
	k := &Key{Config: c, Signer: signer, Bits: 256}
	var warnings []string
	if rk, ok := signer.(*rsa.PrivateKey); ok {
		k.Bits = rk.N.BitLen()
		if k.Bits < MinRSABits {
			return nil, nil, fmt.Errorf("dkim key %s: RSA key of %d bits: RFC 8301 §3.2 requires at least %d (generate a 2048-bit key with `hamlet dkim keygen`)",
				c.Key, k.Bits, MinRSABits)
		}
		if k.Bits < 2048 {
			warnings = append(warnings, fmt.Sprintf("dkim key %s: RSA key of %d bits; RFC 8301 §3.2 recommends 2048", c.Key, k.Bits))
		}
	}
	return k, warnings, nil
}

// Keys returns every key, in configuration order.
func (s *Set) Keys() []*Key {
	if s == nil {
		return nil
	}
	return append([]*Key(nil), s.keys...)
}

// Len returns the number of keys.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// For returns the keys that sign for domain: those configured for the
// domain itself, or else those of its closest parent configured with
// subdomains = true. Several keys (an RSA and an Ed25519 one, RFC 8463
// §1) are all returned.
func (s *Set) For(domain string) []*Key {
	if s == nil {
		return nil
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if ks := s.byDomain[domain]; len(ks) > 0 {
		return ks
	}
	for d := domain; ; {
		_, parent, ok := strings.Cut(d, ".")
		if !ok || parent == "" {
			return nil
		}
		var out []*Key
		for _, k := range s.byDomain[parent] {
			if k.Config.Subdomains {
				out = append(out, k)
			}
		}
		if len(out) > 0 {
			return out
		}
		d = parent
	}
}

// Domains returns the configured domains, sorted.
func (s *Set) Domains() []string {
	if s == nil {
		return nil
	}
	var out []string
	for d := range s.byDomain {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Options returns the dkim.SignOptions of k for a signature made at now.
func (k *Key) Options(now time.Time) dkim.SignOptions {
	o := dkim.SignOptions{
		Domain:           k.Config.Domain,
		Selector:         k.Config.Selector,
		Signer:           k.Signer,
		Canonicalization: k.Config.Canonicalization,
		Time:             now,
		Expire:           time.Duration(k.Config.Expire),
	}
	if len(k.Config.Headers) > 0 {
		o.Headers = k.Config.Headers
	}
	switch {
	case len(k.Config.Oversign) == 1 && strings.EqualFold(k.Config.Oversign[0], "none"):
		o.Oversign = []string{}
	case len(k.Config.Oversign) > 0:
		o.Oversign = k.Config.Oversign
	}
	return o
}

// Sign returns the DKIM-Signature field value k makes for msg (RFC 6376
// §5; see dkim.Sign).
func (k *Key) Sign(msg *message.Message, now time.Time) (string, error) {
	v, err := dkim.Sign(msg, k.Options(now))
	if err != nil {
		return "", fmt.Errorf("dkim sign d=%s s=%s: %w", k.Config.Domain, k.Config.Selector, err)
	}
	return v, nil
}

// Signature is one signature made by SignFor.
type Signature struct {
	Domain, Selector, Algorithm string
	Value                       string // the DKIM-Signature field value
}

// SignFor signs msg with every key For(fromDomain), in configuration
// order. It returns the signatures made and the errors of those that
// failed.
func (s *Set) SignFor(msg *message.Message, fromDomain string, now time.Time) ([]Signature, error) {
	var out []Signature
	var errs []error
	for _, k := range s.For(fromDomain) {
		v, err := k.Sign(msg, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Signature{Domain: k.Config.Domain, Selector: k.Config.Selector, Algorithm: k.Config.Algorithm, Value: v})
	}
	return out, errors.Join(errs...)
}
