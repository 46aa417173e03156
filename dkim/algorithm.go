package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // rsa-sha1 is parsed and hashed only to be refused (RFC 8301)
	_ "crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Algorithm is a signing algorithm (the a= tag, RFC 6376 §3.5).
type Algorithm int

// Signing algorithms. RSASHA1 is recognised only to be refused (RFC 8301
// §3.1: "Verifiers MUST NOT consider signatures using rsa-sha1 as valid").
const (
	RSASHA256     Algorithm = iota + 1 // RFC 6376 §3.3.1 (rsa-sha256)
	Ed25519SHA256                      // RFC 8463 §3 (ed25519-sha256)
	RSASHA1                            // RFC 6376 §3.3.2, obsoleted by RFC 8301
)

// ParseAlgorithm parses an a= value (case-insensitive).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "rsa-sha256":
		return RSASHA256, nil
	case "ed25519-sha256":
		return Ed25519SHA256, nil
	case "rsa-sha1":
		return RSASHA1, nil
	}
	return 0, fmt.Errorf("unknown signing algorithm %q", s)
}

func (a Algorithm) String() string {
	switch a {
	case RSASHA256:
		return "rsa-sha256"
	case Ed25519SHA256:
		return "ed25519-sha256"
	case RSASHA1:
		return "rsa-sha1"
	}
	return "unknown"
}

// Hash returns the hash function of a.
func (a Algorithm) Hash() crypto.Hash {
	if a == RSASHA1 {
		return crypto.SHA1
	}
	return crypto.SHA256
}

// HashName returns the name used in key records' h= tag (§3.6.1).
func (a Algorithm) HashName() string {
	if a == RSASHA1 {
		return "sha1"
	}
	return "sha256"
}

// KeyType returns the k= value of keys that can verify a.
func (a Algorithm) KeyType() string {
	if a == Ed25519SHA256 {
		return "ed25519"
	}
	return "rsa"
}

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("signature did not verify")

// VerifyDigest checks sig over digest (the hash of the canonicalized header
// data, RFC 6376 §3.7) with pub.
//
// RSA: RSASSA-PKCS1-v1_5 (RFC 6376 §3.3.1). Ed25519: PureEdDSA over the
// SHA-256 digest itself — RFC 8463 §3: "the signature is computed over the
// hash of the canonicalized data".
func VerifyDigest(a Algorithm, pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a == Ed25519SHA256 {
			return fmt.Errorf("%s signature with an RSA key", a)
		}
		if err := rsa.VerifyPKCS1v15(k, a.Hash(), digest, sig); err != nil {
			return ErrBadSignature
		}
		return nil
	case ed25519.PublicKey:
		if a != Ed25519SHA256 {
			return fmt.Errorf("%s signature with an ed25519 key", a)
		}
		if len(k) != ed25519.PublicKeySize || !ed25519.Verify(k, digest, sig) {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}

// SignDigest signs digest with s for algorithm a (the inverse of
// VerifyDigest). s is an *rsa.PrivateKey, an ed25519.PrivateKey or any
// crypto.Signer holding such a key (e.g. an HSM).
func SignDigest(a Algorithm, s crypto.Signer, digest []byte) ([]byte, error) {
	switch a {
	case RSASHA256:
		if _, ok := s.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("rsa-sha256 needs an RSA key, have %T", s.Public())
		}
		return s.Sign(rand.Reader, digest, crypto.SHA256)
	case Ed25519SHA256:
		if _, ok := s.Public().(ed25519.PublicKey); !ok {
			return nil, fmt.Errorf("ed25519-sha256 needs an ed25519 key, have %T", s.Public())
		}
		// crypto.Hash(0): PureEdDSA over the digest bytes (RFC 8463 §3).
		return s.Sign(rand.Reader, digest, crypto.Hash(0))
	}
	return nil, fmt.Errorf("cannot sign with %s", a)
}

// AlgorithmFor returns the algorithm that signs with s's key type.
func AlgorithmFor(s crypto.Signer) (Algorithm, error) {
	switch s.Public().(type) {
	case *rsa.PublicKey:
		return RSASHA256, nil
	case ed25519.PublicKey:
		return Ed25519SHA256, nil
	}
	return 0, fmt.Errorf("unsupported key type %T", s.Public())
}
