package spf

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/hamlet-mail/hamlet/dns"
)

// zoneRR is one entry of a test zone: a record of type typ, or a TIMEOUT
// marker (typ "TIMEOUT").
type zoneRR struct {
	typ string // TXT, SPF, A, AAAA, MX, PTR, CNAME, TIMEOUT
	txt string // TXT/SPF text, PTR or CNAME target
	ip  netip.Addr
	mx  dns.MX
	// none marks the suite's "TXT: NONE": a TXT entry yielding nothing.
	none bool
}

// zoneResolver is a dns.Resolver over the zone data of the SPF test suites,
// applying the driver rules of their SOURCE.md: SPF entries are served as
// TXT when a name has no TXT entry; TIMEOUT is positional; CNAMEs are
// followed (a loop or a chain longer than maxCNAME is SERVFAIL, as a
// recursive server reports it); unlisted names are NXDOMAIN.
type zoneResolver struct {
	names    map[string][]zoneRR
	queries  int
	maxCNAME int
}

var _ dns.Resolver = (*zoneResolver)(nil)

func newZone() *zoneResolver {
	return &zoneResolver{names: map[string][]zoneRR{}, maxCNAME: 8}
}

func (z *zoneResolver) add(name string, rr zoneRR) {
	name = dns.Normalize(name)
	z.names[name] = append(z.names[name], rr)
}

// lookup returns the entries of type typ at name, following CNAMEs.
func (z *zoneResolver) lookup(ctx context.Context, typ, name string) ([]zoneRR, error) {
	name = dns.Normalize(name)
	if err := ctx.Err(); err != nil {
		return nil, &dns.Error{Kind: dns.Timeout, Name: name, Type: typ, Err: err}
	}
	z.queries++
	seen := map[string]bool{}
	for hops := 0; ; hops++ {
		if seen[name] || hops > z.maxCNAME {
			return nil, &dns.Error{Kind: dns.ServFail, Name: name, Type: typ, Err: fmt.Errorf("CNAME loop or chain too long")}
		}
		seen[name] = true
		rrs, ok := z.names[name]
		if !ok {
			return nil, &dns.Error{Kind: dns.NXDomain, Name: name, Type: typ}
		}
		serveSPF := false
		if typ == "TXT" {
			serveSPF = true
			for _, rr := range rrs {
				if rr.typ == "TXT" {
					serveSPF = false
				}
			}
		}
		var out []zoneRR
		var cname string
		for _, rr := range rrs {
			switch {
			case rr.typ == "TIMEOUT":
				if len(out) == 0 {
					return nil, &dns.Error{Kind: dns.Timeout, Name: name, Type: typ}
				}
			case rr.typ == typ || serveSPF && rr.typ == "SPF":
				if !rr.none {
					out = append(out, rr)
				}
			case rr.typ == "CNAME" && cname == "":
				cname = rr.txt
			}
		}
		if len(out) == 0 && cname != "" {
			name = dns.Normalize(cname)
			if name == "" {
				return nil, &dns.Error{Kind: dns.NXDomain, Name: name, Type: typ}
			}
			continue
		}
		if len(out) == 0 {
			return nil, &dns.Error{Kind: dns.NoData, Name: name, Type: typ}
		}
		return out, nil
	}
}

func (z *zoneResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := z.lookup(ctx, "TXT", name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.txt
	}
	return out, nil
}

func (z *zoneResolver) addrs(ctx context.Context, typ, name string) ([]netip.Addr, error) {
	rrs, err := z.lookup(ctx, typ, name)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.ip
	}
	return out, nil
}

func (z *zoneResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return z.addrs(ctx, "A", name)
}

func (z *zoneResolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return z.addrs(ctx, "AAAA", name)
}

func (z *zoneResolver) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	rrs, err := z.lookup(ctx, "MX", name)
	if err != nil {
		return nil, err
	}
	out := make([]dns.MX, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.mx
	}
	return out, nil
}

func (z *zoneResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	rrs, err := z.lookup(ctx, "PTR", dns.ReverseName(ip))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Normalize(rr.txt)
	}
	return out, nil
}

// latin1 maps a string whose code points are all below 256 back to
// single bytes: the suites write raw bytes as YAML "\xNN" escapes, which
// a YAML parser turns into U+00NN (see the suite's SOURCE.md).
func latin1(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r > 0xff {
			return s
		}
		b.WriteByte(byte(r))
	}
	return b.String()
}

// zoneFromYAML builds a zone from a scenario's decoded zonedata.
func zoneFromYAML(data map[string][]any) (*zoneResolver, error) {
	z := newZone()
	for name, entries := range data {
		if len(entries) == 0 {
			// A listed name without records exists (NODATA).
			z.names[dns.Normalize(name)] = nil
		}
		for _, e := range entries {
			if s, ok := e.(string); ok {
				if s != "TIMEOUT" {
					return nil, fmt.Errorf("%s: unknown bare entry %q", name, s)
				}
				z.add(name, zoneRR{typ: "TIMEOUT"})
				continue
			}
			m, ok := e.(map[string]any)
			if !ok || len(m) != 1 {
				return nil, fmt.Errorf("%s: bad entry %#v", name, e)
			}
			for typ, v := range m {
				if err := z.addYAML(name, typ, v); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", name, typ, err)
				}
			}
		}
	}
	return z, nil
}

func (z *zoneResolver) addYAML(name, typ string, v any) error {
	switch typ {
	case "TXT", "SPF":
		var text string
		switch x := v.(type) {
		case string:
			if typ == "TXT" && x == "NONE" {
				z.add(name, zoneRR{typ: typ, none: true})
				return nil
			}
			text = x
		case []any:
			// Several character-strings of one record, joined without
			// separator (RFC 7208 §3.3).
			for _, p := range x {
				s, ok := p.(string)
				if !ok {
					return fmt.Errorf("bad string %#v", p)
				}
				text += s
			}
		default:
			return fmt.Errorf("bad value %#v", v)
		}
		z.add(name, zoneRR{typ: typ, txt: latin1(text)})
	case "A", "AAAA":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("bad address %#v", v)
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return err
		}
		z.add(name, zoneRR{typ: typ, ip: ip})
	case "PTR", "CNAME":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("bad name %#v", v)
		}
		z.add(name, zoneRR{typ: typ, txt: s})
	case "MX":
		l, ok := v.([]any)
		if !ok || len(l) != 2 {
			return fmt.Errorf("bad MX %#v", v)
		}
		pref, ok1 := l[0].(int)
		host, ok2 := l[1].(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("bad MX %#v", v)
		}
		z.add(name, zoneRR{typ: typ, mx: dns.MX{Host: dns.Normalize(host), Pref: uint16(pref)}})
	default:
		return fmt.Errorf("unknown record type")
	}
	return nil
}
