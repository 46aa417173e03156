package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dmarcreport"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
)

// dmarcConfig: reports to dmarc@e2e.test are read; hamlet's own reports
// are sent, through Postfix's smtpd on 2525 (its 127.0.0.1 hop skips the
// milter).
const dmarcConfig = `
[dmarc.reports]
addresses = ["dmarc@e2e.test"]
own_networks = ["192.0.2.0/28"]

[dmarc.reports.send]
enabled = true
org_name = "mx.e2e.test"
from = "dmarc-noreply@e2e.test"
relay = "` + postfixAddr + `"
`

// TestDMARCReports (issue 15), through real Postfix with hamlet's milter:
//   - receive: an aggregate report about e2e.test, gzip'd in a mail from
//     good.test to the report address, is delivered as usual and shows
//     in the controller's DMARC API: counts, the reporter, the sources
//     with their PTR names from DNS (forward-confirmed or not), own and
//     foreign failing sources.
//   - send: hamlet counts its own DMARC evaluations of the mail it
//     filtered; a flush (POST /api/dmarc/send?flush=1) sends good.test's
//     report to its rua= (authorised by good.test._report._dmarc.e2e.test),
//     and Postfix delivers it to the mailbox: an RFC 7489 §7.2.1.1 mail
//     whose XML validates against RFC 9990's schema and counts the
//     messages sent here. reject.test's rua= has no authorisation record:
//     no report for it.
//   - sendmail: a message counted before hamlet restarts (its counts in
//     memory are written when it stops) is reported through Postfix's own
//     sendmail -t (postdrop, pickup, the milter as a local submission)
//     instead of the relay.
func TestDMARCReports(t *testing.T) {
	e := getEnv(t)
	e.need(t, "spf", "dkim", "dmarc")
	e.withConfig(t, dmarcConfig)
	goodSent := 0 // messages from good.test that hamlet evaluated

	t.Run("receive", func(t *testing.T) {
		now := time.Now().UTC()
		reportID := fmt.Sprintf("e2e-%d", now.UnixNano())
		id := newID("postfix", "dmarc-report")
		msg := e.reportMail(id, reportID, now)
		r := e.sendTo(ctxT(t), "postfix", hamClient, "noreply-dmarc@good.test", "dmarc@e2e.test", msg)
		if !r.dataAccepted() {
			t.Fatalf("report mail not accepted:\n%s\nhamlet log:\n%s", r.out, tail(e.log("hamlet.log"), 20))
		}
		goodSent++
		if _, ok := e.delivered("postfix", id, 20*time.Second); !ok {
			t.Fatal("report mail accepted but not delivered")
		}
		var sum dmarcreport.Summary
		deadline := time.Now().Add(20 * time.Second)
		for {
			getJSON(t, "/api/dmarc/summary?domain=e2e.test&since=7d", &sum)
			if sum.Reports > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if sum.Reports != 1 || sum.Messages != 43 || sum.Pass != 40 || sum.Fail != 3 {
			t.Fatalf("summary: %d reports, %d messages (%d pass, %d fail); want 1, 43 (40, 3)\nhamlet log:\n%s",
				sum.Reports, sum.Messages, sum.Pass, sum.Fail, tail(e.log("hamlet.log"), 20))
		}
		if len(sum.Reporters) != 1 || sum.Reporters[0].Org != "reporter.good.test" {
			t.Errorf("reporters %+v", sum.Reporters)
		}
		srcs := map[string]*dmarcreport.Source{}
		for _, s := range sum.Sources {
			srcs[s.IP.String()] = s
		}
		own, foreign := srcs["192.0.2.11"], srcs["198.51.100.99"]
		if own == nil || foreign == nil {
			t.Fatalf("sources %v", srcs)
		}
		if own.PTR != "out1.e2e.test" || !own.PTRConfirmed || !own.Own || own.Messages != 40 {
			t.Errorf("own source %+v (want PTR out1.e2e.test from the test DNS, forward-confirmed, own, 40 messages)", own)
		}
		// Its PTR name claims e2e.test, but does not resolve back.
		if foreign.PTR != "mail.e2e.test" || foreign.PTRConfirmed || foreign.Own || foreign.Dispositions["reject"] != 3 {
			t.Errorf("foreign source %+v (want the unconfirmed PTR mail.e2e.test, not own)", foreign)
		}
		if sum.PTRPending != 0 {
			t.Errorf("%d PTR names pending", sum.PTRPending)
		}
		if len(sum.ForeignFailing) != 1 || sum.ForeignFailing[0].IP.String() != "198.51.100.99" || len(sum.OwnFailing) != 0 {
			t.Errorf("foreign failing %v, own failing %v", sum.ForeignFailing, sum.OwnFailing)
		}
		// And the page shows them.
		page := getPage(t, "/dmarc?domain=e2e.test&since=7d")
		for _, want := range []string{"out1.e2e.test", "198.51.100.99", "mail.e2e.test", "unconfirmed", "reporter.good.test", "93.0%"} {
			if !strings.Contains(page, want) {
				t.Errorf("the DMARC page lacks %q", want)
			}
		}
		// The same mail again (a reporter's retry) is stored once.
		r = e.sendTo(ctxT(t), "postfix", hamClient, "noreply-dmarc@good.test", "dmarc@e2e.test", e.reportMail(newID("postfix", "dmarc-report"), reportID, now))
		if !r.dataAccepted() {
			t.Fatalf("second report mail not accepted:\n%s", r.out)
		}
		goodSent++
		var reps []dmarcreport.ReportInfo
		waitLog(t, e, "duplicates=1", 20*time.Second)
		getJSON(t, "/api/dmarc/reports?domain=e2e.test&since=7d", &reps)
		if len(reps) != 1 || reps[0].ReportID != reportID {
			t.Errorf("reports %+v, want the one %s", reps, reportID)
		}
	})

	t.Run("send", func(t *testing.T) {
		id := newID("postfix", "dmarc-ham")
		if r := e.send(ctxT(t), "postfix", hamClient, "alice@good.test", e.hamMessage(id)); !r.dataAccepted() {
			t.Fatalf("ham not accepted:\n%s", r.out)
		}
		goodSent++
		forged := e.send(ctxT(t), "postfix", forgerClient, "mallory@evil.test", plainMessage("CEO <ceo@reject.test>", newID("postfix", "dmarc-forged"), "urgent wire transfer"))
		if forged.dataAccepted() {
			t.Fatalf("the forgery of reject.test was accepted:\n%s", forged.out)
		}
		if out := flushReports(t); out.Sent != 1 || out.Error != "" {
			t.Fatalf("flush: %+v; want 1 report sent (good.test's)\nhamlet log:\n%s", out, tail(e.log("hamlet.log"), 20))
		}
		mail, ok := e.deliveredWith("postfix", "Subject: Report Domain: good.test Submitter: mx.e2e.test Report-ID: <", 20*time.Second)
		if !ok {
			t.Fatalf("good.test's report not in the mailbox\nPostfix log:\n%s", tail(e.log("postfix/maillog"), 20))
		}
		if _, ok := e.deliveredWith("postfix", "Report Domain: reject.test", 0); ok {
			t.Error("reject.test's report was sent though e2e.test does not authorise it")
		}
		if !strings.Contains(e.log("hamlet.log"), "reject.test._report._dmarc.e2e.test") {
			t.Errorf("hamlet did not log the missing authorisation of reject.test:\n%s", tail(e.log("hamlet.log"), 20))
		}
		if !strings.Contains(mail, "Received: from mx.e2e.test (") {
			t.Errorf("hamlet did not greet the relay with its host name:\n%s", header(mail))
		}
		m := message.Parse([]byte(mail))
		if to, _ := m.First("To"); strings.TrimSpace(to) != "dmarc-rua@e2e.test" {
			t.Errorf("To: %q", to)
		}
		var gz []byte
		for _, p := range message.ParseMIME(m, message.Limits{}).Parts {
			if p.Type == "application/gzip" && strings.HasPrefix(p.Filename, "mx.e2e.test!good.test!") && strings.HasSuffix(p.Filename, ".xml.gz") {
				gz = p.Body
			}
		}
		if gz == nil {
			t.Fatalf("no attachment named mx.e2e.test!good.test!…xml.gz:\n%s", mail)
		}
		reps, err := dmarcreport.Extract([]byte(mail), dmarcreport.Limits{})
		if err != nil || len(reps) != 1 {
			t.Fatalf("reading the delivered report: %d reports, %v", len(reps), err)
		}
		rep := reps[0]
		if rep.Policy.Domain != "good.test" || rep.Policy.P != "reject" || rep.Org != "mx.e2e.test" {
			t.Errorf("report %+v", rep)
		}
		var n int64
		for _, rec := range rep.Records {
			if rec.SourceIP.String() != hamIP || rec.HeaderFrom != "good.test" {
				t.Errorf("record %+v: only %s sent as good.test", rec, hamIP)
				continue
			}
			if rec.Disposition != "pass" || rec.DKIM != "pass" || rec.SPF != "pass" || len(rec.AuthDKIM) == 0 || rec.AuthDKIM[0].Selector != "e2e" {
				t.Errorf("record %+v", rec)
			}
			n += rec.Count
		}
		if n != int64(goodSent) {
			t.Errorf("the report counts %d messages from good.test, hamlet filtered %d", n, goodSent)
		}
		// The XML validates against RFC 9990's schema.
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		xmlData, _ := io.ReadAll(zr)
		xsd := filepath.Join(sharedtest.Dir(t, "conformance/dmarc/schema"), "rfc9990-draft32-dmarc-xml-0.2.xsd")
		f := filepath.Join(t.TempDir(), "report.xml")
		os.WriteFile(f, xmlData, 0o600)
		if b, err := exec.Command(sharedtest.Require(t, "xmllint", "libxml2-utils"), "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
			t.Errorf("xmllint: %v\n%s\n%s", err, b, xmlData)
		}
		// Sent data is gone: a second flush has nothing to send.
		if out := flushReports(t); out.Sent != 0 {
			t.Errorf("second flush sent %d", out.Sent)
		}
	})

	// The other way to the MTA: Postfix's own sendmail -t (through
	// postdrop and pickup), for this Postfix instance.
	t.Run("sendmail", func(t *testing.T) {
		wrapper := filepath.Join(e.dir, "sendmail")
		script := "#!/bin/sh\nexec /usr/sbin/sendmail -C " + e.postfixConf + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		// Counted before a restart: hamlet writes the counts it holds in
		// memory when it stops.
		if r := e.send(ctxT(t), "postfix", hamClient, "alice@good.test", e.hamMessage(newID("postfix", "dmarc-ham"))); !r.dataAccepted() {
			t.Fatalf("ham not accepted:\n%s", r.out)
		}
		e.withConfig(t, strings.Replace(dmarcConfig, `relay = "`+postfixAddr+`"`, `sendmail = "`+wrapper+`"`, 1))
		if out := flushReports(t); out.Sent != 1 || out.Error != "" {
			t.Fatalf("flush through sendmail: %+v\nhamlet log:\n%s", out, tail(e.log("hamlet.log"), 10))
		}
		mail, ok := e.deliveredWith("postfix", "Return-Path: <dmarc-noreply@e2e.test>\nX-Original-To: dmarc-rua@e2e.test\nDelivered-To: dmarc-rua@e2e.test\nReceived: by mx.e2e.test (Postfix, from userid 0)", 30*time.Second)
		if !ok {
			t.Fatalf("no report submitted by sendmail in the mailbox\nPostfix log:\n%s", tail(e.log("postfix/maillog"), 20))
		}
		reps, err := dmarcreport.Extract([]byte(mail), dmarcreport.Limits{})
		if err != nil || len(reps) != 1 || reps[0].Policy.Domain != "good.test" || reps[0].Messages() != 1 {
			t.Errorf("the report through sendmail: %d reports, %v", len(reps), err)
		}
	})
}

// reportMail is an aggregate report about e2e.test from the reporter
// reporter.good.test, gzip'd as RFC 7489 §7.2.1.1 attaches it, in a mail
// From good.test signed by good.test: 40 messages from the own server
// 192.0.2.11 that pass, 3 from 198.51.100.99 that fail and were rejected.
func (e *env) reportMail(id, reportID string, now time.Time) []byte {
	begin, end := now.Add(-24*time.Hour).Unix(), now.Add(-time.Second).Unix()
	xmlText := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>reporter.good.test</org_name>
    <email>noreply-dmarc@good.test</email>
    <report_id>%s</report_id>
    <date_range><begin>%d</begin><end>%d</end></date_range>
  </report_metadata>
  <policy_published><domain>e2e.test</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><pct>100</pct></policy_published>
  <record>
    <row><source_ip>192.0.2.11</source_ip><count>40</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>e2e.test</header_from></identifiers>
    <auth_results><dkim><domain>e2e.test</domain><selector>s1</selector><result>pass</result></dkim><spf><domain>e2e.test</domain><result>pass</result></spf></auth_results>
  </record>
  <record>
    <row><source_ip>198.51.100.99</source_ip><count>3</count><policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>e2e.test</header_from></identifiers>
    <auth_results><spf><domain>spoof.example</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
`, reportID, begin, end)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(xmlText))
	zw.Close()
	b64 := base64.StdEncoding.EncodeToString(gz.Bytes())
	var body strings.Builder
	for len(b64) > 76 {
		body.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	body.WriteString(b64 + "\r\n")
	name := fmt.Sprintf("reporter.good.test!e2e.test!%d!%d.xml.gz", begin, end)
	raw := "From: DMARC reports <noreply-dmarc@good.test>\r\n" +
		"To: dmarc@e2e.test\r\n" +
		"Subject: Report Domain: e2e.test Submitter: reporter.good.test Report-ID: <" + reportID + ">\r\n" +
		"Date: " + msgDate() + "\r\n" +
		"Message-ID: " + id + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
		"\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis is an aggregate report from reporter.good.test.\r\n" +
		"--b1\r\nContent-Type: application/gzip; name=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\r\n\r\n" + body.String() +
		"--b1--\r\n"
	sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "good.test", Selector: "e2e", Signer: crypto.Signer(e.key)})
	if err != nil {
		panic(err)
	}
	return []byte("DKIM-Signature:" + sig + "\r\n" + raw)
}

// ctrl sends a request without a body to the controller and returns the
// answer's body, failing the test unless it is 200 OK.
func ctrl(t *testing.T, method, path, accept string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ctrlAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b
}

// getJSON decodes the controller's answer to GET path into v.
func getJSON(t *testing.T, path string, v any) {
	t.Helper()
	decodeJSON(t, "GET "+path, ctrl(t, http.MethodGet, path, ""), v)
}

// getPage returns the controller's HTML page at path.
func getPage(t *testing.T, path string) string {
	t.Helper()
	return string(ctrl(t, http.MethodGet, path, "text/html"))
}

// flushResult is the answer of POST /api/dmarc/send.
type flushResult struct {
	Sent  int    `json:"sent"`
	Error string `json:"error"`
}

// flushReports has hamlet send its reports of the current period now.
func flushReports(t *testing.T) flushResult {
	t.Helper()
	var out flushResult
	postJSON(t, "/api/dmarc/send?flush=1", &out)
	return out
}

// postJSON decodes the controller's answer to an empty POST to path.
func postJSON(t *testing.T, path string, v any) {
	t.Helper()
	decodeJSON(t, "POST "+path, ctrl(t, http.MethodPost, path, ""), v)
}

func decodeJSON(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
}

// waitLog waits for text to appear in hamlet's log.
func waitLog(t *testing.T, e *env, text string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(e.log("hamlet.log"), text) {
		if time.Now().After(deadline) {
			t.Fatalf("hamlet did not log %q:\n%s", text, tail(e.log("hamlet.log"), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
