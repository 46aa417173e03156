package dkim

import (
	"bytes"
	"crypto"
	"strings"

	"github.com/hamlet-mail/hamlet/message"
)

// SelectFields picks the header fields that h= names, in h= order, as
// RFC 6376 §5.4.2 says: "signers and verifiers MUST process the header
// fields in reverse order, from the bottom up": the n-th mention of a name
// in h= takes the n-th instance counted from the bottom. A name with no
// instance left yields nil (it then contributes nothing: "a nonexistent
// header field MUST be treated as the null string", §5.4). skip, when not
// nil, is a field never selected (the signature being verified).
func SelectFields(fields []message.Field, names []string, skip []byte) [][]byte {
	out := make([][]byte, len(names))
	if len(names) == 0 {
		return out
	}
	if len(names) <= 64 && len(names)*len(fields) <= 1024 {
		return selectSmall(out, fields, names, skip)
	}
	// Index the instances of every wanted name, bottom first, so that the
	// work is linear in fields + names even for hostile h= lists.
	wanted := make(map[string][]int, len(names))
	for _, n := range names {
		wanted[strings.ToLower(n)] = nil
	}
	for j := len(fields) - 1; j >= 0; j-- {
		key := strings.ToLower(fields[j].Name)
		if list, ok := wanted[key]; ok && !(skip != nil && sameSlice(fields[j].Raw, skip)) {
			wanted[key] = append(list, j)
		}
	}
	used := make(map[string]int, len(wanted))
	for i, n := range names {
		key := strings.ToLower(n)
		if k := used[key]; k < len(wanted[key]) {
			out[i] = fields[wanted[key][k]].Raw
		}
		used[key]++
	}
	return out
}

// selectSmall is SelectFields for small inputs: each mention of a name
// takes the lowest instance not taken by an earlier mention, walking up
// from the bottom. That is the n-th instance for the n-th mention, as the
// earlier mentions of the same name took the n-1 below it; a bit per field
// records what is taken, instead of counting earlier mentions again for
// every name.
func selectSmall(out [][]byte, fields []message.Field, names []string, skip []byte) [][]byte {
	var small [16]uint64 // 1024 fields: SelectFields's bound for this path
	taken := small[:]
	if n := (len(fields) + 63) / 64; n > len(taken) {
		taken = make([]uint64, n)
	}
	for i, name := range names {
		for j := len(fields) - 1; j >= 0; j-- {
			if taken[j/64]&(1<<(j%64)) != 0 {
				continue
			}
			f := fields[j]
			if !strings.EqualFold(f.Name, name) || (skip != nil && sameSlice(f.Raw, skip)) {
				continue
			}
			taken[j/64] |= 1 << (j % 64)
			out[i] = f.Raw
			break
		}
	}
	return out
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// RemoveSignatureValue returns the raw field with the value of its b= tag
// deleted and without the final CRLF: the form in which a signature field
// enters its own hash. RFC 6376 §3.7: "the value of the "b=" tag
// (including all surrounding whitespace) is deleted (i.e., treated as the
// empty string)"; §3.7 also: the field is hashed "without a trailing CRLF".
func RemoveSignatureValue(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, crlf)
	colon := bytes.IndexByte(raw, ':')
	if colon < 0 {
		return append([]byte(nil), raw...)
	}
	out := make([]byte, 0, len(raw))
	out = append(out, raw[:colon+1]...)
	rest := raw[colon+1:]
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, ';')
		seg := rest
		if end >= 0 {
			seg = rest[:end+1]
		}
		eq := bytes.IndexByte(seg, '=')
		if eq >= 0 && string(bytes.Trim(seg[:eq], " \t\r\n")) == "b" {
			out = append(out, seg[:eq+1]...)
			if end >= 0 {
				out = append(out, ';')
			}
		} else {
			out = append(out, seg...)
		}
		rest = rest[len(seg):]
	}
	return out
}

// HeaderDigest returns the hash of the canonicalized header data of a
// signature (RFC 6376 §3.7): the fields selected by names (SelectFields)
// each canonicalized with c, followed by the signature field itself
// (sigRaw, raw with b= still present) with b= emptied and no final CRLF.
func HeaderDigest(h crypto.Hash, c Canon, fields []message.Field, names []string, sigRaw []byte) []byte {
	selected := SelectFields(fields, names, sigRaw)
	return DigestFields(h, c, selected, sigRaw)
}

// DigestFields hashes already selected raw fields (nil entries skipped)
// and the signature field sigRaw, all canonicalized with c (§3.7).
func DigestFields(h crypto.Hash, c Canon, selected [][]byte, sigRaw []byte) []byte {
	size := len(sigRaw)
	for _, f := range selected {
		size += len(f)
	}
	buf := make([]byte, 0, size+64)
	for _, f := range selected {
		if f != nil {
			buf = AppendCanonicalHeader(buf, c, f)
		}
	}
	buf = AppendCanonicalHeader(buf, c, RemoveSignatureValue(sigRaw))
	buf = buf[:len(buf)-2] // §3.7: the signature field has no final CRLF
	hh := h.New()
	hh.Write(buf)
	return hh.Sum(nil)
}

// BodyHash returns the hash of body canonicalized with c (RFC 6376 §3.7
// body hash), counting only the first limit bytes of the canonical body
// when limit >= 0 (l=, §3.5), and the length of the whole canonical body.
func BodyHash(h crypto.Hash, c Canon, body []byte, limit int64) (sum []byte, canonLen int64) {
	hh := h.New()
	lw := &limitWriter{w: hh, limit: limit}
	WriteCanonicalBody(lw, c, body)
	return hh.Sum(nil), lw.total
}

// bodyKey identifies one body hash: the body is hashed once per
// (canonicalization, hash, length) combination however many signatures
// share it.
type bodyKey struct {
	c     Canon
	h     crypto.Hash
	limit int64
}

type bodyValue struct {
	sum      []byte
	canonLen int64
}

// BodyHasher caches body hashes of one message.
type BodyHasher struct {
	body  []byte
	cache map[bodyKey]bodyValue
}

// NewBodyHasher returns a BodyHasher for body.
func NewBodyHasher(body []byte) *BodyHasher {
	return &BodyHasher{body: body}
}

// Sum returns BodyHash(h, c, body, limit), computed at most once.
func (b *BodyHasher) Sum(h crypto.Hash, c Canon, limit int64) (sum []byte, canonLen int64) {
	k := bodyKey{c, h, limit}
	if v, ok := b.cache[k]; ok {
		return v.sum, v.canonLen
	}
	sum, n := BodyHash(h, c, b.body, limit)
	if b.cache == nil {
		b.cache = make(map[bodyKey]bodyValue, 2)
	}
	b.cache[k] = bodyValue{sum, n}
	return sum, n
}
