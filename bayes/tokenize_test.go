package bayes

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func body(s string) Input { return Input{Texts: []string{s}} }

func TestTokenizeNormalises(t *testing.T) {
	tests := []struct {
		name string
		a, b Input
		same bool
	}{
		{"case", body("FREE Money Now"), body("free money now"), true},
		{"accents", body("Café crème"), body("cafe creme"), true},
		{"punctuation and space", body("free,   money!!! now?"), body("free money now"), true},
		{"long numbers by length", body("call 55512345 now"), body("call 99987654 now"), true},
		{"short numbers kept", body("win 100 now"), body("win 900 now"), false},
		{"word order (bigrams)", body("money free now"), body("free money now"), false},
		{"subject and body differ", Input{Subject: "free money"}, body("free money"), false},
		{"one-letter words are dropped", body("a free b money"), body("free money"), true},
		{"apostrophe joins", body("don't"), body("dont"), true},
		{"typographic apostrophe", body("don't stop"), body("don’t stop"), true},
		{"hyphen joins", body("e-mail"), body("email"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ta, tb := Tokenize(tc.a), Tokenize(tc.b)
			if len(ta) == 0 || len(tb) == 0 {
				t.Fatalf("no tokens: %d, %d", len(ta), len(tb))
			}
			if got := slices.Equal(ta, tb); got != tc.same {
				t.Errorf("same tokens = %v, want %v (%d vs %d tokens)", got, tc.same, len(ta), len(tb))
			}
		})
	}
}

func TestTokenizeOSB(t *testing.T) {
	// Six distinct words: 6 unigrams and, with a window of 5, pairs at
	// distances 1..4: 1+2+3+4+4 = 14.
	if n := len(Tokenize(body("alpha bravo charlie delta echo foxtrot"))); n != 20 {
		t.Errorf("6 words: %d tokens, want 20", n)
	}
	// The distance is part of a pair: "x y z" pairs (x,z) at distance 2,
	// "x z" at distance 1.
	a, b := Tokenize(body("xray yankee zulu")), Tokenize(body("xray zulu"))
	shared := 0
	for _, t := range b {
		if _, ok := slices.BinarySearch(a, t); ok {
			shared++
		}
	}
	if shared != 2 { // the two unigrams only
		t.Errorf("x z shares %d tokens with x y z, want 2 (unigrams)", shared)
	}
	// Words more than Window-1 apart do not pair.
	far := Tokenize(body("alpha b1 b2 b3 b4 bravo"))
	near := Tokenize(body("alpha bravo"))
	pair := 0
	for _, t := range near {
		if _, ok := slices.BinarySearch(far, t); ok {
			pair++
		}
	}
	if pair != 2 {
		t.Errorf("alpha … bravo 5 apart share %d tokens with alpha bravo, want 2", pair)
	}
	// Sorted and distinct.
	toks := Tokenize(body(strings.Repeat("spam spam eggs ", 50)))
	if !slices.IsSorted(toks) || len(slices.Compact(slices.Clone(toks))) != len(toks) {
		t.Error("tokens not sorted and distinct")
	}
}

func TestTokenizeBounds(t *testing.T) {
	var b strings.Builder
	for i := range MaxWords * 3 {
		b.WriteString("w")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + (i/26)%26)))
		b.WriteString(string(rune('a' + (i/676)%26)))
		b.WriteByte(' ')
	}
	n := len(Tokenize(body(b.String())))
	if n > MaxWords*Window {
		t.Errorf("%d tokens from %d words, more than MaxWords×Window = %d", n, MaxWords*3, MaxWords*Window)
	}
	if n < MaxWords {
		t.Errorf("%d tokens, want at least MaxWords", n)
	}
	if len(Tokenize(Input{})) != 0 {
		t.Error("tokens from an empty input")
	}
	// A very long word is one token, not a cut stream.
	if n := len(Tokenize(body(strings.Repeat("z", 10000)))); n != 1 {
		t.Errorf("a 10,000-letter word gave %d tokens", n)
	}
}

func TestTokenizeCJK(t *testing.T) {
	// Written without spaces: characters and their pairs.
	toks := Tokenize(body("免费赚钱"))
	if len(toks) != 4+3+2+1 {
		t.Errorf("4 CJK characters: %d tokens, want 10", len(toks))
	}
}

func TestTokenizeHeadersURLsAttachments(t *testing.T) {
	base := Tokenize(body("hello there friend"))
	add := func(in Input) int {
		in.Texts = []string{"hello there friend"}
		return len(Tokenize(in)) - len(base)
	}
	tests := []struct {
		name string
		in   Input
		want int
	}{
		{"from: 2 name words + pair + domain", Input{Headers: []Header{{"From", "Big Winner <x@Promo.Example>"}}}, 4},
		{"from: bare address", Input{Headers: []Header{{"From", "x@promo.example"}}}, 1},
		{"x-mailer: whole + 1 word", Input{Headers: []Header{{"X-Mailer", "Outlook"}}}, 2},
		{"message-id domain", Input{Headers: []Header{{"Message-ID", "<1@mx.example>"}}}, 1},
		{"unselected field", Input{Headers: []Header{{"Received", "from x by y"}}}, 0},
		{"url host and domain", Input{URLHosts: []string{"Login.Bank.Example."}}, 2},
		{"url host that is a domain", Input{URLHosts: []string{"example"}}, 1},
		{"attachment type and ext", Input{Attachments: []Attachment{{ContentType: "application/zip", Filename: "invoice.ZIP"}}}, 2},
	}
	for _, tc := range tests {
		if got := add(tc.in); got != tc.want {
			t.Errorf("%s: %d more tokens, want %d", tc.name, got, tc.want)
		}
	}
	// Case does not matter in hosts and extensions.
	a := Tokenize(Input{URLHosts: []string{"login.bank.example"}, Attachments: []Attachment{{Filename: "a.zip"}}})
	b := Tokenize(Input{URLHosts: []string{"LOGIN.bank.example"}, Attachments: []Attachment{{Filename: "b.ZIP"}}})
	if !slices.Equal(a, b) {
		t.Error("host or extension case changes tokens")
	}
}

func FuzzTokenize(f *testing.F) {
	f.Add("free money", "hello wörld 免费 don't 123456789", "x@y.example", "a.b.c")
	f.Add("", "", "", "")
	f.Add("\xff\xfe", "a-'-b '' -- ’’", "@@@", "...")
	f.Fuzz(func(t *testing.T, subj, text, from, host string) {
		toks := Tokenize(Input{Subject: subj, Texts: []string{text}, Headers: []Header{{"From", from}}, URLHosts: []string{host}})
		if !slices.IsSorted(toks) {
			t.Fatal("not sorted")
		}
		for _, x := range toks {
			if x == 0 {
				t.Fatal("zero token")
			}
		}
	})
}

func TestSortTokens(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 100, 511, 512, 5000} {
		a := make([]uint64, n)
		for i := range a {
			switch i % 3 {
			case 0:
				a[i] = r.Uint64()
			case 1:
				a[i] = r.Uint64() & 0xffff // shares the high bytes
			default:
				a[i] = a[i/2] // repeats
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		sortTokens(a)
		if !slices.Equal(a, want) {
			t.Errorf("n=%d: radix sort differs from slices.Sort", n)
		}
	}
}
