package dkim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

// Sign a message with an ed25519 key and verify it against the published
// key record.
func ExampleSign() {
	seed := make([]byte, ed25519.SeedSize) // use a real secret key
	key := ed25519.NewKeyFromSeed(seed)
	raw := "From: joe@example.com\r\nTo: ann@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	value, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{
		Domain: "example.com", Selector: "ed1", Signer: key,
	})
	if err != nil {
		panic(err)
	}
	signed := "DKIM-Signature: " + value + "\r\n" + raw

	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	r := &dnstest.Mock{TXT: map[string][]string{"ed1._domainkey.example.com": {record}}}
	for _, res := range dkim.Verify(context.Background(), r, message.Parse([]byte(signed)), nil) {
		fmt.Println(res.Status, res.Domain, res.Selector, res.Algorithm, res.KeyBits)
	}
	// Output: pass example.com ed1 ed25519-sha256 256
}

// Inspect a published key record, as a set-up check would.
func ExampleParseKey() {
	k, err := dkim.ParseKey("v=DKIM1; k=ed25519; t=y; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	if err != nil {
		panic(err)
	}
	fmt.Println(k.KeyType, k.Bits, "testing:", k.Testing)
	// Output: ed25519 256 testing: true
}
