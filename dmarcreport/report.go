// Package dmarcreport reads DMARC aggregate reports (RFC 7489 §7.2 and
// Appendix C, RFC 9990), keeps them in the store, summarises them per
// policy domain and period, and writes hamlet's own aggregate reports.
//
// Parsing is lenient where reporters are known to deviate from the schemas
// (any or no XML namespace, missing optional fields, upper-case result
// words, swapped or empty date ranges, stray tags before <feedback>,
// invalid UTF-8) and strict where leniency would cost memory or safety:
// every input is bounded before it is read (Limits), compressed data is
// decompressed through a limit (a zip bomb is refused, never unpacked),
// and a document type declaration is refused, so that no entity is ever
// defined or expanded (no external entities, no "billion laughs").
//
// What it does not do: failure reports (ruf, RFC 9991) and SMTP TLS
// reports (RFC 8460) are not read.
package dmarcreport

import (
	"net/netip"
	"strings"
	"time"
)

// Report is one aggregate report, normalised: result words in lower case,
// domains in lower case without a trailing dot, times in UTC.
type Report struct {
	// Version is the report's <version> ("" when absent, as in most
	// RFC 7489 reports).
	Version string `json:"version,omitempty"`
	// Org, Email, ExtraContact and ReportID are report_metadata.
	Org          string `json:"org"`
	Email        string `json:"email,omitempty"`
	ExtraContact string `json:"extra_contact,omitempty"`
	ReportID     string `json:"report_id"`
	// Generator is RFC 9990's report_metadata/generator.
	Generator string `json:"generator,omitempty"`
	// Begin and End are the reporting period (date_range).
	Begin time.Time `json:"begin"`
	End   time.Time `json:"end"`
	// Errors are the reporter's report_metadata/error entries.
	Errors []string `json:"errors,omitempty"`
	// Policy is policy_published.
	Policy PolicyPublished `json:"policy"`
	// Records are the report's rows.
	Records []Record `json:"records"`
	// Warnings say where the report deviated from the schema and what
	// the parser made of it.
	Warnings []string `json:"warnings,omitempty"`
}

// PolicyPublished is the DMARC record the reporter found (RFC 7489
// Appendix C PolicyPublishedType, RFC 9990 §3.1.1.3).
type PolicyPublished struct {
	Domain          string `json:"domain"`
	ADKIM           string `json:"adkim,omitempty"`
	ASPF            string `json:"aspf,omitempty"`
	P               string `json:"p,omitempty"`
	SP              string `json:"sp,omitempty"`
	NP              string `json:"np,omitempty"`
	Pct             string `json:"pct,omitempty"`
	FO              string `json:"fo,omitempty"`
	Testing         string `json:"testing,omitempty"`
	DiscoveryMethod string `json:"discovery_method,omitempty"`
}

// Record is one row: messages from one source IP with the same results.
type Record struct {
	SourceIP netip.Addr `json:"source_ip"`
	Count    int64      `json:"count"`
	// Disposition, DKIM and SPF are policy_evaluated: the policy applied
	// and the DMARC-aligned results ("pass" or "fail").
	Disposition string   `json:"disposition"`
	DKIM        string   `json:"dkim"`
	SPF         string   `json:"spf"`
	Reasons     []Reason `json:"reasons,omitempty"`
	// Identifiers.
	HeaderFrom   string `json:"header_from,omitempty"`
	EnvelopeFrom string `json:"envelope_from,omitempty"`
	EnvelopeTo   string `json:"envelope_to,omitempty"`
	// AuthDKIM and AuthSPF are auth_results: the raw, unaligned results.
	AuthDKIM []DKIMAuth `json:"auth_dkim,omitempty"`
	AuthSPF  []SPFAuth  `json:"auth_spf,omitempty"`
}

// Reason is a PolicyOverrideReason (RFC 7489 Appendix C).
type Reason struct {
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
}

// DKIMAuth is one DKIM signature's result.
type DKIMAuth struct {
	Domain      string `json:"domain"`
	Selector    string `json:"selector,omitempty"`
	Result      string `json:"result"`
	HumanResult string `json:"human_result,omitempty"`
}

// SPFAuth is one SPF result.
type SPFAuth struct {
	Domain string `json:"domain"`
	Scope  string `json:"scope,omitempty"`
	Result string `json:"result"`
}

// Key is the identity under which a report is stored once: the reporting
// organisation and its report id (RFC 7489 §7.2.1.1: report_id is unique
// per reporter).
func (r *Report) Key() string {
	org := strings.ToLower(strings.TrimSpace(r.Org))
	if org == "" {
		org = strings.ToLower(r.Email)
	}
	return org + "!" + r.ReportID
}

// Messages returns the sum of the records' counts.
func (r *Report) Messages() int64 {
	var n int64
	for _, rec := range r.Records {
		n += rec.Count
	}
	return n
}

// Pass reports whether the row passed DMARC: an aligned pass of DKIM or
// SPF (RFC 7489 §3).
func (rec *Record) Pass() bool { return rec.DKIM == "pass" || rec.SPF == "pass" }
