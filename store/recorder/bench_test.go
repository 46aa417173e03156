package recorder

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
)

// BenchmarkObserve is what recording history costs the scan path: the
// record built and queued by Observe (the store write is in the
// background). Compare with a scan's time (frontend/rspamdhttp
// BenchmarkCheckV2).
func BenchmarkObserve(b *testing.B) {
	st, err := bolt.Open(b.TempDir(), store.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, hashed := range []bool{false, true} {
		name := "plain"
		o := Options{Queue: 1 << 16}
		if hashed {
			name, o.HashKey = "hashed", make([]byte, 32)
		}
		b.Run(name, func(b *testing.B) {
			r := New(st, o)
			defer r.Close()
			tx := &engine.Transaction{QueueID: "4XyZ12", ClientIP: netip.MustParseAddr("192.0.2.1"), ClientPTR: "mail.example.net",
				Helo: "mail.example.net", MailFrom: "sender@example.org", Rcpts: []string{"a@example.com", "b@example.com"}}
			v := &engine.Verdict{Action: engine.AddHeader, Score: 7.5, RequiredScore: 15, Final: true, Phase: engine.PhaseData}
			for _, n := range []string{"R_SPF_ALLOW", "R_DKIM_ALLOW", "DMARC_POLICY_ALLOW", "RDNS_FCRDNS", "RBL_SPAMHAUS_ZEN", "MIME_GOOD", "ARC_NA", "HFILTER_HOSTNAME_UNKNOWN"} {
				v.Symbols = append(v.Symbols, engine.ScoredSymbol{Name: n, Score: 1, Weight: 1, Options: []string{"example.org"}})
			}
			for b.Loop() {
				r.Observe(tx, v, 3*time.Millisecond)
			}
		})
	}
}
