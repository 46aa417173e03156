package doctor

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/senderscore"
)

var (
	keyOnce            sync.Once
	goodKey, otherKey  *rsa.PrivateKey
	shortKey           *rsa.PrivateKey
	edKey              ed25519.PrivateKey
	goodRec, shortRec  string
	otherRec, edKeyRec string
)

func keys(t testing.TB) {
	keyOnce.Do(func() {
		var err error
		if goodKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if otherKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if shortKey, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		_, edKey, _ = ed25519.GenerateKey(rand.Reader)
		goodRec, _ = dkimkeys.KeyRecord(goodKey.Public())
		otherRec, _ = dkimkeys.KeyRecord(otherKey.Public())
		shortRec, _ = dkimkeys.KeyRecord(shortKey.Public())
		edKeyRec, _ = dkimkeys.KeyRecord(edKey.Public())
	})
}

const (
	outIP = "192.0.2.25"
	ptrN  = "25.2.0.192.in-addr.arpa."
	blZn  = "bl.test"
)

// goodZone is a domain set up right: every item passes.
func goodZone() []string {
	return []string{
		"example.org. MX 10 mail.example.org.",
		"mail.example.org. A " + outIP,
		"mail.example.org. AAAA 2001:db8::25",
		`example.org. TXT "v=spf1 mx ip4:` + outIP + ` include:_spf.provider.example -all"`,
		`example.org. TXT "google-site-verification=abc"`,
		`mail.example.org. TXT "v=spf1 a -all"`,
		`_spf.provider.example. TXT "v=spf1 ip4:198.51.100.0/24 ~all"`,
		ptrN + " PTR mail.example.org.",
		strings.TrimSpace(dkimkeys.ZoneRecord("s1", "example.org", goodRec)),
		`_dmarc.example.org. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.org,mailto:reports@dmarc.example.net"`,
		`example.org._report._dmarc.dmarc.example.net. TXT "v=DMARC1"`,
		`_mta-sts.example.org. TXT "v=STSv1; id=20260101"`,
		`_smtp._tls.example.org. TXT "v=TLSRPTv1; rua=mailto:tls@example.org"`,
		"25.2.0.192.score.senderscore.com. A 127.0.4.95",
		// The list exists (its test entry) but does not list outIP.
		"2.0.0.127." + blZn + ". A 127.0.0.2",
	}
}

// edit drops the lines starting with each prefix of drop, then adds add.
func edit(lines []string, drop []string, add ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, d := range drop {
			if strings.HasPrefix(l, d) {
				continue next
			}
		}
		out = append(out, l)
	}
	return append(out, add...)
}

func resolverFor(t *testing.T, srv *dnstest.Server) dns.Resolver {
	t.Helper()
	c, err := dns.NewClient(dns.Config{Servers: []string{srv.Addr()}, Timeout: duration.Duration(500 * time.Millisecond), Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func baseOptions() Options {
	return Options{
		Domain:    "example.org",
		IPs:       []netip.Addr{netip.MustParseAddr(outIP)},
		Helo:      "mail.example.org",
		Selectors: []Selector{{Name: "s1", PublicKey: goodKey.Public(), KeyFile: "/etc/hamlet/s1.key"}},
		DNSLists:  []string{blZn},
		Timeout:   20 * time.Second,
	}
}

func runZone(t *testing.T, lines []string, o Options) *Report {
	t.Helper()
	srv, err := startDNS(strings.Join(lines, "\n") + "\n")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	return Run(context.Background(), resolverFor(t, srv), o)
}

func dump(r *Report) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

func TestAllPass(t *testing.T) {
	keys(t)
	rep := runZone(t, goodZone(), baseOptions())
	for _, it := range rep.Items {
		if it.Status != Pass {
			t.Errorf("%s %s: %s %s (fix: %s)", it.ID, it.Subject, it.Status, it.Detail, it.Fix)
		}
	}
	// Every check ran.
	for _, id := range []string{"mx.records", "mx.address", "rdns.ptr", "rdns.fcrdns", "rdns.domain", "rdns.helo",
		"spf.record", "spf.syntax", "spf.lookups", "spf.includes", "spf.void", "spf.all", "spf.ip", "spf.helo",
		"dkim.record", "dkim.key", "dkim.testing", "dkim.match",
		"dmarc.record", "dmarc.syntax", "dmarc.policy", "dmarc.alignment", "dmarc.rua", "dmarc.external",
		"mtasts.record", "tlsrpt.record", "reputation.senderscore", "reputation.dnsbl"} {
		if len(rep.Find(id, "")) == 0 {
			t.Errorf("no %s item", id)
		}
	}
	if got := rep.Find("spf.lookups", "")[0].Detail; !strings.HasPrefix(got, "2 of the 10") {
		t.Errorf("spf.lookups: %s (want 2: mx and the include)", got)
	}
	if rep.Failed() || rep.Summary.Pass != len(rep.Items) {
		t.Errorf("summary %+v", rep.Summary)
	}
	if t.Failed() {
		t.Log(dump(rep))
	}
}

// TestFaults: each fault is caught by the right item, with the right fix.
func TestFaults(t *testing.T) {
	keys(t)
	good := goodZone()
	includes := []string{`example.org. TXT "v=spf1`}
	var inc []string
	var incRecs []string
	for i := range 11 {
		inc = append(inc, fmt.Sprintf("include:i%d.provider.example", i))
		incRecs = append(incRecs, fmt.Sprintf(`i%d.provider.example. TXT "v=spf1 ip4:198.51.100.%d -all"`, i, i))
	}
	var manyMX []string
	for i := range 11 {
		manyMX = append(manyMX, fmt.Sprintf("many.example.org. MX %d mx%d.example.org.", i, i))
	}
	tests := []struct {
		name    string
		zone    []string
		opts    func(*Options)
		id      string
		subject string
		status  Status
		detail  string // substring of Detail
		fix     string // substring of Fix
	}{
		{name: "no MX, no address", zone: edit(good, []string{"example.org. MX"}),
			id: "mx.records", status: Fail, detail: "no MX record and no address", fix: "example.org.\tIN\tMX\t10 mail.example.org."},
		{name: "null MX", zone: edit(good, []string{"example.org. MX"}, "example.org. MX 0 ."),
			id: "mx.records", status: Fail, detail: "null MX", fix: "IN\tMX\t10 mail.example.org."},
		{name: "MX host without address", zone: edit(good, []string{"example.org. MX"}, "example.org. MX 10 mx.example.org."),
			id: "mx.address", subject: "mx.example.org", status: Fail, detail: "no A or AAAA", fix: "mx.example.org.\tIN\tA"},
		{name: "no PTR", zone: edit(good, []string{ptrN}),
			id: "rdns.ptr", subject: outIP, status: Fail, detail: "no PTR record", fix: "set its reverse DNS (PTR) to mail.example.org"},
		{name: "PTR does not resolve back", zone: edit(good, []string{"mail.example.org. A"}, "mail.example.org. A 192.0.2.99"),
			id: "rdns.fcrdns", subject: outIP, status: Fail, detail: "does not resolve back", fix: "mail.example.org.\tIN\tA\t" + outIP},
		{name: "generic PTR", zone: edit(good, []string{ptrN}, ptrN+" PTR 192-0-2-25.dyn.isp.example.", "192-0-2-25.dyn.isp.example. A "+outIP),
			id: "rdns.domain", subject: outIP, status: Fail, detail: "generic name", fix: "set its reverse DNS (PTR) to mail.example.org"},
		{name: "PTR of another domain", zone: edit(good, []string{ptrN}, ptrN+" PTR vps7.hoster.example.", "vps7.hoster.example. A "+outIP),
			id: "rdns.domain", subject: outIP, status: Warn, detail: "is not under example.org", fix: "PTR"},
		{name: "HELO elsewhere", zone: append(good, "relay.example.org. A 203.0.113.1"), opts: func(o *Options) { o.Helo = "relay.example.org" },
			id: "rdns.helo", subject: outIP, status: Fail, detail: "resolves to 203.0.113.1, not to " + outIP, fix: "smtp_helo_name = mail.example.org"},
		{name: "HELO unresolvable", zone: good, opts: func(o *Options) { o.Helo = "nowhere.example.org" },
			id: "rdns.helo", subject: outIP, status: Fail, detail: "does not resolve", fix: "nowhere.example.org.\tIN\tA\t" + outIP},
		{name: "HELO not a FQDN", zone: good, opts: func(o *Options) { o.Helo = "localhost" },
			id: "rdns.helo", subject: outIP, status: Fail, detail: "not a fully-qualified", fix: "mail.example.org"},
		{name: "no SPF", zone: edit(good, includes),
			id: "spf.record", status: Fail, detail: "no SPF record", fix: `"v=spf1 mx ip4:` + outIP + ` -all"`},
		{name: "two SPF records", zone: append(good, `example.org. TXT "v=spf1 -all"`),
			id: "spf.record", status: Fail, detail: "2 SPF records", fix: "merge them into one record"},
		{name: "SPF syntax", zone: edit(good, includes, `example.org. TXT "v=spf1 ip4:192.0.2.300 -all"`),
			id: "spf.syntax", status: Fail, detail: "192.0.2.300", fix: `"v=spf1 mx ip4:` + outIP + ` -all"`},
		{name: "SPF ptr", zone: edit(good, includes, `example.org. TXT "v=spf1 ptr ip4:`+outIP+` -all"`),
			id: "spf.syntax", status: Warn, detail: "RFC 7208 §5.5", fix: "replace ptr"},
		{name: "SPF too many lookups", zone: append(edit(good, includes, `example.org. TXT "v=spf1 ip4:`+outIP+" "+strings.Join(inc, " ")+` -all"`), incRecs...),
			id: "spf.lookups", status: Fail, detail: "11 of the 10", fix: "ip4:/ip6:"},
		{name: "SPF lookups through nested includes", zone: append(edit(good, []string{`_spf.provider.example.`}),
			`_spf.provider.example. TXT "v=spf1 `+strings.Join(inc[:9], " ")+` ~all"`, strings.Join(incRecs[:9], "\n")),
			id: "spf.lookups", status: Fail, detail: "11 of the 10", fix: "ip4:/ip6:"},
		{name: "SPF void lookups", zone: edit(good, includes, `example.org. TXT "v=spf1 a:n1.example.org mx:n2.example.org exists:n3.example.org ip4:`+outIP+` -all"`),
			id: "spf.void", status: Fail, detail: "3 terms find nothing", fix: "remove the terms"},
		{name: "SPF macro", zone: edit(good, includes, `example.org. TXT "v=spf1 exists:%{i}._spf.example.org ip4:`+outIP+` -all"`),
			id: "spf.lookups", status: Pass, detail: "counted for an example one): exists:%{i}._spf.example.org"},
		{name: "SPF mx with 11 MX hosts", zone: append(edit(good, includes, `example.org. TXT "v=spf1 mx:many.example.org ip4:`+outIP+` -all"`), manyMX...),
			id: "spf.includes", status: Fail, detail: "more than 10 MX records", fix: "permerror"},
		{name: "SPF a without an A record", zone: append(edit(good, includes, `example.org. TXT "v=spf1 a:v6only.example.org ip4:`+outIP+` -all"`), "v6only.example.org. AAAA 2001:db8::7"),
			id: "spf.void", status: Warn, detail: "(a:v6only.example.org for IPv4 clients)", fix: "remove the terms"},
		{name: "SPF include without record", zone: edit(good, []string{"_spf.provider.example."}),
			id: "spf.includes", status: Fail, detail: "_spf.provider.example has no SPF record", fix: "permerror"},
		{name: "SPF IP not authorized", zone: edit(good, includes, `example.org. TXT "v=spf1 ip4:198.51.100.1 -all"`),
			id: "spf.ip", subject: outIP, status: Fail, detail: "fail", fix: "add ip4:" + outIP},
		{name: "SPF +all", zone: edit(good, includes, `example.org. TXT "v=spf1 ip4:`+outIP+` +all"`),
			id: "spf.all", status: Fail, detail: "every host", fix: "-all"},
		{name: "SPF ?all", zone: edit(good, includes, `example.org. TXT "v=spf1 ip4:`+outIP+` ?all"`),
			id: "spf.all", status: Warn, detail: "neutral", fix: "-all"},
		{name: "SPF without all", zone: edit(good, includes, `example.org. TXT "v=spf1 ip4:`+outIP+`"`),
			id: "spf.all", status: Warn, detail: "no final all", fix: "-all"},
		{name: "SPF all through redirect", zone: append(edit(good, includes, `example.org. TXT "v=spf1 ip4:`+outIP+` redirect=_r.example.org"`), `_r.example.org. TXT "v=spf1 +all"`),
			id: "spf.all", status: Fail, detail: "+all", fix: "-all"},
		{name: "HELO without SPF", zone: edit(good, []string{`mail.example.org. TXT`}),
			id: "spf.helo", subject: outIP, status: Warn, detail: "no SPF record", fix: "mail.example.org.\tIN\tTXT\t\"v=spf1 a -all\""},
		{name: "HELO SPF fails", zone: edit(good, []string{`mail.example.org. TXT`}, `mail.example.org. TXT "v=spf1 ip4:203.0.113.1 -all"`),
			id: "spf.helo", subject: outIP, status: Fail, detail: "fail", fix: "\"v=spf1 a -all\""},
		{name: "DKIM record missing", zone: edit(good, []string{"s1._domainkey"}),
			id: "dkim.record", subject: "s1", status: Fail, detail: "no TXT record at s1._domainkey.example.org", fix: "s1._domainkey.example.org.\tIN\tTXT\t( \"v=DKIM1; k=rsa; p="},
		{name: "DKIM record unparseable", zone: edit(good, []string{"s1._domainkey"}, `s1._domainkey.example.org. TXT "v=DKIM1; k=rsa; p=!!!"`),
			id: "dkim.record", subject: "s1", status: Fail, detail: "does not parse", fix: "v=DKIM1; k=rsa; p="},
		{name: "DKIM testing", zone: edit(good, []string{"s1._domainkey"}, strings.Replace(strings.TrimSpace(dkimkeys.ZoneRecord("s1", "example.org", goodRec)), "v=DKIM1; ", "v=DKIM1; t=y; ", 1)),
			id: "dkim.testing", subject: "s1", status: Warn, detail: "t=y", fix: "remove t=y"},
		{name: "DKIM other key", zone: edit(good, []string{"s1._domainkey"}, strings.TrimSpace(dkimkeys.ZoneRecord("s1", "example.org", otherRec))),
			id: "dkim.match", subject: "s1", status: Fail, detail: "not the public half of /etc/hamlet/s1.key", fix: strings.SplitN(goodRec, "p=", 2)[1][:200]},
		{name: "DKIM 1024 bits", zone: edit(good, []string{"s1._domainkey"}, strings.TrimSpace(dkimkeys.ZoneRecord("s1", "example.org", shortRec))),
			opts: func(o *Options) { o.Selectors[0].PublicKey = shortKey.Public() },
			id:   "dkim.key", subject: "s1", status: Warn, detail: "RSA 1024 bits", fix: "hamlet dkim keygen -d example.org"},
		{name: "DKIM revoked", zone: edit(good, []string{"s1._domainkey"}, `s1._domainkey.example.org. TXT "v=DKIM1; p="`),
			id: "dkim.key", subject: "s1", status: Fail, detail: "revoked", fix: "v=DKIM1; k=rsa; p="},
		{name: "no DMARC", zone: edit(good, []string{"_dmarc."}),
			id: "dmarc.record", status: Fail, detail: "no DMARC record", fix: `_dmarc.example.org.	IN	TXT	"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.org"`},
		{name: "DMARC p=none", zone: edit(good, []string{"_dmarc."}, `_dmarc.example.org. TXT "v=DMARC1; p=none; rua=mailto:dmarc@example.org"`),
			id: "dmarc.policy", status: Warn, detail: "p=none", fix: "p=quarantine, then p=reject"},
		{name: "DMARC pct", zone: edit(good, []string{"_dmarc."}, `_dmarc.example.org. TXT "v=DMARC1; p=reject; pct=20; rua=mailto:dmarc@example.org"`),
			id: "dmarc.policy", status: Warn, detail: "pct=20", fix: "remove pct="},
		{name: "DMARC syntax", zone: edit(good, []string{"_dmarc."}, `_dmarc.example.org. TXT "v=DMARC1; p=reject; adkim=x; rua=mailto:dmarc@example.org"`),
			id: "dmarc.syntax", status: Fail, detail: "adkim", fix: "correct those tags"},
		{name: "DMARC invalid policy", zone: edit(good, []string{"_dmarc."}, `_dmarc.example.org. TXT "v=DMARC1; p=block"`),
			id: "dmarc.record", status: Fail, detail: "invalid", fix: "v=DMARC1; p=none"},
		{name: "DMARC two records", zone: append(good, `_dmarc.example.org. TXT "v=DMARC1; p=none"`),
			id: "dmarc.record", status: Fail, detail: "several policy records", fix: "keep only one"},
		{name: "DMARC no rua", zone: edit(good, []string{"_dmarc."}, `_dmarc.example.org. TXT "v=DMARC1; p=reject"`),
			id: "dmarc.rua", status: Warn, detail: "no valid rua", fix: "rua=mailto:dmarc-reports@example.org"},
		{name: "DMARC external rua not authorized", zone: edit(good, []string{"example.org._report."}),
			id: "dmarc.external", subject: "rua=mailto:reports@dmarc.example.net", status: Fail, detail: "RFC 7489 §7.1",
			fix: "example.org._report._dmarc.dmarc.example.net.\tIN\tTXT\t\"v=DMARC1\""},
		{name: "no MTA-STS", zone: edit(good, []string{"_mta-sts."}),
			id: "mtasts.record", status: Info, detail: "none at _mta-sts.example.org", fix: "v=STSv1"},
		{name: "no TLS-RPT", zone: edit(good, []string{"_smtp._tls."}),
			id: "tlsrpt.record", status: Info, detail: "none at _smtp._tls.example.org", fix: "v=TLSRPTv1"},
		// The filter's default bands: rejected ≤ 10, junk < 70, good ≥ 90.
		{name: "very poor Senderscore", zone: edit(good, []string{"25.2.0.192.score"}, "25.2.0.192.score.senderscore.com. A 127.0.4.10"),
			id: "reputation.senderscore", subject: outIP, status: Fail, detail: "10 of 100: very poor; hamlet's filter rejects mail from it (block_below 10)", fix: "senderscore.org"},
		{name: "poor Senderscore", zone: edit(good, []string{"25.2.0.192.score"}, "25.2.0.192.score.senderscore.com. A 127.0.4.69"),
			id: "reputation.senderscore", subject: outIP, status: Warn, detail: "69 of 100: poor; hamlet's filter counts mail from it as junk (junk_below 70)", fix: "senderscore.org"},
		{name: "fair Senderscore", zone: edit(good, []string{"25.2.0.192.score"}, "25.2.0.192.score.senderscore.com. A 127.0.4.70"),
			id: "reputation.senderscore", subject: outIP, status: Pass, detail: "70 of 100: fair"},
		// The configured bands ([senderscore] of hamlet.toml) are the ones used.
		{name: "Senderscore with configured bands", zone: edit(good, []string{"25.2.0.192.score"}, "25.2.0.192.score.senderscore.com. A 127.0.4.30"),
			opts: func(o *Options) { o.SenderscoreBands = senderscore.Bands{BlockBelow: 30, JunkBelow: 80, GoodAbove: 95} },
			id:   "reputation.senderscore", subject: outIP, status: Fail, detail: "(block_below 30)", fix: "senderscore.org"},
		{name: "listed", zone: append(good, "25.2.0.192."+blZn+". A 127.0.0.2", "25.2.0.192."+blZn+`. TXT "Listed: see https://bl.test/lookup"`),
			id: "reputation.dnsbl", subject: blZn + " " + outIP, status: Fail, detail: "listed on bl.test (answer 127.0.0.2): Listed: see https://bl.test/lookup", fix: "request removal"},
		{name: "list refuses", zone: append(good, "25.2.0.192."+blZn+". A 127.255.255.254"),
			id: "reputation.dnsbl", subject: blZn + " " + outIP, status: Warn, detail: "refused the query", fix: "own resolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Selectors = append([]Selector(nil), o.Selectors...)
			if tt.opts != nil {
				tt.opts(&o)
			}
			rep := runZone(t, tt.zone, o)
			items := rep.Find(tt.id, tt.subject)
			if len(items) != 1 {
				t.Fatalf("%d %s items\n%s", len(items), tt.id, dump(rep))
			}
			it := items[0]
			if it.Status != tt.status || !strings.Contains(it.Detail, tt.detail) || !strings.Contains(it.Fix, tt.fix) {
				t.Errorf("%s: got %s %q fix %q\nwant %s, detail containing %q, fix containing %q", tt.id, it.Status, it.Detail, it.Fix, tt.status, tt.detail, tt.fix)
			}
			if tt.status == Fail && (!rep.Failed() || rep.Summary.Fail == 0) {
				t.Errorf("report not failed: %+v", rep.Summary)
			}
			// No fault is mistaken for a DNS failure.
			if rep.Summary.TempError > 0 {
				t.Errorf("temperror items:\n%s", dump(rep))
			}
		})
	}
}

// silentServer is a DNS server that never answers.
func silentServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// TestTimeouts: a DNS server that does not answer gives temperror, never
// "missing record".
func TestTimeouts(t *testing.T) {
	keys(t)
	t.Run("silent server", func(t *testing.T) {
		c, err := dns.NewClient(dns.Config{Servers: []string{silentServer(t)}, Timeout: duration.Duration(200 * time.Millisecond), Attempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		rep := Run(context.Background(), c, baseOptions())
		for _, it := range rep.Items {
			if it.Status != TempError || !strings.Contains(it.Detail, "timed out") || it.Fix != tempFix {
				t.Errorf("%s %s: %s %q", it.ID, it.Subject, it.Status, it.Detail)
			}
		}
		for _, id := range []string{"mx.records", "rdns.ptr", "spf.record", "dkim.record", "dmarc.record", "mtasts.record", "reputation.senderscore", "reputation.dnsbl"} {
			if len(rep.Find(id, "")) != 1 {
				t.Errorf("%s: %d items", id, len(rep.Find(id, "")))
			}
		}
		if !rep.Failed() {
			t.Error("a run where nothing could be checked is not a success")
		}
	})
	t.Run("some names hang", func(t *testing.T) {
		srv, err := startDNS(strings.Join(goodZone(), "\n") + "\n")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		for _, n := range []string{"s1._domainkey.example.org", "_dmarc.example.org", "_spf.provider.example", ptrN} {
			srv.Hang(n)
		}
		srv.ServFail("_mta-sts.example.org")
		rep := Run(context.Background(), resolverFor(t, srv), baseOptions())
		for _, c := range []struct{ id, detail string }{
			{"dkim.record", "timed out"}, {"dmarc.record", "timed out"}, {"spf.lookups", "timed out"},
			{"rdns.ptr", "timed out"}, {"mtasts.record", "SERVFAIL"},
		} {
			it := rep.Find(c.id, "")
			if len(it) != 1 || it[0].Status != TempError || !strings.Contains(strings.ToUpper(it[0].Detail), strings.ToUpper(c.detail)) {
				t.Errorf("%s: %+v", c.id, it)
			}
		}
		// What could be checked still is.
		for _, id := range []string{"mx.records", "spf.record", "spf.syntax", "tlsrpt.record"} {
			if it := rep.Find(id, ""); len(it) != 1 || it[0].Status != Pass {
				t.Errorf("%s: %+v", id, it)
			}
		}
		if rep.Summary.Fail != 0 {
			t.Errorf("failures from a hanging server:\n%s", dump(rep))
		}
	})
}

func TestWithoutIPsAndSelectors(t *testing.T) {
	keys(t)
	rep := runZone(t, goodZone(), Options{Domain: "Example.ORG."})
	if rep.Domain != "example.org" {
		t.Errorf("domain %q", rep.Domain)
	}
	for _, c := range []struct {
		id     string
		status Status
	}{{"rdns.ptr", Info}, {"dkim.record", Info}, {"spf.record", Pass}, {"dmarc.policy", Pass}} {
		if it := rep.Find(c.id, ""); len(it) != 1 || it[0].Status != c.status {
			t.Errorf("%s: %+v", c.id, it)
		}
	}
	if len(rep.Find("spf.ip", "")) != 0 || len(rep.Find("reputation.senderscore", "")) != 0 {
		t.Error("IP items without IPs")
	}
	if rep.Failed() {
		t.Errorf("failed:\n%s", dump(rep))
	}
	idn := Run(context.Background(), &dnstest.Mock{TXT: map[string][]string{"xn--bcher-kva.example": {"v=spf1 -all"}}}, Options{Domain: "Bücher.example"})
	if idn.Domain != "xn--bcher-kva.example" || len(idn.Find("spf.record", "")) != 1 || idn.Find("spf.record", "")[0].Status != Pass {
		t.Errorf("IDN domain: %s %+v", idn.Domain, idn.Find("spf.record", ""))
	}
	bad := Run(context.Background(), &dnstest.Mock{}, Options{Domain: "not a domain"})
	if len(bad.Items) != 1 || bad.Items[0].Status != Fail || !bad.Failed() {
		t.Errorf("invalid domain: %+v", bad.Items)
	}
}

func TestEd25519Selector(t *testing.T) {
	keys(t)
	zone := append(goodZone(), strings.TrimSpace(dkimkeys.ZoneRecord("e1", "example.org", edKeyRec)))
	o := baseOptions()
	o.Selectors = append(o.Selectors, Selector{Name: "e1", PublicKey: edKey.Public()})
	rep := runZone(t, zone, o)
	for _, id := range []string{"dkim.record", "dkim.key", "dkim.match"} {
		for _, sel := range []string{"s1", "e1"} {
			if it := rep.Find(id, sel); len(it) != 1 || it[0].Status != Pass {
				t.Errorf("%s %s: %+v", id, sel, it)
			}
		}
	}
	var pub crypto.PublicKey = otherKey.Public()
	if samePublic(edKey.Public(), pub) || !samePublic(edKey.Public(), edKey.Public()) {
		t.Error("samePublic")
	}
}

func TestWriteText(t *testing.T) {
	keys(t)
	rep := runZone(t, edit(goodZone(), []string{ptrN}), baseOptions())
	out := dump(rep)
	for _, want := range []string{
		"hamlet doctor example.org (outbound 192.0.2.25; HELO mail.example.org; DKIM selector s1)",
		"\nReverse DNS and HELO\n",
		"  [FAIL] PTR record (192.0.2.25): no PTR record for 192.0.2.25",
		"         fix: ask whoever provides 192.0.2.25",
		"\n              mail.example.org.\tIN\tA\t192.0.2.25",
		"  [PASS] MX records: 10 mail.example.org",
		" pass, 1 warn, 1 fail, 0 temperror, 0 info\n", // the HELO has no PTR to match
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Items) != len(rep.Items) || back.Summary != rep.Summary {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestHandler(t *testing.T) {
	keys(t)
	srv, err := startDNS(strings.Join(goodZone(), "\n") + "\n")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res := resolverFor(t, srv)
	var asked []string
	h := Handler(func() dns.Resolver { return res }, func(domain string) Options {
		asked = append(asked, domain)
		return Options{DNSLists: []string{blZn}, Selectors: []Selector{{Name: "s1", PublicKey: goodKey.Public()}}}
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/api/doctor?domain=Example.org&ip=" + outIP + "&helo=mail.example.org&selector=s1")
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if rep.Domain != "example.org" || rep.Failed() || rep.Summary.Pass != len(rep.Items) || len(rep.Find("dkim.match", "s1")) != 1 || len(rep.Find("reputation.dnsbl", "")) != 1 {
		t.Errorf("report %+v", rep.Summary)
		for _, it := range rep.Items {
			t.Log(it)
		}
	}
	if len(asked) != 1 || asked[0] != "example.org" {
		t.Errorf("defaults asked for %v", asked)
	}
	for _, q := range []string{"", "?domain=", "?domain=a%20b", "?domain=example.org&ip=1.2.3", "?domain=example.org&dnsbl=bad%20zone", "?domain=xn--abc.example", "?domain=-x.example",
		"?domain=example.org" + strings.Repeat("&ip=192.0.2.1", MaxIPs+1)} {
		resp, err := http.Get(ts.URL + "/api/doctor" + q)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e["error"] == "" {
			t.Errorf("%q: status %d %v", q, resp.StatusCode, e)
		}
	}
	resp, _ = http.Post(ts.URL+"/api/doctor?domain=example.org", "text/plain", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// TestConfiguredLists: list definitions decode answers with their codes:
// an allowlisting passes, a domain list is asked about the domain, an
// IPv4-only list is not asked about an IPv6 address.
func TestConfiguredLists(t *testing.T) {
	keys(t)
	var wl, dbl, v4 dnsbl.ListConfig
	for _, l := range dnsbl.DefaultLists() {
		switch l.Name {
		case "dnswl":
			wl = l
		case "spamhaus_dbl":
			dbl = l
		case "spamcop":
			v4 = l
		}
	}
	zone := append(goodZone(),
		"25.2.0.192.list.dnswl.org. A 127.0.5.3",
		"example.org.dbl.spamhaus.org. A 127.0.1.2",
		"25.2.0.192.bl.spamcop.net. A 127.0.0.2",
		"mail.example.org. AAAA 2001:db8::25",
	)
	o := baseOptions()
	o.DNSLists = nil
	o.Lists = []dnsbl.ListConfig{wl, dbl, v4}
	o.IPs = append(o.IPs, netip.MustParseAddr("2001:db8::25"))
	rep := runZone(t, zone, o)
	for _, c := range []struct {
		subject string
		status  Status
		detail  string
	}{
		{"list.dnswl.org " + outIP, Pass, "listed as a good sender"},
		{"dbl.spamhaus.org example.org", Fail, "DBL_SPAM"},
		{"bl.spamcop.net " + outIP, Fail, "RBL_SPAMCOP"},
	} {
		it := rep.Find("reputation.dnsbl", c.subject)
		if len(it) != 1 || it[0].Status != c.status || !strings.Contains(it[0].Detail, c.detail) {
			t.Errorf("%s: %+v", c.subject, it)
		}
	}
	if it := rep.Find("reputation.dnsbl", "bl.spamcop.net 2001:db8::25"); len(it) != 0 {
		t.Errorf("IPv4-only list asked about IPv6: %+v", it)
	}
}

func TestSelectorsFrom(t *testing.T) {
	keys(t)
	set, err := dkimkeys.NewSet([]dkimkeys.Key{
		{Config: dkimkeys.SignKey{Domain: "example.org", Selector: "s1", Subdomains: true}, Signer: goodKey},
		{Config: dkimkeys.SignKey{Domain: "example.org", Selector: "e1", Algorithm: dkimkeys.AlgEd25519}, Signer: edKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := SelectorsFrom(set, "example.org"); len(got) != 2 || got[1].Name != "e1" || !samePublic(got[1].PublicKey, edKey.Public()) {
		t.Errorf("example.org: %+v", got)
	}
	// A subdomain signed with the parent's key: the record is checked at
	// the parent.
	sels := SelectorsFrom(set, "lists.example.org")
	if len(sels) != 1 || sels[0].Domain != "example.org" {
		t.Fatalf("lists.example.org: %+v", sels)
	}
	zone := append(goodZone(), "lists.example.org. MX 10 mail.example.org.")
	o := baseOptions()
	o.Domain, o.Selectors = "lists.example.org", sels
	rep := runZone(t, zone, o)
	if it := rep.Find("dkim.match", "s1"); len(it) != 1 || it[0].Status != Pass {
		t.Errorf("dkim.match: %+v", it)
	}
	if SelectorsFrom(nil, "example.org") != nil {
		t.Error("nil set")
	}
}

// startDNS starts a dnstest server, trying again when the random UDP port's
// TCP twin is taken by another process (dnstest binds both).
func startDNS(zone string) (*dnstest.Server, error) {
	for i := 0; ; i++ {
		srv, err := dnstest.NewServer(zone)
		if err == nil || i == 9 || !strings.Contains(err.Error(), "address already in use") {
			return srv, err
		}
	}
}

func TestGenericPTR(t *testing.T) {
	for name, want := range map[string]bool{
		"192-0-2-25.dyn.isp.example": true, "host-192.0.2.25.example.net": true, "ppp123.isp": true,
		"dsl-pool": true, "cpe-1.cable": true, "c-24-5-6-7.hsd1.ca.comcast": true,
		"mail": false, "mx1": false, "dynamo-mail": false, "client1": false, "pooled-mail": false, "smtp-out.mailer": false,
	} {
		if got := genericPTR.MatchString(name); got != want {
			t.Errorf("%s: generic = %v, want %v", name, got, want)
		}
	}
}
