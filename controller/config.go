package controller

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/hamlet-mail/hamlet/config/duration"
)

// Config is the [controller] section's access and UI options (its
// listen address is the core configuration's).
type Config struct {
	// Password is the read-only password's hash; EnablePassword the
	// admin password's (rspamd's names). Both are argon2id or bcrypt
	// hashes, as `hamlet passwd` prints them.
	Password       string `toml:"password"`
	EnablePassword string `toml:"enable_password"`
	// Hosts are the names the controller answers to besides localhost,
	// IP literals and the host name (e.g. a reverse proxy's name).
	Hosts []string `toml:"hosts"`
	// SecureIP are addresses or networks that need no password (rspamd's
	// secure_ip). Empty by default.
	SecureIP []string `toml:"secure_ip"`
	// RspamdWebUI, when set, is the directory of rspamd's own web UI
	// (Debian: /usr/share/rspamd/www), served under /rspamd/ against
	// hamlet's API.
	RspamdWebUI string `toml:"rspamd_webui"`
	// SessionIdle ends a browser's login session after this long without
	// a request (default 12 h); SessionMaxAge ends it this long after the
	// login however busy (default 7 days).
	SessionIdle   duration.Duration `toml:"session_idle"`
	SessionMaxAge duration.Duration `toml:"session_max_age"`
}

// HasPassword reports whether a password is set.
func (c *Config) HasPassword() bool { return c.Password != "" || c.EnablePassword != "" }

// Validate checks the section.
func (c *Config) Validate() error {
	for name, h := range map[string]string{"password": c.Password, "enable_password": c.EnablePassword} {
		if h == "" {
			continue
		}
		if err := CheckHash(h); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if _, err := c.SecureNets(); err != nil {
		return err
	}
	for _, h := range c.Hosts {
		if normHost(h) == "" {
			return fmt.Errorf("hosts: empty name")
		}
	}
	if c.SessionIdle < 0 || c.SessionMaxAge < 0 {
		return fmt.Errorf("session_idle, session_max_age: negative")
	}
	if c.SessionIdle > 0 && c.SessionMaxAge > 0 && c.SessionIdle > c.SessionMaxAge {
		return fmt.Errorf("session_idle (%v) is longer than session_max_age (%v)", c.SessionIdle.D(), c.SessionMaxAge.D())
	}
	if c.RspamdWebUI != "" {
		if _, err := os.Stat(filepath.Join(c.RspamdWebUI, "index.html")); err != nil {
			return fmt.Errorf("rspamd_webui: %q has no index.html: %w", c.RspamdWebUI, err)
		}
	}
	return nil
}

// SecureNets parses SecureIP.
func (c *Config) SecureNets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.SecureIP {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("secure_ip: %q is not an address or network", s)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
