package arc_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/hamlet-mail/hamlet/arc"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/message"
)

// A mailing list validates the incoming chain, then seals the message with
// its own results; the next hop validates the chain.
func ExampleSeal() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // use a real secret key
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	r := &dnstest.Mock{TXT: map[string][]string{"arc._domainkey.lists.example.org": {record}}}

	raw := "From: jqd@d1.example\r\nTo: list@lists.example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	msg := message.Parse([]byte(raw))
	chain := arc.Validate(context.Background(), r, msg) // cv=none: no sets yet
	set, err := arc.Seal(msg, chain, "lists.example.org; spf=pass smtp.mailfrom=d1.example",
		arc.SealOptions{Domain: "lists.example.org", Selector: "arc", Signer: key})
	if err != nil {
		panic(err)
	}
	sealed := ""
	for _, f := range set.Fields() {
		sealed += f[0] + ": " + f[1] + "\r\n"
	}
	sealed += raw

	res := arc.Validate(context.Background(), r, message.Parse([]byte(sealed)))
	d, s := res.Sealer(1)
	fmt.Println(chain.Status, "->", res.Status, res.Instances(), d, s)
	// Output: none -> pass 1 lists.example.org arc
}
