package rspamdhttp

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"sort"
	"strings"

	"github.com/hamlet-mail/hamlet/engine"
)

// Request is what a scan request says besides the message: the envelope
// and connection data of the SMTP transaction, in rspamd's request
// headers. Header names are matched without regard to case; the query
// string's parameters count as headers too, as in rspamd
// (/checkv2?ip=192.0.2.1&from=a@example.org).
type Request struct {
	Tx engine.Transaction // without Message

	// Read but not used by hamlet's scan; kept for the log.
	DeliverTo  string   // Deliver-To: the local recipient (LDA mode)
	SettingsID string   // Settings-ID: hamlet has no rspamd settings
	PassAll    bool     // Pass: all (hamlet always runs every check)
	Flags      []string // Flags: rspamd protocol flags, e.g. body_block
}

// requestError is a request hamlet will not scan, with its HTTP status.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// maxAddrLen bounds one address. RFC 5321 §4.5.3.1.3 allows a path of 256
// octets; a little slack costs nothing.
const maxAddrLen = 1024

// ParseRequest reads rspamd's request headers (and query parameters):
//
//	IP          client address (IPv4, IPv6, "[…]" or "IPv6:…" forms); a
//	            malformed one is an error
//	Helo        HELO/EHLO name
//	Hostname    the client's reverse name as the MTA verified it;
//	            "unknown" or an address literal "[…]" means none (RDNS
//	            none), absent or empty means the MTA did not say
//	From        envelope sender, with or without angle brackets; empty or
//	            "<>" is the null sender
//	Rcpt        envelope recipients: repeated, or comma-separated
//	            (commas inside quoted local parts do not split)
//	Queue-Id    the MTA's queue id
//	User        the SMTP AUTH identity
//	MTA-Name    the MTA's host name
//	Deliver-To, Settings-ID, Pass, Flags   read, not acted upon
//
// query holds parameters that count as headers too (nil for none).
// maxRcpts bounds the recipients (0: no bound).
func ParseRequest(h http.Header, query url.Values, maxRcpts int) (*Request, error) {
	if len(query) > 0 {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		keys := make([]string, 0, len(query))
		for k := range query {
			keys = append(keys, k)
		}
		sort.Strings(keys) // url.Values has lost the order of distinct keys
		for _, k := range keys {
			for _, v := range query[k] {
				h.Add(k, v)
			}
		}
	}
	return parseHeaders(h, maxRcpts)
}

// parseRequest parses a request's headers and its raw query string, whose
// parameters are added in the order written (so that repeated Rcpt
// parameters, whatever their case, keep their order).
func parseRequest(h http.Header, rawQuery string, maxRcpts int) (*Request, error) {
	hdr, err := mergeQuery(h, rawQuery)
	if err != nil {
		return nil, err
	}
	return parseHeaders(hdr, maxRcpts)
}

func parseHeaders(hdr http.Header, maxRcpts int) (*Request, error) {
	req := &Request{}
	tx := &req.Tx

	if v, ok := last(hdr, "Ip"); ok {
		ip, err := parseIP(v)
		if err != nil {
			return nil, badRequest("bad IP header %q: %v", clip(v), err)
		}
		tx.ClientIP = ip
	}
	if v, ok := last(hdr, "Helo"); ok {
		if err := checkText(v); err != nil {
			return nil, badRequest("bad Helo header: %v", err)
		}
		tx.Helo = strings.TrimSpace(v)
	}
	if v, ok := last(hdr, "Hostname"); ok {
		if err := checkText(v); err != nil {
			return nil, badRequest("bad Hostname header: %v", err)
		}
		switch name := strings.TrimSpace(v); {
		case name == "":
			// present but empty: the MTA does not know
		case strings.EqualFold(name, "unknown"):
			// Postfix, Exim and rspamd's convention for "no valid rDNS".
			tx.RDNS = engine.FCrDNSNone
		case strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]"):
			// An address literal, as Sendmail names a client without
			// valid rDNS.
			tx.RDNS = engine.FCrDNSNone
		default:
			tx.ClientPTR = strings.TrimSuffix(name, ".")
			// An MTA passes the name it verified (RFC 8601 §3 iprev).
			tx.RDNS = engine.FCrDNSPass
		}
	}
	if v, ok := last(hdr, "From"); ok {
		addr, err := parsePath(v)
		if err != nil {
			return nil, badRequest("bad From header: %v", err)
		}
		tx.MailFrom = addr
	}
	for _, v := range hdr[textproto.CanonicalMIMEHeaderKey("Rcpt")] {
		list, err := splitRcpts(v)
		if err != nil {
			return nil, badRequest("bad Rcpt header: %v", err)
		}
		for _, r := range list {
			addr, err := parsePath(r)
			if err != nil {
				return nil, badRequest("bad Rcpt header: %v", err)
			}
			if addr == "" {
				continue
			}
			if maxRcpts > 0 && len(tx.Rcpts) >= maxRcpts {
				return nil, badRequest("more than %d recipients", maxRcpts)
			}
			tx.Rcpts = append(tx.Rcpts, addr)
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"Queue-Id", &tx.QueueID},
		{"User", &tx.AuthUser},
		{"Mta-Name", &tx.MTAName},
		{"Deliver-To", &req.DeliverTo},
		{"Settings-Id", &req.SettingsID},
	} {
		if v, ok := last(hdr, f.name); ok {
			if err := checkText(v); err != nil {
				return nil, badRequest("bad %s header: %v", f.name, err)
			}
			*f.dst = strings.TrimSpace(v)
		}
	}
	req.DeliverTo = strings.TrimSuffix(strings.TrimPrefix(req.DeliverTo, "<"), ">")
	if v, ok := last(hdr, "Pass"); ok && strings.EqualFold(strings.TrimSpace(v), "all") {
		req.PassAll = true
	}
	for _, v := range hdr[textproto.CanonicalMIMEHeaderKey("Flags")] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				req.Flags = append(req.Flags, f)
			}
		}
	}
	return req, nil
}

// mergeQuery returns h with the parameters of the query string added as
// headers, in the order written (so that repeated Rcpt parameters keep
// their order).
func mergeQuery(h http.Header, rawQuery string) (http.Header, error) {
	if rawQuery == "" {
		return h, nil
	}
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err := errors.Join(err1, err2); err != nil {
			return nil, badRequest("bad query string: %v", err)
		}
		out.Add(key, val)
	}
	return out, nil
}

// last returns the last value of a header, as rspamd lets a later header
// override an earlier one.
func last(h http.Header, name string) (string, bool) {
	vs := h[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// parseIP accepts an address as MTAs write it: 192.0.2.1, 2001:db8::1,
// [192.0.2.1], [IPv6:2001:db8::1] (RFC 5321 §4.1.3 literal). IPv4-mapped
// IPv6 addresses are unmapped.
func parseIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s = s[5:]
	}
	if s == "" {
		return netip.Addr{}, errors.New("empty")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IP address")
	}
	if ip.Zone() != "" {
		return netip.Addr{}, errors.New("zoned address")
	}
	return ip.Unmap(), nil
}

// checkText rejects values no MTA would send: control characters (the
// HTTP server already refuses CR, LF and NUL) and overlong values.
func checkText(s string) error {
	if len(s) > maxAddrLen {
		return fmt.Errorf("longer than %d bytes", maxAddrLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("control character 0x%02x", c)
		}
	}
	return nil
}

// parsePath returns the address of an SMTP path (RFC 5321 §4.1.2
// Reverse-path / Forward-path) written with or without angle brackets;
// a source route (@a,@b:) is dropped. "" and "<>" give "".
func parsePath(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") {
		if !strings.HasSuffix(s, ">") {
			return "", fmt.Errorf("%q: unbalanced angle bracket", clip(s))
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if strings.HasPrefix(s, "@") {
		// RFC 5321 §4.1.2 A-d-l (source route), obsolete; §C says ignore.
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "", fmt.Errorf("%q: source route without mailbox", clip(s))
		}
		s = s[i+1:]
	}
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ' ' || c == '\t' || c == '<' || c == '>' || c == ',':
			return "", fmt.Errorf("%q: not a mailbox", clip(s))
		}
	}
	if quoted {
		return "", fmt.Errorf("%q: unterminated quoted string", clip(s))
	}
	return s, nil
}

// splitRcpts splits a Rcpt header value at commas outside quoted strings,
// as rspamd does; empty items are dropped.
func splitRcpts(v string) ([]string, error) {
	if !strings.ContainsAny(v, ",\"") {
		return []string{v}, nil
	}
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			if item := strings.TrimSpace(v[start:i]); item != "" {
				out = append(out, item)
			}
			start = i + 1
		}
	}
	if quoted {
		return nil, fmt.Errorf("%q: unterminated quoted string", clip(v))
	}
	if start <= len(v) {
		if item := strings.TrimSpace(v[start:]); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
