package doctor

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// FuzzRun feeds arbitrary SPF, DMARC, DKIM and list records, MX and PTR
// names to a whole run: it must end, every item must have a known status,
// and every item that fails or warns must say how to fix it.
func FuzzRun(f *testing.F) {
	f.Add("v=spf1 mx -all", "v=spf1 include:a.example.org ~all", "v=DMARC1; p=reject; rua=mailto:r@x.example", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "mail.example.org", "127.0.0.2")
	f.Add("v=spf1 redirect=a.example.org", "v=spf1 redirect=example.org", "v=DMARC1; p=none; pct=x; ruf=mailto:a@b", "v=DKIM1; p=", "example.org", "127.255.255.254")
	f.Add("v=spf1 a:%{i}.x.example exists:%{l}.example.org ptr -all", "v=spf1 +all", "v=DMARC1", "k=rsa; p=MIIB", ".", "192.0.2.1")
	f.Add("v=spf1 ip4:192.0.2.300", "", "v=DMARC1;p=quarantine;sp=reject;adkim=s;aspf=s;rua=mailto:a@example.org!10m", "v=DKIM1; t=y; h=sha1; s=x; p=AAAA", "192.0.2.25", "")
	f.Fuzz(func(t *testing.T, spfRec, incRec, dmarcRec, dkimRec, name, listAnswer string) {
		m := &dnstest.Mock{
			TXT: map[string][]string{
				"example.org":                {spfRec},
				"a.example.org":              {incRec},
				"_dmarc.example.org":         {dmarcRec},
				"s1._domainkey.example.org":  {dkimRec},
				"25.2.0.192.bl.test":         {incRec},
				"_mta-sts.example.org":       {incRec},
				"example.org._report._dmarc": {dmarcRec},
			},
			A:   map[string][]string{"mail.example.org": {"192.0.2.25"}, "25.2.0.192.bl.test": {listAnswer}},
			MX:  map[string][]dns.MX{"example.org": {{Host: strings.ToLower(name), Pref: 10}}},
			PTR: map[string][]string{"192.0.2.25": {name}},
		}
		if _, err := netip.ParseAddr(listAnswer); err != nil {
			delete(m.A, "25.2.0.192.bl.test")
		}
		rep := Run(context.Background(), m, Options{
			Domain: "example.org", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.25")}, Helo: name,
			Selectors: []Selector{{Name: "s1"}}, DNSLists: []string{"bl.test"}, Timeout: 5 * time.Second,
		})
		if len(rep.Items) == 0 {
			t.Fatal("no items")
		}
		for _, it := range rep.Items {
			switch it.Status {
			case Pass, Info:
			case Warn, Fail, TempError:
				if it.Fix == "" {
					t.Errorf("%s %s: %s without a fix: %s", it.ID, it.Subject, it.Status, it.Detail)
				}
			default:
				t.Errorf("%s: status %q", it.ID, it.Status)
			}
			if it.Detail == "" {
				t.Errorf("%s: no detail", it.ID)
			}
		}
	})
}
