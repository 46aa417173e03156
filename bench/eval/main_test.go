package main

import (
	"testing"
	"time"
)

func TestShiftDate(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		name, in, want string
		d              time.Duration
	}{
		{"plain", "From: a@b\nDate: Mon, 07 Oct 2002 09:00:00 +0000\nSubject: x\n\nbody\n",
			"From: a@b\nDate: Tue, 08 Oct 2002 09:00:00 +0000\nSubject: x\n\nbody\n", day},
		{"folded, CRLF, zone kept, comment dropped", "DATE: Wed, 10 Jul 2002\r\n 11:18:57 -0400 (EDT)\r\nTo: c@d\r\n\r\n",
			"DATE: Wed, 10 Jul 2002 12:18:57 -0400\r\nTo: c@d\r\n\r\n", time.Hour},
		{"obs-zone", "Date: Tue, 8 Oct 91 10:25:36 EDT\n\n", "Date: Tue, 08 Oct 1991 10:25:46 -0400\n\n", 10 * time.Second},
		{"only in the body", "From: a@b\n\nDate: Mon, 07 Oct 2002 09:00:00 +0000\n",
			"From: a@b\n\nDate: Mon, 07 Oct 2002 09:00:00 +0000\n", day},
		{"unparseable", "Date: 18 Feb 01 12:29:13 AM\n\n", "Date: 18 Feb 01 12:29:13 AM\n\n", day},
		{"no newline at the end", "Date: Mon, 07 Oct 2002 09:00:00 +0000", "Date: Mon, 07 Oct 2002 09:00:00 +0000", 0},
		{"Date-Received is not Date", "Dated: Mon, 07 Oct 2002 09:00:00 +0000\n\n", "Dated: Mon, 07 Oct 2002 09:00:00 +0000\n\n", day},
	} {
		if got := string(shiftDate([]byte(c.in), c.d)); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestMarks(t *testing.T) {
	for _, c := range []struct {
		name    string
		network bool
		wrong   bool
	}{
		{"nice/spf3-received-spf", true, false},
		{"nice/dmarc/quarok.eml", true, false},
		{"spam/dnsbl_ipsonly.eml", true, false},
		{"nice/dkim/MIMEsimple_04", true, true},
		{"nice/005", false, true},
		{"nice/0051", false, false},
		{"spam/gtube.eml", false, false},
		{"spam/decodeshorturl/base.eml", true, false},
	} {
		if got := markOf(needsNetwork, c.name) != ""; got != c.network {
			t.Errorf("%s: needs network %v, want %v", c.name, got, c.network)
		}
		if got := markOf(mislabelled, c.name) != ""; got != c.wrong {
			t.Errorf("%s: mislabelled %v, want %v", c.name, got, c.wrong)
		}
	}
}
