package checks

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// URL domain lists (SURBL/URIBL style) are asked about the registrable
// domain of each URL of the message, once per domain, through the same
// DNS list machinery as the client checks; bit-coded answers map to
// every category they carry.
func TestDNSBLURLs(t *testing.T) {
	m := &dnstest.Mock{A: map[string][]string{
		"test.surbl.org.multi.surbl.org": {"127.0.0.8"},
		// phishing (8) and malware (16) at once
		"evil.example.multi.surbl.org":   {"127.0.0.24"},
		"test.uribl.com.multi.uribl.com": {"127.0.0.14"},
		"spam.example.multi.uribl.com":   {"127.0.0.4"},
	}}
	var lists []dnsbl.ListConfig
	for _, l := range dnsbl.DefaultLists() {
		if l.Name == "surbl" || l.Name == "uribl" {
			l.Enabled = true
			lists = append(lists, l)
		}
	}
	if len(lists) != 2 {
		t.Fatalf("shipped surbl/uribl lists missing: %v", lists)
	}
	for _, l := range dnsbl.DefaultLists() {
		if (l.Name == "surbl" || l.Name == "uribl") && l.Enabled {
			t.Errorf("%s is shipped enabled", l.Name)
		}
	}
	d, err := NewDNSBL(DNSBLConfig{Enabled: true, Lists: lists}, m, nil, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	var urlCheck engine.Check
	for _, c := range d.Checks() {
		if c.Name() == CheckDNSBLURL {
			urlCheck = c
		} else {
			t.Errorf("unexpected check %s for URL-only lists", c.Name())
		}
	}
	if urlCheck == nil || urlCheck.Phase() != engine.PhaseData {
		t.Fatal("no data-phase URL list check")
	}
	raw := "From: a@example.org\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n" +
		`<a href="https://login.evil.example/x">https://www.bank.example/</a> <a href="http://www.spam.example/">more</a> ` +
		`<a href="https://shop.evil.example/">again</a> <a href="http://192.0.2.7/">ip</a> https://clean.example/`
	tx := &engine.Transaction{ClientIP: netip.MustParseAddr("198.51.100.9"), Message: message.Parse([]byte(raw))}
	res := urlCheck.Run(context.Background(), tx, nil)
	got := map[string][]string{}
	for _, s := range res.Symbols {
		got[s.Name] = s.Options
	}
	for sym, opt := range map[string]string{"PH_SURBL_MULTI": "evil.example:url", "MW_SURBL_MULTI": "evil.example:url", "URIBL_GREY": "spam.example:url"} {
		if !slices.Contains(got[sym], opt) {
			t.Errorf("%s: options %v, want %q (all: %v)", sym, got[sym], opt, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("symbols %v, want exactly the three listings", got)
	}
	// evil.example twice, an IP host and a clean domain: each domain is
	// asked once per list, the IP not at all.
	v := res.Value.(*DNSBLValue)
	asked := map[string]int{}
	for _, r := range v.Results {
		asked[r.Subject]++
	}
	if asked["evil.example"] != 2 || asked["clean.example"] != 2 || asked["192.0.2.7"] != 0 || len(asked) != 4 {
		t.Errorf("asked %v", asked)
	}
	// Local or outbound mail is not judged by DNS lists.
	tx.Outbound = true
	if res := urlCheck.Run(context.Background(), tx, nil); len(res.Symbols) != 0 {
		t.Errorf("outbound: %v", res.Symbols)
	}
}

func TestDNSBLBitsConfig(t *testing.T) {
	bad := dnsbl.ListConfig{Name: "x", Zone: "x.example", Kind: dnsbl.KindDomain, Check: []string{"url"},
		Codes: []dnsbl.Code{{Answer: "127.0.0.2", Bits: 2, Symbol: "X"}}}
	if err := bad.Validate(); err == nil {
		t.Error("answer and bits together accepted")
	}
	bad.Codes[0].Answer = ""
	if err := bad.Validate(); err != nil {
		t.Errorf("bits alone refused: %v", err)
	}
	bad.Check = []string{"uri"}
	if err := bad.Validate(); err == nil {
		t.Error("check = uri accepted")
	}
	m := dnsbl.BitsMatcher(8)
	for a, want := range map[string]bool{"127.0.0.8": true, "127.0.0.24": true, "127.0.0.4": false, "127.0.1.8": false, "10.0.0.8": false} {
		if m.Match(netip.MustParseAddr(a)) != want {
			t.Errorf("bits 8 on %s: want %v", a, want)
		}
	}
}
