// Package classify decides, from what is known at connect, whether a
// transaction is local (the host itself or its LAN), outbound (the host's
// own users sending) or allowlisted; such transactions skip the inbound
// connection checks and greylisting.
//
// Allowlisting by authenticated sender domain (SPF or aligned DKIM pass)
// needs the message and is done by the greylist finisher, not here: a
// domain given in a HELO or From line proves nothing.
package classify

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hamlet-mail/hamlet/config"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/trustscope"
)

// Outbound configures what counts as mail of the host's own users.
type Outbound struct {
	// Networks whose clients send outbound mail (besides authenticated
	// clients), e.g. a web server's address.
	Networks []string `toml:"networks"`
}

// Allowlist configures clients that are trusted for inbound mail.
type Allowlist struct {
	// IPs are addresses or CIDR prefixes.
	IPs []string `toml:"ips"`
	// Hostnames are domain suffixes matched against the client's
	// confirmed PTR name and its HELO name, e.g. "mail.example.org" or
	// ".example.org" (any name under it).
	Hostnames []string `toml:"hostnames"`
}

// Classifier implements engine.Classifier.
type Classifier struct {
	local, outbound, allow []netip.Prefix
	hostnames              []string
}

var _ engine.Classifier = (*Classifier)(nil)

// New builds a Classifier.
func New(local []netip.Prefix, out Outbound, allow Allowlist) (*Classifier, error) {
	c := &Classifier{local: local}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("outbound.%w", err)
	}
	if err := allow.Validate(); err != nil {
		return nil, fmt.Errorf("allowlist.%w", err)
	}
	var err error
	if c.outbound, err = config.ParsePrefixes(out.Networks); err != nil {
		return nil, fmt.Errorf("outbound.networks: %w", err)
	}
	if c.allow, err = config.ParsePrefixes(allow.IPs); err != nil {
		return nil, fmt.Errorf("allowlist.ips: %w", err)
	}
	for _, h := range allow.Hostnames {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if h == "" || h == "." {
			return nil, fmt.Errorf("allowlist.hostnames: empty name")
		}
		c.hostnames = append(c.hostnames, h)
	}
	return c, nil
}

// Validate checks the outbound configuration: networks that trust no
// client or most of the Internet (0.0.0.0/8, 0.0.0.0/0) are refused, as
// their mail would be DKIM-signed.
func (o *Outbound) Validate() error {
	if err := checkNetworks(o.Networks); err != nil {
		return fmt.Errorf("networks: %w", err)
	}
	return nil
}

// Validate checks the allowlist configuration: a public suffix (co.uk)
// or a network such as 0.0.0.0/8 is refused with the reason.
func (a *Allowlist) Validate() error {
	if err := checkNetworks(a.IPs); err != nil {
		return fmt.Errorf("ips: %w", err)
	}
	for _, h := range a.Hostnames {
		if err := trustscope.Domain(h); err != nil {
			return fmt.Errorf("hostnames: %w", err)
		}
	}
	return nil
}

func checkNetworks(ss []string) error {
	ps, err := config.ParsePrefixes(ss)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := trustscope.Network(p); err != nil {
			return err
		}
	}
	return nil
}

func contains(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Classify implements engine.Classifier.
func (c *Classifier) Classify(tx *engine.Transaction) {
	ip := tx.ClientIP
	tx.Local = ip.IsValid() && contains(c.local, ip)
	tx.Outbound = tx.AuthUser != "" || ip.IsValid() && contains(c.outbound, ip)
	tx.Allowlisted = ip.IsValid() && contains(c.allow, ip) ||
		tx.RDNS == engine.FCrDNSPass && c.nameAllowed(tx.ClientPTR) ||
		c.heloAllowed(tx)
}

// heloAllowed allows by HELO name only when the HELO name is confirmed:
// it equals the client's forward-confirmed PTR name. A bare HELO proves
// nothing.
func (c *Classifier) heloAllowed(tx *engine.Transaction) bool {
	return tx.RDNS == engine.FCrDNSPass && strings.EqualFold(strings.TrimSuffix(tx.Helo, "."), tx.ClientPTR) && c.nameAllowed(tx.Helo)
}

func (c *Classifier) nameAllowed(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return false
	}
	for _, h := range c.hostnames {
		if strings.HasPrefix(h, ".") {
			if strings.HasSuffix(name, h) {
				return true
			}
		} else if name == h || strings.HasSuffix(name, "."+h) {
			return true
		}
	}
	return false
}
