package fuzzy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/store"
)

// Kinds of hashed parts, as rspamd names them in the symbol's options.
const (
	KindText   = "txt"
	KindImage  = "img"
	KindBinary = "bin"
)

// Window is the shingle window: word trigrams, as rspamd's.
const Window = 3

// MaxWords bounds the words read of one text part.
const MaxWords = 20_000

// MaxHashes bounds the hashes of one message (a message of a thousand
// tiny parts costs no more than one of MaxHashes parts).
const MaxHashes = 64

// Hash is one hashed part of a message.
type Hash struct {
	// Kind is KindText, KindImage or KindBinary.
	Kind string
	// Digest is FuzzyDigestLen hex characters: of the normalised words of
	// a text, of the decoded content of an attachment.
	Digest string
	// Shingles are a text's min-hashes (nil for attachments).
	Shingles []uint64
	// Words is a text's word count.
	Words int
}

// Limits say which parts are hashed.
type Limits struct {
	// MinWords: shorter texts are not hashed (too many innocent short
	// messages look alike).
	MinWords int
	// MinBytes: smaller attachments are not hashed.
	MinBytes int
	// SkipImages and SkipAttachments leave those out (rspamc
	// --skip-images, --skip-attachments).
	SkipImages, SkipAttachments bool
}

// FromContent hashes the parts of a parsed message: each text part of at
// least MinWords words (its normalised words: shingles and a digest),
// each attachment or image of at least MinBytes decoded bytes (a digest).
// A part that hashes like an earlier one is left out; at most MaxHashes.
func FromContent(c *content.Message, lim Limits) []Hash {
	var out []Hash
	seen := map[string]bool{}
	add := func(h Hash) {
		if !seen[h.Digest] && len(out) < MaxHashes {
			seen[h.Digest] = true
			out = append(out, h)
		}
	}
	for _, t := range c.Texts {
		if len(out) >= MaxHashes {
			break
		}
		if h := hashText(t.Text); h.Words >= max(lim.MinWords, Window) {
			add(h)
		}
	}
	for _, a := range c.Attachments {
		p := a.Part
		if p == nil || p.Skipped || len(p.Body) < max(lim.MinBytes, 1) {
			continue
		}
		kind := KindBinary
		if isImage(a) {
			kind = KindImage
		}
		if (kind == KindImage && lim.SkipImages) || (kind == KindBinary && lim.SkipAttachments) {
			continue
		}
		add(Hash{Kind: kind, Digest: digest(kind, p.Body)})
	}
	return out
}

func isImage(a *content.Attachment) bool {
	switch a.Detected {
	case content.TypePNG, content.TypeGIF, content.TypeJPEG:
		return true
	}
	return a.Detected == "" && strings.HasPrefix(a.Declared, "image/")
}

// digest is the first 128 bits of SHA-256 over the kind and the bytes.
func digest(kind string, b []byte) string {
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:store.FuzzyDigestLen/2])
}

// Words returns the normalised words of s, at most limit: runs of letters
// and digits, lower-cased, accents removed (NFKD without combining
// marks); a word with a digit in it becomes "#" (order numbers, prices
// and dates change from copy to copy), a run of them one "#" (a table of
// figures is not a text); one-letter words are left out.
func Words(s string, limit int) []string {
	var out []string
	eachWord(s, limit, func(w []byte) { out = append(out, string(w)) })
	return out
}

// eachWord calls fn with each normalised word of s (see Words), at most
// limit of them, and returns how many it found. w is only valid during
// the call.
func eachWord(s string, limit int, fn func(w []byte)) int {
	buf := make([]byte, 0, 64)
	n, lastHash := 0, false
	for len(s) > 0 && n < limit {
		i := 0
		for i < len(s) {
			if c := s[i]; c < utf8.RuneSelf {
				if asciiClass[c] != 0 {
					break
				}
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[i:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				break
			}
			i += n
		}
		s = s[i:]
		j := 0
		digit, ascii := false, true
		runes := 0
		for j < len(s) {
			if c := s[j]; c < utf8.RuneSelf {
				k := asciiClass[c]
				if k == 0 {
					break
				}
				digit = digit || k == 2
				runes++
				j++
				continue
			}
			r, n := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
				break
			}
			digit = digit || unicode.IsDigit(r)
			ascii = false
			runes++
			j += n
		}
		w := s[:j]
		s = s[j:]
		switch {
		case j == 0:
			continue
		case digit:
			if !lastHash {
				lastHash = true
				n++
				fn(append(buf[:0], '#'))
			}
			continue
		case runes < 2:
			continue
		}
		buf = buf[:0]
		if ascii {
			for k := 0; k < len(w); k++ {
				c := w[k]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				buf = append(buf, c)
			}
		} else {
			for _, r := range norm.NFKD.String(w) {
				if !unicode.Is(unicode.Mn, r) {
					buf = utf8.AppendRune(buf, unicode.ToLower(r))
				}
			}
		}
		lastHash = false
		n++
		fn(buf)
	}
	return n
}

// hashText is the Hash of a text: the digest of Words(s, MaxWords)
// joined by spaces and their Shingles, computed in one pass without
// keeping the words (TestHashTextSame holds it to that definition).
func hashText(s string) Hash {
	d := sha256.New()
	d.Write([]byte(KindText))
	d.Write([]byte{0})
	sh := make([]uint64, store.FuzzyShingles)
	for i := range sh {
		sh[i] = ^uint64(0)
	}
	var a, b uint64
	k := 0
	eachWord(s, MaxWords, func(w []byte) {
		if k > 0 {
			d.Write([]byte{' '})
		}
		d.Write(w)
		c := wordHashBytes(w)
		if k >= Window-1 {
			tri := trigram(a, b, c)
			for i, s := range seeds {
				if v := s[0]*tri + s[1]; v < sh[i] {
					sh[i] = v
				}
			}
		}
		a, b = b, c
		k++
	})
	h := Hash{Kind: KindText, Digest: hex.EncodeToString(d.Sum(nil)[:store.FuzzyDigestLen/2]), Words: k}
	if k >= Window {
		h.Shingles = sh
	}
	return h
}

// asciiClass is 1 for ASCII letters, 2 for digits, 0 otherwise.
var asciiClass = func() (t [utf8.RuneSelf]byte) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = 1, 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 2
	}
	return t
}()

// seeds are the FuzzyShingles hash functions' multipliers and addends
// (from splitmix64 of 1…64; multipliers odd): function i maps a
// trigram's hash x to mul[i]·x + add[i] mod 2^64, a multiply-add family
// whose high bits (which decide a minimum) are well mixed when x is.
var seeds = func() (s [store.FuzzyShingles][2]uint64) {
	var x uint64
	for i := range s {
		x += 0x9e3779b97f4a7c15
		s[i][0] = mix(x) | 1
		x += 0x9e3779b97f4a7c15
		s[i][1] = mix(x)
	}
	return s
}()

// mix is splitmix64's finaliser: a bijection of 64 bits that spreads
// every input bit over the output.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// trigram hashes three word hashes, in order.
func trigram(a, b, c uint64) uint64 { return mix(mix(a^(b<<21|b>>43)) ^ (c<<42 | c>>22)) }

// wordHashBytes is wordHash of a word in bytes.
func wordHashBytes(w []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range w {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// wordHash is FNV-1a, 64 bits.
func wordHash(w string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(w); i++ {
		h ^= uint64(w[i])
		h *= 1099511628211
	}
	return h
}

// Shingles returns the FuzzyShingles min-hashes of the word trigrams of
// words (Broder's shingling, as rspamd's): for each hash function, the
// smallest value over all trigrams. Two texts share about as many of them
// as the Jaccard similarity of their trigram sets says, so a copy with a
// few words changed keeps most of them. It returns nil for fewer than
// Window words.
func Shingles(words []string) []uint64 {
	if len(words) < Window {
		return nil
	}
	out := make([]uint64, store.FuzzyShingles)
	for i := range out {
		out[i] = ^uint64(0)
	}
	a, b := wordHash(words[0]), wordHash(words[1])
	for _, w := range words[2:] {
		c := wordHash(w)
		tri := trigram(a, b, c)
		for i, s := range seeds {
			if v := s[0]*tri + s[1]; v < out[i] {
				out[i] = v
			}
		}
		a, b = b, c
	}
	return out
}
