package dmarcreport

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

func TestHTTPAPIAndPage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSize = 1 << 20
	svc := openService(t, cfg)
	svc.Now = func() time.Time { return day0.Add(48 * time.Hour) }
	post := func(body []byte) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		svc.HandleUpload(w, httptest.NewRequest("POST", "/api/dmarc/reports", bytes.NewReader(body)))
		return w
	}
	rep := reportXML("google.com", "g1", day0.Unix(), "203.0.113.1 10 pass pass none example.org:pass -", "198.51.100.5 4 fail fail reject - -")
	w := post(rep)
	var res IngestResult
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Reports != 1 || res.Messages != 14 {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	if w := post(rep); w.Code != 200 || !strings.Contains(w.Body.String(), `"duplicates":1`) {
		t.Errorf("second upload: %d %s", w.Code, w.Body)
	}
	if w := post([]byte("<feedback><broken")); w.Code != 400 || !strings.Contains(w.Body.String(), "malformed") {
		t.Errorf("broken upload: %d %s", w.Code, w.Body)
	}
	var bomb bytes.Buffer
	zw := zip.NewWriter(&bomb)
	f, _ := zw.Create("r.xml")
	f.Write(bytes.Repeat([]byte("<"), 2<<20))
	zw.Close()
	if w := post(bomb.Bytes()); w.Code != 413 {
		t.Errorf("zip bomb upload: %d %s", w.Code, w.Body)
	}
	get := func(h http.HandlerFunc, url string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest("GET", url, nil))
		return w
	}
	if w := get(svc.HandleDomains, "/api/dmarc/domains"); w.Body.String() != "[\"example.org\"]\n" {
		t.Errorf("domains %s", w.Body)
	}
	w = get(svc.HandleSummary, "/api/dmarc/summary?domain=example.org&since=7d")
	var sum Summary
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &sum) != nil || sum.Messages != 14 || len(sum.ForeignFailing) != 1 || sum.ForeignFailing[0].IP.String() != "198.51.100.5" {
		t.Errorf("summary %d %s", w.Code, w.Body)
	}
	if w := get(svc.HandleSummary, "/api/dmarc/summary?domain=example.org&since=bogus"); w.Code != 400 {
		t.Errorf("bad since: %d", w.Code)
	}
	if w := get(svc.HandleReports, "/api/dmarc/reports?domain=example.org&from=2026-10-30&to=2026-11-02"); !strings.Contains(w.Body.String(), `"report_id":"g1"`) {
		t.Errorf("reports %s", w.Body)
	}
	page := string(svc.Page(httptest.NewRequest("GET", "/dmarc?domain=example.org&since=7d", nil), true, "tok"))
	for _, want := range []string{"<svg", `class="pass"`, `class="fail"`, "198.51.100.5", "not yours (1)", "Your own servers that fail (0)", "google.com", `name="csrf_token" value="tok"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if page := string(svc.Page(httptest.NewRequest("GET", "/dmarc", nil), false, "")); strings.Contains(page, "Upload a report") {
		t.Errorf("read-only page offers the upload")
	}
}

// TestInbox: a delivered message to a report address is read; one to
// another address, or one that was rejected, is not.
func TestInbox(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addresses = []string{"DMARC@example.org"}
	svc := openService(t, cfg)
	in := NewInbox(svc)
	got := make(chan IngestResult, 4)
	in.Done = func(r IngestResult, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- r
	}
	mail := func(id string) *message.Message {
		return message.Parse([]byte("From: r@google.com\r\nTo: dmarc@example.org\r\nContent-Type: text/xml\r\n\r\n" + string(reportXML("google.com", id, day0.Unix(), "192.0.2.1 3 pass pass none - -"))))
	}
	final := &engine.Verdict{Final: true, Action: engine.NoAction}
	in.Observe(&engine.Transaction{Rcpts: []string{"bob@example.org"}, Message: mail("a")}, final, 0)
	in.Observe(&engine.Transaction{Rcpts: []string{"<dmarc@EXAMPLE.org>"}, Message: mail("b")}, &engine.Verdict{Final: true, Action: engine.Reject}, 0)
	in.Observe(&engine.Transaction{Rcpts: []string{"x@example.org", "<dmarc@EXAMPLE.org>"}, Message: mail("c")}, final, 0)
	in.Close()
	close(got)
	n := 0
	for r := range got {
		n++
		if r.Reports != 1 || r.Messages != 3 {
			t.Errorf("%+v", r)
		}
	}
	if n != 1 {
		t.Fatalf("%d report mails read, want 1", n)
	}
	rs, _ := svc.Reports(t.Context(), "example.org", time.Time{}, time.Time{})
	if len(rs) != 1 || rs[0].ReportID != "c" {
		t.Errorf("stored %+v", rs)
	}
}
