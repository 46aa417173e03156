package checks

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/message"
)

// sealKey makes a key file and the resolver publishing its record.
func sealKey(t *testing.T, alg string) (string, *dnstest.Mock) {
	t.Helper()
	k, err := dkimkeys.Generate(alg, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := dkimkeys.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "arc.key")
	if err := dkimkeys.WriteKeyFile(path, pemBytes); err != nil {
		t.Fatal(err)
	}
	rec, err := dkimkeys.KeyRecord(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return path, &dnstest.Mock{TXT: map[string][]string{"arc1._domainkey.forwarder.example": {rec}}}
}

// TestARCSealChain seals a message at two hops; after each, hamlet's own
// validator (the next hop's view) finds a passing chain of that length.
func TestARCSealChain(t *testing.T) {
	for _, alg := range []string{dkimkeys.AlgRSA, dkimkeys.AlgEd25519} {
		t.Run(alg, func(t *testing.T) {
			key, res := sealKey(t, alg)
			sealer, err := NewARCSeal(ARCSealConfig{Seal: true, Domain: "forwarder.example", Selector: "arc1", Key: key}, "mx.forwarder.example", nil)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := engine.New(engine.Options{
				Checks: []engine.Check{NewARC(res)}, Finishers: []engine.Finisher{sealer}, Policy: engine.DefaultPolicy(),
			})
			if err != nil {
				t.Fatal(err)
			}
			msg := message.Parse([]byte("From: alice@example.org\r\nTo: list@forwarder.example\r\nSubject: hi\r\nDate: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <a@example.org>\r\n\r\nhello\r\n"))
			for hop := 1; hop <= 2; hop++ {
				tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), MailFrom: "alice@example.org", Message: msg}
				v := eng.Scan(context.Background(), tx)
				if len(v.AddHeaders) < 3 || v.AddHeaders[0].Name != arc.SealField {
					t.Fatalf("hop %d: headers %+v", hop, v.AddHeaders)
				}
				msg = sealedMessage(msg, v.AddHeaders[:3])
				got := arc.Validate(context.Background(), res, msg)
				if got.Status != arc.Pass || len(got.Sets) != hop {
					t.Fatalf("hop %d: chain %s with %d sets (%s)", hop, got.Status, len(got.Sets), got.Reason)
				}
				if !strings.Contains(v.AddHeaders[2].Value, "mx.forwarder.example") {
					t.Errorf("AAR lacks our authserv-id: %s", v.AddHeaders[2].Value)
				}
			}
			// A message that is not delivered is not sealed.
			tx := &engine.Transaction{ClientIP: netip.MustParseAddr("192.0.2.1"), Message: msg}
			v := &engine.Verdict{Action: engine.Reject}
			if err := sealer.Finish(context.Background(), tx, nil, v); err != nil || len(v.AddHeaders) != 0 {
				t.Fatalf("rejected message sealed: %+v %v", v.AddHeaders, err)
			}
		})
	}
}

func TestARCSealConfig(t *testing.T) {
	if _, err := NewARCSeal(ARCSealConfig{Seal: true, Domain: "x.example"}, "mx", nil); err == nil {
		t.Fatal("seal without selector and key accepted")
	}
	c := ARCSealConfig{}
	if err := c.Validate(); err != nil {
		t.Fatalf("sealing off must need nothing: %v", err)
	}
}

// sealedMessage returns msg with the fields prepended, as the next hop
// sees it (for tests).
func sealedMessage(msg *message.Message, hs []engine.Header) *message.Message {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.Write(msg.Raw)
	return message.Parse([]byte(b.String()))
}
