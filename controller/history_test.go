package controller

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

func TestHistoryFilter(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	recs := []store.HistoryRecord{
		{Time: t0, QueueID: "AAA1", ClientIP: "192.0.2.7", From: "Bob@Example.org", RcptList: []string{"u@example.net"}, Action: "reject", Symbols: []string{"TEST_SPAM"}},
		{Time: t0.Add(time.Minute), QueueID: "BBB2", ClientIP: "192.0.3.7", From: "alice@example.com", Action: "no action", Symbols: []string{"TEST_GOOD"}},
		{Time: t0.Add(2 * time.Minute), QueueID: "CCC3", ClientIP: "2001:db8::1", From: "", RcptList: []string{"Bob@example.org"}, Action: "add header", Symbols: []string{"TEST_TAG", "TEST_SPAM"}},
		{Time: t0.Add(3 * time.Minute), QueueID: "DDD4", ClientIP: "192.0.20.1", From: "x@y.example", Action: "reject"},
		// Greylisted, another soft reject, a greylisting pass.
		{Time: t0.Add(4 * time.Minute), QueueID: "EEE5", ClientIP: "198.51.100.5", From: "g@z.example", Action: "soft reject", Symbols: []string{"GREYLIST", "TEST_GREY"},
			Hits: []store.HistoryHit{{Options: []string{"greylisted", "Sun, 01 Mar 2026 12:09:00 UTC"}}, {Score: 5, Weight: 5}}},
		{Time: t0.Add(5 * time.Minute), QueueID: "FFF6", ClientIP: "198.51.100.6", From: "s@z.example", Action: "soft reject", Symbols: []string{"TEST_TAG"}, ForcedBy: "TEST_TAG",
			Hits: []store.HistoryHit{{Score: 7, Weight: 7, Options: []string{"greylisted"}}}},
		{Time: t0.Add(6 * time.Minute), QueueID: "GGG7", ClientIP: "198.51.100.7", From: "p@z.example", Action: "no action", Symbols: []string{"GREYLIST"},
			Hits: []store.HistoryHit{{Options: []string{"pass", "retry"}}}},
	}
	if err := e.st.HistoryAdd(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query string
		want  []string // queue ids, newest first
	}{
		{"", []string{"GGG7", "FFF6", "EEE5", "DDD4", "CCC3", "BBB2", "AAA1"}},
		{"action=greylisted", []string{"EEE5"}},
		{"action=Greylisted&addr=@z.example", []string{"EEE5"}},
		{"action=soft_reject", []string{"FFF6"}},
		{"action=no+action&symbol=greylist", []string{"GGG7"}},
		{"qid=aaa1", []string{"AAA1"}},
		{"action=reject", []string{"DDD4", "AAA1"}},
		{"action=add_header", []string{"CCC3"}},
		{"symbol=test_spam", []string{"CCC3", "AAA1"}},
		{"ip=192.0.2.0/24", []string{"AAA1"}},
		{"ip=192.0.0.0/16", []string{"DDD4", "BBB2", "AAA1"}},
		{"ip=2001:db8::/32", []string{"CCC3"}},
		{"ip=192.0.2.7", []string{"AAA1"}},
		{"addr=bob@example.org", []string{"CCC3", "AAA1"}},
		{"addr=@example.com", []string{"BBB2"}},
		{"from=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)) + "&to=" + url.QueryEscape(t0.Add(3*time.Minute).Format(time.RFC3339)), []string{"CCC3", "BBB2"}},
		{"action=reject&ip=192.0.2.0/24", []string{"AAA1"}},
	} {
		v, _ := url.ParseQuery(tt.query)
		f, err := ParseHistoryFilter(v)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		got, err := e.srv.FindHistory(ctx, f, time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.QueueID)
		}
		if len(ids) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, ids, tt.want)
			continue
		}
		for i := range ids {
			if ids[i] != tt.want[i] {
				t.Errorf("%s: %v, want %v", tt.query, ids, tt.want)
				break
			}
		}
	}
	for _, bad := range []string{"action=maybe", "ip=nowhere", "from=yesterday"} {
		v, _ := url.ParseQuery(bad)
		if _, err := ParseHistoryFilter(v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestListSymbols(t *testing.T) {
	hit := func(s float64) store.HistoryHit { return store.HistoryHit{Score: s, Weight: s} }
	for _, tt := range []struct {
		name string
		rec  store.HistoryRecord
		want []string // names, "!" marks forcing, "0" zero
	}{
		{"forced first, then by effect, zero last", store.HistoryRecord{
			ForcedBy: "LOCAL_EXECUTABLE",
			Symbols:  []string{"ARC_NA", "LOCAL_EXECUTABLE", "LOCAL_FREEMAIL_REPLYTO", "R_SPF_ALLOW", "REPLYTO_DOM_NEQ_FROM_DOM"},
			Hits:     []store.HistoryHit{hit(0), hit(1.5), hit(1), hit(-3), hit(-0.5)},
		}, []string{"!LOCAL_EXECUTABLE", "R_SPF_ALLOW", "LOCAL_FREEMAIL_REPLYTO", "REPLYTO_DOM_NEQ_FROM_DOM", "0ARC_NA"}},
		{"a forcing symbol that scored nothing is still first", store.HistoryRecord{
			ForcedBy: "RBL_BLOCK", Symbols: []string{"A_ZERO", "B_BIG", "RBL_BLOCK"}, Hits: []store.HistoryHit{hit(0), hit(9), hit(0)},
		}, []string{"!RBL_BLOCK", "B_BIG", "0A_ZERO"}},
		{"ties in name order", store.HistoryRecord{
			Symbols: []string{"ZED", "ALPHA", "MID"}, Hits: []store.HistoryHit{hit(2), hit(-2), hit(5)},
		}, []string{"MID", "ALPHA", "ZED"}},
		{"an older record without scores keeps its order", store.HistoryRecord{
			ForcedBy: "LAST", Symbols: []string{"B", "A", "LAST"},
		}, []string{"!LAST", "B", "A"}},
		{"no symbols", store.HistoryRecord{}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{}
			for _, l := range listSymbols(tt.rec) {
				n := l.Name
				switch {
				case l.Forcing:
					n = "!" + n
				case l.Zero:
					n = "0" + n
				}
				got = append(got, n)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// An address filter finds what strings.EqualFold matches, also for the
// letters where it and strings.ToLower disagree ('ſ' is "s"), through the
// store's index and needles as through its scan.
func TestHistoryFilterUnicodeFold(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	recs := []store.HistoryRecord{
		{Time: t0, QueueID: "LONG1", ClientIP: "192.0.2.7", From: "ſam@ſpam.example", Action: "reject"},
		{Time: t0.Add(time.Minute), QueueID: "PLAIN2", ClientIP: "192.0.2.8", From: "Sam@Spam.example", Action: "reject"},
		{Time: t0.Add(2 * time.Minute), QueueID: "OTHER3", ClientIP: "192.0.2.9", From: "tom@spam.example", Action: "reject"},
	}
	if err := e.st.HistoryAdd(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"sam@spam.example", "ſam@ſpam.example", "SAM@ſPAM.EXAMPLE"} {
		f, err := ParseHistoryFilter(url.Values{"addr": {addr}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.srv.FindHistory(ctx, f, time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.QueueID)
		}
		if want := []string{"PLAIN2", "LONG1"}; !slices.Equal(ids, want) {
			t.Errorf("addr=%s: %v, want %v", addr, ids, want)
		}
	}
}

// TestHistoryFilterFoldAgrees: the filter's match, its needles and the
// index's terms fold alike (strings.EqualFold), also for the letters where
// strings.ToLower differs: 'İ' lower-cases to "i" but EqualFold keeps it
// apart, 'ſ' and the Kelvin sign fold with "s" and "k". Partial and whole
// addresses, domains and queue ids.
func TestHistoryFilterFoldAgrees(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	recs := []store.HistoryRecord{
		{QueueID: "I1", From: "ix@example.org"},
		{QueueID: "I2", From: "İx@example.org"},
		{QueueID: "K1", From: "kate@example.org"},
		{QueueID: "K2", From: "\u212aate@example.org"},
		{QueueID: "S1", From: "sam@example.org"},
		{QueueID: "S2", RcptList: []string{"ſam@example.org"}},
		{QueueID: "D1", From: "a@İdomain.example"},
		{QueueID: "İQ1", From: "q@example.org"},
	}
	for i := range recs {
		recs[i].Time, recs[i].ClientIP, recs[i].Action = t0.Add(time.Duration(i)*time.Minute), "192.0.2.1", "reject"
	}
	if err := e.st.HistoryAdd(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key, value string
		want       []string // newest first
	}{
		{"addr", "ix", []string{"I1"}},
		{"addr", "İx", []string{"I2"}},
		{"addr", "İX@EXAMPLE.ORG", []string{"I2"}},
		{"addr", "ix@example.org", []string{"I1"}},
		{"addr", "kate", []string{"K2", "K1"}},
		{"addr", "\u212aATE", []string{"K2", "K1"}},
		{"addr", "KATE@example.org", []string{"K2", "K1"}},
		{"addr", "ſam", []string{"S2", "S1"}},
		{"addr", "SAM", []string{"S2", "S1"}},
		{"addr", "@İDOMAIN.example", []string{"D1"}},
		{"addr", "@idomain.example", nil},
		{"addr", "domain.EXAMPLE", []string{"D1"}},
		{"qid", "İq1", []string{"İQ1"}},
		{"qid", "iq1", nil},
	} {
		f, err := ParseHistoryFilter(url.Values{tt.key: {tt.value}})
		if err != nil {
			t.Fatalf("%s=%s: %v", tt.key, tt.value, err)
		}
		got, err := e.srv.FindHistory(ctx, f, time.Time{}, 20)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.QueueID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%s=%s: %v, want %v", tt.key, tt.value, ids, tt.want)
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, tt := range []struct {
		s, sub string
		want   bool
	}{
		{"Bob@Example.org", "bob@", true},
		{"Bob@Example.org", "EXAMPLE.ORG", true},
		{"Bob@Example.org", "example.net", false},
		{"ſam@x", "SAM", true},
		{"sam@x", "ſam", true},
		{"\u212aate@x", "kate", true},
		{"İx@x", "ix", false},
		{"İx@x", "İX", true},
		{"ab", "abc", false},
		{"", "", true},
		{"x", "", true},
		{"a\xffb", "\xffB", true}, // invalid UTF-8 compares as U+FFFD, as EqualFold does
		{"xxaXb", "AxB", true},
		{"xxaxc", "axb", false},
		{"AB", "ab", true},
		{"K", "k", true},
		{"k", "K", true},
	} {
		if got := containsFold(tt.s, tt.sub); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", tt.s, tt.sub, got, tt.want)
		}
	}
}
