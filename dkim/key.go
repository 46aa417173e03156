package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hamlet-mail/hamlet/dns"
)

// Key is a parsed DKIM key record (RFC 6376 §3.6.1).
type Key struct {
	Version  string   // v=, "" when absent
	KeyType  string   // k=, lower case; "rsa" when absent
	Hashes   []string // h=, lower case; nil when absent (all allowed)
	Services []string // s=, lower case; nil when absent ("*")
	Flags    []string // t=, lower case
	Notes    string   // n=
	// Testing is t=y: "This domain is testing DKIM" (§3.6.1).
	Testing bool
	// Strict is t=s: the i= domain must equal d= exactly (§3.6.1).
	Strict bool
	// Revoked is an empty p=: "the public key has been revoked".
	Revoked bool
	// PublicKey is an *rsa.PublicKey or an ed25519.PublicKey; nil when
	// revoked.
	PublicKey crypto.PublicKey
	// Bits is the key size: the RSA modulus length, 256 for ed25519.
	Bits int
	// Tags holds every tag as written.
	Tags TagList
}

// ErrKeySyntax is wrapped by every key-record error.
var ErrKeySyntax = errors.New("invalid key record")

// ParseKey parses a DKIM key record (the TXT record's strings joined).
// Unknown tags and unknown values in h=, s= and t= are ignored as
// §3.6.1 requires; an unknown k= or an undecodable p= is an error.
func ParseKey(txt string) (*Key, error) {
	tags, err := ParseTagList(txt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySyntax, err)
	}
	k := &Key{Tags: tags, KeyType: "rsa"}
	for i, t := range tags {
		v := t.Value
		switch t.Name {
		case "v":
			// §3.6.1 v=: "If specified, this tag MUST be set to
			// "DKIM1" ... This tag MUST be the first tag in the record.
			// Records beginning with a "v=" tag with any other value
			// MUST be discarded."
			if v != "DKIM1" {
				return nil, fmt.Errorf("%w: unsupported version v=%s", ErrKeySyntax, v)
			}
			if i != 0 {
				return nil, fmt.Errorf("%w: v= is not the first tag", ErrKeySyntax)
			}
			k.Version = v
		case "h":
			k.Hashes = splitColonLower(v)
		case "k":
			k.KeyType = strings.ToLower(v)
		case "n":
			k.Notes = v
		case "s":
			k.Services = splitColonLower(v)
		case "t":
			k.Flags = splitColonLower(v)
			for _, f := range k.Flags {
				switch f {
				case "y":
					k.Testing = true
				case "s":
					k.Strict = true
				}
			}
		}
	}
	p, ok := tags.Get("p")
	if !ok {
		return nil, fmt.Errorf("%w: p= missing", ErrKeySyntax)
	}
	p = stripFWS(p)
	if p == "" {
		k.Revoked = true
		return k, nil
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: p= is not valid base64", ErrKeySyntax)
	}
	switch k.KeyType {
	case "rsa":
		pub, err := parseRSAKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeySyntax, err)
		}
		k.PublicKey, k.Bits = pub, pub.N.BitLen()
	case "ed25519":
		// RFC 8463 §4.2: p= is the base64 of the raw 32-byte key.
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key of %d bytes, want %d", ErrKeySyntax, len(der), ed25519.PublicKeySize)
		}
		k.PublicKey, k.Bits = ed25519.PublicKey(der), 256
	default:
		return nil, fmt.Errorf("%w: unknown key type k=%s", ErrKeySyntax, k.KeyType)
	}
	return k, nil
}

// parseRSAKey accepts a SubjectPublicKeyInfo (RFC 6376 §3.6.1) and, as
// many verifiers do, a bare PKCS#1 RSAPublicKey.
func parseRSAKey(der []byte) (*rsa.PublicKey, error) {
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		if rk, ok := pub.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("p= holds a %T key, not RSA", pub)
	}
	if rk, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return rk, nil
	}
	return nil, errors.New("p= is not an RSA public key")
}

func splitColonLower(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ":") {
		if s = strings.ToLower(trimFWS(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// AllowsHash reports whether h= admits the named hash (§3.6.1 h=: absent
// means all are allowed).
func (k *Key) AllowsHash(name string) bool {
	if k.Hashes == nil {
		return true
	}
	for _, h := range k.Hashes {
		if h == name {
			return true
		}
	}
	return false
}

// AllowsEmail reports whether s= admits the "email" service (§3.6.1 s=:
// "*" or "email"; absent means "*").
func (k *Key) AllowsEmail() bool {
	if k.Services == nil {
		return true
	}
	for _, s := range k.Services {
		if s == "*" || s == "email" {
			return true
		}
	}
	return false
}

// Error is an error with the RFC 8601 result it leads to.
type Error struct {
	Status Status
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func errStatus(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Err: fmt.Errorf(format, args...)}
}

// StatusOf returns the status carried by err (see Error); other non-nil
// errors are permerror.
func StatusOf(err error) Status {
	if err == nil {
		return StatusPass
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return StatusPermError
}

// KeyName returns the DNS name of a key record: selector._domainkey.domain
// (RFC 6376 §3.6.2.1).
func KeyName(selector, domain string) string {
	return selector + "._domainkey." + domain
}

// LookupKey fetches and parses the key record of selector and domain.
// Errors are *Error: temperror for a DNS failure that may pass (RFC 6376
// §6.1.2 "TEMPFAIL (key unavailable)"), permerror for a missing or
// unusable record ("PERMFAIL (no key for signature)").
//
// RFC 6376 §3.6.2.2: with several TXT records, the first that parses as a
// key record is used.
func LookupKey(ctx context.Context, r dns.Resolver, selector, domain string) (*Key, error) {
	name := KeyName(selector, domain)
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		if dns.IsNotFound(err) {
			return nil, &Error{Status: StatusPermError, Err: fmt.Errorf("no key for signature: %w", err)}
		}
		return nil, &Error{Status: StatusTempError, Err: fmt.Errorf("key unavailable: %w", err)}
	}
	var firstErr error
	for _, txt := range txts {
		k, err := parseKeyCached(txt)
		if err == nil {
			return k, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, &Error{Status: StatusPermError, Err: fmt.Errorf("key record at %s: %w", name, firstErr)}
}

// keyCache keeps parsed key records by their text, so that the DNS cache's
// answers are not decoded again (base64, ASN.1) for every message. A Key
// is never modified after parsing, so entries are shared. The cache is
// bounded; when full it starts afresh.
var keyCache = struct {
	sync.Mutex
	m map[string]*Key
}{m: map[string]*Key{}}

const keyCacheMax = 4096

func parseKeyCached(txt string) (*Key, error) {
	keyCache.Lock()
	k, ok := keyCache.m[txt]
	keyCache.Unlock()
	if ok {
		return k, nil
	}
	k, err := ParseKey(txt)
	if err != nil {
		return nil, err
	}
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheMax {
		clear(keyCache.m)
	}
	keyCache.m[txt] = k
	keyCache.Unlock()
	return k, nil
}
