package rspamdhttp

import (
	"sort"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// Reply renders a final verdict as the body of rspamd 3.x's /checkv2
// reply, byte for byte as rspamd writes it (compact JSON, keys in rspamd's
// order, numbers as rspamd formats them):
//
//	{"is_skipped":false,"score":5.200000,"required_score":15.0,
//	 "action":"greylist","symbols":{"NAME":{"name":"NAME","score":1.0,
//	 "metric_score":1.0,"description":"...","options":["..."]}},
//	 "messages":{"smtp_message":"..."},"message-id":"...",
//	 "time_real":0.012000,"dkim-signature":"...",
//	 "milter":{"add_headers":{"X-Spam":{"value":"Yes","order":0}},
//	 "remove_headers":{"X-Spam":0}}}
//
// tx gives the message whose Message-ID is reported ("undef" when it has
// none, as rspamd); elapsed is reported as time_real in seconds.
// `hamlet check --json` prints this too, so that both agree exactly.
func Reply(v *engine.Verdict, tx *engine.Transaction, elapsed time.Duration) []byte {
	return render(v, tx, elapsed, false)
}

// LegacyReply renders the reply of rspamd's older commands (/check,
// /symbols, /scan, /process, /report, /report_ifspam), which rspamd 3.x
// still answers: the scan result sits in a "default" object together with
// is_spam and the symbols, symbols carry no metric_score, and the header
// edits are called "rmilter".
func LegacyReply(v *engine.Verdict, tx *engine.Transaction, elapsed time.Duration) []byte {
	return render(v, tx, elapsed, true)
}

func render(v *engine.Verdict, tx *engine.Transaction, elapsed time.Duration, legacy bool) []byte {
	w := &jsonWriter{b: make([]byte, 0, 512+160*len(v.Symbols))}
	w.beginObject()
	if legacy {
		w.key("default")
		w.beginObject()
		w.key("is_spam")
		w.boolValue(isSpam(v.Action))
	}
	w.key("is_skipped")
	w.boolValue(false)
	w.key("score")
	w.floatValue(v.Score)
	w.key("required_score")
	w.floatValue(v.RequiredScore)
	w.key("action")
	w.stringValue(v.Action.String())
	if v.Action == engine.RewriteSubject && v.SubjectRewrite != "" {
		w.key("subject")
		w.stringValue(v.SubjectRewrite)
	}
	if !legacy {
		w.key("symbols")
		w.beginObject()
	}
	for _, s := range v.Symbols {
		writeSymbol(w, s, legacy)
	}
	w.endObject() // symbols, or "default" in the legacy reply

	w.key("messages")
	w.beginObject()
	if msg := smtpMessage(v); msg != "" {
		w.key("smtp_message")
		w.stringValue(msg)
	}
	w.endObject()

	if tx != nil && tx.Message != nil {
		w.key("message-id")
		w.stringValue(messageID(tx))
	}
	w.key("time_real")
	w.floatValue(elapsed.Seconds())

	switch len(v.DKIMSignatures) {
	case 0:
	case 1:
		w.key("dkim-signature")
		w.stringValue(v.DKIMSignatures[0])
	default:
		w.key("dkim-signature")
		w.beginArray()
		for _, s := range v.DKIMSignatures {
			w.stringValue(s)
		}
		w.endArray()
	}

	if len(v.AddHeaders) > 0 || len(v.RemoveHeaders) > 0 {
		if legacy {
			w.key("rmilter")
		} else {
			w.key("milter")
		}
		writeMilter(w, v)
	}
	w.endObject()
	return w.b
}

// isSpam is rspamd's is_spam: every action but the "ham" ones (no action,
// greylist, soft reject).
func isSpam(a engine.Action) bool {
	return a == engine.Reject || a == engine.RewriteSubject || a == engine.AddHeader
}

func writeSymbol(w *jsonWriter, s engine.ScoredSymbol, legacy bool) {
	w.key(s.Name)
	w.beginObject()
	w.key("name")
	w.stringValue(s.Name)
	w.key("score")
	w.floatValue(s.Score)
	if !legacy {
		w.key("metric_score")
		w.floatValue(s.Weight)
	}
	if s.Description != "" {
		w.key("description")
		w.stringValue(s.Description)
	}
	if opts := dedup(s.Options); len(opts) > 0 {
		w.key("options")
		w.beginArray()
		for _, o := range opts {
			w.stringValue(o)
		}
		w.endArray()
	}
	w.endObject()
}

// dedup drops repeated options, keeping the first of each, as rspamd keeps
// each option of a symbol once.
func dedup(opts []string) []string {
	if len(opts) < 2 {
		return opts
	}
	seen := make(map[string]bool, len(opts))
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// smtpMessage is the reply text an MTA should give: rspamd reports it as
// messages.smtp_message, which filter-rspamd and the rspamd milter use.
func smtpMessage(v *engine.Verdict) string {
	switch v.Action {
	case engine.Reject, engine.SoftReject, engine.Greylist:
		return v.Reply
	}
	return ""
}

// writeMilter writes the header edits in the shape of rspamd 3.x's
// milter_headers module ("compat" mode): add_headers maps a field name to
// {"value","order"}, or to an array of them when the name is added more
// than once; remove_headers maps a field name to the 1-based index of the
// instance to remove, 0 for all. The order is the position the field
// takes at the top of the header (the milter protocol's insert-header
// index), so the fields end up in the order of Verdict.AddHeaders.
//
// Several instances of one name to remove are written as repeated keys,
// highest index first: rspamd's own milter reads repeated keys as a list
// (UCL implicit arrays) and removes each, removing the highest first keeps
// the lower indexes valid, and JSON decoders that keep one value per key
// (filter-rspamd decodes remove_headers into map[string]int8) still
// decode the reply. An array, which rspamd would write, breaks those.
func writeMilter(w *jsonWriter, v *engine.Verdict) {
	w.beginObject()
	if len(v.AddHeaders) > 0 {
		w.key("add_headers")
		w.beginObject()
		names, byName := groupAdds(v.AddHeaders)
		for _, name := range names {
			idx := byName[name]
			w.key(name)
			if len(idx) > 1 {
				w.beginArray()
			}
			for _, i := range idx {
				w.beginObject()
				w.key("value")
				w.stringValue(v.AddHeaders[i].Value)
				w.key("order")
				w.intValue(i)
				w.endObject()
			}
			if len(idx) > 1 {
				w.endArray()
			}
		}
		w.endObject()
	}
	if len(v.RemoveHeaders) > 0 {
		w.key("remove_headers")
		w.beginObject()
		names, byName := groupRemovals(v.RemoveHeaders)
		for _, name := range names {
			idx := byName[name]
			for _, i := range idx {
				w.key(name)
				w.intValue(i)
			}
		}
		w.endObject()
	}
	w.endObject()
}

// groupAdds groups the positions of added fields by name (case-insensitive,
// first spelling kept), names in order of first appearance.
func groupAdds(hs []engine.Header) ([]string, map[string][]int) {
	var names []string
	byName := map[string][]int{}
	canon := map[string]string{}
	for i, h := range hs {
		k := strings.ToLower(h.Name)
		name, ok := canon[k]
		if !ok {
			name = h.Name
			canon[k] = name
			names = append(names, name)
		}
		byName[name] = append(byName[name], i)
	}
	return names, byName
}

// groupRemovals groups removal indexes by field name, highest first; a
// removal of all instances (index 0) makes the others moot.
func groupRemovals(rs []engine.HeaderRemoval) ([]string, map[string][]int) {
	var names []string
	byName := map[string][]int{}
	canon := map[string]string{}
	for _, r := range rs {
		k := strings.ToLower(r.Name)
		name, ok := canon[k]
		if !ok {
			name = r.Name
			canon[k] = name
			names = append(names, name)
		}
		cur := byName[name]
		switch {
		case len(cur) == 1 && cur[0] == 0:
			// all instances go already
		case r.Index <= 0:
			byName[name] = []int{0}
		case !containsInt(cur, r.Index):
			byName[name] = append(cur, r.Index)
		}
	}
	for _, idx := range byName {
		sort.Sort(sort.Reverse(sort.IntSlice(idx)))
	}
	return names, byName
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// messageID returns the message's Message-ID as rspamd reports it: the
// last Message-ID field, comments removed, without white space and angle
// brackets, every byte that is not a visible ASCII character replaced by
// "?"; "undef" when there is none.
func messageID(tx *engine.Transaction) string {
	id := "undef"
	for _, f := range tx.Message.Fields {
		if !strings.EqualFold(f.Name, "Message-ID") {
			continue
		}
		s := strings.TrimSpace(stripComments(f.Unfolded()))
		s = strings.TrimPrefix(s, "<")
		s = strings.TrimSuffix(s, ">")
		if s == "" {
			continue
		}
		b := []byte(s)
		for i, c := range b {
			if c < 0x21 || c > 0x7e {
				b[i] = '?'
			}
		}
		id = string(b)
	}
	return id
}

// stripComments removes RFC 5322 §3.2.2 comments (nested parentheses,
// with quoted pairs) outside quoted strings.
func stripComments(s string) string {
	if !strings.ContainsRune(s, '(') {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
