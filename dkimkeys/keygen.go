package dkimkeys

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DefaultRSABits is the size keygen uses (RFC 8301 §3.2: "Signers ...
// SHOULD use RSA keys of at least 2048 bits").
const DefaultRSABits = 2048

// MaxRSABits bounds keygen: larger keys do not fit comfortably in DNS
// and slow every signature down.
const MaxRSABits = 4096

// Generate makes a new private key for alg (AlgRSA with bits, or
// AlgEd25519).
func Generate(alg string, bits int) (crypto.Signer, error) {
	switch alg {
	case AlgRSA:
		if bits == 0 {
			bits = DefaultRSABits
		}
		if bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("RSA key size %d: want %d to %d bits (2048 recommended)", bits, MinRSABits, MaxRSABits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case AlgEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("algorithm %q: want %q or %q", alg, AlgRSA, AlgEd25519)
}

// MarshalPrivateKey returns k as a PKCS#8 PEM block ("PRIVATE KEY"), the
// format OpenSSL, OpenDKIM and rspamd read.
func MarshalPrivateKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// KeyRecord returns the DKIM key record for pub (RFC 6376 §3.6.1):
// "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo in base64>" or, for Ed25519,
// "v=DKIM1; k=ed25519; p=<the raw 32-byte key in base64>" (RFC 8463
// §4.2).
func KeyRecord(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("public key of type %T: DKIM uses RSA or Ed25519", pub)
}

// MaxTXTString is the longest character-string a TXT record holds
// (RFC 1035 §3.3: a length octet then at most 255 octets).
const MaxTXTString = 255

// SplitTXT cuts s into strings of at most MaxTXTString bytes. Receivers
// join them without separator (RFC 6376 §3.6.2.2).
func SplitTXT(s string) []string {
	var out []string
	for len(s) > MaxTXTString {
		out = append(out, s[:MaxTXTString])
		s = s[MaxTXTString:]
	}
	return append(out, s)
}

// ZoneRecord returns the TXT record for selector and domain in zone-file
// presentation (RFC 1035 §5.1), its value split into quoted strings of at
// most 255 bytes inside parentheses, ready to paste into a zone file.
func ZoneRecord(selector, domain, record string) string {
	var b strings.Builder
	name := selector + "._domainkey." + strings.TrimSuffix(domain, ".") + "."
	parts := SplitTXT(record)
	fmt.Fprintf(&b, "%s\tIN\tTXT\t", name)
	if len(parts) == 1 {
		fmt.Fprintf(&b, "%q\n", parts[0])
		return b.String()
	}
	b.WriteString("(")
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n\t")
		}
		fmt.Fprintf(&b, " \"%s\"", p) // base64 and tags: nothing to escape
	}
	b.WriteString(" )\n")
	return b.String()
}

// KeyFileName is the file keygen writes for domain and selector.
func KeyFileName(domain, selector string) string {
	return strings.TrimSuffix(strings.ToLower(domain), ".") + "." + strings.ToLower(selector) + ".key"
}

// WriteKeyFile writes pemBytes to path with mode 0600, refusing to
// overwrite an existing file (a key in use would be lost).
func WriteKeyFile(path string, pemBytes []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: hamlet does not overwrite a key (choose another selector, or remove the old key once no DNS record refers to it)", path)
		}
		return err
	}
	// The umask cannot widen 0600, but make sure nothing else did.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
