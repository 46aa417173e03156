package arc

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

func TestParseAAR(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i    int
		rest string
		ok   bool
	}{
		{"i=1; lists.example.org; spf=pass", 1, "lists.example.org; spf=pass", true},
		{" i=50 ;x", 50, "x", true},
		{"i=51; x", 0, "", false}, // RFC 8617 §4.2.1: at most 50
		{"i=0; x", 0, "", false},
		{"i=; x", 0, "", false},
		{"i=1 x", 0, "", false},  // no ";" after the instance
		{"x; i=1", 0, "", false}, // i= must come first
		{"i=001; x", 0, "", false},
	} {
		i, rest, err := ParseAAR(tc.in)
		if (err == nil) != tc.ok || i != tc.i || rest != tc.rest {
			t.Errorf("ParseAAR(%q) = %d, %q, %v", tc.in, i, rest, err)
		}
	}
}

// arcSet returns three syntactically valid ARC fields of instance i (the
// signatures are not real: only structure is looked at here).
func arcSet(i string, cv string) string {
	return "ARC-Seal: i=" + i + "; a=rsa-sha256; cv=" + cv + "; d=example.org; s=s; b=AAAA\r\n" +
		"ARC-Message-Signature: i=" + i + "; a=rsa-sha256; d=example.org; s=s; h=from; bh=AAAA; b=AAAA\r\n" +
		"ARC-Authentication-Results: i=" + i + "; example.org; spf=pass\r\n"
}

func TestStructure(t *testing.T) {
	body := "From: a@example.com\r\n\r\nhi\r\n"
	var fifty strings.Builder
	for i := 50; i >= 1; i-- {
		cv := "pass"
		if i == 1 {
			cv = "none"
		}
		fifty.WriteString(arcSet(strconv.Itoa(i), cv))
	}
	tests := []struct {
		name    string
		raw     string
		status  Status
		failure Failure
		reason  string
	}{
		{"none", body, None, NoFailure, ""},
		{"gap", arcSet("3", "pass") + arcSet("1", "none") + body, Fail, FailStructure, "i=2"},
		{"i=51", arcSet("51", "pass") + fifty.String() + body, Fail, FailStructure, ""},
		{"cv=pass on i=1", arcSet("1", "pass") + body, Fail, FailStructure, "cv=pass"},
		{"newest cv=fail", arcSet("2", "fail") + arcSet("1", "none") + body, Fail, FailSignature, "cv=fail"},
		// Fifty sets are structurally fine: failure comes from the
		// (fake) signatures, not the structure.
		{"fifty sets", fifty.String() + body, Fail, FailSignature, ""},
	}
	r := &dnstest.Mock{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Validate(context.Background(), r, message.Parse([]byte(tc.raw)))
			if res.Status != tc.status || res.Failure != tc.failure || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("got %s/%s (%s), want %s/%s (%q)", res.Status, res.Failure, res.Reason, tc.status, tc.failure, tc.reason)
			}
		})
	}
}
