package iprev

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

func TestVerify(t *testing.T) {
	manyPTR := []string{}
	manyA := map[string][]string{}
	for i := range 11 {
		n := fmt.Sprintf("h%d.example.net", i)
		manyPTR = append(manyPTR, n)
		manyA[n] = []string{"198.51.100.99"}
	}
	// Only the 11th name resolves back: it must not be tried.
	manyA["h10.example.net"] = []string{"192.0.2.77"}

	tests := []struct {
		name      string
		ip        string
		mock      *dnstest.Mock
		want      Status
		wantName  string
		ptrFailed bool
	}{
		{
			name: "no PTR (NXDOMAIN)",
			ip:   "192.0.2.1",
			mock: &dnstest.Mock{},
			want: PermError,
		},
		{
			name: "PTR NODATA",
			ip:   "192.0.2.1",
			mock: &dnstest.Mock{TXT: map[string][]string{"1.2.0.192.in-addr.arpa": {"x"}}},
			want: PermError,
		},
		{
			name: "PTR without A",
			ip:   "192.0.2.2",
			mock: &dnstest.Mock{PTR: map[string][]string{"192.0.2.2": {"mail.example.com."}}},
			want: Fail,
		},
		{
			name: "PTR whose A is another IP",
			ip:   "192.0.2.3",
			mock: &dnstest.Mock{
				PTR: map[string][]string{"192.0.2.3": {"mail.example.com"}},
				A:   map[string][]string{"mail.example.com": {"192.0.2.4"}},
			},
			want: Fail,
		},
		{
			name: "PTR with AAAA only for an IPv4 client",
			ip:   "192.0.2.3",
			mock: &dnstest.Mock{
				PTR:  map[string][]string{"192.0.2.3": {"mail.example.com"}},
				AAAA: map[string][]string{"mail.example.com": {"2001:db8::3"}},
			},
			want: Fail,
		},
		{
			name: "several PTRs, one matching",
			ip:   "192.0.2.5",
			mock: &dnstest.Mock{
				PTR: map[string][]string{"192.0.2.5": {"a.example.com", "b.example.com", "c.example.com"}},
				A: map[string][]string{
					"a.example.com": {"192.0.2.6"},
					"c.example.com": {"192.0.2.9", "192.0.2.5"},
				},
			},
			want:     Pass,
			wantName: "c.example.com",
		},
		{
			name: "two matching: first in PTR order reported",
			ip:   "192.0.2.5",
			mock: &dnstest.Mock{
				PTR: map[string][]string{"192.0.2.5": {"a.example.com", "b.example.com"}},
				A: map[string][]string{
					"a.example.com": {"192.0.2.5"},
					"b.example.com": {"192.0.2.5"},
				},
			},
			want:     Pass,
			wantName: "a.example.com",
		},
		{
			name:      "PTR lookup timing out",
			ip:        "192.0.2.7",
			mock:      &dnstest.Mock{Fail: map[string]dns.Kind{"PTR 7.2.0.192.in-addr.arpa": dns.Timeout}},
			want:      TempError,
			ptrFailed: true,
		},
		{
			name:      "PTR SERVFAIL",
			ip:        "192.0.2.7",
			mock:      &dnstest.Mock{Fail: map[string]dns.Kind{"7.2.0.192.in-addr.arpa": dns.ServFail}},
			want:      TempError,
			ptrFailed: true,
		},
		{
			name: "forward lookup SERVFAIL",
			ip:   "192.0.2.8",
			mock: &dnstest.Mock{
				PTR:  map[string][]string{"192.0.2.8": {"mail.example.com"}},
				Fail: map[string]dns.Kind{"A mail.example.com": dns.ServFail},
			},
			want: TempError,
		},
		{
			name: "one forward fails temporarily, another confirms",
			ip:   "192.0.2.8",
			mock: &dnstest.Mock{
				PTR:  map[string][]string{"192.0.2.8": {"bad.example.com", "mail.example.com"}},
				A:    map[string][]string{"mail.example.com": {"192.0.2.8"}},
				Fail: map[string]dns.Kind{"A bad.example.com": dns.Timeout},
			},
			want:     Pass,
			wantName: "mail.example.com",
		},
		{
			name: "more than 10 names: 11th not tried",
			ip:   "192.0.2.77",
			mock: &dnstest.Mock{PTR: map[string][]string{"192.0.2.77": manyPTR}, A: manyA},
			want: Fail,
		},
		{
			name: "IPv6 pass",
			ip:   "2001:db8::25",
			mock: &dnstest.Mock{
				PTR:  map[string][]string{"2001:db8::25": {"mx.example.org"}},
				AAAA: map[string][]string{"mx.example.org": {"2001:db8:0:0::25"}},
				A:    map[string][]string{"mx.example.org": {"192.0.2.25"}},
			},
			want:     Pass,
			wantName: "mx.example.org",
		},
		{
			name: "IPv6 name with A only",
			ip:   "2001:db8::25",
			mock: &dnstest.Mock{
				PTR: map[string][]string{"2001:db8::25": {"mx.example.org"}},
				A:   map[string][]string{"mx.example.org": {"192.0.2.25"}},
			},
			want: Fail,
		},
		{
			name: "IPv4-mapped client address",
			ip:   "::ffff:192.0.2.30",
			mock: &dnstest.Mock{
				PTR: map[string][]string{"192.0.2.30": {"mx.example.org"}},
				A:   map[string][]string{"mx.example.org": {"192.0.2.30"}},
			},
			want:     Pass,
			wantName: "mx.example.org",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got := Verify(ctx, tc.mock, netip.MustParseAddr(tc.ip))
			if got.Status != tc.want {
				t.Fatalf("status = %s, want %s (%v)", got.Status, tc.want, got)
			}
			if got.Name != tc.wantName {
				t.Errorf("name = %q, want %q", got.Name, tc.wantName)
			}
			if got.PTRFailed != tc.ptrFailed {
				t.Errorf("PTRFailed = %v, want %v", got.PTRFailed, tc.ptrFailed)
			}
			if tc.want != Pass && got.Err == nil {
				t.Errorf("no error for %s", got.Status)
			}
			if tc.want == Pass && got.Err != nil {
				t.Errorf("error %v for a pass", got.Err)
			}
		})
	}
}

func TestVerifyTriesAtMostMaxNames(t *testing.T) {
	var names []string
	for i := range 15 {
		names = append(names, fmt.Sprintf("n%d.example.net", i))
	}
	m := &dnstest.Mock{PTR: map[string][]string{"192.0.2.1": names}}
	got := Verify(context.Background(), m, netip.MustParseAddr("192.0.2.1"))
	if got.Status != Fail {
		t.Fatalf("status %s", got.Status)
	}
	if len(got.Names) != 15 {
		t.Errorf("Names has %d, want all 15", len(got.Names))
	}
	if q := m.Queries(); q != 1+MaxNames {
		t.Errorf("%d queries, want %d", q, 1+MaxNames)
	}
}

func TestVerifyDeadline(t *testing.T) {
	m := &dnstest.Mock{Delay: time.Hour, PTR: map[string][]string{"192.0.2.1": {"x.example"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	got := Verify(ctx, m, netip.MustParseAddr("192.0.2.1"))
	if got.Status != TempError || !got.PTRFailed {
		t.Fatalf("got %v, want PTR temperror", got)
	}
}

func TestVerifyInvalidIP(t *testing.T) {
	got := Verify(context.Background(), &dnstest.Mock{}, netip.Addr{})
	if got.Status != PermError || got.Err == nil {
		t.Fatalf("got %v", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	m := &dnstest.Mock{
		PTR: map[string][]string{"192.0.2.5": {"a.example.com", "b.example.com"}},
		A:   map[string][]string{"a.example.com": {"192.0.2.6"}, "b.example.com": {"192.0.2.5"}},
	}
	ip := netip.MustParseAddr("192.0.2.5")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if Verify(ctx, m, ip).Status != Pass {
			b.Fatal("not pass")
		}
	}
}
