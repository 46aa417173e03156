package dmarcreport

import (
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
)

// Config is the [dmarc.reports] section.
type Config struct {
	// Addresses are the report addresses (the rua= mailto: of the own
	// domains): mail to them is delivered as usual and hamlet also reads
	// the report in it.
	Addresses []string `toml:"addresses"`
	// Retention is how long a received report is kept (default 180d).
	Retention duration.Duration `toml:"retention"`
	// OwnNetworks are the own servers (and ESPs), for "your own servers
	// that fail DMARC"; sources that authenticate as the domain count as
	// own too.
	OwnNetworks []string `toml:"own_networks"`
	// MaxSize bounds one report's XML after decompression, in bytes
	// (default 64 MiB).
	MaxSize int64 `toml:"max_size"`

	Send SendConfig `toml:"send"`

	ownNets []netip.Prefix
}

// SendConfig is [dmarc.reports.send]: hamlet's own aggregate reports.
type SendConfig struct {
	// Enabled turns sending on (default off: a report tells other domains
	// about the mail this host received).
	Enabled bool `toml:"enabled"`
	// OrgName and From name the reporter (defaults: the host name and
	// "postmaster@" + host name). Contact is extra_contact_info.
	OrgName string `toml:"org_name"`
	From    string `toml:"from"`
	Contact string `toml:"contact"`
	// Interval is the reporting period (default 24h, at least 1h).
	Interval duration.Duration `toml:"interval"`
	// Sendmail is the program given each report (with -t -i), default
	// /usr/sbin/sendmail; Relay ("host:port") sends by SMTP instead.
	Sendmail string `toml:"sendmail"`
	Relay    string `toml:"relay"`
	// MaxDomains bounds the policy domains counted per period (default
	// 10,000): beyond it new domains are not counted.
	MaxDomains int `toml:"max_domains"`
}

// DefaultConfig: no report addresses, reports kept 180 days, nothing sent.
func DefaultConfig() Config {
	return Config{Retention: duration.Duration(180 * 24 * time.Hour), Send: SendConfig{
		Interval: duration.Duration(24 * time.Hour), Sendmail: "/usr/sbin/sendmail", MaxDomains: 10000,
	}}
}

// Validate checks the section and normalises the addresses.
func (c *Config) Validate() error {
	for i, a := range c.Addresses {
		addr, err := mail.ParseAddress(a)
		if err != nil || !strings.Contains(addr.Address, "@") {
			return fmt.Errorf("addresses: %q is not a mail address", a)
		}
		c.Addresses[i] = strings.ToLower(addr.Address)
	}
	if c.Retention <= 0 {
		return fmt.Errorf("retention: must be positive")
	}
	c.ownNets = nil
	for _, n := range c.OwnNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, err2 := netip.ParseAddr(n)
			if err2 != nil {
				return fmt.Errorf("own_networks: %q is neither an address nor a network", n)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.ownNets = append(c.ownNets, p.Masked())
	}
	if c.MaxSize < 0 {
		return fmt.Errorf("max_size: must not be negative")
	}
	if c.Send.Interval.D() < time.Hour {
		return fmt.Errorf("send.interval: at least 1h (RFC 7489 §7.2: reports are at least hourly)")
	}
	if c.Send.MaxDomains <= 0 {
		return fmt.Errorf("send.max_domains: must be positive")
	}
	if c.Send.From != "" {
		if _, err := mail.ParseAddress(c.Send.From); err != nil {
			return fmt.Errorf("send.from: %q is not a mail address", c.Send.From)
		}
	}
	return nil
}

// IsReportAddress reports whether rcpt is one of the report addresses.
func (c *Config) IsReportAddress(rcpt string) bool {
	rcpt = strings.ToLower(strings.Trim(rcpt, "<> "))
	for _, a := range c.Addresses {
		if a == rcpt {
			return true
		}
	}
	return false
}

func (c *Config) own(ip netip.Addr) bool {
	for _, p := range c.ownNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
