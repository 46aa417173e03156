package rspamdhttp

import (
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name   string
		header map[string][]string
		query  string
		check  func(t *testing.T, r *Request)
		err    string
	}{
		{
			name:   "ip forms",
			header: map[string][]string{"Ip": {"[192.0.2.1]"}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.ClientIP.String() != "192.0.2.1" {
					t.Errorf("ip %v", r.Tx.ClientIP)
				}
			},
		},
		{
			name:   "mapped ipv6 unmapped",
			header: map[string][]string{"Ip": {"::ffff:192.0.2.9"}},
			check: func(t *testing.T, r *Request) {
				if !r.Tx.ClientIP.Is4() || r.Tx.ClientIP.String() != "192.0.2.9" {
					t.Errorf("ip %v", r.Tx.ClientIP)
				}
			},
		},
		{
			name:   "last IP header wins",
			header: map[string][]string{"Ip": {"192.0.2.1", "192.0.2.2"}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.ClientIP.String() != "192.0.2.2" {
					t.Errorf("ip %v", r.Tx.ClientIP)
				}
			},
		},
		{
			name:   "hostname unknown in any case",
			header: map[string][]string{"Hostname": {" UNKNOWN "}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.RDNS != engine.FCrDNSNone || r.Tx.ClientPTR != "" {
					t.Errorf("rdns %v ptr %q", r.Tx.RDNS, r.Tx.ClientPTR)
				}
			},
		},
		{
			name:   "hostname address literal",
			header: map[string][]string{"Hostname": {"[192.0.2.1]"}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.RDNS != engine.FCrDNSNone || r.Tx.ClientPTR != "" {
					t.Errorf("rdns %v ptr %q", r.Tx.RDNS, r.Tx.ClientPTR)
				}
			},
		},
		{
			name:   "hostname trailing dot",
			header: map[string][]string{"Hostname": {"mx.example.org."}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.RDNS != engine.FCrDNSPass || r.Tx.ClientPTR != "mx.example.org" {
					t.Errorf("rdns %v ptr %q", r.Tx.RDNS, r.Tx.ClientPTR)
				}
			},
		},
		{
			name:   "source route and brackets",
			header: map[string][]string{"From": {"<@relay.example,@other.example:user@example.org>"}, "Rcpt": {"<Postmaster>"}},
			check: func(t *testing.T, r *Request) {
				if r.Tx.MailFrom != "user@example.org" || !reflect.DeepEqual(r.Tx.Rcpts, []string{"Postmaster"}) {
					t.Errorf("from %q rcpts %q", r.Tx.MailFrom, r.Tx.Rcpts)
				}
			},
		},
		{
			name: "options kept for the log",
			header: map[string][]string{"Deliver-To": {"<bob@example.net>"}, "Settings-Id": {"outbound"},
				"Pass": {"All"}, "Flags": {"pass_all, body_block,", "milter"}},
			check: func(t *testing.T, r *Request) {
				if r.DeliverTo != "bob@example.net" || r.SettingsID != "outbound" || !r.PassAll ||
					!reflect.DeepEqual(r.Flags, []string{"pass_all", "body_block", "milter"}) {
					t.Errorf("%+v", r)
				}
			},
		},
		{
			name:   "query adds to headers",
			query:  "rcpt=b@x&Rcpt=c@x&queue-id=Q9",
			header: map[string][]string{"Rcpt": {"a@x"}},
			check: func(t *testing.T, r *Request) {
				if !reflect.DeepEqual(r.Tx.Rcpts, []string{"a@x", "b@x", "c@x"}) || r.Tx.QueueID != "Q9" {
					t.Errorf("rcpts %q queue %q", r.Tx.Rcpts, r.Tx.QueueID)
				}
			},
		},
		{name: "bad query escape", query: "ip=%zz", err: "bad query string"},
		{name: "ip garbage", header: map[string][]string{"Ip": {"example.org"}}, err: "bad IP header"},
		{name: "ipv6 literal without brackets prefix", header: map[string][]string{"Ip": {"IPv6:"}}, err: "bad IP header"},
		{name: "source route without mailbox", header: map[string][]string{"From": {"<@relay.example>"}}, err: "source route"},
		{name: "angle inside", header: map[string][]string{"Rcpt": {"a<b@x"}}, err: "not a mailbox"},
		{name: "too many", header: map[string][]string{"Rcpt": {"a@x", "b@x", "c@x", "d@x"}}, err: "more than 3 recipients"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRequest(http.Header(tc.header), tc.query, 3)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// TestParseRequestValues checks the exported form, whose query
// parameters come as url.Values: distinct keys are added in sorted order.
func TestParseRequestValues(t *testing.T) {
	h := http.Header{"Rcpt": {"a@x"}}
	r, err := ParseRequest(h, url.Values{"rcpt": {"c@x", "d@x"}, "Rcpt": {"b@x"}, "ip": {"192.0.2.1"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Tx.Rcpts, []string{"a@x", "b@x", "c@x", "d@x"}) || r.Tx.ClientIP.String() != "192.0.2.1" {
		t.Errorf("rcpts %q ip %v", r.Tx.Rcpts, r.Tx.ClientIP)
	}
	if !reflect.DeepEqual(h, http.Header{"Rcpt": {"a@x"}}) {
		t.Errorf("the caller's header was modified: %v", h)
	}
	if _, err := ParseRequest(http.Header{"Ip": {"x"}}, nil, 0); err == nil {
		t.Error("bad IP accepted")
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	for _, c := range []Config{{MaxBody: -1}, {MaxRcpts: -1}, {MaxHeaderBytes: -1}, {Timeout: -time.Second}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
	d := Config{}.withDefaults()
	if d.MaxBody != 50<<20 || d.MaxRcpts != DefaultMaxRcpts || d.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("defaults %+v", d)
	}
	srv := Config{MaxHeaderBytes: 1234}.HTTPServer("127.0.0.1:0", http.NotFoundHandler())
	if srv.MaxHeaderBytes != 1234 || srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 {
		t.Errorf("server limits %+v", srv)
	}
}

func TestDoubleFormat(t *testing.T) {
	// rspamd_fstring_emit_append_double: integral values "%.1f", others
	// "%.6f", non-finite "null".
	for in, want := range map[float64]string{
		0: "0.0", 15: "15.0", -2: "-2.0", 5.2: "5.200000", 0.0125: "0.012500",
		-1.5: "-1.500000", 1e-9: "0.000000", 123456.789: "123456.789000",
	} {
		if got := string(appendRspamdDouble(nil, in)); got != want {
			t.Errorf("%v: %s, want %s", in, got, want)
		}
	}
	for _, in := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendRspamdDouble(nil, in)); got != "null" {
			t.Errorf("%v: %s, want null", in, got)
		}
	}
}
