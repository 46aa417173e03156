package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/internal/testkeys"
	"github.com/hamlet-mail/hamlet/message"
)

const testMessage = "From: Joe SixPack <joe@football.example.com>\r\n" +
	"To: Suzie Q <suzie@shopping.example.net>\r\n" +
	"Subject: Is dinner ready?\r\n" +
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
	"\r\n" +
	"Hi.\r\n" +
	"\r\n" +
	"We lost the game.  Are you hungry yet?\r\n" +
	"\r\n" +
	"Joe.\r\n" +
	"\r\n\r\n"

// testKeys returns an RSA-2048 and an ed25519 key, made once per run.
func testKeys(t testing.TB) (*rsa.PrivateKey, ed25519.PrivateKey) { return testkeys.Keys(t) }

// keyRecord returns the DNS TXT value publishing s's public key.
func keyRecord(t testing.TB, s crypto.Signer, extra string) string {
	t.Helper()
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; " + extra + "p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; " + extra + "p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("key type %T", s)
	return ""
}

func signMessage(t testing.TB, raw string, o SignOptions) string {
	t.Helper()
	v, err := Sign(message.Parse([]byte(raw)), o)
	if err != nil {
		t.Fatal(err)
	}
	return "DKIM-Signature: " + v + "\r\n" + raw
}

func TestSignVerifyRoundTrip(t *testing.T) {
	rk, ek := testKeys(t)
	now := time.Unix(1700000000, 0)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(t, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(t, ek, "")},
	}}
	for _, signer := range []struct {
		sel string
		key crypto.Signer
		alg string
	}{{"rsa", rk, "rsa-sha256"}, {"ed", ek, "ed25519-sha256"}} {
		for _, canon := range []string{"simple/simple", "relaxed/relaxed", "simple/relaxed", "relaxed/simple"} {
			t.Run(signer.alg+"/"+canon, func(t *testing.T) {
				signed := signMessage(t, testMessage, SignOptions{
					Domain: "example.com", Selector: signer.sel, Signer: signer.key,
					Canonicalization: canon, Time: now, Expire: time.Hour,
				})
				msg := message.Parse([]byte(signed))
				res := Verify(context.Background(), r, msg, &Options{Now: now.Add(time.Minute)})
				if len(res) != 1 {
					t.Fatalf("%d results", len(res))
				}
				got := res[0]
				if got.Status != StatusPass {
					t.Fatalf("status %s: %s\n%s", got.Status, got.Reason, signed)
				}
				if got.Algorithm != signer.alg || got.Domain != "example.com" || got.Selector != signer.sel {
					t.Errorf("result %+v", got)
				}
				wantBits := 2048
				if signer.alg == "ed25519-sha256" {
					wantBits = 256
				}
				if got.KeyBits != wantBits {
					t.Errorf("key bits %d, want %d", got.KeyBits, wantBits)
				}
				if sig := got.Signature; sig.HeaderCanon.String()+"/"+sig.BodyCanon.String() != canon {
					t.Errorf("c= %s/%s, want %s", sig.HeaderCanon, sig.BodyCanon, canon)
				}
				// Tampering breaks it: a changed body or an added
				// oversigned header.
				tampered := strings.Replace(signed, "hungry", "thirsty", 1)
				if res := Verify(context.Background(), r, message.Parse([]byte(tampered)), &Options{Now: now}); res[0].Status != StatusFail {
					t.Errorf("body changed: %s", res[0].Status)
				}
				added := strings.Replace(signed, "\r\n\r\nHi.", "\r\nSubject: win a prize\r\n\r\nHi.", 1)
				if res := Verify(context.Background(), r, message.Parse([]byte(added)), &Options{Now: now}); res[0].Status != StatusFail {
					t.Errorf("oversigned Subject added: %s", res[0].Status)
				}
				// Expired two hours later.
				if res := Verify(context.Background(), r, msg, &Options{Now: now.Add(2 * time.Hour)}); res[0].Status != StatusPermError {
					t.Errorf("expired: %s", res[0].Status)
				}
			})
		}
	}
}

func TestSignRelaxedSurvivesRewrap(t *testing.T) {
	rk, _ := testKeys(t)
	r := &dnstest.Mock{TXT: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "")}}}
	signed := signMessage(t, testMessage, SignOptions{Domain: "example.com", Selector: "s", Signer: rk})
	// Relaxed/relaxed tolerates refolding and trailing white space.
	changed := strings.Replace(signed, "Subject: Is dinner ready?", "subject:   Is dinner\r\n  ready?  ", 1)
	changed = strings.Replace(changed, "Joe.\r\n", "Joe.  \t\r\n", 1)
	res := Verify(context.Background(), r, message.Parse([]byte(changed)), nil)
	if res[0].Status != StatusPass {
		t.Fatalf("relaxed: %s %s", res[0].Status, res[0].Reason)
	}
	simple := signMessage(t, testMessage, SignOptions{Domain: "example.com", Selector: "s", Signer: rk, Canonicalization: "simple/simple"})
	changed = strings.Replace(simple, "Subject: Is dinner ready?", "subject: Is dinner ready?", 1)
	if res := Verify(context.Background(), r, message.Parse([]byte(changed)), nil); res[0].Status != StatusFail {
		t.Fatalf("simple with changed case: %s", res[0].Status)
	}
}

func TestHeaderList(t *testing.T) {
	msg := message.Parse([]byte("From: a@b\r\nTo: c@d\r\nTo: e@f\r\nX-Other: 1\r\n\r\n"))
	got := strings.Join(HeaderList(msg.Fields, []string{"To", "Subject", "X-Other"}, []string{"From", "Subject"}), ":")
	want := "from:to:to:x-other:from:subject"
	if got != want {
		t.Errorf("h= %s, want %s", got, want)
	}
}

func TestSignAllDual(t *testing.T) {
	rk, ek := testKeys(t)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(t, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(t, ek, "")},
	}}
	msg := message.Parse([]byte(testMessage))
	vals, err := SignAll(msg, []SignOptions{
		{Domain: "example.com", Selector: "rsa", Signer: rk},
		{Domain: "example.com", Selector: "ed", Signer: ek},
	})
	if err != nil || len(vals) != 2 {
		t.Fatalf("SignAll: %v, %d values", err, len(vals))
	}
	raw := "DKIM-Signature: " + vals[0] + "\r\nDKIM-Signature: " + vals[1] + "\r\n" + testMessage
	res := Verify(context.Background(), r, message.Parse([]byte(raw)), nil)
	if len(res) != 2 || res[0].Status != StatusPass || res[1].Status != StatusPass || res[0].Algorithm != "rsa-sha256" || res[1].Algorithm != "ed25519-sha256" {
		t.Fatalf("dual signatures: %+v", res)
	}
	if _, err := SignAll(msg, []SignOptions{{Domain: "example.com", Selector: "x"}}); err == nil {
		t.Error("no key accepted")
	}
}
