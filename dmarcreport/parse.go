package dmarcreport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of the parser; each returned error wraps one of them.
var (
	// ErrNotReport: the input holds no aggregate report.
	ErrNotReport = errors.New("dmarcreport: no aggregate report")
	// ErrMalformed: the XML is not well formed, or a required field is
	// missing or unusable.
	ErrMalformed = errors.New("dmarcreport: malformed report")
	// ErrTooLarge: a size bound was reached (input, decompressed data,
	// number of records or attachments).
	ErrTooLarge = errors.New("dmarcreport: report too large")
	// ErrRefused: the input uses a feature refused for safety (a
	// document type declaration, i.e. entity definitions).
	ErrRefused = errors.New("dmarcreport: refused")
)

// Limits bound what one input may cost. The zero value of a field means
// its default.
type Limits struct {
	// MaxInput bounds an input as given (a message, a compressed file),
	// default 32 MiB.
	MaxInput int64
	// MaxXML bounds one report's XML after decompression, default
	// 64 MiB (a report of a million rows is about 500 MB, far more than
	// any reporter sends; Google's largest are a few MB).
	MaxXML int64
	// MaxRecords bounds the rows of one report, default 200,000.
	MaxRecords int
	// MaxReports bounds the reports taken from one input (attachments,
	// zip entries), default 32.
	MaxReports int
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxInput <= 0 {
		l.MaxInput = 32 << 20
	}
	if l.MaxXML <= 0 {
		l.MaxXML = 64 << 20
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = 200_000
	}
	if l.MaxReports <= 0 {
		l.MaxReports = 32
	}
	return l
}

// The raw shapes of the XML: every field a string, matched by local name
// in any namespace (encoding/xml matches a tag without namespace that way).
type xFeedback struct {
	Version  string `xml:"version"`
	Metadata struct {
		OrgName      string   `xml:"org_name"`
		Email        string   `xml:"email"`
		ExtraContact string   `xml:"extra_contact_info"`
		ReportID     string   `xml:"report_id"`
		Generator    string   `xml:"generator"`
		Begin        string   `xml:"date_range>begin"`
		End          string   `xml:"date_range>end"`
		Errors       []string `xml:"error"`
	} `xml:"report_metadata"`
	Policy struct {
		Domain          string `xml:"domain"`
		ADKIM           string `xml:"adkim"`
		ASPF            string `xml:"aspf"`
		P               string `xml:"p"`
		SP              string `xml:"sp"`
		NP              string `xml:"np"`
		Pct             string `xml:"pct"`
		FO              string `xml:"fo"`
		Testing         string `xml:"testing"`
		DiscoveryMethod string `xml:"discovery_method"`
	} `xml:"policy_published"`
	Records []xRecord `xml:"record"`
}

type xRecord struct {
	Row struct {
		SourceIP  string `xml:"source_ip"`
		Count     string `xml:"count"`
		Evaluated struct {
			Disposition string `xml:"disposition"`
			DKIM        string `xml:"dkim"`
			SPF         string `xml:"spf"`
			Reasons     []struct {
				Type    string `xml:"type"`
				Comment string `xml:"comment"`
			} `xml:"reason"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		HeaderFrom   string `xml:"header_from"`
		EnvelopeFrom string `xml:"envelope_from"`
		EnvelopeTo   string `xml:"envelope_to"`
	} `xml:"identifiers"`
	Auth struct {
		DKIM []struct {
			Domain      string `xml:"domain"`
			Selector    string `xml:"selector"`
			Result      string `xml:"result"`
			HumanResult string `xml:"human_result"`
		} `xml:"dkim"`
		SPF []struct {
			Domain string `xml:"domain"`
			Scope  string `xml:"scope"`
			Result string `xml:"result"`
		} `xml:"spf"`
	} `xml:"auth_results"`
}

// ParseXML parses one aggregate report document. data must already be
// within Limits.MaxXML (Extract checks it; ParseXML checks it again).
//
// Leniency (see the package comment): anything before the <feedback>
// element other than a document type declaration is skipped, and so is
// anything after it; invalid UTF-8 is replaced by U+FFFD with a warning.
func ParseXML(data []byte, lim Limits) (*Report, error) {
	lim = lim.WithDefaults()
	if int64(len(data)) > lim.MaxXML {
		return nil, fmt.Errorf("%w: XML of %d bytes (limit %d)", ErrTooLarge, len(data), lim.MaxXML)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrMalformed)
	}
	var warnings []string
	if !utf8.Valid(data) {
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
		warnings = append(warnings, "invalid UTF-8 replaced")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	// The document is UTF-8 now whatever it declares (Latin-1 bytes were
	// replaced above): take the declaration's word for nothing.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var fb xFeedback
	found := false
	for !found {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: no <feedback> element", ErrNotReport)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			// <!DOCTYPE ...>: may define entities; never wanted in a report.
			return nil, fmt.Errorf("%w: a document type declaration (<!%.20s…>) in a report", ErrRefused, t)
		case xml.StartElement:
			if t.Name.Local != "feedback" {
				// e.g. the stray unterminated <xs:schema ...> some reporters
				// put before <feedback>: look inside it.
				continue
			}
			if err := decodeBounded(d, &fb, &t, lim); err != nil {
				return nil, err
			}
			found = true
		}
	}
	return normalize(&fb, warnings, lim)
}

// decodeBounded decodes the feedback element and bounds its rows (the
// memory it holds is already bounded by Limits.MaxXML).
func decodeBounded(d *xml.Decoder, fb *xFeedback, start *xml.StartElement, lim Limits) error {
	if err := d.DecodeElement(fb, start); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: line %d: %s", ErrMalformed, se.Line, se.Msg)
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(fb.Records) > lim.MaxRecords {
		return fmt.Errorf("%w: %d records (limit %d)", ErrTooLarge, len(fb.Records), lim.MaxRecords)
	}
	return nil
}

func word(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func domain(s string) string { return strings.TrimSuffix(word(s), ".") }

func parseUnix(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), true
	}
	// Some reporters write a float ("1700000000.0").
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1<<40 {
		return time.Unix(int64(f), 0).UTC(), true
	}
	return time.Time{}, false
}

func normalize(fb *xFeedback, warnings []string, lim Limits) (*Report, error) {
	m := &fb.Metadata
	r := &Report{
		Version:      strings.TrimSpace(fb.Version),
		Org:          strings.TrimSpace(m.OrgName),
		Email:        strings.TrimSpace(m.Email),
		ExtraContact: strings.TrimSpace(m.ExtraContact),
		ReportID:     strings.TrimSpace(m.ReportID),
		Generator:    strings.TrimSpace(m.Generator),
		Warnings:     warnings,
	}
	for _, e := range m.Errors {
		if e = strings.TrimSpace(e); e != "" {
			r.Errors = append(r.Errors, e)
		}
	}
	if r.ReportID == "" {
		return nil, fmt.Errorf("%w: no report_metadata/report_id", ErrMalformed)
	}
	if r.Org == "" {
		if r.Email == "" {
			return nil, fmt.Errorf("%w: no report_metadata/org_name nor email", ErrMalformed)
		}
		_, r.Org, _ = strings.Cut(r.Email, "@")
		r.Warnings = append(r.Warnings, "no org_name: taken from email")
	}
	var ok bool
	if r.Begin, ok = parseUnix(m.Begin); !ok {
		return nil, fmt.Errorf("%w: date_range/begin %q is not a Unix time", ErrMalformed, m.Begin)
	}
	if r.End, ok = parseUnix(m.End); !ok {
		r.End = r.Begin.Add(24*time.Hour - time.Second)
		r.Warnings = append(r.Warnings, fmt.Sprintf("date_range/end %q unusable: one day assumed", m.End))
	}
	if r.End.Before(r.Begin) {
		r.Begin, r.End = r.End, r.Begin
		r.Warnings = append(r.Warnings, "date_range end before begin: swapped")
	}
	p := &fb.Policy
	r.Policy = PolicyPublished{
		Domain: domain(p.Domain), ADKIM: word(p.ADKIM), ASPF: word(p.ASPF),
		P: word(p.P), SP: word(p.SP), NP: word(p.NP), Pct: strings.TrimSpace(p.Pct),
		FO: strings.TrimSpace(p.FO), Testing: word(p.Testing), DiscoveryMethod: word(p.DiscoveryMethod),
	}
	if r.Policy.Domain == "" {
		return nil, fmt.Errorf("%w: no policy_published/domain", ErrMalformed)
	}
	r.Records = make([]Record, 0, len(fb.Records))
	for i := range fb.Records {
		x := &fb.Records[i]
		rec := Record{
			Disposition:  word(x.Row.Evaluated.Disposition),
			DKIM:         word(x.Row.Evaluated.DKIM),
			SPF:          word(x.Row.Evaluated.SPF),
			HeaderFrom:   domain(x.Identifiers.HeaderFrom),
			EnvelopeFrom: domain(x.Identifiers.EnvelopeFrom),
			EnvelopeTo:   domain(x.Identifiers.EnvelopeTo),
		}
		ip, err := netip.ParseAddr(strings.TrimSpace(x.Row.SourceIP))
		if err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("record %d: source_ip %.60q unusable: skipped", i+1, x.Row.SourceIP))
			continue
		}
		rec.SourceIP = ip.Unmap()
		n, err := strconv.ParseInt(strings.TrimSpace(x.Row.Count), 10, 64)
		if err != nil || n < 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("record %d: count %.30q unusable: skipped", i+1, x.Row.Count))
			continue
		}
		rec.Count = n
		if rec.HeaderFrom == "" {
			rec.HeaderFrom = r.Policy.Domain
		}
		for _, rs := range x.Row.Evaluated.Reasons {
			if t := word(rs.Type); t != "" || strings.TrimSpace(rs.Comment) != "" {
				rec.Reasons = append(rec.Reasons, Reason{Type: t, Comment: strings.TrimSpace(rs.Comment)})
			}
		}
		for _, a := range x.Auth.DKIM {
			rec.AuthDKIM = append(rec.AuthDKIM, DKIMAuth{Domain: domain(a.Domain), Selector: strings.TrimSpace(a.Selector), Result: word(a.Result), HumanResult: strings.TrimSpace(a.HumanResult)})
		}
		for _, a := range x.Auth.SPF {
			rec.AuthSPF = append(rec.AuthSPF, SPFAuth{Domain: domain(a.Domain), Scope: word(a.Scope), Result: word(a.Result)})
		}
		r.Records = append(r.Records, rec)
	}
	return r, nil
}
