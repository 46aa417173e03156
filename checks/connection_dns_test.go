package checks

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/dnsbl"
	"github.com/hamlet-mail/hamlet/engine"
)

// connZone is the DNS data of the connection-check scenarios, in master
// file format, served by a loopback dnstest.Server.
func connZone() string {
	var b strings.Builder
	b.WriteString(`
; rDNS clients
1.113.0.203.in-addr.arpa.  TXT "a name without PTR"
h1.example.net.            A   203.0.113.1
2.113.0.203.in-addr.arpa.  PTR nora.example.net.
nora.example.net.          TXT "no address"
h2.example.net.            A   203.0.113.2
3.113.0.203.in-addr.arpa.  PTR other.example.net.
other.example.net.         A   203.0.113.99
h3.example.net.            A   203.0.113.3
4.113.0.203.in-addr.arpa.  PTR a.example.net.
4.113.0.203.in-addr.arpa.  PTR b.example.net.
4.113.0.203.in-addr.arpa.  PTR mail.example.net.
a.example.net.             A   198.51.100.200
mail.example.net.          A   203.0.113.4
5.113.0.203.in-addr.arpa.  PTR slow.example.net.
h5.example.net.            A   203.0.113.5
; HELO names
mxonly.example.net.        MX  10 gone.example.net.

; DNS lists: testbl with RFC 5782 test entries, allbl listing everything
2.0.0.127.bl.example.      A   127.0.0.2
20.100.51.198.bl.example.  A   127.0.0.2
20.100.51.198.bl.example.  A   127.0.0.3
2.0.0.127.all.example.     A   127.0.0.2
1.0.0.127.all.example.     A   127.0.0.2
22.100.51.198.all.example. A   127.0.0.2
20.100.51.198.all.example. A   127.0.0.2

; Sender Score
5.100.51.198.score.senderscore.com.   A 127.0.4.5
50.100.51.198.score.senderscore.com.  A 127.0.4.50
95.100.51.198.score.senderscore.com.  A 127.0.4.95
77.100.51.198.score.senderscore.com.  A 127.255.255.255
`)
	// The list and reputation clients have confirmed names.
	for _, n := range []int{1, 5, 20, 22, 50, 77, 95} {
		fmt.Fprintf(&b, "%d.100.51.198.in-addr.arpa. PTR m%d.example.com.\nm%d.example.com. A 198.51.100.%d\n", n, n, n, n)
	}
	return b.String()
}

// TestConnectionChecksLoopbackDNS runs every "Done when" case of the
// connection checks through the engine against a real DNS server on
// loopback and the caching resolver: symbols, score and action.
func TestConnectionChecksLoopbackDNS(t *testing.T) {
	srv, err := dnstest.NewServer(connZone())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Hang("5.113.0.203.in-addr.arpa")
	// Generous timeouts: the machine may be loaded; only the hanging PTR
	// lookup waits them out (2 × 1s, within the engine's 6s).
	res, err := dns.NewClient(dns.Config{Servers: []string{srv.Addr()}, Timeout: duration.Duration(time.Second), Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	lists := []dnsbl.ListConfig{
		{Name: "testbl", Zone: "bl.example", Enabled: true, Codes: []dnsbl.Code{
			{Answer: "127.0.0.2", Symbol: "RBL_TESTBL_SPAM", Weight: 4.0},
			{Answer: "127.0.0.3", Symbol: "RBL_TESTBL_BOT", Weight: 3.0},
		}},
		{Name: "allbl", Zone: "all.example", Enabled: true, Reject: true, Symbol: "RBL_ALLBL", Weight: 10},
	}
	newEngine := func(t *testing.T) *engine.Engine {
		rd := DefaultRDNSConfig()
		rd.RejectNoRDNS = true
		ipr, err := NewIPRev(rd, res)
		if err != nil {
			t.Fatal(err)
		}
		hc := DefaultHfilterConfig()
		hc.OurNames = []string{"ourdomain.example"}
		hf, err := NewHfilter(hc, res, true)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := NewDNSBL(DNSBLConfig{Enabled: true, Lists: lists}, res, nil, quiet, true)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := NewSenderscore(DefaultSenderscoreConfig(), res, nil, quiet)
		if err != nil {
			t.Fatal(err)
		}
		return connEngineTimeout(t, 6*time.Second, append([]engine.Check{ipr, hf, ss}, bl.Checks()...)...)
	}
	tests := []struct {
		name    string
		ip      string
		helo    string
		early   engine.Action
		symbols string
		score   float64
		action  engine.Action
	}{
		{"no PTR (reject_no_rdns)", "203.0.113.1", "h1.example.net", engine.Reject,
			"HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", 4.5, engine.Reject},
		{"PTR without A", "203.0.113.2", "h2.example.net", engine.NoAction,
			"HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", 2.5, engine.NoAction},
		{"PTR whose A is another IP", "203.0.113.3", "h3.example.net", engine.NoAction,
			"HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", 2.5, engine.NoAction},
		{"several PTRs, one matching", "203.0.113.4", "mail.example.net", engine.NoAction,
			"RDNS_FCRDNS_PASS", 0, engine.NoAction},
		{"PTR lookup timing out: temperror, no reject", "203.0.113.5", "h5.example.net", engine.NoAction,
			"RDNS_DNSFAIL", 0, engine.NoAction},
		{"HELO not FQDN", "203.0.113.4", "COMPUTER", engine.NoAction,
			"HFILTER_HELO_NOT_FQDN,RDNS_FCRDNS_PASS", 2, engine.NoAction},
		{"HELO literal not the client's", "203.0.113.4", "[8.8.8.8]", engine.NoAction,
			"HFILTER_HELO_BAREIP,RDNS_FCRDNS_PASS", 3, engine.NoAction},
		{"HELO private literal", "203.0.113.4", "[10.0.0.1]", engine.NoAction,
			"HFILTER_HELO_BADIP,RDNS_FCRDNS_PASS", 4.5, engine.Greylist},
		{"HELO resolving to nothing", "203.0.113.4", "nowhere.example.net", engine.NoAction,
			"HFILTER_HELO_NORES_A_OR_MX,RDNS_FCRDNS_PASS", 0.3, engine.NoAction},
		{"HELO MX not resolving", "203.0.113.4", "mxonly.example.net", engine.NoAction,
			"HFILTER_HELO_NORESOLVE_MX,RDNS_FCRDNS_PASS", 0.2, engine.NoAction},
		{"HELO A not the client", "203.0.113.4", "other.example.net", engine.NoAction,
			"HFILTER_HELO_IP_A,RDNS_FCRDNS_PASS", 1, engine.NoAction},
		{"HELO claiming our domain", "203.0.113.4", "ourdomain.example", engine.NoAction,
			"HFILTER_HELO_FORGED,RDNS_FCRDNS_PASS", 4.5, engine.Greylist},
		{"HELO dynamic", "203.0.113.4", "pc-203-0-113-4.dyn.isp.example", engine.NoAction,
			"HFILTER_HELO_5,RDNS_FCRDNS_PASS", 3, engine.NoAction},
		{"list with two codes", "198.51.100.20", "m20.example.com", engine.NoAction,
			"RBL_TESTBL_BOT,RBL_TESTBL_SPAM,RDNS_FCRDNS_PASS", 7, engine.AddHeader},
		{"list answering everything is disabled", "198.51.100.22", "m22.example.com", engine.NoAction,
			"RDNS_FCRDNS_PASS", 0, engine.NoAction},
		{"Senderscore 5", "198.51.100.5", "m5.example.com", engine.Reject,
			"RBL_SENDERSCORE_REPUT_BAD,RDNS_FCRDNS_PASS", 6, engine.Reject},
		{"Senderscore 50", "198.51.100.50", "m50.example.com", engine.NoAction,
			"RBL_SENDERSCORE_REPUT_LOW,RDNS_FCRDNS_PASS", 2.03, engine.AddHeader}, // the tag floor
		{"Senderscore 95", "198.51.100.95", "m95.example.com", engine.NoAction,
			"RBL_SENDERSCORE_REPUT_GOOD,RDNS_FCRDNS_PASS", -1, engine.NoAction},
		{"Senderscore absent", "198.51.100.1", "m1.example.com", engine.NoAction,
			"RDNS_FCRDNS_PASS", 0, engine.NoAction},
		{"Senderscore 127.255.255.255", "198.51.100.77", "m77.example.com", engine.NoAction,
			"RBL_SENDERSCORE_REPUT_BLOCKED,RDNS_FCRDNS_PASS", 0, engine.NoAction},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			early, final := connScan(e, engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip), Helo: tc.helo})
			if early.Action != tc.early {
				t.Errorf("early %s (forced by %s), want %s", early.Action, early.ForcedBy, tc.early)
			}
			if got := verdictSymbols(final); got != tc.symbols {
				t.Errorf("symbols %s, want %s", got, tc.symbols)
			}
			if final.Score != tc.score || final.Action != tc.action {
				t.Errorf("score %.2f %s, want %.2f %s", final.Score, final.Action, tc.score, tc.action)
			}
			if len(final.Errors) > 0 {
				t.Errorf("errors %v", final.Errors)
			}
		})
	}
	if srv.Count("A", "1.0.0.127.all.example") == 0 {
		t.Error("allbl health check never asked")
	}
}
