package bayes

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Input is what the tokenizer reads of a message, filled from the content
// stage's parsed message (see FromMessage): decoded text, selected header
// fields, URL hosts, attachments. Nothing in it is raw MIME.
type Input struct {
	// Subject is the decoded Subject.
	Subject string
	// Headers are selected header fields, decoded (see TokenHeaders for
	// the names that are used).
	Headers []Header
	// Texts are the decoded texts of the text parts (HTML as text).
	Texts []string
	// URLHosts are the host names of the URLs in the text and HTML.
	URLHosts []string
	// Attachments are the non-text parts.
	Attachments []Attachment
}

// Header is one header field, decoded.
type Header struct{ Name, Value string }

// Attachment is what the tokenizer reads of a non-text part.
type Attachment struct {
	ContentType string // e.g. "application/pdf", lower case
	Filename    string
}

// Tokenizer limits and shape.
const (
	// Window is the OSB window: each word is paired with the next
	// Window-1 words (rspamd's OSB uses 5).
	Window = 5
	// MaxWords bounds the words read from the texts of one message.
	MaxWords = 4000
	// minWordLen and maxWordLen bound the words kept (in runes); longer
	// ones become a token of their first runes and their length class.
	minWordLen = 2
	maxWordLen = 24
)

// TokenHeaders are the header fields whose values become tokens, with the
// way they are read: "words" splits into words (with sparse bigrams),
// "whole" keeps the whole normalised value as one token, "domain" keeps
// the domain of an address or message id.
var TokenHeaders = map[string]string{
	"from":         "words+domain",
	"reply-to":     "domain",
	"return-path":  "domain",
	"message-id":   "domain",
	"x-mailer":     "whole+words",
	"user-agent":   "whole+words",
	"content-type": "whole",
	"list-id":      "whole",
	"organization": "words",
	"precedence":   "whole",
}

// Tokens are the distinct hashed features of one message, sorted.
type Tokens []uint64

// Tokenize turns the input into distinct tokens: normalised words of the
// subject and texts with sparse bigrams over a window of Window words
// (each pair hashed with its distance, as rspamd's OSB does), words and
// values of selected header fields, URL hosts and their last two labels,
// attachment types and file name extensions. Each kind of token has its
// own namespace, so "free" in the subject and in the body differ.
func Tokenize(in Input) Tokens {
	// A word gives up to Window tokens; words run about 6 bytes.
	size := len(in.Subject)
	for _, s := range in.Texts {
		size += len(s)
	}
	t := tokenizer{toks: make([]uint64, 0, min(size, MaxWords*Window)+256)}
	t.words(nsSubject, in.Subject, MaxWords)
	budget := MaxWords
	for _, s := range in.Texts {
		budget -= t.words(nsBody, s, budget)
		if budget <= 0 {
			break
		}
	}
	for _, h := range in.Headers {
		name := strings.ToLower(h.Name)
		how, ok := TokenHeaders[name]
		if !ok {
			continue
		}
		ns := hashString(nsHeader, name)
		v := strings.TrimSpace(h.Value)
		if strings.Contains(how, "words") {
			w := v
			if strings.Contains(how, "domain") {
				w = displayName(v)
			}
			t.words(ns, w, 64)
		}
		if strings.Contains(how, "whole") {
			t.add(hashString(ns^nsWhole, strings.ToLower(collapseSpace(v))))
		}
		if strings.Contains(how, "domain") {
			if d := domainOf(v); d != "" {
				t.add(hashString(ns^nsDomain, d))
			}
		}
	}
	for _, h := range in.URLHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" {
			continue
		}
		t.add(hashString(nsURL, h))
		if i := lastLabels(h, 2); i > 0 {
			t.add(hashString(nsURLDomain, h[i:]))
		}
	}
	for _, a := range in.Attachments {
		if a.ContentType != "" {
			t.add(hashString(nsAttachType, strings.ToLower(a.ContentType)))
		}
		if i := strings.LastIndexByte(a.Filename, '.'); i >= 0 && len(a.Filename)-i <= 10 {
			t.add(hashString(nsAttachExt, strings.ToLower(a.Filename[i+1:])))
		}
	}
	sortTokens(t.toks)
	return Tokens(slices.Clip(slices.Compact(t.toks)))
}

// Namespaces (seeds) of the token kinds.
const (
	nsBody       uint64 = 0x9e3779b97f4a7c15
	nsSubject    uint64 = 0xc2b2ae3d27d4eb4f
	nsHeader     uint64 = 0x165667b19e3779f9
	nsWhole      uint64 = 0x27d4eb2f165667c5
	nsDomain     uint64 = 0x85ebca77c2b2ae63
	nsURL        uint64 = 0xff51afd7ed558ccd
	nsURLDomain  uint64 = 0xc4ceb9fe1a85ec53
	nsAttachType uint64 = 0x94d049bb133111eb
	nsAttachExt  uint64 = 0xbf58476d1ce4e5b9
)

type tokenizer struct {
	toks []uint64       // with repeats until the end
	ring [Window]uint64 // hashes of the last Window words
	buf  []byte
}

func (t *tokenizer) add(h uint64) { t.toks = append(t.toks, h) }

// words adds the words of s (at most limit) with their sparse bigrams, and
// returns how many words it read.
func (t *tokenizer) words(ns uint64, s string, limit int) int {
	n := 0
	clear(t.ring[:])
	for len(s) > 0 && n < limit {
		w, rest := nextWord(s, &t.buf)
		s = rest
		if w == 0 {
			continue
		}
		h := mix(ns, w)
		t.add(h)
		// Pair with each of the previous Window-1 words, the distance
		// in the hash (OSB: "a ? b" differs from "a b").
		for d := 1; d < Window; d++ {
			p := t.ring[(n-d+Window*2)%Window]
			if n-d < 0 || p == 0 {
				break
			}
			t.add(mix(p*0x9ddfea08eb382d69+uint64(d), h))
		}
		t.ring[n%Window] = h
		n++
	}
	return n
}

// nextWord reads the next word of s: a run of letters and digits (and
// joining apostrophes or hyphens inside it), lower-cased, or a single
// Han/Hiragana/Katakana/Hangul character (scripts written without spaces,
// whose sparse bigrams then are character pairs). It returns 0 for a run
// that makes no word (too short) and the rest of s.
func nextWord(s string, buf *[]byte) (uint64, string) {
	i := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if isASCIIWord(c) {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if isWordRune(r) {
			break
		}
		i += n
	}
	s = s[i:]
	if s == "" {
		return 0, ""
	}
	if s[0] >= utf8.RuneSelf {
		if r, n := utf8.DecodeRuneInString(s); isIdeographic(r) {
			return hashString(0, string(unicode.ToLower(r))), s[n:]
		}
	}
	// b collects the word lower-cased and folded, in UTF-8; runes counts
	// its runes and cut8 is the length of its first 8.
	b := (*buf)[:0]
	runes, digits, cut8 := 0, 0, 0
	j := 0
	for j < len(s) {
		if runes == 8 {
			cut8 = len(b)
		}
		if c := s[j]; c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case '0' <= c && c <= '9':
				digits++
			case c == '\'' || c == '-':
				// An apostrophe or hyphen between letters joins.
				if runes > 0 && j+1 < len(s) && joins(s[j+1:]) {
					j++
					continue
				}
				fallthrough
			default:
				goto done
			}
			b = append(b, c)
			runes++
			j++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		if !isWordRune(r) || isIdeographic(r) {
			if r == '’' && runes > 0 && j+n < len(s) && joins(s[j+n:]) {
				j += n
				continue
			}
			break
		}
		if unicode.IsDigit(r) {
			digits++
		}
		b = utf8.AppendRune(b, unicode.ToLower(foldRune(r)))
		runes++
		j += n
	}
done:
	*buf = b
	rest := s[j:]
	if runes < minWordLen {
		return 0, rest
	}
	if digits == runes && runes > 4 {
		// Long numbers (phone numbers, ids, dates) by length only.
		return hashString(1, "#num"+string(rune('0'+min(runes, 20)))), rest
	}
	if runes > maxWordLen {
		return hashString(2, string(b[:cut8])+"#long"), rest
	}
	return hashBytes(0, b), rest
}

// joins reports whether s starts with a word rune of a spaced script
// (what an apostrophe or hyphen before it joins to).
func joins(s string) bool {
	if c := s[0]; c < utf8.RuneSelf {
		return isASCIIWord(c)
	}
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r) && !isIdeographic(r)
}

func isASCIIWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func isIdeographic(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai)
}

// foldRune removes the accent of common Latin letters (é → e), so that
// spammers' accent tricks and plain writing give the same word.
func foldRune(r rune) rune {
	if r < 0xC0 || r > 0x17F {
		return r
	}
	const from = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿÇçÑñ"
	const to = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOOooooooUUUUuuuuYyyCcNn"
	if i := strings.IndexRune(from, r); i >= 0 {
		return rune(to[utf8.RuneCountInString(from[:i])])
	}
	return r
}

// hashString is FNV-1a 64 of s, seeded.
func hashString(seed uint64, s string) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmix(h)
}

// hashBytes is hashString of b, without making a string of it.
func hashBytes(seed uint64, b []byte) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return fmix(h)
}

// mix combines two hashes (order matters).
func mix(a, b uint64) uint64 {
	return fmix(a*0xff51afd7ed558ccd ^ (b + 0x9e3779b97f4a7c15 + a<<6 + a>>2))
}

// fmix is MurmurHash3's 64-bit finalizer: every input bit affects every
// output bit.
func fmix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		h = 1 // 0 marks "no word" in the window
	}
	return h
}

// displayName returns an address field without its addresses: the words
// of the display names.
func displayName(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		return v[:i]
	}
	if strings.Contains(v, "@") {
		return ""
	}
	return v
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// domainOf returns the lower-cased domain of the (last) address or message
// id in v: what follows the last '@' up to '>' or a space.
func domainOf(v string) string {
	i := strings.LastIndexByte(v, '@')
	if i < 0 {
		return ""
	}
	d := v[i+1:]
	if j := strings.IndexAny(d, "> \t\r\n;,\"()"); j >= 0 {
		d = d[:j]
	}
	d = strings.ToLower(strings.Trim(d, "[]."))
	if len(d) > 255 {
		return ""
	}
	return d
}

// lastLabels returns the index in h where its last n labels start, or -1
// when h has no more than n labels.
func lastLabels(h string, n int) int {
	i := len(h)
	for range n {
		j := strings.LastIndexByte(h[:i], '.')
		if j < 0 {
			return -1
		}
		i = j
	}
	return i + 1
}

// sortBufs are sortTokens' scratch arrays, reused between messages.
var sortBufs = sync.Pool{New: func() any { return new([]uint64) }}

// sortTokens sorts hashes: a least-significant-digit radix sort (8 passes
// of a byte) for the thousands of a long message, where it is several
// times faster than a comparison sort; slices.Sort for short lists.
func sortTokens(a []uint64) {
	if len(a) < 512 {
		slices.Sort(a)
		return
	}
	bp := sortBufs.Get().(*[]uint64)
	defer sortBufs.Put(bp)
	if cap(*bp) < len(a) {
		*bp = make([]uint64, len(a))
	}
	tmp := (*bp)[:len(a)]
	src, dst := a, tmp
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for _, v := range src {
			count[byte(v>>shift)]++
		}
		if count[byte(src[0]>>shift)] == len(src) {
			continue // every value has this byte: nothing moves
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, v := range src {
			d := byte(v >> shift)
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
