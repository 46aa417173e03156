package message

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // RFC 3339 in UTC, "" for an error
	}{
		{"Tue, 8 Oct 91 10:25:36 EDT", "1991-10-08T14:25:36Z"},
		{"Tue, 8 Oct 91 07:29:39 PDT", "1991-10-08T14:29:39Z"},
		{"Mon, 16 Dec 2002 23:07:49 +0900", "2002-12-16T14:07:49Z"},
		{"Wed, 10 Jul 2002 11:18:57 -0400 (EDT)", "2002-07-10T15:18:57Z"},
		{"Fri, 1 Mar 2002 12:00:00 est", "2002-03-01T17:00:00Z"},
		{"Fri, 1 Mar 2002 12:00:00 CST", "2002-03-01T18:00:00Z"},
		{"Fri, 1 Mar 2002 12:00:00 MDT", "2002-03-01T18:00:00Z"},
		{"Fri, 1 Mar 2002 12:00:00 GMT", "2002-03-01T12:00:00Z"},
		{"Fri, 1 Mar 2002 12:00:00 UT", "2002-03-01T12:00:00Z"},
		{"Sun, 11 Apr 2021 02:00:04 +0000", "2021-04-11T02:00:04Z"},
		{"1 Mar 49 12:00:00 +0000", "2049-03-01T12:00:00Z"},
		{"not a date", ""},
	} {
		got, err := ParseDate(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q: %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.in, got.UTC(), err, tt.want)
		}
	}
}
