package checks

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

const dkimTestMsg = "From: a@good.example\r\nTo: b@rcpt.example\r\nSubject: hello\r\n\r\nbody\r\n"

// dkimSigned signs raw for domain/selector with key.
func dkimSigned(t *testing.T, raw, domain, sel string, key crypto.Signer) string {
	t.Helper()
	v, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: domain, Selector: sel, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	return "DKIM-Signature: " + v + "\r\n" + raw
}

func edRecord(pub ed25519.PublicKey) string {
	return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
}

func TestDKIMCheck(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &dnstest.Mock{
		TXT: map[string][]string{
			"s._domainkey.good.example":    {edRecord(pub)},
			"s._domainkey.other.example":   {edRecord(pub)},
			"s._domainkey.testing.example": {strings.Replace(edRecord(pub), "k=ed25519;", "k=ed25519; t=y;", 1)},
		},
		Fail: map[string]dns.Kind{"TXT s._domainkey.down.example": dns.ServFail},
	}
	good := dkimSigned(t, dkimTestMsg, "good.example", "s", key)
	tests := []struct {
		name string
		raw  string
		want map[string][]string // symbol -> options
	}{
		{"unsigned", dkimTestMsg, map[string][]string{SymDKIMNA: nil}},
		{"pass", good, map[string][]string{SymDKIMAllow: {"good.example:s=s"}}},
		{"fail", strings.Replace(good, "body", "changed", 1), map[string][]string{SymDKIMReject: {"good.example:s=s"}}},
		{"tempfail", dkimSigned(t, dkimTestMsg, "down.example", "s", key), map[string][]string{SymDKIMTempFail: {"down.example:s=s"}}},
		{"permfail no key", dkimSigned(t, dkimTestMsg, "nokey.example", "s", key), map[string][]string{SymDKIMPermFail: {"nokey.example:s=s"}}},
		{"policy sha1 is permfail", strings.Replace(good, "a=ed25519-sha256", "a=rsa-sha1", 1), map[string][]string{SymDKIMPermFail: {"good.example:s=s"}}},
		{"testing key fail is not reject", dkimSigned(t, dkimTestMsg, "testing.example", "s", key) + "appended\r\n",
			map[string][]string{SymDKIMPermFail: {"testing.example:s=s"}}},
		{"one good one bad", dkimSigned(t, strings.Replace(good, "body", "changed", 1), "other.example", "s", key),
			map[string][]string{SymDKIMAllow: {"other.example:s=s"}, SymDKIMReject: {"good.example:s=s"}}},
	}
	c := NewDKIM(r)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := &engine.Transaction{Message: message.Parse([]byte(tc.raw))}
			res := c.Run(context.Background(), tx, nil)
			got := map[string][]string{}
			for _, s := range res.Symbols {
				got[s.Name] = s.Options
			}
			if len(got) != len(tc.want) {
				t.Fatalf("symbols %v, want %v", got, tc.want)
			}
			for name, opts := range tc.want {
				g, ok := got[name]
				if !ok || !slices.Equal(g, opts) {
					t.Errorf("%s: options %v (present %v), want %v", name, g, ok, opts)
				}
			}
			rs, ok := res.Value.([]dkim.Result)
			if !ok {
				t.Fatalf("value %T, want []dkim.Result", res.Value)
			}
			if tc.name != "unsigned" && len(rs) == 0 {
				t.Error("no results in value")
			}
		})
	}
	// Every symbol emitted is declared.
	declared := map[string]bool{}
	for _, d := range c.Symbols() {
		declared[d.Name] = true
	}
	for _, n := range []string{SymDKIMAllow, SymDKIMReject, SymDKIMTempFail, SymDKIMPermFail, SymDKIMNA} {
		if !declared[n] {
			t.Errorf("%s not declared", n)
		}
	}
	if c.Name() != "dkim" || c.Phase() != engine.PhaseData || c.TimeoutSymbol().Name != SymDKIMTempFail {
		t.Error("name, phase or timeout symbol wrong")
	}
	if res := c.Run(context.Background(), &engine.Transaction{}, nil); len(res.Symbols) != 0 || res.Value != nil {
		t.Errorf("no message: %+v", res)
	}
}

func TestARCCheck(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &dnstest.Mock{
		TXT:  map[string][]string{"arc._domainkey.list.example": {edRecord(pub)}},
		Fail: map[string]dns.Kind{},
	}
	msg := message.Parse([]byte(dkimTestMsg))
	set, err := arc.Seal(msg, arc.Validate(context.Background(), r, msg), "list.example; dmarc=pass header.from=good.example",
		arc.SealOptions{Domain: "list.example", Selector: "arc", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range set.Fields() {
		b.WriteString(f[0] + ": " + f[1] + "\r\n")
	}
	sealed := b.String() + dkimTestMsg
	c := NewARC(r)
	run := func(raw string) engine.Result {
		return c.Run(context.Background(), &engine.Transaction{Message: message.Parse([]byte(raw))}, nil)
	}
	tests := []struct {
		name, raw, symbol, option string
	}{
		{"none", dkimTestMsg, SymARCNA, ""},
		{"pass", sealed, SymARCAllow, "list.example:s=arc:i=1"},
		{"reject", strings.Replace(sealed, "body", "changed", 1), SymARCReject, ""},
		{"invalid", strings.Replace(sealed, "i=1; list.example", "i=2; list.example", 1), SymARCInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(tc.raw)
			if len(res.Symbols) != 1 || res.Symbols[0].Name != tc.symbol {
				t.Fatalf("symbols %+v, want %s", res.Symbols, tc.symbol)
			}
			if tc.option != "" && !slices.Equal(res.Symbols[0].Options, []string{tc.option}) {
				t.Errorf("options %v, want %s", res.Symbols[0].Options, tc.option)
			}
			if v, ok := res.Value.(*arc.Result); !ok || v == nil {
				t.Fatalf("value %T", res.Value)
			}
		})
	}
	r.Fail["TXT arc._domainkey.list.example"] = dns.Timeout
	if res := run(sealed); res.Symbols[0].Name != SymARCDNSFail {
		t.Errorf("DNS timeout: %+v", res.Symbols)
	}
}
