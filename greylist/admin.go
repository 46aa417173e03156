package greylist

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/dns/dnsname"
	"github.com/hamlet-mail/hamlet/internal/trustscope"
	"github.com/hamlet-mail/hamlet/store"
)

// Listing is what `hamlet greylist list` and the controller's GET
// /api/greylist show.
type Listing struct {
	Greylist []store.GreylistEntry `json:"greylist"`
	Allow    []store.AllowEntry    `json:"allow"`
}

// List returns up to limit greylist and allowlist entries each, sorted by
// key.
func (g *Greylister) List(ctx context.Context, limit int) (Listing, error) {
	now := g.now()
	gl, err := g.st.GreylistList(ctx, now, limit)
	if err != nil {
		return Listing{}, err
	}
	al, err := g.st.AllowList(ctx, now, limit)
	if err != nil {
		return Listing{}, err
	}
	if gl == nil {
		gl = []store.GreylistEntry{}
	}
	slices.SortFunc(gl, func(a, b store.GreylistEntry) int { return strings.Compare(a.Key, b.Key) })
	if al == nil {
		al = []store.AllowEntry{}
	}
	return Listing{Greylist: gl, Allow: al}, nil
}

// ErrBadTarget is returned by Allow for what is not an address, a network
// or a domain.
var ErrBadTarget = errors.New("greylist: not an IP address, network or domain")

// AllowKey turns an admin's target into an allowlist key: an address
// ("192.0.2.1" → "net:192.0.2.1/32"), a network of a length that lookups
// try (IPv4 /8 /16 /24 /32, IPv6 /32 /48 /56 /64 /128) or a domain
// ("example.org" → "domain:example.org", matched against the
// SPF-authenticated domain and the client's confirmed PTR name, and their
// parents). A key already in that form is accepted as it is.
func AllowKey(target string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(target))
	t = strings.TrimPrefix(strings.TrimPrefix(t, "net:"), "domain:")
	if ip, err := netip.ParseAddr(t); err == nil {
		ip = ip.Unmap()
		p := netip.PrefixFrom(ip, ip.BitLen())
		if err := trustscope.Network(p); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "net:" + p.String(), nil
	}
	if p, err := netip.ParsePrefix(t); err == nil {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		ok := map[int]bool{8: true, 16: true, 24: true, 32: true}
		if p.Addr().Is6() {
			ok = map[int]bool{32: true, 48: true, 56: true, 64: true, 128: true}
		}
		if !ok[p.Bits()] {
			return "", fmt.Errorf("%w: /%d networks are not looked up (IPv4: /8 /16 /24 /32; IPv6: /32 /48 /56 /64 /128)", ErrBadTarget, p.Bits())
		}
		if err := trustscope.Network(p); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "net:" + p.String(), nil
	}
	t = strings.TrimSuffix(t, ".")
	if allowDomain.Valid(t) {
		if err := trustscope.Domain(t); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadTarget, err)
		}
		return "domain:" + t, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadTarget, target)
}

// allowDomain is what a domain allowlist target may be: a lower-cased
// (AllowKey folds it) ASCII name of at least two labels, underscores allowed
// as DNS allows them (RFC 2181 §11). A U-label is refused, not converted:
// the key must be the A-label form the sender's domain is compared in.
var allowDomain = dnsname.Rules{MinLabels: 2, Underscore: true}

// Allow allowlists target (see AllowKey) for ttl (0: for ever).
func (g *Greylister) Allow(ctx context.Context, target, reason string, ttl time.Duration) (store.AllowEntry, error) {
	k, err := AllowKey(target)
	if err != nil {
		return store.AllowEntry{}, err
	}
	if ttl < 0 {
		return store.AllowEntry{}, fmt.Errorf("greylist: negative ttl %v", ttl)
	}
	if reason == "" {
		reason = "admin"
	}
	now := g.now()
	e := store.AllowEntry{Key: k, Reason: reason, Added: now}
	if ttl > 0 {
		e.Expires = now.Add(ttl)
	}
	return e, g.st.AllowAdd(ctx, e)
}

// Drop removes a greylist entry or an allowlist entry ("net:…",
// "domain:…" or a target as Allow takes it); it reports whether one
// existed.
func (g *Greylister) Drop(ctx context.Context, key string) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("greylist: empty key")
	}
	ok, err := g.st.GreylistDelete(ctx, key)
	if err != nil || ok {
		return ok, err
	}
	ak := key
	if !strings.Contains(key, "|") {
		if k, err := AllowKey(key); err == nil {
			ak = k
		}
	}
	ok, err = g.st.AllowDelete(ctx, ak)
	if err == nil && strings.HasPrefix(ak, "net:") {
		// An admin who drops a network's entry wants it gone: its pass
		// count goes too, or the next pass would allowlist it again.
		_, err = g.st.CounterDelete(ctx, "awl:"+strings.TrimPrefix(ak, "net:"))
	}
	return ok, err
}
