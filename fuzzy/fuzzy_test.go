package fuzzy

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/internal/sharedtest"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/redis"
	"github.com/hamlet-mail/hamlet/store/redis/redistest"
)

// stores opens, for a subtest, an empty embedded store or an empty Redis
// store (a prefix of its own on one server; without redis-server the
// Redis subtest skips, or fails under CI=true).
func stores(t testing.TB) map[string]func(t testing.TB) store.Fuzzy {
	t.Helper()
	srv := redistest.Shared(t)
	var n atomic.Int64
	return map[string]func(t testing.TB) store.Fuzzy{
		"bolt": func(t testing.TB) store.Fuzzy {
			b, err := bolt.Open(t.TempDir(), store.Options{SweepInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
		"redis": func(t testing.TB) store.Fuzzy {
			r, err := redis.Open(srv(t).URL(0, fmt.Sprintf("f%d:", n.Add(1))), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
	}
}

func ctxT(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func hashes(raw string) []Hash {
	return FromContent(content.Parse(message.Parse([]byte(raw)), content.Limits{}), DefaultConfig().Limits())
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Hello, World!", "hello world"},
		{"Café crème BRÛLÉE", "cafe creme brulee"},
		{"Order #12345 costs $99.95 on 2026-12-03", "order # costs # on #"},
		{"a I x yes", "yes"},
		{"ID4you and abc123", "# and #"},
		{"Straße ÆØÅ", "straße æøa"},
		{"日本語 テキスト", "日本語 テキスト"},
		{"  \t\n", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Words(tt.in, 100), " "); got != tt.want {
			t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Words(strings.Repeat("word ", 50), 10); len(got) != 10 {
		t.Errorf("limit 10: %d words", len(got))
	}
}

func TestShingles(t *testing.T) {
	if Shingles([]string{"two", "words"}) != nil {
		t.Error("shingles of two words")
	}
	w := Words(strings.Repeat("the quick brown fox jumps over the lazy dog ", 3), 100)
	a, b := Shingles(w), Shingles(slices.Clone(w))
	if len(a) != store.FuzzyShingles || !slices.Equal(a, b) {
		t.Fatalf("shingles not deterministic or wrong length: %d", len(a))
	}
	// The same trigram set (a text repeated) gives the same shingles.
	if c := Shingles(w[:9+2]); !slices.Equal(a, c) {
		t.Error("repeating a text changed its shingles")
	}
	// Golden values: stored hashes must keep matching across versions
	// and hosts, so the hash functions may never change by accident.
	got := fmt.Sprintf("%016x %016x", a[0], a[31])
	if want := "0008b1037a12ce01 02c04dabb0f94cd4"; got != want {
		t.Errorf("shingles 0 and 31 = %s, want %s", got, want)
	}
	if d := hashes(msg("x@example.com", strings.Repeat("the quick brown fox jumps over the lazy dog ", 3)))[0].Digest; d != "78acbb3ea8464107afb8e885a45d45e7" {
		t.Errorf("text digest = %s", d)
	}
}

func msg(to, body string) string {
	return "From: Promo <promo@win-big.example>\r\nTo: " + to + "\r\nSubject: offer\r\nMessage-ID: <" + to + "@x>\r\n\r\n" + body
}

const spamText = `Dear %s,

Congratulations! Your email address has been selected in our annual international
lottery programme and you have won the sum of %s US dollars. To claim your prize
please contact our claims agent with your full name, address, telephone number and
the reference number %s. You must claim before the end of this month or the prize
will be returned to the treasury. Keep this notice confidential until your claim has
been processed, as part of our security protocol against double claiming.

Yours faithfully,
Mrs. Maria Lopez, Promotions Manager`

const hamText = `Hi all,

the meeting about the new build server moves to Thursday at ten. Please bring the
figures from last quarter and your notes on the deploy problems we had with the
release branch. Lunch is ordered for twelve people; tell me by Wednesday if you
cannot come, so that I can change the order. The agenda is attached to the ticket.

Thanks, Bob`

func TestNearDuplicates(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			d := New(st, DefaultConfig(), nil)
			learned := hashes(msg("alice@example.org", fmt.Sprintf(spamText, "Alice", "1,500,000", "WIN/7781/26")))
			if len(learned) != 1 || learned[0].Kind != KindText || len(learned[0].Shingles) != 32 {
				t.Fatalf("hashes of the spam: %+v", learned)
			}
			if err := d.LearnSpam(ctxT(t), learned); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name  string
				raw   string
				match bool
			}{
				{"the same", msg("alice@example.org", fmt.Sprintf(spamText, "Alice", "1,500,000", "WIN/7781/26")), true},
				{"another recipient, sum and reference", msg("bob@example.net", fmt.Sprintf(spamText, "Robert", "2,250,000", "WIN/0413/26")), true},
				{"a few words changed", msg("carol@example.com", strings.NewReplacer("annual", "yearly", "treasury", "government",
					"confidential", "secret", "Manager", "Director").Replace(fmt.Sprintf(spamText, "Carol", "900,000", "X-1"))), true},
				{"as HTML", "From: p@win-big.example\r\nTo: d@example.org\r\nSubject: offer\r\nContent-Type: text/html\r\n\r\n<html><body><p>" +
					strings.ReplaceAll(fmt.Sprintf(spamText, "Dave", "1,000,000", "Z-9"), "\n\n", "</p><p>") + "</p></body></html>", true},
				{"half rewritten", msg("erin@example.org", fmt.Sprintf(spamText, "Erin", "1", "2")[:400]+" "+hamText), false},
				{"unrelated ham", msg("bob@example.net", hamText), false},
			}
			for _, c := range cases {
				ms, err := d.Check(ctxT(t), hashes(c.raw))
				if err != nil {
					t.Fatal(err)
				}
				if got := len(ms) > 0; got != c.match {
					t.Errorf("%s: matched=%v (%+v), want %v", c.name, got, ms, c.match)
					continue
				}
				if c.match {
					m := ms[0]
					if m.Flag != FlagDenied || m.FuzzyEntry.Digest != learned[0].Digest || m.Share <= 0.5 || m.Value != 5 {
						t.Errorf("%s: match %+v", c.name, m)
					}
					t.Logf("%s: share %.2f, multiplier %.3f", c.name, m.Share, m.Multiplier())
				}
			}
			// learn_ham of a near-duplicate removes the denied hash.
			n, err := d.LearnHam(ctxT(t), hashes(cases[1].raw))
			if err != nil || n != 1 {
				t.Fatalf("LearnHam = %d, %v; want 1 removed", n, err)
			}
			if ms, _ := d.Check(ctxT(t), learned); len(ms) != 0 {
				t.Errorf("after learn_ham the spam still matches: %+v", ms)
			}
		})
	}
}

// mutate replaces k words of w at random positions.
func mutate(r *rand.Rand, w []string, k int) []string {
	w = slices.Clone(w)
	for range k {
		w[r.IntN(len(w))] = fmt.Sprintf("changed%c", 'a'+r.IntN(26))
	}
	return w
}

func textHash(w []string) Hash {
	return Hash{Kind: KindText, Digest: digest(KindText, []byte(strings.Join(w, " "))), Shingles: Shingles(w), Words: len(w)}
}

// TestCorpus learns the SpamAssassin spam samples, then checks copies of
// them with a few words changed (all must match) and the ham samples
// (none may match).
func TestCorpus(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus/spamassassin-testdata")
	read := func(sub string) [][]string {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no files in %s: %v", sub, err)
		}
		var out [][]string
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.IsDir() {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := content.Parse(message.Parse(raw), content.Limits{})
			for _, tx := range c.Texts {
				if w := Words(tx.Text, MaxWords); len(w) >= 40 {
					out = append(out, w)
				}
			}
		}
		return out
	}
	spam, ham := read("spam"), read("nice")
	// The SPF fixtures carry one body (a Plesk press release) in both
	// directories, with a few lines more or less: near-duplicates of
	// learned spam that must match, as every copy of spam would.
	var copies [][]string
	ham = slices.DeleteFunc(ham, func(w []string) bool {
		if strings.HasPrefix(strings.Join(w, " "), "swsoft unveils plesk") {
			copies = append(copies, w)
			return true
		}
		return false
	})
	if len(copies) == 0 {
		t.Fatal("the SPF fixtures' common body was not found in nice/")
	}
	st := stores(t)["bolt"](t)
	d := New(st, DefaultConfig(), nil)
	var learned []Hash
	for _, w := range spam {
		learned = append(learned, textHash(w))
	}
	if err := d.LearnSpam(ctxT(t), learned); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	minShare := 1.0
	for i, w := range spam {
		// 3 words changed, at most 1 word in 33.
		k := min(3, len(w)/33)
		m := mutate(r, w, k)
		ms, err := d.Check(ctxT(t), []Hash{textHash(m)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 {
			t.Errorf("spam text %d (%d words, %d changed, trigram similarity %.2f) does not match", i, len(w), k, jaccard(w, m))
			continue
		}
		minShare = min(minShare, ms[0].Share)
	}
	falsePos := 0
	for i, w := range ham {
		ms, err := d.Check(ctxT(t), []Hash{textHash(w)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 0 {
			falsePos++
			t.Errorf("ham text %d matches learned spam: %+v", i, ms)
		}
	}
	for i, w := range copies {
		if ms, err := d.Check(ctxT(t), []Hash{textHash(w)}); err != nil || len(ms) != 1 {
			t.Errorf("copy %d of the SPF fixtures' body (%d words) in nice/: %d matches, %v; want 1", i, len(w), len(ms), err)
		}
	}
	t.Logf("%d copies in nice/ of a body in spam/ matched", len(copies))
	t.Logf("%d spam texts learned, %d changed copies matched (lowest share %.2f); %d ham texts, %d matched", len(spam), len(spam), minShare, len(ham), falsePos)
}

func TestAttachments(t *testing.T) {
	st := stores(t)["bolt"](t)
	d := New(st, DefaultConfig(), nil)
	pdf := "%PDF-1.4\n" + strings.Repeat("stream of an invoice that is malware 0123456789\n", 60)
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00IDAT pixels", 200)
	mk := func(text, name, ctype, body string) string {
		return "From: a@example.com\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
			"--B\r\nContent-Type: text/plain\r\n\r\n" + text + "\r\n--B\r\nContent-Type: " + ctype + "; name=" + name +
			"\r\nContent-Disposition: attachment; filename=" + name + "\r\n\r\n" + body + "\r\n--B--\r\n"
	}
	hs := hashes(mk("short", "invoice.pdf", "application/pdf", pdf))
	if len(hs) != 1 || hs[0].Kind != KindBinary || hs[0].Shingles != nil {
		t.Fatalf("hashes: %+v, want one bin digest (the text is too short)", hs)
	}
	if err := d.LearnSpam(ctxT(t), hs); err != nil {
		t.Fatal(err)
	}
	ms, err := d.Check(ctxT(t), hashes(mk("other words", "rechnung.pdf", "application/octet-stream", pdf)))
	if err != nil || len(ms) != 1 || ms[0].Share != 1 || ms[0].Kind != KindBinary {
		t.Fatalf("same attachment, other name: %+v, %v", ms, err)
	}
	if ms, _ := d.Check(ctxT(t), hashes(mk("short", "invoice.pdf", "application/pdf", pdf+"x"))); len(ms) != 0 {
		t.Errorf("one byte more still matches: %+v (attachments match by digest only)", ms)
	}
	if hs := hashes(mk("x", "logo.png", "image/png", png)); len(hs) != 1 || hs[0].Kind != KindImage {
		t.Errorf("image: %+v", hs)
	}
	if hs := hashes(mk("x", "small.pdf", "application/pdf", "%PDF-1.4\ntiny")); len(hs) != 0 {
		t.Errorf("attachment under min_bytes hashed: %+v", hs)
	}
	lim := DefaultConfig().Limits()
	lim.SkipImages = true
	if hs := FromContent(content.Parse(message.Parse([]byte(mk("x", "logo.png", "image/png", png))), content.Limits{}), lim); len(hs) != 0 {
		t.Errorf("SkipImages: %+v", hs)
	}
}

func TestMultiplier(t *testing.T) {
	// rspamd (fuzzy_check.c, fuzzy_insert_result): weight × √share ×
	// tanh(e × value / max_score) for a text.
	tests := []struct {
		flag  uint32
		value int64
		share float64
		want  float64
	}{
		{FlagDenied, 1, 1, math.Tanh(math.E / 20)},
		{FlagDenied, 5, 1, 0.5915},
		{FlagDenied, 5, 0.75, 0.8660 * 0.5915},
		{FlagDenied, 5, 0.5625, 0.75 * 0.5915},
		{FlagDenied, 100, 1, 1},
		{FlagProb, 10, 1, math.Tanh(math.E)},
		{FlagWhite, 1, 1, math.Tanh(math.E / 2)},
		{7, 1, 1, 0},
	}
	for _, tt := range tests {
		m := Match{FuzzyEntry: store.FuzzyEntry{Flag: tt.flag, Value: tt.value}, Share: tt.share}
		if got := m.Multiplier(); math.Abs(got-tt.want) > 1e-3 {
			t.Errorf("flag %d value %d share %.2f: %.4f, want %.4f", tt.flag, tt.value, tt.share, got, tt.want)
		}
	}
	m := Match{Hash: Hash{Kind: KindText}, FuzzyEntry: store.FuzzyEntry{Digest: strings.Repeat("ab", 16), Flag: 1}, Share: 0.9375}
	if got := m.Option(); got != "1:abababababababababababababababab:0.94:txt" {
		t.Errorf("option %q", got)
	}
}

func TestExpiry(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			cfg := DefaultConfig()
			d := New(st, cfg, nil)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d.now = func() time.Time { return now }
			d.expireAt = now.Add(100 * cfg.Expire.D()) // no background run
			hs := hashes(msg("a@example.org", fmt.Sprintf(spamText, "A", "1", "2")))
			if err := d.LearnSpam(ctxT(t), hs); err != nil {
				t.Fatal(err)
			}
			now = now.Add(cfg.Expire.D() - time.Hour)
			if ms, _ := d.Check(ctxT(t), hs); len(ms) != 1 {
				t.Fatalf("before expiry: %d matches", len(ms))
			}
			now = now.Add(2 * time.Hour)
			if ms, _ := d.Check(ctxT(t), hs); len(ms) != 0 {
				t.Fatalf("after expiry: %+v", ms)
			}
			if n, err := d.Expire(ctxT(t)); err != nil || n != 1 {
				t.Fatalf("Expire = %d, %v", n, err)
			}
			if st, _ := d.Stats(ctxT(t)); st.Hashes != 0 {
				t.Errorf("%d hashes left", st.Hashes)
			}
		})
	}
}

// TestExpiryWithoutAdds: hashes whose expiry passed are removed although
// nothing is added any more: a read (Check, Empty, Stats) starts the
// expiry run at most once per expireEvery.
func TestExpiryWithoutAdds(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			cfg := DefaultConfig()
			d := New(st, cfg, nil)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d.now = func() time.Time { return now }
			old := hashes(msg("a@example.org", fmt.Sprintf(spamText, "A", "1", "2")))
			if err := d.LearnSpam(ctxT(t), old); err != nil {
				t.Fatal(err)
			}
			now = now.Add(cfg.Expire.D() / 2)
			fresh := hashes(msg("b@example.org", "Our warehouse clearance continues this weekend with garden furniture, barbecue\n"+
				"equipment and outdoor lighting reduced for collection from every regional store;\n"+
				"bring the printed voucher attached to this newsletter to the customer service desk.\n"))
			if err := d.LearnSpam(ctxT(t), fresh); err != nil {
				t.Fatal(err)
			}
			d.expiring.Wait()
			count := func() int64 {
				t.Helper()
				s, err := st.FuzzyStats(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				return s.Hashes
			}
			both := count()
			if both < 2 {
				t.Fatalf("%d hashes stored", both)
			}
			for i, read := range []func(){
				func() { d.Check(ctxT(t), fresh) },
				func() { d.Empty(ctxT(t)) },
				func() { d.Stats(ctxT(t)) },
			} {
				// The old hashes' expiry passes; the fresh ones stay.
				now = now.Add(cfg.Expire.D()/2 + time.Hour)
				if i == 0 {
					if n := count(); n != both {
						t.Fatalf("the clock alone removed hashes: %d of %d", n, both)
					}
				}
				read()
				d.expiring.Wait()
				if i == 0 {
					if n := count(); n >= both || n == 0 {
						t.Fatalf("after a read past the old hashes' expiry: %d of %d hashes", n, both)
					}
				}
				if i == 1 {
					// The fresh ones expired now too.
					if n := count(); n != 0 {
						t.Fatalf("read %d: %d hashes left", i, n)
					}
				}
			}
			// Within expireEvery of the last run, a read starts none.
			d.mu.Lock()
			next := d.expireAt
			d.mu.Unlock()
			now = now.Add(time.Minute)
			d.Stats(ctxT(t))
			d.mu.Lock()
			again := d.expireAt
			d.mu.Unlock()
			if !again.Equal(next) {
				t.Errorf("a read within expireEvery started a run (next %v, now %v)", next, again)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.LearnWeight = 0 },
		func(c *Config) { c.MinWords = 2 },
		func(c *Config) { c.MinBytes = 0 },
		func(c *Config) { c.Expire = 0 },
		func(c *Config) { c.MaxHashes = 10 },
	} {
		c := DefaultConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func FuzzWords(f *testing.F) {
	f.Add("Hello, wörld 123 日本 a-b")
	f.Add("\xff\xfe broken utf-8 \u0301\u0301")
	f.Fuzz(func(t *testing.T, s string) {
		w := Words(s, 50)
		if len(w) > 50 {
			t.Fatalf("%d words past the limit", len(w))
		}
		for _, x := range w {
			if x == "" {
				t.Fatal("empty word")
			}
		}
		if sh := Shingles(w); (len(w) >= Window) != (sh != nil) {
			t.Fatalf("%d words, shingles %v", len(w), sh != nil)
		}
		if w := Words(s, MaxWords); !slices.Equal(hashText(s).Shingles, Shingles(w)) || hashText(s).Digest != digest(KindText, []byte(strings.Join(w, " "))) {
			t.Fatalf("hashText(%q) differs from its definition", s)
		}
	})
}

// TestUnrelated learns generated spam and checks that other generated
// spam and ham, drawn from the same vocabularies, do not match.
func TestUnrelated(t *testing.T) {
	d := New(stores(t)["bolt"](t), DefaultConfig(), nil)
	g := mailgen.New(7)
	var learned []Hash
	for range 200 {
		learned = append(learned, hashes(string(g.Spam(1500)))...)
	}
	if len(learned) < 200 {
		t.Fatalf("%d hashes of 200 generated spam", len(learned))
	}
	if err := d.LearnSpam(ctxT(t), learned); err != nil {
		t.Fatal(err)
	}
	matched, checked := 0, 0
	for i := range 400 {
		raw := g.Ham(1500)
		if i%2 == 0 {
			raw = g.Spam(1500)
		}
		hs := hashes(string(raw))
		checked += len(hs)
		ms, err := d.Check(ctxT(t), hs)
		if err != nil {
			t.Fatal(err)
		}
		matched += len(ms)
	}
	if checked < 400 || matched != 0 {
		t.Errorf("%d of %d unrelated generated texts matched the 200 learned", matched, checked)
	}
	// The learned ones match themselves.
	if ms, _ := d.Check(ctxT(t), learned[:50]); len(ms) != 50 {
		t.Errorf("%d of 50 learned texts match", len(ms))
	}
}

// jaccard is the similarity of two texts' trigram sets, which the share
// of equal shingles estimates.
func jaccard(a, b []string) float64 {
	set := func(w []string) map[string]bool {
		m := map[string]bool{}
		for i := 2; i < len(w); i++ {
			m[w[i-2]+" "+w[i-1]+" "+w[i]] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	n := 0
	for k := range sa {
		if sb[k] {
			n++
		}
	}
	return float64(n) / float64(len(sa)+len(sb)-n)
}

func TestEmpty(t *testing.T) {
	d := New(stores(t)["bolt"](t), DefaultConfig(), nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	d.expireAt = now.Add(1000 * time.Hour)
	if e, err := d.Empty(ctxT(t)); err != nil || !e {
		t.Fatalf("new database: Empty = %v, %v", e, err)
	}
	hs := hashes(msg("a@example.org", fmt.Sprintf(spamText, "A", "1", "2")))
	if err := d.LearnSpam(ctxT(t), hs); err != nil {
		t.Fatal(err)
	}
	if e, _ := d.Empty(ctxT(t)); e {
		t.Error("Empty after an add (the cache must be dropped)")
	}
	// Another host's delete shows once the cached count is older than statsTTL.
	if _, err := d.st.FuzzyDelete(ctxT(t), hs[0].Digest); err != nil {
		t.Fatal(err)
	}
	if e, _ := d.Empty(ctxT(t)); e {
		t.Error("Empty within statsTTL of the count")
	}
	now = now.Add(statsTTL)
	if e, _ := d.Empty(ctxT(t)); !e {
		t.Error("not Empty after the delete and statsTTL")
	}
}

// TestHashTextSame: the one-pass hashText gives what its definition
// (Words, their digest joined by spaces, Shingles) gives, on the corpus
// and on odd text.
func TestHashTextSame(t *testing.T) {
	texts := []string{"", "one", "two words", "Café 12 34 crème brûlée ÆØÅ 日本語 テキスト a I x", strings.Repeat("the quick brown fox ", 50),
		"\xff\xfe broken \u0301 utf-8 " + strings.Repeat("#1 #2 word ", 10)}
	if dir, ok := os.LookupEnv("HAMLET_SHARED"); ok {
		files, _ := filepath.Glob(filepath.Join(dir, "corpus/spamassassin-testdata/*/*"))
		for _, f := range files {
			if raw, err := os.ReadFile(f); err == nil {
				for _, tx := range content.Parse(message.Parse(raw), content.Limits{}).Texts {
					texts = append(texts, tx.Text)
				}
			}
		}
	}
	for i, s := range texts {
		w := Words(s, MaxWords)
		want := Hash{Kind: KindText, Digest: digest(KindText, []byte(strings.Join(w, " "))), Shingles: Shingles(w), Words: len(w)}
		got := hashText(s)
		if got.Digest != want.Digest || !slices.Equal(got.Shingles, want.Shingles) || got.Words != want.Words || got.Kind != want.Kind {
			t.Errorf("text %d (%.30q): hashText %+v, want %+v", i, s, got, want)
		}
	}
	t.Logf("%d texts compared", len(texts))
}

// TestManyParts: a message of hundreds of parts gets at most MaxHashes
// hashes, each distinct.
func TestManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := range 300 {
		fmt.Fprintf(&b, "--B\r\nContent-Type: text/plain\r\n\r\npart %s of a message with very many parts, each of them long enough to be hashed alone here\r\n", strings.Repeat("again ", i%7+1)+fmt.Sprint(i))
		fmt.Fprintf(&b, "--B\r\nContent-Type: application/octet-stream\r\n\r\n%s\r\n", strings.Repeat(fmt.Sprintf("%04d", i), 300))
	}
	b.WriteString("--B--\r\n")
	hs := hashes(b.String())
	seen := map[string]bool{}
	for _, h := range hs {
		seen[h.Digest] = true
	}
	if len(hs) != MaxHashes || len(seen) != MaxHashes {
		t.Errorf("%d hashes (%d distinct), want %d", len(hs), len(seen), MaxHashes)
	}
}
