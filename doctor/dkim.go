package doctor

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns"
)

// dkim checks each selector's key record (RFC 6376 §3.6.1, RFC 8301,
// RFC 8463).
func (d *doc) dkim(ctx context.Context) {
	dom := d.o.Domain
	if len(d.o.Selectors) == 0 {
		d.out.add(Item{ID: "dkim.record", Section: SectionDKIM, Title: "DKIM key record", Status: Info,
			Detail: "no selector given: DNS cannot list a domain's selectors",
			Fix:    "run again with --selector S (and --key FILE to check it matches your private key)"})
		return
	}
	for _, sel := range d.o.Selectors {
		sd := dom
		if sel.Domain != "" {
			sd = dns.Normalize(sel.Domain)
		}
		d.selector(ctx, sd, sel)
	}
}

func (d *doc) selector(ctx context.Context, dom string, sel Selector) {
	name := dkim.KeyName(sel.Name, dom)
	add := func(id, title string, st Status, detail, fix string) {
		d.out.add(Item{ID: id, Section: SectionDKIM, Subject: sel.Name, Title: title, Status: st, Detail: detail, Fix: fix})
	}
	publish := fmt.Sprintf("publish the record `hamlet dkim record -d %s -s %s KEYFILE` prints", dom, sel.Name)
	if want, err := dkimkeys.KeyRecord(sel.PublicKey); sel.PublicKey != nil && err == nil {
		publish = "publish\n" + strings.TrimSuffix(dkimkeys.ZoneRecord(sel.Name, dom, want), "\n")
	} else if sel.PublicKey == nil {
		publish += fmt.Sprintf(" (no key yet: hamlet dkim keygen -d %s -s %s)", dom, sel.Name)
	}
	txts, err := d.r.LookupTXT(ctx, name)
	if err != nil && !dns.IsNotFound(err) {
		add("dkim.record", "DKIM key record", TempError, dnsFailure("TXT "+name, err), tempFix)
		return
	}
	if len(txts) == 0 {
		add("dkim.record", "DKIM key record", Fail, "no TXT record at "+name+": receivers cannot verify your signatures (dkim=permerror)", publish)
		return
	}
	// RFC 6376 §3.6.2.2: the first record that parses is used.
	var key *dkim.Key
	var perr error
	for _, t := range txts {
		k, err := dkim.ParseKey(t)
		if err == nil {
			key = k
			break
		}
		if perr == nil {
			perr = err
		}
	}
	if key == nil {
		add("dkim.record", "DKIM key record", Fail, fmt.Sprintf("the record at %s does not parse: %v", name, perr), publish)
		return
	}
	if len(txts) > 1 {
		add("dkim.record", "DKIM key record", Warn, fmt.Sprintf("%d TXT records at %s: receivers may pick any", len(txts), name), "keep only the key record")
	} else {
		add("dkim.record", "DKIM key record", Pass, "found at "+name, "")
	}
	switch {
	case key.Revoked:
		add("dkim.key", "DKIM key", Fail, "p= is empty: the key is revoked (RFC 6376 §3.6.1)", publish)
		return
	case !key.AllowsHash("sha256"):
		add("dkim.key", "DKIM key", Fail, "h="+strings.Join(key.Hashes, ":")+" does not allow sha256: every signature fails", "remove the h= tag")
		return
	case !key.AllowsEmail():
		add("dkim.key", "DKIM key", Fail, "s="+strings.Join(key.Services, ":")+" does not allow email", "remove the s= tag")
		return
	}
	switch key.KeyType {
	case "ed25519":
		add("dkim.key", "DKIM key", Pass, "Ed25519 (RFC 8463); note that some receivers verify only RSA: sign with an RSA key too", "")
	default:
		switch {
		case key.Bits < dkim.MinRSABits:
			add("dkim.key", "DKIM key", Fail, fmt.Sprintf("RSA %d bits: receivers ignore keys under 1024 bits (RFC 8301 §3.2)", key.Bits),
				fmt.Sprintf("make a 2048-bit key: hamlet dkim keygen -d %s -s NEWSELECTOR", dom))
		case key.Bits < 2048:
			add("dkim.key", "DKIM key", Warn, fmt.Sprintf("RSA %d bits: accepted, but 2048 is recommended (RFC 8301 §3.2)", key.Bits),
				fmt.Sprintf("make a 2048-bit key: hamlet dkim keygen -d %s -s NEWSELECTOR", dom))
		default:
			add("dkim.key", "DKIM key", Pass, fmt.Sprintf("RSA %d bits", key.Bits), "")
		}
	}
	if key.Testing {
		add("dkim.testing", "DKIM not in testing mode", Warn, "t=y: receivers may treat signed mail as unsigned (RFC 6376 §3.6.1)", "remove t=y from the record once signing works")
	} else {
		add("dkim.testing", "DKIM not in testing mode", Pass, "no t=y", "")
	}
	if sel.PublicKey == nil {
		add("dkim.match", "DKIM record matches the private key", Info, "no private key given", "run again with --key FILE")
		return
	}
	if samePublic(key.PublicKey, sel.PublicKey) {
		add("dkim.match", "DKIM record matches the private key", Pass, "the record publishes the public half of "+keyName(sel), "")
	} else {
		add("dkim.match", "DKIM record matches the private key", Fail,
			"the record at "+name+" is not the public half of "+keyName(sel)+": every signature made with it fails", publish)
	}
}

func keyName(s Selector) string {
	if s.KeyFile != "" {
		return s.KeyFile
	}
	return "the signing key"
}

func samePublic(a, b any) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}

// SelectorsFrom returns the selectors, with their public keys, that set
// signs domain's mail with: what the daemon passes to Handler's defaults
// so that the web UI checks the keys hamlet actually uses.
func SelectorsFrom(set *dkimkeys.Set, domain string) []Selector {
	var out []Selector
	for _, k := range set.For(domain) {
		out = append(out, Selector{Name: k.Config.Selector, Domain: k.Config.Domain, PublicKey: k.Signer.Public(), KeyFile: k.Config.Key})
	}
	return out
}
