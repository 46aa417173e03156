package dkimkeys

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MinRSABits is the smallest RSA key hamlet signs with: RFC 8301 §3.2
// "Signers MUST use RSA keys of at least 1024 bits". 2048 is what keygen
// makes and what RFC 8301 recommends.
const MinRSABits = 1024

// ErrPermissions is wrapped by the error for a key file that group or
// others may access.
var ErrPermissions = errors.New("private key readable by others")

// ReadKeyFile reads a private key after checking that only its owner may
// access it: a DKIM private key that others can read lets them sign mail
// as the domain. The error names the file and the fix.
func ReadKeyFile(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("dkim key %s: no such file (generate one with `hamlet dkim keygen`)", path)
		}
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("dkim key %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("dkim key %s has mode %04o: group or others may read it, so hamlet refuses it; run `chmod 600 %s` (and make hamlet's user its owner): %w",
			path, perm, path, ErrPermissions)
	}
	b, err := readAll(f, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return k, nil
}

func readAll(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes: not a key file", max)
	}
	return b, nil
}

// ParsePrivateKey parses a private key: a PEM block "RSA PRIVATE KEY"
// (PKCS#1) or "PRIVATE KEY" (PKCS#8, RSA or Ed25519), or, for Ed25519, the
// base64 of the 32-byte seed (dkimpy's format) or of the 64-byte private
// key (rspamd's).
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		switch blk.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#1 RSA key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PKCS#8 key: %w", err)
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return k, nil
			case ed25519.PrivateKey:
				return k, nil
			}
			return nil, fmt.Errorf("PKCS#8 key of type %T: DKIM signs with RSA or Ed25519 only", k)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted with a passphrase: hamlet needs it unencrypted (openssl pkey -in KEY -out KEY.new)")
		default:
			return nil, fmt.Errorf("PEM block %q: want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", blk.Type)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err == nil {
		switch len(raw) {
		case ed25519.SeedSize:
			return ed25519.NewKeyFromSeed(raw), nil
		case ed25519.PrivateKeySize:
			k := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
			if !bytes.Equal(k, raw) {
				return nil, errors.New("64-byte Ed25519 key whose public half does not match its seed")
			}
			return k, nil
		}
	}
	return nil, errors.New("not a PEM private key (PKCS#1 or PKCS#8) nor a base64 Ed25519 seed")
}

// KeyAlgorithm returns the algorithm name a key signs with.
func KeyAlgorithm(k crypto.Signer) (string, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return AlgRSA, nil
	case ed25519.PrivateKey:
		return AlgEd25519, nil
	default:
		return "", fmt.Errorf("key of type %T: DKIM signs with RSA or Ed25519 only", k)
	}
}
