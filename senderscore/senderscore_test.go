package senderscore

import (
	"context"
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

func TestLookup(t *testing.T) {
	mock := &dnstest.Mock{
		A: map[string][]string{
			"5.2.0.192.score.senderscore.com":   {"127.0.4.5"},
			"50.2.0.192.score.senderscore.com":  {"127.0.4.50"},
			"95.2.0.192.score.senderscore.com":  {"127.0.4.95"},
			"0.2.0.192.score.senderscore.com":   {"127.0.4.0"},
			"100.2.0.192.score.senderscore.com": {"127.0.4.100"},
			"9.2.0.192.score.senderscore.com":   {"127.255.255.255"},
			"8.2.0.192.score.senderscore.com":   {"127.0.4.101"},
			"7.2.0.192.score.senderscore.com":   {"127.0.0.2"},
			"6.2.0.192.score.senderscore.com":   {"127.0.4.80", "127.0.4.20"},
			"5.2.0.192.other.example":           {"127.0.4.42"},
		},
		Fail: map[string]dns.Kind{"4.2.0.192.score.senderscore.com": dns.Timeout},
	}
	tests := []struct {
		ip     string
		zone   string
		status Status
		score  int
	}{
		{"192.0.2.5", "", Scored, 5},
		{"192.0.2.50", "", Scored, 50},
		{"192.0.2.95", "", Scored, 95},
		{"192.0.2.0", "", Scored, 0},
		{"192.0.2.100", "", Scored, 100},
		{"192.0.2.6", "", Scored, 20},
		{"192.0.2.1", "", NotListed, 0},
		{"192.0.2.9", "", Unusable, 0},
		{"192.0.2.8", "", Unusable, 0},
		{"192.0.2.7", "", Unusable, 0},
		{"192.0.2.4", "", Error, 0},
		{"2001:db8::1", "", Skipped, 0},
		{"::ffff:192.0.2.50", "", Scored, 50},
		{"192.0.2.5", "other.example.", Scored, 42},
	}
	for _, tc := range tests {
		t.Run(tc.ip+tc.zone, func(t *testing.T) {
			r := Lookup(context.Background(), mock, netip.MustParseAddr(tc.ip), tc.zone)
			if r.Status != tc.status || r.Score != tc.score {
				t.Fatalf("got %s %d, want %s %d (%v)", r.Status, r.Score, tc.status, tc.score, r.Err)
			}
			if (r.Status == Unusable || r.Status == Error) && r.Err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestDecodeEmpty(t *testing.T) {
	if _, err := Decode(nil); err == nil {
		t.Error("empty answer accepted")
	}
	if _, err := Decode([]netip.Addr{netip.MustParseAddr("::1")}); err == nil {
		t.Error("IPv6 answer accepted")
	}
}

// FuzzDecode: any answer bytes give a score in 0..100 or an error, never
// a panic, and a score only from 127.0.4.0/24 answers.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{127, 0, 4, 50})
	f.Add([]byte{127, 255, 255, 255})
	f.Add([]byte{127, 0, 4, 101, 127, 0, 4, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var answers []netip.Addr
		for len(raw) >= 4 {
			a, _ := netip.AddrFromSlice(raw[:4])
			answers = append(answers, a)
			raw = raw[4:]
		}
		score, err := Decode(answers)
		if err != nil {
			return
		}
		if score < 0 || score > 100 {
			t.Fatalf("score %d", score)
		}
		for _, a := range answers {
			if b := a.As4(); b[0] != 127 || b[1] != 0 || b[2] != 4 {
				t.Fatalf("score from %s", a)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	mock := &dnstest.Mock{A: map[string][]string{"50.2.0.192.score.senderscore.com": {"127.0.4.50"}}}
	ip := netip.MustParseAddr("192.0.2.50")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if Lookup(ctx, mock, ip, "").Score != 50 {
			b.Fatal("wrong")
		}
	}
}
