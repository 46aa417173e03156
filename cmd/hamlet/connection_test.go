package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// connectionZone is the DNS data of the connection-check cases, served by
// a loopback dnstest.Server. Clients are in the documentation ranges
// (RFC 5737, RFC 3849): local_networks would skip them otherwise. The DNS
// lists and Sender Score live under test zones of their own (bl.test,
// all.test, score.test), so that no real name is asked.
func connectionZone() string {
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
; an IPv6 client with a confirmed name
5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.example.net.
v6.example.net.            AAAA 2001:db8::25
; a client without PTR whose MTA vouches for its name (Hostname header)
trusted.example.net.       A   192.0.2.10
; HELO names
mxonly.example.net.        MX  10 gone.example.net.

; DNS lists: bl.test with RFC 5782 test entries and two codes, all.test
; listing everything
2.0.0.127.bl.test.         A   127.0.0.2
20.100.51.198.bl.test.     A   127.0.0.2
20.100.51.198.bl.test.     A   127.0.0.3
21.100.51.198.bl.test.     A   127.0.0.3
2.0.0.127.all.test.        A   127.0.0.2
1.0.0.127.all.test.        A   127.0.0.2

; Sender Score
5.100.51.198.score.test.   A 127.0.4.5
50.100.51.198.score.test.  A 127.0.4.50
95.100.51.198.score.test.  A 127.0.4.95
77.100.51.198.score.test.  A 127.255.255.255
`)
	// The list and reputation clients have confirmed names, and all.test
	// lists them too.
	for _, n := range []int{1, 5, 20, 21, 22, 50, 77, 95} {
		fmt.Fprintf(&b, "%d.100.51.198.in-addr.arpa. PTR m%d.example.com.\nm%d.example.com. A 198.51.100.%d\n", n, n, n, n)
		fmt.Fprintf(&b, "%d.100.51.198.all.test. A 127.0.0.2\n", n)
	}
	for _, n := range []int{1, 2, 3, 4, 5} {
		fmt.Fprintf(&b, "%d.113.0.203.all.test. A 127.0.0.2\n", n)
	}
	return b.String()
}

// connectionConfig is the daemon's configuration for the cases: short DNS
// timeouts (only the hanging PTR lookup waits one out), the test lists
// turned on by name, Sender Score at the test zone, and a [dns] server
// that does not answer, so that only --dns makes the cases pass.
// Greylisting is off: `hamlet check` has no greylister, and the daemon's
// would turn the greylist action into a soft reject. extra is appended
// (the options of the early-rejection cases).
func connectionConfig(extra string) string {
	return `
hostname = "mx.hamlet.example"

[scan]
listen = ["127.0.0.1:0"]
timeout = "2s"
[controller]
listen = "127.0.0.1:0"
[milter]
listen = ["127.0.0.1:0"]
[dns]
servers = ["127.0.0.1:9"]
timeout = "300ms"
attempts = 1

[senderscore]
zone = "score.test"

[greylist]
enabled = false

# The cases test the connection checks; the header check's symbols
# (ONCE_RECEIVED, DATE_IN_PAST of the fixed Date) and the content rules'
# (MIME_GOOD) would blur their scores.
[headers]
enabled = false
[content]
enabled = false

[dnsbl]
enable = ["testbl", "allbl"]

[[dnsbl.list]]
name = "testbl"
zone = "bl.test"
[[dnsbl.list.code]]
answer = "127.0.0.2"
symbol = "RBL_TESTBL_SPAM"
weight = 4.0
[[dnsbl.list.code]]
answer = "127.0.0.3"
symbol = "RBL_TESTBL_BOT"
weight = 3.0

[[dnsbl.list]]
name = "allbl"
zone = "all.test"
symbol = "RBL_ALLBL"
weight = 10.0
reject = true
` + extra
}

// strictRDNS is the early-rejection configuration: no PTR and FCrDNS
// failure reject at connect; HELO forgery is judged against our_names.
const strictRDNS = `
[rdns]
reject_no_rdns = true
reject_fcrdns_fail = true

[hfilter]
our_names = ["ourdomain.example"]
`

// connectionMessage is a plain, well-formed message: the connection checks
// decide the verdict.
const connectionMessage = "From: Alice <alice@example.org>\r\nTo: bob@hamlet.example\r\nSubject: hello\r\n" +
	"Date: Thu, 26 Nov 2026 23:00:00 +0000\r\nMessage-ID: <conn-1@example.org>\r\n\r\nHello Bob.\r\n"

// connectionCase is one scan and the verdict it must get.
type connectionCase struct {
	name     string
	strict   bool // run with strictRDNS
	ip       string
	helo     string
	hostname string // the Hostname header / --hostname; "" for none
	symbols  string // the connection symbols (RDNS_, HFILTER_, RBL_), sorted
	score    float64
	action   string
	option   string   // "SYMBOL=option": an option the symbol must carry
	smtp     string   // a substring of the reply text of a rejection
	logs     []string // substrings of the log (the loud line of a disabled list)
}

var connectionCases = []connectionCase{
	// iprev
	{name: "no PTR", ip: "203.0.113.1", helo: "h1.example.net",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", score: 4.5, action: "greylist"},
	{name: "PTR without A", ip: "203.0.113.2", helo: "h2.example.net",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", score: 2.5, action: "no action"},
	{name: "PTR whose A is another IP", ip: "203.0.113.3", helo: "h3.example.net",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", score: 2.5, action: "no action"},
	{name: "several PTRs one matching", ip: "203.0.113.4", helo: "mail.example.net",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action", option: "RDNS_FCRDNS_PASS=mail.example.net"},
	{name: "PTR lookup timing out", ip: "203.0.113.5", helo: "h5.example.net",
		symbols: "RDNS_DNSFAIL", score: 0, action: "no action", option: "RDNS_DNSFAIL=timeout"},
	{name: "IPv6 confirmed name", ip: "2001:db8::25", helo: "v6.example.net",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action", option: "RDNS_FCRDNS_PASS=v6.example.net"},
	{name: "MTA vouches for the name", ip: "192.0.2.10", helo: "trusted.example.net", hostname: "trusted.example.net",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action", option: "RDNS_FCRDNS_PASS=trusted.example.net"},
	{name: "MTA reports no name", ip: "203.0.113.4", helo: "mail.example.net", hostname: "unknown",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", score: 4.5, action: "greylist"},

	// HELO
	{name: "HELO not FQDN", ip: "203.0.113.4", helo: "COMPUTER",
		symbols: "HFILTER_HELO_NOT_FQDN,RDNS_FCRDNS_PASS", score: 2, action: "no action"},
	{name: "HELO literal not the client's", ip: "203.0.113.4", helo: "[8.8.8.8]",
		symbols: "HFILTER_HELO_BAREIP,RDNS_FCRDNS_PASS", score: 3, action: "no action"},
	{name: "HELO private literal", ip: "203.0.113.4", helo: "[10.0.0.1]",
		symbols: "HFILTER_HELO_BADIP,RDNS_FCRDNS_PASS", score: 4.5, action: "greylist"},
	{name: "HELO resolving to neither A nor MX", ip: "203.0.113.4", helo: "nowhere.example.net",
		symbols: "HFILTER_HELO_NORES_A_OR_MX,RDNS_FCRDNS_PASS", score: 0.3, action: "no action"},
	{name: "HELO MX not resolving", ip: "203.0.113.4", helo: "mxonly.example.net",
		symbols: "HFILTER_HELO_NORESOLVE_MX,RDNS_FCRDNS_PASS", score: 0.2, action: "no action"},
	{name: "HELO A not the client", ip: "203.0.113.4", helo: "other.example.net",
		symbols: "HFILTER_HELO_IP_A,RDNS_FCRDNS_PASS", score: 1, action: "no action"},
	{name: "HELO claiming our host name", ip: "203.0.113.4", helo: "mx.hamlet.example",
		symbols: "HFILTER_HELO_FORGED,RDNS_FCRDNS_PASS", score: 4.5, action: "greylist"},
	{name: "HELO dynamic", ip: "203.0.113.4", helo: "pc-203-0-113-4.dyn.isp.example",
		symbols: "HFILTER_HELO_5,RDNS_FCRDNS_PASS", score: 3, action: "no action"},

	// DNS lists
	{name: "list with two codes", ip: "198.51.100.20", helo: "m20.example.com",
		symbols: "RBL_TESTBL_BOT,RBL_TESTBL_SPAM,RDNS_FCRDNS_PASS", score: 7, action: "add header", option: "RBL_TESTBL_SPAM=198.51.100.20:from"},
	{name: "list with one code", ip: "198.51.100.21", helo: "m21.example.com",
		symbols: "RBL_TESTBL_BOT,RDNS_FCRDNS_PASS", score: 3, action: "no action"},
	{name: "list answering everything is disabled", ip: "198.51.100.22", helo: "m22.example.com",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action",
		logs: []string{"dnsbl: LIST DISABLED", "list=allbl", "reason=lists_everything"}},

	// Sender Score
	{name: "Senderscore 5", ip: "198.51.100.5", helo: "m5.example.com",
		symbols: "RBL_SENDERSCORE_REPUT_BAD,RDNS_FCRDNS_PASS", score: 6, action: "reject", smtp: "Sender Score 5"},
	{name: "Senderscore 50", ip: "198.51.100.50", helo: "m50.example.com",
		symbols: "RBL_SENDERSCORE_REPUT_LOW,RDNS_FCRDNS_PASS", score: 2.03, action: "add header", option: "RBL_SENDERSCORE_REPUT_LOW=score=50"},
	{name: "Senderscore 95", ip: "198.51.100.95", helo: "m95.example.com",
		symbols: "RBL_SENDERSCORE_REPUT_GOOD,RDNS_FCRDNS_PASS", score: -1, action: "no action"},
	{name: "Senderscore absent", ip: "198.51.100.1", helo: "m1.example.com",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action"},
	// Last: an answer that is not a score makes the list unusable for
	// recheck_interval, in a long-running daemon too.
	{name: "Senderscore 127.255.255.255", ip: "198.51.100.77", helo: "m77.example.com",
		symbols: "RBL_SENDERSCORE_REPUT_BLOCKED,RDNS_FCRDNS_PASS", score: 0, action: "no action",
		logs: []string{"senderscore: LIST DISABLED", "answer=127.255.255.255"}},

	// Early rejection
	{name: "reject_no_rdns", strict: true, ip: "203.0.113.1", helo: "h1.example.net",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", score: 4.5, action: "reject", smtp: "cannot find your reverse hostname"},
	{name: "reject_no_rdns from the MTA's report", strict: true, ip: "203.0.113.4", helo: "mail.example.net", hostname: "unknown",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_NONE", score: 4.5, action: "reject", smtp: "cannot find your reverse hostname"},
	{name: "reject_fcrdns_fail", strict: true, ip: "203.0.113.3", helo: "h3.example.net",
		symbols: "HFILTER_HOSTNAME_UNKNOWN,RDNS_FCRDNS_FAIL", score: 2.5, action: "reject", smtp: "does not resolve to your address"},
	{name: "strict: timing out does not reject", strict: true, ip: "203.0.113.5", helo: "h5.example.net",
		symbols: "RDNS_DNSFAIL", score: 0, action: "no action"},
	{name: "strict: confirmed name passes", strict: true, ip: "203.0.113.4", helo: "mail.example.net",
		symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action"},
	{name: "strict: HELO claiming one of our_names", strict: true, ip: "203.0.113.4", helo: "ourdomain.example",
		symbols: "HFILTER_HELO_FORGED,RDNS_FCRDNS_PASS", score: 4.5, action: "greylist"},
}

// checkReply is the part of the /checkv2 JSON reply the cases look at.
type checkReply struct {
	Score   float64 `json:"score"`
	Action  string  `json:"action"`
	Symbols map[string]struct {
		Score   float64  `json:"score"`
		Options []string `json:"options"`
	} `json:"symbols"`
	Messages struct {
		SMTP string `json:"smtp_message"`
	} `json:"messages"`
}

// connectionSymbol tells the connection checks' symbols from the other
// checks' (SPF, DKIM, DMARC, ARC) in a whole scan.
func connectionSymbol(name string) bool {
	for _, p := range []string{"RDNS_", "HFILTER_", "RBL_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// assertReply compares a reply with the case.
func (tc connectionCase) assertReply(t *testing.T, body []byte) {
	t.Helper()
	var r checkReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("reply is not JSON: %v\n%s", err, body)
	}
	var conn, other []string
	for name := range r.Symbols {
		if connectionSymbol(name) {
			conn = append(conn, name)
		} else {
			other = append(other, name)
		}
	}
	sort.Strings(conn)
	if got := strings.Join(conn, ","); got != tc.symbols {
		t.Errorf("symbols %s, want %s\n%s", got, tc.symbols, body)
	}
	// The other checks score nothing here: the verdict is the connection
	// checks'.
	for _, name := range other {
		if s := r.Symbols[name].Score; s != 0 {
			t.Errorf("unexpected scoring symbol %s (%.2f)\n%s", name, s, body)
		}
	}
	if r.Score != tc.score || r.Action != tc.action {
		t.Errorf("score %.2f %s, want %.2f %s\n%s", r.Score, r.Action, tc.score, tc.action, body)
	}
	if sym, opt, ok := strings.Cut(tc.option, "="); ok && !slices.Contains(r.Symbols[sym].Options, opt) {
		t.Errorf("%s options %q lack %q", sym, r.Symbols[sym].Options, opt)
	}
	if tc.smtp != "" && !strings.Contains(r.Messages.SMTP, tc.smtp) {
		t.Errorf("smtp_message %q does not contain %q", r.Messages.SMTP, tc.smtp)
	}
	if tc.smtp == "" && r.Action == "reject" {
		t.Errorf("unexpected rejection: %q", r.Messages.SMTP)
	}
}

// checkv2With posts msg to /checkv2 with the case's transaction headers.
func checkv2With(t *testing.T, addr string, tc connectionCase, msg string) []byte {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr+"/checkv2", strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("IP", tc.ip)
	req.Header.Set("Helo", tc.helo)
	if tc.hostname != "" {
		req.Header.Set("Hostname", tc.hostname)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("checkv2: %d %s", resp.StatusCode, b)
	}
	return b
}

// TestConnectionChecks runs every connection-check case against the
// loopback DNS server twice: through `hamlet check --dns --json` (in
// process) and through a running `hamlet serve --dns` and POST /checkv2.
// Both print rspamd's /checkv2 reply; symbols, score, action and the
// rejection text are asserted on it.
func TestConnectionChecks(t *testing.T) {
	srv, err := dnstest.NewServer(connectionZone())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Hang("5.113.0.203.in-addr.arpa")

	cfgs := map[bool]string{
		false: writeConfig(t, connectionConfig("")),
		true:  writeConfig(t, connectionConfig(strictRDNS)),
	}

	t.Run("check", func(t *testing.T) {
		for _, tc := range connectionCases {
			t.Run(tc.name, func(t *testing.T) {
				args := []string{"check", "-c", cfgs[tc.strict], "--dns", srv.Addr(), "--json", "--ip", tc.ip, "--helo", tc.helo}
				if tc.hostname != "" {
					args = append(args, "--hostname", tc.hostname)
				}
				var out, errb bytes.Buffer
				if code := run(args, strings.NewReader(connectionMessage), &out, &errb); code != 0 {
					t.Fatalf("hamlet check = %d\n%s", code, errb.String())
				}
				tc.assertReply(t, out.Bytes())
				for _, want := range tc.logs {
					if !strings.Contains(errb.String(), want) {
						t.Errorf("stderr lacks %q", want)
					}
				}
				if t.Failed() {
					t.Logf("stderr:\n%s", errb.String())
				}
			})
		}
	})

	t.Run("serve", func(t *testing.T) {
		daemons := map[bool]*daemonProc{}
		for strict, cfg := range cfgs {
			daemons[strict] = startServe(t, "--dns", srv.Addr(), "-c", cfg, "--data", t.TempDir())
		}
		for _, tc := range connectionCases {
			t.Run(tc.name, func(t *testing.T) {
				d := daemons[tc.strict]
				tc.assertReply(t, checkv2With(t, d.addrs["scan"], tc, connectionMessage))
				for _, want := range tc.logs {
					waitFor(t, func() bool { return strings.Contains(d.logs(), want) })
				}
				if t.Failed() {
					t.Logf("daemon log:\n%s", d.logs())
				}
			})
		}

		// The daemon keeps what it learnt: Sender Score, having answered
		// something that is not a score, is left alone (recheck_interval),
		// so the junk band's client now gets nothing from it; the list
		// answering everything stays disabled. Both show in the metrics.
		d := daemons[false]
		again := connectionCase{ip: "198.51.100.50", helo: "m50.example.com",
			symbols: "RDNS_FCRDNS_PASS", score: 0, action: "no action"}
		again.assertReply(t, checkv2With(t, d.addrs["scan"], again, connectionMessage))
		resp, err := http.Get("http://" + d.addrs["controller"] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`hamlet_dnsbl_usable{list="allbl"} 0`,
			`hamlet_dnsbl_usable{list="testbl"} 1`,
			`hamlet_dnsbl_usable{list="senderscore"} 0`,
			`hamlet_dnsbl_disabled_total{list="allbl",reason="lists_everything"} 1`,
			`hamlet_dnsbl_disabled_total{list="senderscore",reason="error_answer"} 1`,
		} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if t.Failed() {
			t.Logf("metrics:\n%s", metrics)
		}
		for _, d := range daemons {
			d.cmd.Process.Signal(syscall.SIGTERM)
			d.wait(t)
		}
	})

	// The MTA's word was taken: no PTR lookup for the vouched-for client.
	if n := srv.Count("PTR", "10.2.0.192.in-addr.arpa"); n != 0 {
		t.Errorf("PTR of 192.0.2.10 asked %d times despite the Hostname header (trust_mta)", n)
	}
	// The lists were health-checked at their own RFC 5782 §5 test entries.
	for _, name := range []string{"2.0.0.127.bl.test", "1.0.0.127.bl.test", "2.0.0.127.all.test", "1.0.0.127.all.test"} {
		if srv.Count("A", name) == 0 {
			t.Errorf("health check never asked %s", name)
		}
	}
}
