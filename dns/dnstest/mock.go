// Package dnstest holds DNS helpers for tests: Mock, a dns.Resolver made of
// plain maps for table tests, and Server, a small authoritative DNS server
// on loopback for integration tests.
package dnstest

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
)

// Mock is a dns.Resolver backed by maps. Keys are names in any case, with
// or without trailing dot; PTR keys are IP addresses in text form. A name
// that appears in no map is NXDOMAIN; a name present in some map but not in
// the asked one is NODATA. Fail makes a lookup fail: its key is "TYPE name"
// (e.g. "TXT example.com") or just a name for every type. Delay, when set,
// is waited for (or until the context ends) before every answer.
type Mock struct {
	TXT   map[string][]string
	A     map[string][]string
	AAAA  map[string][]string
	MX    map[string][]dns.MX
	PTR   map[string][]string
	Fail  map[string]dns.Kind
	Delay time.Duration

	queries atomic.Int64
	once    sync.Once
	names   map[string]bool
}

var _ dns.Resolver = (*Mock)(nil)

// Queries returns how many lookups were made.
func (m *Mock) Queries() int { return int(m.queries.Load()) }

func (m *Mock) exists(name string) bool {
	m.once.Do(func() {
		m.names = map[string]bool{}
		for _, mp := range []map[string][]string{m.TXT, m.A, m.AAAA} {
			for k := range mp {
				m.names[dns.Normalize(k)] = true
			}
		}
		for k := range m.MX {
			m.names[dns.Normalize(k)] = true
		}
		for k := range m.PTR {
			if ip, err := netip.ParseAddr(k); err == nil {
				m.names[dns.ReverseName(ip)] = true
			}
		}
	})
	return m.names[name]
}

func (m *Mock) begin(ctx context.Context, typ, name string) error {
	m.queries.Add(1)
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return &dns.Error{Kind: dns.Timeout, Name: name, Type: typ, Err: ctx.Err()}
		}
	}
	if err := ctx.Err(); err != nil {
		return &dns.Error{Kind: dns.Timeout, Name: name, Type: typ, Err: err}
	}
	for k, kind := range m.Fail {
		kt, kn, hasType := strings.Cut(k, " ")
		if !hasType {
			kn, kt = kt, ""
		}
		if dns.Normalize(kn) == name && (kt == "" || strings.EqualFold(kt, typ)) {
			return &dns.Error{Kind: kind, Name: name, Type: typ}
		}
	}
	return nil
}

func (m *Mock) notFound(typ, name string) error {
	if m.exists(name) {
		return &dns.Error{Kind: dns.NoData, Name: name, Type: typ}
	}
	return &dns.Error{Kind: dns.NXDomain, Name: name, Type: typ}
}

func lookup[T any](mp map[string]T, name string) (T, bool) {
	for k, v := range mp {
		if dns.Normalize(k) == name {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// LookupTXT implements dns.Resolver.
func (m *Mock) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = dns.Normalize(name)
	if err := m.begin(ctx, "TXT", name); err != nil {
		return nil, err
	}
	if v, ok := lookup(m.TXT, name); ok && len(v) > 0 {
		return append([]string(nil), v...), nil
	}
	return nil, m.notFound("TXT", name)
}

func (m *Mock) addrs(ctx context.Context, typ string, mp map[string][]string, name string) ([]netip.Addr, error) {
	name = dns.Normalize(name)
	if err := m.begin(ctx, typ, name); err != nil {
		return nil, err
	}
	v, _ := lookup(mp, name)
	var out []netip.Addr
	for _, s := range v {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	if len(out) == 0 {
		return nil, m.notFound(typ, name)
	}
	return out, nil
}

// LookupA implements dns.Resolver.
func (m *Mock) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return m.addrs(ctx, "A", m.A, name)
}

// LookupAAAA implements dns.Resolver.
func (m *Mock) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return m.addrs(ctx, "AAAA", m.AAAA, name)
}

// LookupMX implements dns.Resolver.
func (m *Mock) LookupMX(ctx context.Context, name string) ([]dns.MX, error) {
	name = dns.Normalize(name)
	if err := m.begin(ctx, "MX", name); err != nil {
		return nil, err
	}
	if v, ok := lookup(m.MX, name); ok && len(v) > 0 {
		out := make([]dns.MX, len(v))
		for i, mx := range v {
			out[i] = dns.MX{Host: dns.Normalize(mx.Host), Pref: mx.Pref}
		}
		return out, nil
	}
	return nil, m.notFound("MX", name)
}

// LookupPTR implements dns.Resolver.
func (m *Mock) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	name := dns.ReverseName(ip)
	if err := m.begin(ctx, "PTR", name); err != nil {
		return nil, err
	}
	for k, v := range m.PTR {
		if kip, err := netip.ParseAddr(k); err == nil && kip.Unmap() == ip.Unmap() && len(v) > 0 {
			out := make([]string, len(v))
			for i, s := range v {
				out[i] = dns.Normalize(s)
			}
			return out, nil
		}
	}
	return nil, m.notFound("PTR", name)
}
