package dmarcreport

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// want is what each sample must give: its policy domain, reporting
// organisation, number of records and of messages, or the error.
var samples = map[string]struct {
	domain, org   string
	records, msgs int64
	err           error
}{
	"!example.com!1538204542!1538463818.xml":                 {"example.com", "accurateplastics.com", 1, 1, nil},
	"!large-example.com!1711897200!1711983600.xml":           {"example.com", "accurateplastics.com", 2286, 2286, nil},
	"addisonfoods.com!example.com!1536105600!1536191999.xml": {"example.com", "addisonfoods.com", 1, 1, nil},
	"empty_reason.xml": {"example.com", "example.org", 1, 2, nil},
	"estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip": {"example.com", "XYZ Corporation", 1, 1, nil},
	"example.net!example.com!1529366400!1529452799.xml":                             {"example.com", "example.net", 1, 1, nil},
	"fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz":               {"indemed.com", "FastMail Pty Ltd", 1, 1, nil},
	"google.com-report-borschow.com-949348866075514174.eml":                         {"borschow.com", "google.com", 1, 1, nil},
	"ikea.com!example.de!1538690400!1538776800.xml":                                 {"example.de", "ikea.com", 1, 1, nil},
	"invalid_utf_8.xml":       {"example.com", "accurateplastics.com", 1, 1, nil},
	"invalid_xml.xml":         {err: ErrMalformed},
	"mimecast-weird-gzip.eml": {"ab.id.au", "Mimecast", 1, 1, nil},
	"old_draft_from_wiki.xml": {"example.com", "acme.com", 1, 2, nil},
	"protection.outlook.com!example.com!1711756800!1711843200.xml": {"example.com", "Outlook.com", 1, 1, nil},
	"rfc9990-example.net!example.com!1700000000!1700086399.xml":    {"example.com", "example.net", 2, 7, nil},
	"rfc9990-sample.xml": {"example.com", "Sample Reporter", 1, 123, nil},
	"twilight.eml":       {"twlnet.com", "google.com", 1, 1, nil},
	"usssa.com!example.com!1538784000!1538870399.xml":       {"example.com", "usssa.com", 2, 2, nil},
	"veeam.com!example.com!1530133200!1530219600.xml":       {"example.com", "veeam.com", 1, 1, nil},
	"../aggregate_invalid/empty.xml":                        {err: ErrMalformed},
	"../aggregate_invalid/report_with_upper_cased_pass.xml": {"example.com", "example.com", 1, 1, nil},
}

// TestSamples parses every parsedmarc sample: all but the two broken ones
// give a report with records; those two give a clear error.
func TestSamples(t *testing.T) {
	dir := filepath.Join(sharedtest.Dir(t, "conformance/dmarc/parsedmarc-samples"), "aggregate")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	inv, _ := filepath.Glob(filepath.Join(dir, "..", "aggregate_invalid", "*"))
	files = append(files, inv...)
	pass, refused := 0, 0
	for _, f := range files {
		name, _ := filepath.Rel(dir, f)
		t.Run(name, func(t *testing.T) {
			w, ok := samples[name]
			if !ok {
				t.Fatalf("sample %s has no expectation in this test", name)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Extract(data, Limits{})
			if w.err != nil {
				if !errors.Is(err, w.err) || len(rs) != 0 {
					t.Fatalf("got %d reports, err %v; want %v", len(rs), err, w.err)
				}
				t.Logf("error as expected: %v", err)
				refused++
				return
			}
			defer func() {
				if !t.Failed() {
					pass++
				}
			}()
			if err != nil || len(rs) != 1 {
				t.Fatalf("got %d reports, err %v", len(rs), err)
			}
			r := rs[0]
			if r.ReportID == "" || r.Org == "" || r.Begin.IsZero() || r.End.Before(r.Begin) || len(r.Records) == 0 {
				t.Fatalf("incomplete report %+v", r)
			}
			if r.Policy.Domain != w.domain {
				t.Errorf("domain %q, want %q", r.Policy.Domain, w.domain)
			}
			if r.Org != w.org {
				t.Errorf("org %q, want %q", r.Org, w.org)
			}
			if int64(len(r.Records)) != w.records {
				t.Errorf("%d records, want %d", len(r.Records), w.records)
			}
			if r.Messages() != w.msgs {
				t.Errorf("%d messages, want %d", r.Messages(), w.msgs)
			}
			for i, rec := range r.Records {
				if !rec.SourceIP.IsValid() || rec.DKIM != strings.ToLower(rec.DKIM) {
					t.Errorf("record %d: %+v", i, rec)
				}
			}
		})
	}
	want := 0
	for _, w := range samples {
		if w.err != nil {
			want++
		}
	}
	// The pass count: every sample read as expected, the broken ones
	// refused with a clear error.
	t.Logf("parsedmarc samples: %d/%d as expected (%d/%d parsed, %d/%d refused with a clear error)",
		pass+refused, len(files), pass, len(files)-want, refused, want)
	if len(files) != len(samples) {
		t.Errorf("%d sample files, %d expectations", len(files), len(samples))
	}
}

func TestUpperCasedPass(t *testing.T) {
	dir := sharedtest.Dir(t, "conformance/dmarc/parsedmarc-samples/aggregate_invalid")
	data, err := os.ReadFile(filepath.Join(dir, "report_with_upper_cased_pass.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseXML(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Records[0]
	if rec.DKIM != "pass" || rec.SPF != "pass" || rec.Disposition != "none" || !rec.Pass() || rec.AuthDKIM[0].Result != "pass" {
		t.Errorf("%+v", rec)
	}
	if r.Org != "example.com" { // "example.com " trimmed
		t.Errorf("org %q", r.Org)
	}
}

const minimal = `<?xml version="1.0"?>
<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"><version>1.0</version>
<report_metadata><org_name>Rep</org_name><email>r@rep.example</email><report_id>42</report_id>
<date_range><begin>1700086399</begin><end>1700000000</end></date_range></report_metadata>
<policy_published><domain>Example.ORG.</domain><p>Reject</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>7</count><policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.org</header_from></identifiers><auth_results><spf><domain>x.example</domain><result>softfail</result></spf></auth_results></record>
</feedback>`

func TestLenient(t *testing.T) {
	r, err := ParseXML([]byte(minimal), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Policy.Domain != "example.org" || r.Policy.P != "reject" || r.Version != "1.0" {
		t.Errorf("policy %+v", r.Policy)
	}
	if !r.Begin.Before(r.End) || len(r.Warnings) != 1 {
		t.Errorf("range %v..%v warnings %q", r.Begin, r.End, r.Warnings)
	}
	if r.Key() != "rep!42" || r.Messages() != 7 || r.Records[0].Pass() {
		t.Errorf("key %q msgs %d", r.Key(), r.Messages())
	}
}

// TestHostile: inputs meant to cost memory or read files are refused with
// the right error, without being expanded.
func TestHostile(t *testing.T) {
	lim := Limits{MaxXML: 1 << 20, MaxInput: 1 << 20}
	big := bytes.Repeat([]byte(" "), 2<<20)
	bomb := func() []byte { // 1 MiB + 1 of zeros in a zip, a few KB packed
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("r.xml")
		w.Write(bytes.Repeat([]byte{'<'}, 1<<20+1))
		zw.Close()
		return buf.Bytes()
	}()
	lyingZip := func() []byte { // declares a small size, inflates big
		b := bomb
		b = append([]byte(nil), b...)
		// patch the central directory's uncompressed size (offset 24 of
		// the central header) to 10 bytes
		i := bytes.LastIndex(b, []byte("PK\x01\x02"))
		b[i+24], b[i+25], b[i+26], b[i+27] = 10, 0, 0, 0
		return b
	}()
	gz := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(bytes.Repeat([]byte{' '}, 4<<20))
		zw.Close()
		return buf.Bytes()
	}()
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"huge input", big, ErrTooLarge},
		{"zip bomb", bomb, ErrTooLarge},
		// archive/zip stops reading at the declared size and calls the
		// rest a format error: nothing beyond it is inflated.
		{"zip lying about its size", lyingZip, ErrMalformed},
		{"gzip bomb", gz, ErrTooLarge},
		{"billion laughs", []byte(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><feedback><report_metadata><org_name>&lol2;</org_name></report_metadata></feedback>`), ErrRefused},
		{"external entity", []byte(`<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><feedback>&x;</feedback>`), ErrRefused},
		{"undeclared entity", []byte(`<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>`), ErrMalformed},
		{"not a report", []byte(`<html><body>hi</body></html>`), ErrNotReport},
		{"no report id", []byte(`<feedback><report_metadata><org_name>a</org_name></report_metadata></feedback>`), ErrMalformed},
		{"binary", []byte{0, 1, 2, 3}, ErrNotReport},
		{"too many records", []byte(strings.Replace(minimal, "<record>", strings.Repeat("<record></record>", 11)+"<record>", 1)), ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := lim
			l.MaxRecords = 10
			rs, err := Extract(c.in, l)
			if !errors.Is(err, c.want) || len(rs) != 0 {
				t.Fatalf("got %d reports, err %v; want %v", len(rs), err, c.want)
			}
			t.Logf("%v", err)
		})
	}
}
