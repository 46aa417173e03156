// Package mailgen generates synthetic spam and ham messages for tests,
// benchmarks and the Bayes learning curve: deterministic for a seed, with
// vocabularies that overlap (both classes share common English words and
// some of each other's topics), so that a classifier has to learn rather
// than look up one word. Real corpora are better; this one is free of
// copyright and privacy questions and as large as wanted.
package mailgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

var common = strings.Fields(`the a to of and in is it you that for on with this be are
	at as your have or we will from by not can all our one more about an if has
	what there when which out up so time new just like been would they other some`)

var spamWords = strings.Fields(`free offer money cash win winner prize claim guaranteed
	limited urgent act now click here unsubscribe viagra cialis pharmacy pills
	discount cheap lowest price save deal order today bonus credit loan mortgage
	refinance debt investment profit income earn opportunity million dollars
	bitcoin crypto wallet account verify suspended password security alert login
	casino bet lottery jackpot exclusive special promotion risk satisfaction
	weight loss diet miracle cure doctor approved replica watches luxury brand
	congratulations selected beneficiary inheritance transfer bank details`)

var hamWords = strings.Fields(`meeting agenda project report review draft attached
	thanks regards team schedule tomorrow monday friday lunch conference call notes
	minutes proposal budget quarter deadline feedback question answer patch commit
	release branch merge build test server config deploy ticket issue bug fix
	family weekend dinner birthday photos trip holiday kids school garden book
	library paper research data analysis results figure table chapter thesis
	invoice receipt payment order shipping delivery account statement appointment`)

var spamHosts = []string{"cheap-meds.example", "win-big.example", "secure-login.example", "bit.example", "promo-mail.example"}
var hamHosts = []string{"github.com", "example.org", "lists.debian.org", "docs.example.net", "wikipedia.org"}
var spamMailers = []string{"", "Microsoft Outlook Express 6.00", "The Bat! (v3.5)"}
var hamMailers = []string{"Mozilla Thunderbird", "Mutt/2.2.9", "Apple Mail (2.3654)", ""}

// Gen makes messages.
type Gen struct {
	r *rand.Rand
	n int
}

// New returns a generator for seed.
func New(seed uint64) *Gen { return &Gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed))} }

// Spam returns a spam message of about size bytes of body text.
func (g *Gen) Spam(size int) []byte { return g.msg(true, size) }

// Ham returns a ham message of about size bytes of body text.
func (g *Gen) Ham(size int) []byte { return g.msg(false, size) }

func (g *Gen) pick(ws []string) string { return ws[g.r.IntN(len(ws))] }

func (g *Gen) text(spam bool, size int) string {
	var b strings.Builder
	own, other := spamWords, hamWords
	if !spam {
		own, other = hamWords, spamWords
	}
	line := 0
	for b.Len() < size {
		var w string
		switch x := g.r.IntN(100); {
		case x < 45:
			w = g.pick(common)
		case x < 85:
			w = g.pick(own)
		case x < 97:
			w = g.pick(other)
		default:
			w = fmt.Sprint(g.r.IntN(1000))
		}
		b.WriteString(w)
		line += len(w) + 1
		if line > 70 {
			b.WriteString("\r\n")
			line = 0
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func (g *Gen) msg(spam bool, size int) []byte {
	g.n++
	var b strings.Builder
	from, mailer, hosts := "colleague@example.org", g.pick(hamMailers), hamHosts
	subject := g.text(false, 30)
	if spam {
		from, mailer, hosts = fmt.Sprintf("offers%d@promo%d.example", g.r.IntN(50), g.r.IntN(20)), g.pick(spamMailers), spamHosts
		subject = g.text(true, 30)
	}
	subject = strings.ReplaceAll(subject, "\r\n", " ")
	fmt.Fprintf(&b, "From: %s\r\nTo: user@example.net\r\nSubject: %s\r\n", from, strings.TrimSpace(subject))
	fmt.Fprintf(&b, "Message-ID: <%d.%d@%s>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n", g.n, g.r.Uint32(), strings.SplitN(from, "@", 2)[1])
	if mailer != "" {
		fmt.Fprintf(&b, "X-Mailer: %s\r\n", mailer)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(g.text(spam, size))
	fmt.Fprintf(&b, "\r\nhttps://%s/%d\r\n", g.pick(hosts), g.r.IntN(10000))
	return []byte(b.String())
}
