package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

func writeFile(name, text string) error { return os.WriteFile(name, []byte(text), 0o600) }

// runDaemon writes conf to hamlet.toml in a temporary directory, runs a
// daemon from it and waits until it listens (a start-up error fails the
// test). The daemon stops when the test ends.
func runDaemon(t *testing.T, conf string) *Daemon {
	t.Helper()
	f := filepath.Join(t.TempDir(), "hamlet.toml")
	if err := writeFile(f, conf); err != nil {
		t.Fatal(err)
	}
	d, err := New(f, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	d.Ready = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-d.Ready:
	case err := <-done:
		t.Fatal(err)
	}
	return d
}

// bigmailSigner makes an Ed25519 key for bigmail.example (selector s),
// serves its DKIM key record (RFC 8463) on a loopback DNS server that
// closes when the test ends, and returns the server's address and a
// function that prepends a DKIM-Signature made with the key to raw.
func bigmailSigner(t *testing.T) (dnsAddr string, sign func(raw string) string) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv, err := dnstest.NewServer(`s._domainkey.bigmail.example. 300 IN TXT "v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(pub) + `"`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dnsSrv.Close)
	return dnsSrv.Addr(), func(raw string) string {
		t.Helper()
		sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: "bigmail.example", Selector: "s", Signer: key})
		if err != nil {
			t.Fatal(err)
		}
		return "DKIM-Signature: " + sig + "\r\n" + raw
	}
}
