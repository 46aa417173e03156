package dkim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

// TestVerifyCases covers the rules of RFC 6376 §6.1 and RFC 8301 one by one.
func TestVerifyCases(t *testing.T) {
	rk, ek := testKeys(t)
	now := time.Unix(1700000000, 0)
	sign := func(o SignOptions) string {
		if o.Domain == "" {
			o.Domain = "example.com"
		}
		if o.Selector == "" {
			o.Selector = "s"
		}
		if o.Signer == nil {
			o.Signer = rk
		}
		if o.Time.IsZero() {
			o.Time = now
		}
		return signMessage(t, testMessage, o)
	}
	rec := keyRecord(t, rk, "")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		msg    string
		txt    map[string][]string
		fail   map[string]dns.Kind
		status Status
		reason string // substring of Reason
	}{
		{name: "pass", msg: sign(SignOptions{}), status: StatusPass},
		{name: "key NXDOMAIN", msg: sign(SignOptions{Selector: "gone"}), status: StatusPermError, reason: "no key"},
		{name: "key SERVFAIL", msg: sign(SignOptions{}), fail: map[string]dns.Kind{"s._domainkey.example.com": dns.ServFail}, status: StatusTempError, reason: "unavailable"},
		{name: "key timeout", msg: sign(SignOptions{}), fail: map[string]dns.Kind{"s._domainkey.example.com": dns.Timeout}, status: StatusTempError},
		{name: "revoked", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {"v=DKIM1; p="}}, status: StatusPermError, reason: "revoked"},
		{name: "key syntax", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {"v=DKIM1; k=rsa; t; p=AAAA"}}, status: StatusPermError, reason: "key record"},
		{name: "key v= not first", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {"k=rsa; v=DKIM1; " + rec[len("v=DKIM1; k=rsa; "):]}}, status: StatusPermError},
		{name: "key v=DKIM2", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {strings.Replace(rec, "DKIM1", "DKIM2", 1)}}, status: StatusPermError},
		{name: "key h=sha1 only", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "h=sha1; ")}}, status: StatusPermError, reason: "h="},
		{name: "key h=sha1:sha256", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "h=sha1:sha256; ")}}, status: StatusPass},
		{name: "key s=tlsrpt", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "s=tlsrpt; ")}}, status: StatusPermError, reason: "s="},
		{name: "key s=*", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "s=*; ")}}, status: StatusPass},
		{name: "key k=ed25519 for rsa", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, ek, "")}}, status: StatusPermError, reason: "key type"},
		{name: "testing t=y", msg: sign(SignOptions{}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "t=y; ")}}, status: StatusPass},
		{name: "t=s with subdomain i=", msg: sign(SignOptions{Identity: "@mail.example.com"}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "t=s; ")}}, status: StatusPermError, reason: "t=s"},
		{name: "t=s with exact i=", msg: sign(SignOptions{Identity: "joe@example.com"}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "t=s; ")}}, status: StatusPass},
		{name: "i= outside d=", msg: sign(SignOptions{Identity: "@example.org"}), status: StatusPermError, reason: "not within"},
		{name: "1024-bit key passes", msg: sign(SignOptions{Signer: small}), txt: map[string][]string{"s._domainkey.example.com": {keyRecord(t, small, "")}}, status: StatusPass},
		{name: "h= without from", msg: strings.Replace(sign(SignOptions{Headers: []string{"To"}, Oversign: []string{}}), "h=from:to", "h=to:to", 1), status: StatusPermError, reason: "From"},
		{name: "future t=", msg: sign(SignOptions{Time: now.Add(time.Hour)}), status: StatusPermError, reason: "future"},
		{name: "small skew ok", msg: sign(SignOptions{Time: now.Add(2 * time.Minute)}), status: StatusPass},
		{name: "expired", msg: sign(SignOptions{Time: now.Add(-2 * time.Hour), Expire: time.Hour}), status: StatusPermError, reason: "expired"},
		{name: "v=2", msg: strings.Replace(sign(SignOptions{}), "v=1;", "v=2;", 1), status: StatusPermError, reason: "version"},
		{name: "a=rsa-sha1", msg: strings.Replace(sign(SignOptions{}), "a=rsa-sha256", "a=rsa-sha1", 1), status: StatusPolicy, reason: "RFC 8301"},
		{name: "unknown a=", msg: strings.Replace(sign(SignOptions{}), "a=rsa-sha256", "a=rsa-md5", 1), status: StatusPermError},
		{name: "bad b= base64", msg: strings.Replace(sign(SignOptions{}), "b=", "b=!", 1), status: StatusPermError},
		{name: "duplicate tag", msg: strings.Replace(sign(SignOptions{}), "v=1;", "v=1; d=example.com;", 1), status: StatusPermError, reason: "duplicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			txt := map[string][]string{"s._domainkey.example.com": {rec}}
			for k, v := range tc.txt {
				txt[k] = v
			}
			r := &dnstest.Mock{TXT: txt, Fail: tc.fail}
			res := Verify(context.Background(), r, message.Parse([]byte(tc.msg)), &Options{Now: now})
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			if res[0].Status != tc.status || !strings.Contains(res[0].Reason, tc.reason) {
				t.Errorf("got %s (%s), want %s (%q)", res[0].Status, res[0].Reason, tc.status, tc.reason)
			}
			if tc.name == "testing t=y" && !res[0].Testing {
				t.Error("Testing not set for t=y")
			}
		})
	}
}

func TestVerifyShortKeyIsPolicy(t *testing.T) {
	// Go refuses to create keys under 1024 bits; the Mail::DKIM corpus
	// (512- and 768-bit keys) covers RFC 8301 §3.2 with real signatures.
	// Here: a 512-bit key record with an otherwise good signature header.
	key := "v=DKIM1; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALgSoqXVSEmfcIsOzw7oRuCCOwsmtX/SJnTWxYyj2leFxfS/AVJ+dYfY+hXqMsT7l+MZvvh/R1WzN4MO/kI/7XsCAwEAAQ=="
	rk, _ := testKeys(t)
	signed := signMessage(t, testMessage, SignOptions{Domain: "example.com", Selector: "s", Signer: rk})
	r := &dnstest.Mock{TXT: map[string][]string{"s._domainkey.example.com": {key}}}
	res := Verify(context.Background(), r, message.Parse([]byte(signed)), nil)
	if res[0].Status != StatusPolicy || res[0].KeyBits != 512 {
		t.Fatalf("got %s bits=%d (%s)", res[0].Status, res[0].KeyBits, res[0].Reason)
	}
}

func TestVerifyBodyLength(t *testing.T) {
	rk, _ := testKeys(t)
	r := &dnstest.Mock{TXT: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "")}}}
	signed := signMessage(t, testMessage, SignOptions{Domain: "example.com", Selector: "s", Signer: rk, BodyLength: true})
	res := Verify(context.Background(), r, message.Parse([]byte(signed)), nil)
	if res[0].Status != StatusPass || res[0].UnsignedBytes != 0 || res[0].BodyLength <= 0 {
		t.Fatalf("l= signed: %+v", res[0])
	}
	appended := signed + "Buy cheap stuff at http://spam.example/\r\n"
	res = Verify(context.Background(), r, message.Parse([]byte(appended)), nil)
	if res[0].Status != StatusPass || res[0].UnsignedBytes != int64(len("\r\n\r\nBuy cheap stuff at http://spam.example/\r\n")) {
		// The two empty lines that ended the signed body count now.
		t.Fatalf("appended after l=: %s unsigned=%d", res[0].Status, res[0].UnsignedBytes)
	}
	if !strings.Contains(res[0].Reason, "not signed") {
		t.Errorf("reason %q does not flag the unsigned content", res[0].Reason)
	}
	truncated := strings.Replace(signed, "Joe.\r\n", "", 1)
	res = Verify(context.Background(), r, message.Parse([]byte(truncated)), nil)
	if res[0].Status != StatusFail {
		t.Fatalf("body shorter than l=: %s", res[0].Status)
	}
}

func TestVerifyManySignatures(t *testing.T) {
	rk, ek := testKeys(t)
	r := &dnstest.Mock{TXT: map[string][]string{
		"rsa._domainkey.example.com": {keyRecord(t, rk, "")},
		"ed._domainkey.example.com":  {keyRecord(t, ek, "")},
	}}
	raw := testMessage
	for i := 0; i < 8; i++ {
		var s crypto.Signer = rk
		sel := "rsa"
		if i%2 == 1 {
			s, sel = ek, "ed"
		}
		raw = signMessage(t, raw, SignOptions{Domain: "example.com", Selector: sel, Signer: s})
	}
	res := Verify(context.Background(), r, message.Parse([]byte(raw)), &Options{MaxSignatures: 5})
	if len(res) != 8 {
		t.Fatalf("%d results", len(res))
	}
	for i, x := range res {
		want := StatusPass
		if i >= 5 {
			want = StatusPermError
		}
		if x.Status != want || x.Skipped != (i >= 5) {
			t.Errorf("sig %d: %s skipped=%v (%s)", i, x.Status, x.Skipped, x.Reason)
		}
	}
	if r.Queries() != 2 {
		t.Errorf("%d DNS queries for 2 distinct keys", r.Queries())
	}
	if Summary(res) != StatusPass {
		t.Errorf("summary %s", Summary(res))
	}
}

func TestVerifyUnsigned(t *testing.T) {
	res := Verify(context.Background(), &dnstest.Mock{}, message.Parse([]byte(testMessage)), nil)
	if len(res) != 0 || Summary(res) != StatusNone {
		t.Fatalf("unsigned: %v", res)
	}
}

func TestVerifyContextDeadline(t *testing.T) {
	rk, _ := testKeys(t)
	signed := signMessage(t, testMessage, SignOptions{Domain: "example.com", Selector: "s", Signer: rk})
	// The key arrives after an hour: only ctx can end the lookup, so a
	// Verify that did not pass it down would hang the test (go test's
	// -timeout fails it), and one that waited would find the key (pass).
	r := &dnstest.Mock{TXT: map[string][]string{"s._domainkey.example.com": {keyRecord(t, rk, "")}}, Delay: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := Verify(ctx, r, message.Parse([]byte(signed)), nil)
	if res[0].Status != StatusTempError {
		t.Fatalf("got %s", res[0].Status)
	}
}

func ExampleVerify() {
	r := &dnstest.Mock{} // no keys published
	msg := message.Parse([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA\r\nFrom: a@example.com\r\n\r\nhi\r\n"))
	for _, r := range Verify(context.Background(), r, msg, nil) {
		fmt.Println(r.Status, r.Domain, r.Selector)
	}
	// Output: permerror example.com s
}

func TestCheckTimesExtremes(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		t, x int64
		ok   bool
	}{
		{-1, 1<<63 - 1, true},          // x= beyond int64: never expires
		{1<<63 - 1, -1, false},         // t= beyond int64: in the future
		{1700000000, 1700000000, true}, // expires now
		{-1, 1699999000, false},        // expired 1000 s ago, beyond the skew
		{-1, 1699999800, true},         // expired 200 s ago, within the skew
	} {
		err := checkTimes(&Signature{Timestamp: tc.t, Expiration: tc.x}, &Options{Now: now})
		if (err == nil) != tc.ok {
			t.Errorf("t=%d x=%d: %v, want ok=%v", tc.t, tc.x, err, tc.ok)
		}
	}
}
