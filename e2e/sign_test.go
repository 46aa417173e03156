package e2e

import (
	"context"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/message"
)

// submitClient is a user's machine: a documentation address with no
// reverse DNS, neither local to hamlet nor in [outbound] networks, so only
// SMTP AUTH makes its mail outbound.
var submitClient = client{IP: "192.0.2.77", Name: "[UNAVAILABLE]", Helo: "alice-laptop.example"}

// netClient is a host of the outbound network (say, a web server sending
// its notifications), not authenticated.
var netClient = client{IP: outboundIP, Name: "[UNAVAILABLE]", Helo: "www.out.test"}

// Outbound DKIM signing (issue 7), end to end. A message From out.test
// leaves each MTA with hamlet's two signatures of out.test (RSA and
// Ed25519), and they verify with hamlet's verifier against the keys
// published in the test DNS — with the MTA's Received and delivery fields
// on top. The same From sent inbound (no AUTH, a client outside the
// outbound network) comes out without a signature of out.test.
//
// How each MTA tells hamlet the mail is outbound:
//   - Postfix, "auth": a real SMTP AUTH submission (swaks --auth PLAIN)
//     checked by Cyrus SASL against a private sasldb. swaks presents the
//     client with XCLIENT, says EHLO again, then authenticates; hamlet
//     learns of it from the milter macro {auth_authen} at MAIL.
//   - Postfix and OpenSMTPD, "network": a client address in [outbound]
//     networks (presented with XCLIENT and with PROXY v2), no AUTH.
//
// OpenSMTPD has no AUTH case: smtpd offers AUTH only over TLS, and the
// 6.8.0p2 package Debian 12 ships fails every TLS handshake against
// OpenSSL 3 (tried with RSA and ECDSA keys: "SSL routines::EVP lib" under
// TLS 1.3, "internal error" under TLS 1.2; OpenSMTPD issues #1171 and
// #1239), so a STARTTLS + AUTH submission cannot be made through it here.
// Its link-auth report is covered by frontend/opensmtpd's tests.
func TestOutboundSigned(t *testing.T) {
	e := getEnv(t)
	resolver, err := dns.NewClient(dns.Config{Servers: []string{"127.0.0.1:53"}})
	if err != nil {
		t.Fatal(err)
	}
	// The AUTH case proves something only if its client is not outbound
	// by address.
	if out := netip.MustParsePrefix(outboundNet); out.Contains(netip.MustParseAddr(submitClient.IP)) || !out.Contains(netip.MustParseAddr(netClient.IP)) {
		t.Fatalf("test set-up: %s must hold %s and not %s", outboundNet, netClient.IP, submitClient.IP)
	}
	cases := []struct {
		name, mta, via string
		c              client
		needs          []string
	}{
		{"postfix/auth", "postfix", "postfix-submit", submitClient, []string{"sasl"}},
		{"postfix/network", "postfix", "postfix", netClient, nil},
		{"opensmtpd/network", "opensmtpd", "opensmtpd", netClient, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.need(t, tc.needs...)
			id := newID(tc.mta, "outbound")
			r := e.send(ctxT(t), tc.via, tc.c, "alice@"+signDomain, signMessage(id, "minutes of the meeting"))
			if tc.via == "postfix-submit" {
				if !strings.Contains(r.out, "<-  235") {
					t.Fatalf("SMTP AUTH did not succeed:\n%s\nPostfix log:\n%s", r.out, tail(e.log("postfix/maillog"), 10))
				}
				// XCLIENT resets the session: AUTH must come after it to
				// count for the milter session of the presented client.
				if x, a := strings.Index(r.out, " -> XCLIENT "), strings.Index(r.out, " -> AUTH "); x < 0 || a < x {
					t.Fatalf("swaks did not send XCLIENT before AUTH:\n%s", r.out)
				}
			}
			if !r.dataAccepted() {
				t.Fatalf("outbound message not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 20))
			}
			got, ok := e.delivered(tc.mta, id, 20*time.Second)
			if !ok {
				t.Fatal("outbound message accepted but not delivered")
			}
			sels := signedBy(got, signDomain)
			if want := []string{edSelector, rsaSelector}; strings.Join(sels, ",") != strings.Join(want, ",") {
				t.Fatalf("signatures of %s by selector: %v, want %v (one per configured key):\n%s\nhamlet log:\n%s", signDomain, sels, want, header(got), tail(e.log("hamlet.log"), 20))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			passed := map[string]string{}
			for _, res := range dkim.Verify(ctx, resolver, message.Parse([]byte(got)), nil) {
				if res.Domain != signDomain {
					continue
				}
				passed[res.Selector] = string(res.Status)
				if res.Status != dkim.StatusPass {
					t.Errorf("s=%s a=%s: %s (%s)", res.Selector, res.Algorithm, res.Status, res.Reason)
				}
			}
			if passed[rsaSelector] != "pass" || passed[edSelector] != "pass" {
				t.Errorf("verification of the delivered message: %v, want pass for %s and %s:\n%s", passed, rsaSelector, edSelector, header(got))
			}
		})
	}
	for _, mta := range mtas {
		t.Run(mta+"/inbound", func(t *testing.T) {
			// The same From, inbound from another host (one with
			// forward-confirmed reverse DNS, so that it is not
			// greylisted): delivered, not signed.
			id := newID(mta, "inbound-out")
			r := e.send(ctxT(t), mta, hamClient, "alice@"+signDomain, signMessage(id, "minutes, inbound"))
			if !r.dataAccepted() {
				t.Fatalf("inbound message not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 5))
			}
			in, ok := e.delivered(mta, id, 20*time.Second)
			if !ok {
				t.Fatal("inbound message accepted but not delivered")
			}
			if sels := signedBy(in, signDomain); len(sels) != 0 {
				t.Errorf("inbound mail From %s was signed (selectors %v):\n%s", signDomain, sels, header(in))
			}
		})
	}
}

// signMessage is a message From signDomain, unsigned.
func signMessage(id, subject string) []byte {
	return []byte("From: Alice <alice@" + signDomain + ">\r\n" +
		"To: " + localPart + "@" + rcptDomain + "\r\n" +
		"Cc: Carol <carol@" + rcptDomain + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + msgDate() + "\r\n" +
		"Message-ID: " + id + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Present: Alice, Carol.\r\n" +
		".a line starting with a dot\r\n" +
		"Trailing spaces here:   \r\n\r\n\r\n")
}

// signedBy returns the sorted selectors of the DKIM-Signature fields of
// domain d in raw.
func signedBy(raw, d string) []string {
	var sels []string
	for _, f := range message.Parse([]byte(raw)).Get("DKIM-Signature") {
		sig, err := dkim.ParseSignature(f.Unfolded())
		if err != nil || !strings.EqualFold(sig.Domain, d) {
			continue
		}
		sels = append(sels, sig.Selector)
	}
	sort.Strings(sels)
	return sels
}
