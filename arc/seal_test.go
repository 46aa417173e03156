package arc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

// tagSet turns a header value into its tag=value pieces with all white
// space deleted, sorted: the comparison the suite's upstream runner makes.
func tagSet(v string) []string {
	v = strings.Join(strings.Fields(v), "")
	var out []string
	for _, p := range strings.Split(v, ";") {
		if p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func TestSigningSuite(t *testing.T) {
	dir := conformanceDir(t, "arc")
	tests := readSuite(t, filepath.Join(dir, "arc-draft-sign-tests.yml"))
	if len(tests) < 17 {
		t.Fatalf("read %d signing tests, want at least 17", len(tests))
	}
	passed := 0
	for _, st := range tests {
		t.Run(st.Name, func(t *testing.T) {
			block, _ := pem.Decode([]byte(st.PrivateKey))
			if block == nil {
				t.Fatal("no PEM key in scenario")
			}
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			msg := suiteMessage(st.Message)
			chain := Validate(context.Background(), suiteResolver(st.TXT), msg)
			payload, ok := Consolidate(msg, st.SrvID)
			wantEmpty := strings.TrimSpace(st.AS) == ""
			if !ok {
				t.Fatalf("no Authentication-Results for %s", st.SrvID)
			}
			// The suite stamps the chain status into the AR (arc=...):
			// our validation must agree with it. (no_additional_sig
			// stamps arc=pass on a chain whose newest seal says
			// cv=fail; there the expected outcome, no new set, is the
			// test.)
			if i := strings.Index(payload, "arc="); i >= 0 && !wantEmpty {
				stamped := strings.TrimRight(strings.Fields(payload[i+4:])[0], ";")
				if Status(stamped) != chain.Status {
					t.Errorf("validation says cv=%s (%s), the suite stamped arc=%s", chain.Status, chain.Reason, stamped)
				}
			}
			set, err := Seal(msg, chain, payload, SealOptions{
				Domain: st.Domain, Selector: st.Selector, Signer: key,
				Headers: strings.Split(st.SigHeaders, ":"), Time: time.Unix(st.T, 0),
			})
			if wantEmpty {
				if !errors.Is(err, ErrChainFailed) {
					t.Fatalf("want no set (chain failed), got %v %+v", err, set)
				}
				passed++
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ok = true
			for _, c := range []struct{ name, got, want string }{
				{"AAR", set.AAR, st.AAR}, {"AMS", set.AMS, st.AMS}, {"AS", set.Seal, st.AS},
			} {
				if g, w := strings.Join(tagSet(c.got), ";"), strings.Join(tagSet(c.want), ";"); g != w {
					t.Errorf("%s:\n got  %s\n want %s", c.name, g, w)
					ok = false
				}
			}
			if ok {
				passed++
			}
		})
	}
	t.Logf("ARC signing suite: %d/%d pass", passed, len(tests))
}

// TestSealValidateRoundTrip seals a message three times (RSA and ed25519
// sealers) and validates the chain after each hop.
func TestSealValidateRoundTrip(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	epub, ek, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	r := &dnstest.Mock{TXT: map[string][]string{
		"r._domainkey.list.example": {"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)},
		"e._domainkey.fwd.example":  {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(epub)},
	}}
	raw := "From: a@origin.example\r\nTo: b@list.example\r\nSubject: hi\r\n\r\nbody  text \r\n"
	hops := []SealOptions{
		{Domain: "list.example", Selector: "r", Signer: rk},
		{Domain: "fwd.example", Selector: "e", Signer: ek},
		{Domain: "list.example", Selector: "r", Signer: rk},
	}
	for i, o := range hops {
		msg := message.Parse([]byte(raw))
		chain := Validate(context.Background(), r, msg)
		if i == 0 && chain.Status != None || i > 0 && chain.Status != Pass {
			t.Fatalf("hop %d: chain %s (%s)", i, chain.Status, chain.Reason)
		}
		set, err := Seal(msg, chain, o.Domain+"; spf=pass smtp.mailfrom=origin.example", o)
		if err != nil {
			t.Fatal(err)
		}
		if set.Instance != i+1 {
			t.Fatalf("hop %d: instance %d", i, set.Instance)
		}
		var b strings.Builder
		for _, f := range set.Fields() {
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
		raw = b.String() + "Received: by hop" + string(rune('1'+i)) + "\r\n" + raw
	}
	res := Validate(context.Background(), r, message.Parse([]byte(raw)))
	if res.Status != Pass || res.Instances() != 3 || res.OldestPass != 1 {
		t.Fatalf("final chain: %s (%s) instances=%d oldest=%d", res.Status, res.Reason, res.Instances(), res.OldestPass)
	}
	if d, s := res.Sealer(2); d != "fwd.example" || s != "e" {
		t.Errorf("sealer 2: %s %s", d, s)
	}
	// Changing the body breaks the newest AMS: fail.
	bad := strings.Replace(raw, "body  text", "body text!", 1)
	if res := Validate(context.Background(), r, message.Parse([]byte(bad))); res.Status != Fail || res.Failure != FailSignature {
		t.Errorf("modified body: %s %s", res.Status, res.Failure)
	}
	// A key lookup that fails temporarily is a DNS failure.
	r.Fail = map[string]dnstestKind{"e._domainkey.fwd.example": dnsServFail}
	if res := Validate(context.Background(), r, message.Parse([]byte(raw))); res.Status != Fail || res.Failure != FailDNS {
		t.Errorf("SERVFAIL: %s %s", res.Status, res.Failure)
	}
}
