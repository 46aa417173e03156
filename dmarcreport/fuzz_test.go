package dmarcreport

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/internal/sharedtest"
)

// FuzzExtract: any input gives reports or a classified error, never a
// panic, and a report that comes out is complete. The seed corpus is
// every parsedmarc sample plus the hostile shapes of TestHostile.
func FuzzExtract(f *testing.F) {
	dir := sharedtest.Dir(f, "conformance/dmarc/parsedmarc-samples")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/xml\r\n\r\n" + minimal + "\r\n--x--\r\n"))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><feedback/>`))
	lim := Limits{MaxInput: 1 << 20, MaxXML: 1 << 20, MaxRecords: 1000}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Extract(data, lim)
		if err != nil && !errors.Is(err, ErrNotReport) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrRefused) {
			t.Fatalf("unclassified error %v", err)
		}
		for _, r := range rs {
			if r.ReportID == "" || r.Policy.Domain == "" || r.End.Before(r.Begin) || len(r.Records) > lim.MaxRecords {
				t.Fatalf("incomplete report %+v", r)
			}
			for _, rec := range r.Records {
				if !rec.SourceIP.IsValid() || rec.Count < 0 {
					t.Fatalf("bad record %+v", rec)
				}
			}
		}
	})
}
