//go:debug rsa1024min=0

package dkimkeys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	mdns "github.com/miekg/dns"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/testkeys"
	"github.com/hamlet-mail/hamlet/message"
)

// testKeys returns an RSA-2048 and an ed25519 key, made once per run.
func testKeys(t testing.TB) (*rsa.PrivateKey, ed25519.PrivateKey) { return testkeys.Keys(t) }

func writeFile(t *testing.T, dir, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // the umask may have narrowed it
		t.Fatal(err)
	}
	return p
}

const testMessage = "From: Alice <alice@example.com>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: hello\r\n" +
	"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"Hi Bob.  \r\n\r\n"

func TestParsePrivateKeyFormats(t *testing.T) {
	rk, ek := testKeys(t)
	pkcs8RSA, _ := x509.MarshalPKCS8PrivateKey(rk)
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(ek)
	ecKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	tests := []struct {
		name    string
		in      []byte
		alg     string
		wantErr string
	}{
		{"pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), AlgRSA, ""},
		{"pkcs8 rsa", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8RSA}), AlgRSA, ""},
		{"pkcs8 ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8Ed}), AlgEd25519, ""},
		{"dkimpy seed", []byte(base64.StdEncoding.EncodeToString(ek.Seed()) + "\n"), AlgEd25519, ""},
		{"rspamd 64 bytes", []byte(base64.StdEncoding.EncodeToString(ek)), AlgEd25519, ""},
		{"64 bytes mismatched", []byte(base64.StdEncoding.EncodeToString(append(ek.Seed(), make([]byte, 32)...))), "", "does not match"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "", "passphrase"},
		{"ec", ecKey, "", `"EC PRIVATE KEY"`},
		{"garbage pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2}}), "", "PKCS#1"},
		{"text", []byte("hello"), "", "not a PEM private key"},
		{"empty", nil, "", "not a PEM private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			alg, _ := KeyAlgorithm(k)
			if alg != tt.alg {
				t.Fatalf("algorithm %s, want %s", alg, tt.alg)
			}
			var want crypto.PublicKey = rk.Public()
			if tt.alg == AlgEd25519 {
				want = ek.Public()
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
				t.Fatal("parsed key differs from the original")
			}
		})
	}
}

func TestReadKeyFilePermissions(t *testing.T) {
	rk, _ := testKeys(t)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o620} {
		p := writeFile(t, dir, "k"+mode.String()+".pem", pemKey, mode)
		_, err := ReadKeyFile(p)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600 "+p) || !strings.Contains(err.Error(), p+" has mode") {
			t.Errorf("mode %04o: error %q does not name the file and the fix", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p := writeFile(t, dir, "ok"+mode.String()+".pem", pemKey, mode)
		if _, err := ReadKeyFile(p); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
	if _, err := ReadKeyFile(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "hamlet dkim keygen") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := writeFile(t, dir, "big.pem", make([]byte, 2<<20), 0o600)
	if _, err := ReadKeyFile(big); err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Errorf("huge file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	rk, ek := testKeys(t)
	dir := t.TempDir()
	rsaPath := writeFile(t, dir, "rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o600)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ek)
	edPath := writeFile(t, dir, "ed.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), 0o600)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPath := writeFile(t, dir, "small.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), 0o600)
	openPath := writeFile(t, dir, "open.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o644)

	set, warns, err := Load([]SignKey{
		{Domain: "Example.COM.", Selector: "rsa", Key: rsaPath},
		{Domain: "example.com", Selector: "ed", Key: edPath, Algorithm: "ed25519-sha256"},
		{Domain: "example.org", Selector: "s1", Key: rsaPath, Subdomains: true},
		{Domain: "mail.example.org", Selector: "s2", Key: smallPath},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "1024 bits") {
		t.Errorf("warnings %q, want one about the 1024-bit key", warns)
	}
	if set.Len() != 4 || strings.Join(set.Domains(), ",") != "example.com,example.org,mail.example.org" {
		t.Fatalf("set: %d keys, domains %v", set.Len(), set.Domains())
	}
	sel := func(ks []*Key) string {
		var s []string
		for _, k := range ks {
			s = append(s, k.Config.Domain+"/"+k.Config.Selector)
		}
		return strings.Join(s, ",")
	}
	for domain, want := range map[string]string{
		"example.com":          "example.com/rsa,example.com/ed",
		"EXAMPLE.com.":         "example.com/rsa,example.com/ed",
		"sub.example.com":      "", // example.com keys do not sign subdomains
		"example.org":          "example.org/s1",
		"a.b.example.org":      "example.org/s1",
		"mail.example.org":     "mail.example.org/s2", // its own key wins
		"x.mail.example.org":   "example.org/s1",      // s2 does not sign subdomains
		"example.net":          "",
		"org":                  "",
		"":                     "",
		"notexample.org":       "",
		"example.org.evil.com": "",
	} {
		if got := sel(set.For(domain)); got != want {
			t.Errorf("For(%q) = %q, want %q", domain, got, want)
		}
	}

	for _, tt := range []struct {
		name string
		keys []SignKey
		want []string
	}{
		{"permissions", []SignKey{{Domain: "example.com", Selector: "s", Key: openPath}}, []string{"chmod 600 " + openPath}},
		{"algorithm mismatch", []SignKey{{Domain: "example.com", Selector: "s", Key: edPath}}, []string{"is an ed25519 key", `set algorithm = "ed25519-sha256"`}},
		{"rsa as ed25519", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath, Algorithm: AlgEd25519}}, []string{"is an rsa key"}},
		{"duplicate", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath}, {Domain: "EXAMPLE.com", Selector: "S", Key: rsaPath}}, []string{"configured twice"}},
		{"bad domain", []SignKey{{Domain: "exa mple.com", Selector: "s", Key: rsaPath}}, []string{"not a domain name"}},
		{"bad selector", []SignKey{{Domain: "example.com", Selector: "s/1", Key: rsaPath}}, []string{"not a valid selector"}},
		{"no key", []SignKey{{Domain: "example.com", Selector: "s"}}, []string{"path of the private key"}},
		{"bad algorithm", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath, Algorithm: "rsa-sha1"}}, []string{`algorithm "rsa-sha1"`}},
		{"bad canon", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath, Canonicalization: "loose"}}, []string{"canonicalization"}},
		{"short expire", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath, Expire: duration.Duration(time.Minute)}}, []string{"shorter than an hour"}},
		{"bad header", []SignKey{{Domain: "example.com", Selector: "s", Key: rsaPath, Headers: []string{"Sub ject"}}}, []string{"header field name"}},
	} {
		_, _, err := Load(tt.keys)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestLoadRefusesTinyRSA(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 768) // allowed by the go:debug line on top
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "tiny.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600)
	if _, _, err := Load([]SignKey{{Domain: "example.com", Selector: "s", Key: p}}); err == nil || !strings.Contains(err.Error(), "RFC 8301") {
		t.Fatalf("768-bit key: %v", err)
	}
}

func TestIDNDomain(t *testing.T) {
	rk, _ := testKeys(t)
	set, err := NewSet([]Key{{Config: SignKey{Domain: "Bücher.example", Selector: "s"}, Signer: rk}})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Domains(); len(got) != 1 || got[0] != "xn--bcher-kva.example" {
		t.Fatalf("domains %v", got)
	}
	msg := message.Parse([]byte("From: a@bücher.example\r\n\r\nhi\r\n"))
	doms, _ := message.FromDomains(msg)
	if len(doms) != 1 || len(set.For(doms[0])) != 1 {
		t.Errorf("From domains %v not matched", doms)
	}
}

// TestSignVerifies: each key's signature verifies with hamlet's verifier;
// x= is set from expire; the oversigned fields are in h=.
func TestSignVerifies(t *testing.T) {
	rk, ek := testKeys(t)
	set, err := NewSet([]Key{
		{Config: SignKey{Domain: "example.com", Selector: "rsa", Expire: duration.Duration(7 * 24 * time.Hour)}, Signer: rk},
		{Config: SignKey{Domain: "example.com", Selector: "ed", Algorithm: AlgEd25519, Canonicalization: "simple/simple"}, Signer: ek},
	})
	if err != nil {
		t.Fatal(err)
	}
	recR, _ := KeyRecord(rk.Public())
	recE, _ := KeyRecord(ek.Public())
	r := &dnstest.Mock{TXT: map[string][]string{"rsa._domainkey.example.com": {recR}, "ed._domainkey.example.com": {recE}}}
	now := time.Now()
	sigs, err := set.SignFor(message.Parse([]byte(testMessage)), "example.com", now)
	if err != nil || len(sigs) != 2 {
		t.Fatalf("SignFor: %d signatures, %v", len(sigs), err)
	}
	signed := testMessage
	for _, s := range sigs {
		signed = "DKIM-Signature: " + s.Value + "\r\n" + signed
	}
	res := dkim.Verify(context.Background(), r, message.Parse([]byte(signed)), nil)
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, x := range res {
		if x.Status != dkim.StatusPass {
			t.Errorf("%s: %s %s", x.Selector, x.Status, x.Reason)
		}
		switch x.Selector {
		case "rsa":
			if x.Signature.Expiration != now.Add(7*24*time.Hour).Unix() {
				t.Errorf("x= %v, want t= + 7d", x.Signature.Expiration)
			}
		case "ed":
			if x.Signature.Expiration != -1 {
				t.Errorf("x= %v without expire", x.Signature.Expiration)
			}
		}
		// RFC 6376 §8.15: each of these is signed once more than present.
		if err := oversigned(testMessage, x.Signature.Headers, "From", "To", "Cc", "Subject", "Date", "Reply-To", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"); err != nil {
			t.Errorf("%s: %v", x.Selector, err)
		}
	}
	// A From field added after signing breaks both signatures.
	tampered := strings.Replace(signed, "From: Alice", "From: Mallory <m@evil.example>\r\nFrom: Alice", 1)
	for _, x := range dkim.Verify(context.Background(), r, message.Parse([]byte(tampered)), nil) {
		if x.Status == dkim.StatusPass {
			t.Errorf("%s: a second From did not break the signature", x.Selector)
		}
	}
}

// oversigned returns an error unless h names each field once more than
// raw has it.
func oversigned(raw string, h []string, fields ...string) error {
	m := message.Parse([]byte(raw))
	count := map[string]int{}
	for _, n := range h {
		count[strings.ToLower(n)]++
	}
	for _, f := range fields {
		if got, want := count[strings.ToLower(f)], len(m.Get(f))+1; got != want {
			return fmt.Errorf("h=%s names %s %d times, want %d", strings.Join(h, ":"), f, got, want)
		}
	}
	return nil
}

func TestOversignNone(t *testing.T) {
	rk, _ := testKeys(t)
	set, err := NewSet([]Key{{Config: SignKey{Domain: "example.com", Selector: "rsa", Oversign: []string{"none"}, Headers: []string{"From", "Subject"}}, Signer: rk}})
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := set.SignFor(message.Parse([]byte(testMessage)), "example.com", time.Now())
	if err != nil || len(sigs) != 1 {
		t.Fatal(err)
	}
	s, err := dkim.ParseSignature(sigs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Headers, ":"); got != "from:subject" {
		t.Errorf("h=%s, want from:subject", got)
	}
}

// TestKeygenRecord: a generated key's zone-file record parses (with
// miekg/dns's zone parser), every string is at most 255 bytes, and the
// joined value verifies a signature made with the key.
func TestKeygenRecord(t *testing.T) {
	for _, tt := range []struct {
		alg  string
		bits int
	}{{AlgRSA, 2048}, {AlgEd25519, 0}} {
		k, err := Generate(tt.alg, tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes, err := MarshalPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePrivateKey(pemBytes)
		if err != nil || !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Fatalf("%s: PEM round trip: %v", tt.alg, err)
		}
		rec, err := KeyRecord(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		zone := ZoneRecord("sel", "example.com", rec)
		rr, err := mdns.NewRR(zone)
		if err != nil {
			t.Fatalf("%s: zone text does not parse: %v\n%s", tt.alg, err, zone)
		}
		txt, ok := rr.(*mdns.TXT)
		if !ok || txt.Hdr.Name != "sel._domainkey.example.com." {
			t.Fatalf("%s: %v", tt.alg, rr)
		}
		for _, s := range txt.Txt {
			if len(s) > 255 {
				t.Errorf("%s: string of %d bytes", tt.alg, len(s))
			}
		}
		if want := (len(rec) + 254) / 255; len(txt.Txt) != want {
			t.Errorf("%s: %d-byte record in %d strings, want %d", tt.alg, len(rec), len(txt.Txt), want)
		}
		joined := strings.Join(txt.Txt, "")
		if joined != rec {
			t.Fatalf("%s: zone record holds %q, want %q", tt.alg, joined, rec)
		}
		set, err := NewSet([]Key{{Config: SignKey{Domain: "example.com", Selector: "sel", Algorithm: tt.alg}, Signer: back}})
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := set.SignFor(message.Parse([]byte(testMessage)), "example.com", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := &dnstest.Mock{TXT: map[string][]string{"sel._domainkey.example.com": {joined}}}
		res := dkim.Verify(context.Background(), r, message.Parse([]byte("DKIM-Signature: "+sigs[0].Value+"\r\n"+testMessage)), nil)
		if len(res) != 1 || res[0].Status != dkim.StatusPass {
			t.Errorf("%s: %+v", tt.alg, res)
		}
	}
	if _, err := Generate(AlgRSA, 512); err == nil {
		t.Error("512-bit RSA generated")
	}
	if _, err := Generate("dsa", 0); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

func TestWriteKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, KeyFileName("Example.com.", "S1"))
	if filepath.Base(p) != "example.com.s1.key" {
		t.Fatalf("file name %s", p)
	}
	if err := WriteKeyFile(p, []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if err := WriteKeyFile(p, []byte("y")); err == nil || !strings.Contains(err.Error(), "does not overwrite") {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "x" {
		t.Fatal("existing key changed")
	}
}

func TestSplitTXT(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 510, 511, 1000} {
		s := strings.Repeat("a", n)
		parts := SplitTXT(s)
		if strings.Join(parts, "") != s {
			t.Fatalf("%d: lost bytes", n)
		}
		for _, p := range parts {
			if len(p) > 255 {
				t.Fatalf("%d: part of %d", n, len(p))
			}
		}
		if want := max(1, (n+254)/255); len(parts) != want {
			t.Errorf("%d bytes: %d parts, want %d", n, len(parts), want)
		}
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	rk, ek := testKeys(f)
	der, _ := x509.MarshalPKCS8PrivateKey(ek)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.Add([]byte(base64.StdEncoding.EncodeToString(ek.Seed())))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKey(b)
		if (k == nil) == (err == nil) {
			t.Fatalf("key %v with error %v", k, err)
		}
		if k != nil {
			if _, err := KeyAlgorithm(k); err != nil {
				t.Fatalf("parsed a key hamlet cannot sign with: %v", err)
			}
		}
	})
}

// TestDecodeTOML: [[dkim.sign]] tables decode into SignKey, expire in days.
func TestDecodeTOML(t *testing.T) {
	var file struct {
		DKIM struct {
			Sign []SignKey `toml:"sign"`
		} `toml:"dkim"`
	}
	md, err := toml.Decode(`
[[dkim.sign]]
domain = "example.org"
selector = "2026a"
key = "/etc/hamlet/dkim/example.org.2026a.key"

[[dkim.sign]]
domain = "example.org"
selector = "2026e"
key = "/etc/hamlet/dkim/example.org.2026e.key"
algorithm = "ed25519-sha256"
subdomains = true
expire = "7d"
canonicalization = "relaxed/simple"
headers = ["From", "To", "Subject"]
oversign = ["none"]
`, &file)
	if err != nil || len(md.Undecoded()) > 0 {
		t.Fatalf("%v, undecoded %v", err, md.Undecoded())
	}
	ks := file.DKIM.Sign
	if len(ks) != 2 || ks[1].Expire != duration.Duration(7*24*time.Hour) || !ks[1].Subdomains || ks[1].Algorithm != AlgEd25519 ||
		ks[1].Canonicalization != "relaxed/simple" || len(ks[1].Headers) != 3 || ks[0].Normalize().Algorithm != AlgRSA {
		t.Errorf("%+v", ks)
	}
	if err := ValidateAll(ks); err != nil {
		t.Error(err)
	}
	if _, err := toml.Decode("[[dkim.sign]]\nexpire = \"soon\"\n", &file); err == nil || !strings.Contains(err.Error(), "7d") {
		t.Errorf("bad expire: %v", err)
	}
}
