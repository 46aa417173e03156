package dkim

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{
		"v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=AAAA; b=AAAA",
		"v=1; a=ed25519-sha256; c=relaxed/relaxed; d=a.b; s=x.y; i=joe=40a.b; h=from; l=12; t=1; x=2; bh=AA==; b=AA==;",
		"v=1; a=rsa-sha1; q=dns/txt; d=x; s=y; h=From : Subject; bh=; b=",
		"a=b;;c=d", "=", ";", "v=1;\r\n\tb=AAAA", "i=1; a=rsa-sha256; cv=pass; d=x; s=y; b=AA==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []Kind{KindDKIM, KindAMS, KindAS} {
			sig, err := ParseSignatureKind(k, s)
			if err == nil && (sig.Domain == "" || sig.Selector == "" || len(sig.B) == 0) {
				t.Fatalf("accepted signature without d=, s= or b=: %q", s)
			}
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALgSoqXVSEmfcIsOzw7oRuCCOwsmtX/SJnTWxYyj2leFxfS/AVJ+dYfY+hXqMsT7l+MZvvh/R1WzN4MO/kI/7XsCAwEAAQ==",
		"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"k=rsa; t=y:s; h=sha1:sha256; s=email:*; n=note; p=",
		"v=DKIM1; p", "p=!!!", "v=DKIM1:; p=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err == nil && !k.Revoked && k.PublicKey == nil {
			t.Fatalf("key without public key and not revoked: %q", s)
		}
	})
}

// FuzzCanonicalBody checks the optimised relaxed body canonicalization
// against the line-by-line oracle, and simple canonicalization's
// invariants.
func FuzzCanonicalBody(f *testing.F) {
	for _, s := range []string{"", "\r\n", " C \r\nD \t E\r\n\r\n\r\n", "a  b\t\tc \r\n \r\n", "x\ry \n z",
		// A changed line, then an unchanged stretch long enough to
		// bypass the write batcher (it once overtook the buffer).
		"a  b\r\n" + strings.Repeat("QUJD", 1500) + " \r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r bytes.Buffer
		n := WriteCanonicalBody(&r, Relaxed, body)
		if want := naiveRelaxedBody(string(body)); r.String() != want {
			t.Fatalf("relaxed(%q) = %q, oracle %q", body, r.String(), want)
		}
		if n != int64(r.Len()) {
			t.Fatalf("relaxed length %d, wrote %d", n, r.Len())
		}
		var s bytes.Buffer
		WriteCanonicalBody(&s, Simple, body)
		out := s.Bytes()
		if !bytes.HasSuffix(out, []byte("\r\n")) || (len(out) > 2 && bytes.HasSuffix(out, []byte("\r\n\r\n"))) {
			t.Fatalf("simple(%q) = %q: must end in exactly one CRLF", body, out)
		}
	})
}

func FuzzCanonicalHeader(f *testing.F) {
	for _, s := range []string{"A: X\r\n", "B : Y\t\r\n\tZ  \r\n", "x:", ":", "Subject:\r\n \r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out := AppendCanonicalHeader(nil, Relaxed, raw)
		if !bytes.HasSuffix(out, []byte("\r\n")) || bytes.ContainsAny(out[:len(out)-2], "\r\n") {
			t.Fatalf("relaxed(%q) = %q", raw, out)
		}
		// Relaxed canonicalization is idempotent.
		again := AppendCanonicalHeader(nil, Relaxed, out)
		if !bytes.Equal(again, out) && bytes.IndexAny(raw[:max(0, bytes.IndexByte(raw, ':'))], " \t") < 0 {
			t.Fatalf("not idempotent: %q -> %q -> %q", raw, out, again)
		}
		_ = RemoveSignatureValue(raw)
	})
}

// FuzzVerify runs whole messages through Verify: every signature gets a
// defined status, never a panic.
func FuzzVerify(f *testing.F) {
	f.Add("DKIM-Signature: v=1; a=ed25519-sha256; d=football.example.com; s=brisbane; h=from; bh=AAAA; b=AAAA\r\nFrom: a@b\r\n\r\nhi\r\n")
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; c=simple/relaxed; d=x; s=y; h=from:from; l=3; bh=AA==; b=AA==\r\nFrom: a\r\n\r\n \t \r\n\r\n")
	f.Add("DKIM-Signature: \r\n\r\n")
	r := &dnstest.Mock{TXT: map[string][]string{
		"brisbane._domainkey.football.example.com": {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
		"y._domainkey.x": {"v=DKIM1; p="},
	}}
	valid := map[Status]bool{StatusPass: true, StatusFail: true, StatusPolicy: true, StatusNeutral: true, StatusTempError: true, StatusPermError: true}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, res := range Verify(context.Background(), r, message.Parse([]byte(raw)), nil) {
			if !valid[res.Status] || (res.Status != StatusPass && res.Reason == "") {
				t.Fatalf("status %q reason %q", res.Status, res.Reason)
			}
		}
	})
}
