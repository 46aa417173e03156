package arc

import (
	"context"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

func FuzzParseAAR(f *testing.F) {
	for _, s := range []string{"i=1; lists.example.org; spf=pass", "i=50;x", " i=2 ; a", "i=; x", "i=0;", "x; i=1", "i=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, rest, err := ParseAAR(s)
		if err == nil && (i < 1 || i > 50 || len(rest) > len(s)) {
			t.Fatalf("ParseAAR(%q) = %d, %q", s, i, rest)
		}
	})
}

// FuzzValidate feeds whole messages with ARC fields to the parser and the
// validator: they must return a defined status, never panic.
func FuzzValidate(f *testing.F) {
	f.Add("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; d=example.org; s=dummy; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=1; example.org; spf=pass\r\nFrom: a@b\r\n\r\nbody\r\n")
	f.Add("ARC-Seal: i=2; cv=pass\r\nARC-Authentication-Results: i=51; x\r\n\r\n")
	f.Add("From: a@b\r\n\r\n")
	f.Add("ARC-Message-Signature: i=1; a=ed25519-sha256; c=simple/relaxed; d=x; s=y; h=; bh=AA==; b=AA==\r\n\r\n")
	r := &dnstest.Mock{TXT: map[string][]string{
		"dummy._domainkey.example.org": {"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"},
	}}
	f.Fuzz(func(t *testing.T, raw string) {
		msg := message.Parse([]byte(raw))
		res := Validate(context.Background(), r, msg)
		switch res.Status {
		case None:
			for _, fl := range msg.Fields {
				if strings.HasPrefix(strings.ToLower(fl.Name), "arc-") && (strings.EqualFold(fl.Name, SealField) || strings.EqualFold(fl.Name, AMSField) || strings.EqualFold(fl.Name, AARField)) {
					t.Fatalf("cv=none with ARC fields present")
				}
			}
		case Pass:
			if res.Instances() == 0 || res.OldestPass < 1 {
				t.Fatalf("pass without sets")
			}
		case Fail:
			if res.Failure == NoFailure || res.Reason == "" {
				t.Fatalf("fail without reason")
			}
		default:
			t.Fatalf("undefined status %q", res.Status)
		}
	})
}
