// Package doctor checks a mail domain's DNS set-up the way the big
// receivers see it — MX, reverse DNS and HELO of the outbound addresses,
// SPF, DKIM, DMARC, MTA-STS / TLS-RPT, IP reputation — and says for each
// item that is not right what to change. It is a library: a dns.Resolver
// and Options in, a structured Report out; `hamlet doctor` prints it and
// the daemon serves it as JSON (Handler).
//
// A DNS failure (timeout, SERVFAIL) gives the status temperror for the
// items it prevented, never "missing record".
package doctor

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnsname"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/senderscore"
)

// Status is the outcome of one item.
type Status string

// Item statuses, from best to worst. Info items inform and never fail.
const (
	Pass      Status = "pass"
	Info      Status = "info"
	Warn      Status = "warn"
	Fail      Status = "fail"
	TempError Status = "temperror" // a DNS lookup failed: nothing could be concluded
)

// Sections, in report order.
const (
	SectionMX         = "MX"
	SectionRDNS       = "Reverse DNS and HELO"
	SectionSPF        = "SPF"
	SectionDKIM       = "DKIM"
	SectionDMARC      = "DMARC"
	SectionTransport  = "MTA-STS and TLS reporting"
	SectionReputation = "Reputation"
)

var sectionOrder = []string{SectionMX, SectionRDNS, SectionSPF, SectionDKIM, SectionDMARC, SectionTransport, SectionReputation}

// Item is one line of the checklist.
type Item struct {
	// ID names the check, stable for scripts: "spf.lookups", "dkim.match", …
	ID      string `json:"id"`
	Section string `json:"section"`
	// Subject is what the item is about when a check repeats (an IP
	// address, an MX host, a DNS list), "" otherwise.
	Subject string `json:"subject,omitempty"`
	Title   string `json:"title"`
	Status  Status `json:"status"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do when Status is not pass: a record to publish,
	// a command to run.
	Fix string `json:"fix,omitempty"`
}

// Summary counts items by status.
type Summary struct {
	Pass      int `json:"pass"`
	Info      int `json:"info"`
	Warn      int `json:"warn"`
	Fail      int `json:"fail"`
	TempError int `json:"temperror"`
}

// Report is the outcome of Run.
type Report struct {
	Domain   string    `json:"domain"`
	IPs      []string  `json:"ips,omitempty"`
	Helo     string    `json:"helo,omitempty"`
	Selector string    `json:"selector,omitempty"`
	Time     time.Time `json:"time"`
	Items    []Item    `json:"items"`
	Summary  Summary   `json:"summary"`
}

// Failed reports whether an item failed or could not be checked
// (temperror): `hamlet doctor` then exits with status 1.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 || r.Summary.TempError > 0 }

// Find returns the items with id (and subject, when not "").
func (r *Report) Find(id, subject string) []Item {
	var out []Item
	for _, it := range r.Items {
		if it.ID == id && (subject == "" || it.Subject == subject) {
			out = append(out, it)
		}
	}
	return out
}

// Options say what to check.
type Options struct {
	// Domain is the mail domain (the From and envelope domain).
	Domain string
	// IPs are the outbound addresses mail leaves from; without them the
	// reverse DNS, SPF-pass and reputation items are skipped.
	IPs []netip.Addr
	// Helo is the name the outbound MTA gives in HELO/EHLO.
	Helo string
	// Selectors are the DKIM selectors to check, each with its public key
	// when known (to check that DNS publishes the key hamlet signs with).
	Selectors []Selector
	// DNSLists are DNS list zones to look the outbound IPs up in
	// (e.g. "bl.spamcop.net"): any answer in 127.0.0.0/8 is a listing.
	DNSLists []string
	// Lists are DNS list definitions (hamlet's [[dnsbl.list]]): their
	// codes tell listings from allowlistings and refusals; domain lists
	// are asked about Domain.
	Lists []dnsbl.ListConfig
	// SenderscoreZone is the Senderscore zone; senderscore.Zone when "",
	// "-" to skip.
	SenderscoreZone string
	// SenderscoreBands judge the score as the filter does ([senderscore]
	// block_below, junk_below, good_above); senderscore.DefaultBands()
	// when zero.
	SenderscoreBands senderscore.Bands
	// Timeout bounds the whole run (DefaultTimeout when zero).
	Timeout time.Duration
}

// Selector is a DKIM selector, with the public key hamlet signs with
// when known.
type Selector struct {
	Name string
	// Domain is d= when it differs from Options.Domain (a parent domain
	// signing for its subdomains); the record is at Name._domainkey.Domain.
	Domain    string
	PublicKey crypto.PublicKey // *rsa.PublicKey or ed25519.PublicKey; nil: not compared
	// KeyFile names the private key, for the fix text.
	KeyFile string
}

// DefaultTimeout bounds a run.
const DefaultTimeout = 30 * time.Second

// report collects items from concurrent checks.
type report struct {
	mu    sync.Mutex
	items map[string][]Item
}

func (r *report) add(it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[it.Section] = append(r.items[it.Section], it)
}

// Run checks o.Domain through r. It never returns nil; ctx and o.Timeout
// bound it, and lookups that did not answer in time are temperror items.
func Run(ctx context.Context, r dns.Resolver, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	o.Domain = dns.Normalize(strings.TrimSpace(o.Domain))
	if a, err := message.NormalizeDomain(o.Domain); err == nil {
		o.Domain = a // U-labels as A-labels, as DNS has them
	}
	o.Helo = dns.Normalize(strings.TrimSpace(o.Helo))
	if o.SenderscoreZone == "" {
		o.SenderscoreZone = senderscore.Zone
	}
	if o.SenderscoreBands == (senderscore.Bands{}) {
		o.SenderscoreBands = senderscore.DefaultBands()
	}
	rep := &Report{Domain: o.Domain, Helo: o.Helo, Time: time.Now().UTC()}
	for _, ip := range o.IPs {
		rep.IPs = append(rep.IPs, ip.String())
	}
	if len(o.Selectors) > 0 {
		var names []string
		for _, s := range o.Selectors {
			names = append(names, s.Name)
		}
		rep.Selector = strings.Join(names, ",")
	}
	col := &report{items: map[string][]Item{}}
	if !validDomain(o.Domain) {
		col.add(Item{ID: "domain", Section: SectionMX, Title: "Domain name", Status: Fail,
			Detail: fmt.Sprintf("%q is not a domain name", o.Domain), Fix: "give the mail domain, e.g. hamlet doctor example.org"})
	} else {
		d := &doc{r: r, o: o, out: col}
		var wg sync.WaitGroup
		for _, f := range []func(context.Context){d.mx, d.rdns, d.spf, d.dkim, d.dmarc, d.transport, d.reputation} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(ctx)
			}()
		}
		wg.Wait()
	}
	for _, s := range sectionOrder {
		rep.Items = append(rep.Items, col.items[s]...)
	}
	for _, it := range rep.Items {
		switch it.Status {
		case Pass:
			rep.Summary.Pass++
		case Info:
			rep.Summary.Info++
		case Warn:
			rep.Summary.Warn++
		case Fail:
			rep.Summary.Fail++
		case TempError:
			rep.Summary.TempError++
		}
	}
	return rep
}

// doc is one run.
type doc struct {
	r   dns.Resolver
	o   Options
	out *report
}

// dnsFailure describes a temporary lookup failure for a temperror item.
func dnsFailure(what string, err error) string {
	kind := dns.KindOf(err)
	switch kind {
	case dns.Timeout:
		return fmt.Sprintf("DNS lookup of %s timed out: nothing can be concluded", what)
	default:
		return fmt.Sprintf("DNS lookup of %s failed (%v): nothing can be concluded", what, err)
	}
}

const tempFix = "the DNS server did not answer properly: check that the domain's name servers answer (e.g. dig +trace), or ask again later or with another server (--dns)"

// validDomain reports whether s, already lower-cased, without trailing
// dot and in A-label form (dns.Normalize, message.NormalizeDomain), is a
// name the doctor looks up: at least two labels, and underscores allowed
// because SPF includes and DNS list zones use them (include:_spf.example.net,
// RFC 2181 §11).
func validDomain(s string) bool { return doctorNames.Valid(s) }

var doctorNames = dnsname.Rules{MinLabels: 2, Underscore: true}

// WriteText prints the report as a checklist: one line per item with its
// status, the detail, and the fix for every item that is not a pass.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "hamlet doctor %s", r.Domain)
	var ctx []string
	if len(r.IPs) > 0 {
		ctx = append(ctx, "outbound "+strings.Join(r.IPs, ", "))
	}
	if r.Helo != "" {
		ctx = append(ctx, "HELO "+r.Helo)
	}
	if r.Selector != "" {
		ctx = append(ctx, "DKIM selector "+r.Selector)
	}
	if len(ctx) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(ctx, "; "))
	}
	b.WriteString("\n")
	section := ""
	for _, it := range r.Items {
		if it.Section != section {
			section = it.Section
			fmt.Fprintf(&b, "\n%s\n", section)
		}
		title := it.Title
		if it.Subject != "" {
			title += " (" + it.Subject + ")"
		}
		fmt.Fprintf(&b, "  [%s] %s: %s\n", label(it.Status), title, it.Detail)
		if it.Fix != "" && it.Status != Pass {
			word := " fix"
			if it.Status == Info {
				word = "hint"
			}
			fix := strings.ReplaceAll(it.Fix, "\n", "\n              ")
			fmt.Fprintf(&b, "        %s: %s\n", word, fix)
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d pass, %d warn, %d fail, %d temperror, %d info\n", s.Pass, s.Warn, s.Fail, s.TempError, s.Info)
	_, err := io.WriteString(w, b.String())
	return err
}

func label(s Status) string {
	switch s {
	case Pass:
		return "PASS"
	case Info:
		return "INFO"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	case TempError:
		return "TEMP"
	}
	return "????"
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
