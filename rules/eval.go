package rules

import (
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/content"
	"github.com/hamlet-mail/hamlet/message"
)

// Input is what the rules look at: one transaction as far as it is known.
type Input struct {
	ClientIP  netip.Addr
	Helo      string
	PTR       string // forward-confirmed, "" when there is none
	AuthUser  string
	MailFrom  string
	Rcpts     []string
	Message   *message.Message // nil before DATA
	Content   *content.Message // the parsed message, nil before DATA
	SPFDomain string           // "" unless SPF passed
	// DKIMDomains are the d= domains of the signatures that passed.
	DKIMDomains []string
	// DMARCDomain is the From domain when DMARC passed, else "".
	DMARCDomain string
}

// Hit is a rule that matched, with the values that made it match (at
// most maxValues, each at most maxValueLen bytes).
type Hit struct {
	Rule   *Rule
	Values []string
}

// Options returns the hit's symbol options: "field=value" for each value
// (the header's name for header rules), naming what matched; for body
// rules the value is the expression that matched ("body=/…/"), never the
// text, and for url rules the URL's scheme and host ("url=https://host/…"):
// a path or query may carry a recipient's address or token, and the
// options go into the history.
func (h Hit) Options() []string {
	label := h.Rule.Field
	if h.Rule.Field == "header" {
		label = h.Rule.Header
	}
	out := make([]string, len(h.Values))
	for i, v := range h.Values {
		out[i] = label + "=" + v
	}
	return out
}

const (
	maxValues   = 5
	maxValueLen = 100
)

// Eval matches every field rule against in and returns the hits in rule
// order. Composites are not evaluated here (see Compose): they need every
// check's symbols.
func (s *Set) Eval(in *Input) []Hit {
	e := &evaluation{in: in, vals: map[fieldKey][]string{}}
	hits := make([][]string, len(s.rules))
	matched := make([]bool, len(s.rules))
	add := func(i int, v string) {
		matched[i] = true
		if len(hits[i]) < maxValues {
			if s.rules[i].Field == "url" {
				v = urlOption(v)
			}
			v = clip(v)
			for _, old := range hits[i] {
				if old == v {
					return
				}
			}
			hits[i] = append(hits[i], v)
		}
	}
	// Inline patterns: one pre-filtered pass per group of rules reading
	// the same values.
	for _, g := range s.groups {
		for _, v := range e.values(g.key) {
			g.set.each(v, func(i int, re *regexp.Regexp, _ string) bool {
				if s.rules[i].Field == "body" {
					add(i, bodyOption(re))
				} else {
					add(i, v)
				}
				return true
			})
		}
	}
	now := s.lists.now().UnixNano()
	for i, r := range s.rules {
		if r.names == nil && r.cidr == nil && r.list == nil {
			continue
		}
		for _, v := range e.values(r.key()) {
			if m, ok := r.matchOne(v, now); ok {
				add(i, m)
			}
		}
	}
	var out []Hit
	for i, r := range s.rules {
		if matched[i] {
			out = append(out, Hit{Rule: r, Values: hits[i]})
		}
	}
	return out
}

// matchOne matches v against the rule's hashed entries and list file
// (inline patterns are matched by the group); it returns what to show.
func (r *Rule) matchOne(v string, now int64) (string, bool) {
	shown := v
	if r.info.kind == kindText {
		v = strings.ToLower(strings.TrimSpace(v))
	}
	switch r.Match {
	case "exact":
		if _, ok := r.names[v]; ok {
			return shown, true
		}
	case "suffix":
		if _, ok := r.names.suffix(v); ok {
			return shown, true
		}
	case "cidr":
		if a, err := netip.ParseAddr(v); err == nil {
			if _, ok := r.cidr.match(a); ok {
				return v, true
			}
		}
	}
	if r.list != nil {
		in := v
		if r.Match == "glob" || r.Match == "regex" {
			in = shown // patterns see the value as written
		}
		if re, ok := r.list.match(r.Match, in, now); ok {
			if r.Field == "body" {
				return bodyOption(re), true
			}
			return shown, true
		}
	}
	return "", false
}

// bodyOption is what a body hit shows: the expression that matched, not
// the text — no part of a body goes into the verdict, the log or the
// history.
func bodyOption(re *regexp.Regexp) string { return "/" + re.String() + "/" }

// urlOption is what a url hit shows of a URL: its scheme and host, no
// user information, and "/…" when a path, query or fragment followed.
func urlOption(u string) string {
	scheme, rest := "", u
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest = u[:i+3], u[i+3:]
	}
	host, more := rest, false
	if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
		host, more = rest[:i], true
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if more {
		return scheme + host + "/…"
	}
	return scheme + host
}

func clip(v string) string {
	if len(v) <= maxValueLen {
		return v
	}
	v = v[:maxValueLen]
	for len(v) > 0 && !utf8.ValidString(v) {
		v = v[:len(v)-1]
	}
	return v + "…"
}

// evaluation caches the values of each field for one Eval.
type evaluation struct {
	in   *Input
	vals map[fieldKey][]string
	body string
}

func (e *evaluation) values(k fieldKey) []string {
	if v, ok := e.vals[k]; ok {
		return v
	}
	v := e.extract(k)
	e.vals[k] = v
	return v
}

func (e *evaluation) extract(k fieldKey) []string {
	in := e.in
	info := fields[k.field]
	norm := func(ss ...string) []string {
		out := make([]string, 0, len(ss))
		for _, s := range ss {
			switch info.kind {
			case kindName, kindAddr:
				s = normName(s)
			}
			out = append(out, s)
		}
		return out
	}
	switch k.field {
	case "ip":
		if !in.ClientIP.IsValid() {
			return nil
		}
		return []string{in.ClientIP.Unmap().String()}
	case "helo":
		return nonEmpty(norm(in.Helo))
	case "ptr":
		return nonEmpty(norm(in.PTR))
	case "auth_user":
		return nonEmpty(norm(in.AuthUser))
	case "mail_from":
		return norm(in.MailFrom) // "" is the null sender, a value
	case "mail_from_domain":
		_, d := splitAddr(in.MailFrom)
		return nonEmpty(norm(d))
	case "mail_from_local":
		l, _ := splitAddr(in.MailFrom)
		return nonEmpty(norm(l))
	case "rcpt", "rcpt_domain", "rcpt_local":
		var out []string
		for _, r := range in.Rcpts {
			l, d := splitAddr(r)
			switch k.field {
			case "rcpt":
				out = append(out, r)
			case "rcpt_domain":
				out = append(out, d)
			default:
				out = append(out, l)
			}
		}
		return nonEmpty(norm(out...))
	case "spf_domain":
		return nonEmpty(norm(in.SPFDomain))
	case "dkim_domain":
		return nonEmpty(norm(in.DKIMDomains...))
	case "dmarc_domain":
		return nonEmpty(norm(in.DMARCDomain))
	}
	if in.Message == nil {
		return nil
	}
	switch k.field {
	case "header":
		var out []string
		for _, f := range in.Message.Get(k.header) {
			v := f.Unfolded()
			if !k.raw {
				v = message.DecodeHeader(v)
			}
			out = append(out, v)
		}
		return out
	case "from", "from_domain", "reply_to", "reply_to_domain":
		name := "From"
		if strings.HasPrefix(k.field, "reply_to") {
			name = "Reply-To"
		}
		var out []string
		for _, f := range in.Message.Get(name) {
			addrs, err := message.ParseAddressList(f.Value())
			if err != nil {
				// A malformed field: what follows the last "@" is
				// what a reader would take for the domain.
				v := f.Unfolded()
				if i := strings.LastIndexByte(v, '@'); i >= 0 {
					d := strings.TrimRight(v[i+1:], "> \t")
					if strings.HasSuffix(k.field, "domain") {
						out = append(out, d)
					} else {
						out = append(out, strings.Trim(v[strings.LastIndexAny(v[:i], " <\t")+1:], "<> \t"))
					}
				}
				continue
			}
			for _, a := range addrs {
				if strings.HasSuffix(k.field, "domain") {
					out = append(out, a.Domain)
				} else {
					out = append(out, a.String())
				}
			}
		}
		return nonEmpty(norm(out...))
	}
	c := in.Content
	if c == nil {
		return nil
	}
	switch k.field {
	case "url", "url_host", "url_domain":
		var out []string
		for _, u := range c.URLs {
			switch k.field {
			case "url":
				out = append(out, u.Raw)
			case "url_host":
				out = append(out, u.Host)
			default:
				out = append(out, u.Domain)
			}
		}
		return nonEmpty(out)
	case "attachment_name":
		var out []string
		for _, a := range c.Attachments {
			out = append(out, a.Filename)
			if a.Archive != nil {
				for _, f := range a.Archive.Files {
					if !f.Dir {
						out = append(out, f.Name)
					}
				}
			}
		}
		return nonEmpty(out)
	case "attachment_type":
		var out []string
		for _, a := range c.Attachments {
			out = append(out, a.Detected, a.Declared)
		}
		return nonEmpty(out)
	case "body":
		var b strings.Builder
		for i, t := range c.Texts {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t.Text)
		}
		if b.Len() == 0 {
			return nil
		}
		return []string{b.String()}
	}
	return nil
}

func splitAddr(a string) (local, domain string) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
