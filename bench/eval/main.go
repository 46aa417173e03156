// Command eval measures how much spam hamlet acts on, and how much ham it
// touches, before and after the message checks of issue 11 (the content
// stage, the header checks, ClamAV), on two corpora:
//
//   - the SpamAssassin fixtures (../shared/corpus/spamassassin-testdata:
//     spam/ and sample-spam.txt are spam, nice/ and sample-nonspam.txt
//     ham), each received from a relay with a confirmed PTR, now: the
//     Date field of each is shifted by the time between its arrival (the
//     top Received date) and now, so that a scanner that judges the Date
//     against its own clock, as rspamd does, sees what it saw on arrival;
//   - a generated corpus: ham from a domain with valid SPF, DKIM and
//     DMARC, mixed with phishing, malware-like attachments and plain spam
//     sent from a snowshoe domain that also has valid SPF, DKIM and DMARC
//     and a confirmed PTR, so that only the message can give it away.
//
// "Acted on" is any action but "no action" (greylist, add header,
// rewrite subject, soft reject, reject). "Before" is the configuration
// with [content] and [headers] off and no [antivirus]; "after" has them
// on, with a real clamd (signature database written here: EICAR only)
// when clamd is installed. hamlet runs in this process; rspamd 3.4, the
// third column, is started on loopback (internal/rspamdtest; as root)
// with the same DNS server, clamd, messages and envelope (/checkv2
// headers IP, Helo, Hostname, From, Rcpt, Queue-Id). Nothing leaves the
// host: fixtures whose verdict needs live DNS or a network service are
// marked, and the fixture figures are given with and without them
// (marks.go).
//
//	go run ./bench/eval [-corpus DIR] [-n 40] [-v] [-rspamd ""]
//
// With -curve it prints the Bayes learning curve instead (curve.go):
//
//	go run ./bench/eval -curve [-curve-n 600]
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/dkim"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnstest"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/clamdtest"
	"github.com/hamlet-mail/hamlet/internal/rspamdtest"
	"github.com/hamlet-mail/hamlet/message"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

// sample is one message with its envelope and label.
type sample struct {
	name string
	spam bool
	kind string
	tx   engine.Transaction
	raw  []byte // the message as scanned (for rspamd)
}

const (
	hamIP   = "203.0.113.10" // mail.good.test
	spamIP  = "203.0.113.50" // mail.snowshoe.test
	relayIP = "203.0.113.90" // relay.corpus.example (the SpamAssassin fixtures)
	rcpt    = "user@eval.test"

	fixtures = "SpamAssassin fixtures"
)

func run() error {
	corpusDir := flag.String("corpus", defaultCorpus(), "SpamAssassin fixtures")
	n := flag.Int("n", 40, "generated messages of each kind")
	verbose := flag.Bool("v", false, "list every message on which hamlet (after) and rspamd differ, with both sides' actions and symbols")
	rspamdBin := flag.String("rspamd", rspamdtest.Bin, "rspamd 3.4 binary for the rspamd column (\"\": leave it out); needs root")
	curve := flag.Bool("curve", false, "print the Bayes learning curve (spam caught, ham hit against messages learned)")
	curveN := flag.Int("curve-n", 600, "generated messages of each class for the learning curve")
	flag.Parse()

	dir, err := os.MkdirTemp("", "hamlet-eval")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	goodKey, err := dkimkeys.Generate(dkimkeys.AlgEd25519, 0)
	if err != nil {
		return err
	}
	spamKey, err := dkimkeys.Generate(dkimkeys.AlgEd25519, 0)
	if err != nil {
		return err
	}
	goodRec, _ := dkimkeys.KeyRecord(goodKey.Public())
	spamRec, _ := dkimkeys.KeyRecord(spamKey.Public())
	zone := fmt.Sprintf(`$TTL 300
mail.good.test.   A   %[1]s
10.113.0.203.in-addr.arpa. PTR mail.good.test.
good.test.        TXT "v=spf1 ip4:%[1]s -all"
_dmarc.good.test. TXT "v=DMARC1; p=reject"
s1._domainkey.good.test. TXT "%[3]s"
mail.snowshoe.test. A %[2]s
50.113.0.203.in-addr.arpa. PTR mail.snowshoe.test.
snowshoe.test.    TXT "v=spf1 ip4:%[2]s -all"
_dmarc.snowshoe.test. TXT "v=DMARC1; p=reject"
s1._domainkey.snowshoe.test. TXT "%[4]s"
relay.corpus.example. A %[5]s
90.113.0.203.in-addr.arpa. PTR relay.corpus.example.
`, hamIP, spamIP, goodRec, spamRec, relayIP)
	srv, err := dnstest.NewServer(zone)
	if err != nil {
		return err
	}
	defer srv.Close()

	av, clamdSocket := "", ""
	if bin, err := exec.LookPath("clamd"); err == nil {
		c, err := clamdtest.Run(bin, filepath.Join(dir, "clamd"), false)
		if err != nil {
			return fmt.Errorf("clamd: %w", err)
		}
		defer c.Stop()
		av = "\n[antivirus]\nclamd = \"unix:" + c.Socket + "\"\n"
		clamdSocket = c.Socket
	} else {
		fmt.Println("clamd not installed: the after column runs without [antivirus]")
	}
	base := fmt.Sprintf("hostname = \"mx.eval.test\"\n[dns]\nservers = [%q]\ntimeout = \"500ms\"\n", srv.Addr())
	configs := []struct{ name, text string }{
		{"before", base + "[content]\nenabled = false\n[headers]\nenabled = false\n"},
		{"after", base + av},
	}

	sa, err := loadSpamAssassin(*corpusDir)
	if err != nil {
		return err
	}
	if *curve {
		return runCurve(dir, base+av, []curveCorpus{
			split(fixtures, sa, []int{0, 5, 10, 20}),
			split("generated (internal/mailgen)", generatedMail(*curveN), []int{0, 10, 25, 50, 100, 200}),
		})
	}
	gen := generate(*n, av != "", goodKey, spamKey)
	corpora := []corpus{{fixtures, sa}, {"generated (ham with SPF/DKIM/DMARC pass)", gen}}

	results := map[string]map[string][]outcome{}
	for _, cfg := range configs {
		eng, err := buildEngine(dir, cfg.text, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.name, err)
		}
		results[cfg.name] = map[string][]outcome{}
		for _, c := range corpora {
			for i := range c.samples {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				tx := c.samples[i].tx
				results[cfg.name][c.name] = append(results[cfg.name][c.name], hamletOutcome(eng.Scan(ctx, &tx)))
				cancel()
			}
		}
	}
	columns := []string{"before", "after"}
	if *rspamdBin != "" {
		if err := scanRspamd(*rspamdBin, dir, srv.Addr(), clamdSocket, corpora, results); err != nil {
			fmt.Printf("rspamd: %v — its column is left out\n", err)
		} else {
			columns = append(columns, "rspamd")
		}
	}
	report(os.Stdout, columns, corpora, results, *verbose)
	return nil
}

// defaultCorpus is where the tests find the shared corpus: $HAMLET_CORPUS,
// else $HAMLET_SHARED/corpus, else ../shared/corpus beside the checkout.
func defaultCorpus() string {
	if d := os.Getenv("HAMLET_CORPUS"); d != "" {
		return filepath.Join(d, "spamassassin-testdata")
	}
	if d := os.Getenv("HAMLET_SHARED"); d != "" {
		return filepath.Join(d, "corpus", "spamassassin-testdata")
	}
	return filepath.Join("..", "shared", "corpus", "spamassassin-testdata")
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func symbolList(v *engine.Verdict) string {
	var out []string
	for _, s := range v.Symbols {
		if s.Score != 0 {
			out = append(out, fmt.Sprintf("%s(%.1f)", s.Name, s.Score))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// buildEngine builds the engine of the configuration text, with the Bayes
// classifier cl when not nil (the learning curve).
func buildEngine(dir, text string, cl *bayes.Classifier) (*engine.Engine, error) {
	f := filepath.Join(dir, fmt.Sprintf("hamlet-%d.toml", time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		return nil, err
	}
	s, err := daemon.LoadSettings(f, daemon.Overrides{DataDir: dir})
	if err != nil {
		return nil, err
	}
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		return nil, err
	}
	return daemon.BuildEngine(s, daemon.Deps{Resolver: res, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Bayes: cl})
}

// loadSpamAssassin reads the fixtures, each as received from the corpus
// relay now with its Date shifted as if it arrived now (shiftDate), MAIL
// FROM its From address, RCPT TO its first To (or Cc) address that
// parses: as it was delivered.
func loadSpamAssassin(dir string) ([]sample, error) {
	var out []sample
	now := time.Now().Truncate(time.Second)
	add := func(path string, spam bool) error {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m := message.Parse(raw)
		from := ""
		if v, ok := m.First("From"); ok {
			if a, err := message.ParseAddressList(v); err == nil && len(a) > 0 {
				from = a[0].String()
			}
		}
		to := rcpt
	fields:
		for _, name := range []string{"To", "Cc"} {
			for _, f := range m.Get(name) {
				if a, err := message.ParseAddressList(f.Value()); err == nil && len(a) > 0 {
					to = a[0].String()
					break fields
				}
			}
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		kind := "ham"
		if spam {
			kind = "spam"
		}
		if at, ok := arrival(m); ok {
			raw = shiftDate(raw, now.Sub(at))
			m = message.Parse(raw)
		}
		out = append(out, sample{name: rel, spam: spam, kind: kind, raw: raw, tx: engine.Transaction{
			Time: now, ClientIP: netip.MustParseAddr(relayIP), ClientPTR: "relay.corpus.example", RDNS: engine.FCrDNSPass,
			Helo: "relay.corpus.example", MailFrom: from, Rcpts: []string{to}, Message: m,
		}})
		return nil
	}
	for _, sub := range []struct {
		dir  string
		spam bool
	}{{"spam", true}, {"nice", false}} {
		err := filepath.WalkDir(filepath.Join(dir, sub.dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return add(p, sub.spam)
		})
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		spam bool
	}{{"sample-spam.txt", true}, {"sample-nonspam.txt", false}} {
		if err := add(filepath.Join(dir, f.name), f.spam); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// arrival is the date of the topmost Received field, else the Date field;
// false when neither has a date.
func arrival(m *message.Message) (time.Time, bool) {
	if rs := m.Get("Received"); len(rs) > 0 {
		v := rs[0].Unfolded()
		if i := strings.LastIndexByte(v, ';'); i >= 0 {
			if t, err := message.ParseDate(strings.TrimSpace(v[i+1:])); err == nil {
				return t, true
			}
		}
	}
	if v, ok := m.First("Date"); ok {
		if t, err := message.ParseDate(v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// shiftDate returns raw with the value of its first Date field moved by d
// (RFC 5322 §3.3 date-time in the field's own zone), or raw unchanged when
// it has no Date field that parses. Only the Date moves: the Received
// dates stay as they were (neither scanner judges them against its clock).
func shiftDate(raw []byte, d time.Duration) []byte {
	for off := 0; off < len(raw); {
		end := bytes.IndexByte(raw[off:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += off + 1
		}
		line := raw[off:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return raw // end of the header
		}
		if len(line) > 5 && bytes.EqualFold(line[:5], []byte("date:")) {
			// The field runs on over folded lines.
			fend := end
			for fend < len(raw) && (raw[fend] == ' ' || raw[fend] == '\t') {
				n := bytes.IndexByte(raw[fend:], '\n')
				if n < 0 {
					fend = len(raw)
				} else {
					fend += n + 1
				}
			}
			value := string(raw[off+5 : fend])
			t, err := message.ParseDate(strings.TrimSpace(value))
			if err != nil {
				return raw
			}
			eol := "\n"
			if strings.HasSuffix(value, "\r\n") {
				eol = "\r\n"
			} else if !strings.HasSuffix(value, "\n") {
				eol = ""
			}
			out := append([]byte{}, raw[:off]...)
			out = append(out, line[:5]...)
			out = append(out, " "+t.Add(d).Format(time.RFC1123Z)+eol...)
			return append(out, raw[fend:]...)
		}
		off = end
	}
	return raw
}

// generate makes n messages of each kind: four kinds of ham from
// good.test, five kinds of spam from snowshoe.test (EICAR only with
// clamd). Every message is DKIM-signed by its domain and sent from the
// domain's SPF-authorised, PTR-confirmed server.
func generate(n int, withAV bool, goodKey, spamKey crypto.Signer) []sample {
	r := rand.New(rand.NewPCG(11, 2026))
	now := time.Now().UTC()
	var out []sample
	mk := func(kind string, spam bool, i int, from, mailFrom string, body func(id, date string) string) {
		id := fmt.Sprintf("<%s-%d@%s>", kind, i, domainOf(from))
		date := now.Add(-time.Duration(r.IntN(600)) * time.Second).Format(time.RFC1123Z)
		raw := body(id, date)
		raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
		d, key, ip, host := "good.test", goodKey, hamIP, "mail.good.test"
		if spam {
			d, key, ip, host = "snowshoe.test", spamKey, spamIP, "mail.snowshoe.test"
		}
		sig, err := dkim.Sign(message.Parse([]byte(raw)), dkim.SignOptions{Domain: d, Selector: "s1", Signer: key})
		if err != nil {
			panic(err)
		}
		raw = "DKIM-Signature:" + sig + "\r\n" + raw
		rcvd := fmt.Sprintf("Received: from %s (%s [%s]) by mx.eval.test; %s\r\n", host, host, ip, now.Format(time.RFC1123Z))
		full := []byte(rcvd + raw)
		out = append(out, sample{name: fmt.Sprintf("%s-%d", kind, i), spam: spam, kind: kind, raw: full, tx: engine.Transaction{
			ClientIP: netip.MustParseAddr(ip), ClientPTR: host, RDNS: engine.FCrDNSPass, Helo: host,
			MailFrom: mailFrom, Rcpts: []string{rcpt}, Message: message.Parse(full),
		}})
	}
	people := []string{"Alice Martin", "Bruno Keller", "Chiara Rossi", "Dmitri Ivanov", "Emma Dubois"}
	topics := []string{"the quarterly figures", "Saturday's match", "the new printer", "our trip to Lyon", "the school meeting"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n2 0 obj\n<</Type/Pages/Kids[]/Count 0>>\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n"))
	for i := 0; i < n; i++ {
		p, t := pick(people), pick(topics)
		user := strings.ToLower(strings.Fields(p)[0])
		mk("ham-personal", false, i, user+"@good.test", user+"@good.test", func(id, date string) string {
			return fmt.Sprintf("From: %s <%s@good.test>\nTo: User <%s>\nSubject: About %s\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello,\n\nhere is what I think about %s: let us talk on Monday.\n\nBest,\n%s\n",
				p, user, rcpt, t, date, id, t, p)
		})
		mk("ham-newsletter", false, i, "news@good.test", fmt.Sprintf("bounce-%d-user=eval.test@good.test", i), func(id, date string) string {
			return fmt.Sprintf("From: Good News <news@good.test>\nTo: %s\nSubject: Good News, issue %d\nDate: %s\nMessage-ID: %s\nList-Id: Good News <news.good.test>\nList-Unsubscribe: <https://good.test/unsubscribe?u=%d>\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\nContent-Type: text/plain; charset=utf-8\n\nThis month: %s. Read more at https://good.test/news/%d\n--alt\nContent-Type: text/html; charset=utf-8\n\n<html><body><h1>Good News</h1><p>This month: %s.</p><p><a href=\"https://good.test/news/%d\">Read more</a></p><p><a href=\"https://good.test/unsubscribe?u=%d\">Unsubscribe</a></p></body></html>\n--alt--\n",
				rcpt, i, date, id, i, t, i, t, i, i)
		})
		mk("ham-attachment", false, i, user+"@good.test", user+"@good.test", func(id, date string) string {
			return fmt.Sprintf("From: %s <%s@good.test>\nTo: %s\nSubject: Report on %s\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain; charset=utf-8\n\nThe report is attached.\n--mix\nContent-Type: application/pdf; name=\"report-%d.pdf\"\nContent-Disposition: attachment; filename=\"report-%d.pdf\"\nContent-Transfer-Encoding: base64\n\n%s\n--mix--\n",
				p, user, rcpt, t, date, id, i, i, pdf)
		})
		mk("ham-reply", false, i, user+"@good.test", user+"@good.test", func(id, date string) string {
			return fmt.Sprintf("From: %s <%s@good.test>\nTo: %s\nSubject: Re: %s\nIn-Reply-To: <orig-%d@eval.test>\nReferences: <orig-%d@eval.test>\nReply-To: %s <%s@good.test>\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nYes, d=C3=A9j=C3=A0 vu.\n\n> what about %s?\n",
				p, user, rcpt, t, i, i, p, user, date, id, t)
		})

		mk("spam-phishing", true, i, "security@snowshoe.test", "security@snowshoe.test", func(id, date string) string {
			return fmt.Sprintf("From: Your Bank Security <security@snowshoe.test>\nTo: %s\nReply-To: bank.support.%d@gmail.com\nSubject: Action required: your account is suspended\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>Dear customer,</p><p>we noticed unusual activity. Confirm your identity within 24 hours:</p><p><a href=\"http://203.0.113.77/secure/login.php?id=%d\">https://www.yourbank.example/login</a></p></body></html>\n",
				rcpt, i, date, id, i)
		})
		mk("spam-malware-zip", true, i, "billing@snowshoe.test", "billing@snowshoe.test", func(id, date string) string {
			return fmt.Sprintf("From: Billing <billing@snowshoe.test>\nTo: %s\nSubject: Invoice %d overdue\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain; charset=utf-8\n\nPlease find the invoice attached.\n--mix\nContent-Type: application/zip; name=\"invoice-%d.zip\"\nContent-Disposition: attachment; filename=\"invoice-%d.zip\"\nContent-Transfer-Encoding: base64\n\n%s\n--mix--\n",
				rcpt, 4000+i, date, id, i, i, zipWith(fmt.Sprintf("invoice-%d.pdf.exe", i), []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffPE-like payload")))
		})
		mk("spam-script", true, i, "dhl@snowshoe.test", "dhl@snowshoe.test", func(id, date string) string {
			return fmt.Sprintf("From: Parcel Service <dhl@snowshoe.test>\nTo: %s\nSubject: Your parcel could not be delivered\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain; charset=utf-8\n\nOpen the attached label to reschedule.\n--mix\nContent-Type: application/octet-stream; name=\"label-%d.js\"\nContent-Disposition: attachment; filename=\"label-%d.js\"\nContent-Transfer-Encoding: base64\n\n%s\n--mix--\n",
				rcpt, date, id, i, i, base64.StdEncoding.EncodeToString([]byte("var s=new ActiveXObject('WScript.Shell');s.Run('cmd /c calc');")))
		})
		mk("spam-plain", true, i, "winner@snowshoe.test", "winner@snowshoe.test", func(id, date string) string {
			return fmt.Sprintf("From: Dr. James Morgan <winner@snowshoe.test>\nTo: undisclosed-recipients:;\nReply-To: claims.office.%d@yahoo.co.uk\nSubject: YOU HAVE WON 2.500.000 EURO CLAIM NOW\nDate: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nCONGRATULATIONS! Your e-mail address won our international lottery.\nTo claim, send your name, address and bank details to the claims office.\n",
				i, date)
		})
		if withAV {
			mk("spam-virus", true, i, "scan@snowshoe.test", "scan@snowshoe.test", func(id, date string) string {
				return fmt.Sprintf("From: Scanner <scan@snowshoe.test>\nTo: %s\nSubject: Scanned document %d\nDate: %s\nMessage-ID: %s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain; charset=utf-8\n\nScanned document attached.\n--mix\nContent-Type: application/octet-stream; name=\"scan-%d.com\"\nContent-Disposition: attachment; filename=\"scan-%d.com\"\nContent-Transfer-Encoding: base64\n\n%s\n--mix--\n",
					rcpt, i, date, id, i, i, base64.StdEncoding.EncodeToString([]byte(clamdtest.EICAR)))
			})
		}
	}
	return out
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// zipWith returns, in base64, a zip archive holding one file.
func zipWith(name string, data []byte) string {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create(name)
	w.Write(data)
	z.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}
