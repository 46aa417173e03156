package milter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/config/listen"
)

// DefaultListen is the milter address rspamd uses, which Postfix setups
// written for rspamd already point at.
const DefaultListen = "127.0.0.1:11332"

// On-error modes: what the MTA is told when the engine fails or misses its
// deadline. Never a 5xx.
const (
	OnErrorTempfail = "tempfail"
	OnErrorAccept   = "accept"
)

// Config is the [milter] section of the configuration.
type Config struct {
	// Listen lists the addresses to listen on: "host:port",
	// "inet:host:port", "inet6:[::1]:port" (Postfix's spelling), or
	// "unix:/path" / "/path" for a unix socket.
	Listen listen.Addrs `toml:"listen"`
	// OnError is "tempfail" (default: 451 4.7.1, the MTA retries) or
	// "accept" (the message passes unscanned).
	OnError string `toml:"on_error"`
	// Timeout bounds the wait for one verdict beyond the engine's own
	// check deadline ([scan] timeout): the front end waits the two
	// together, then OnError applies. Zero means DefaultTimeout; less
	// than MinTimeout is refused.
	Timeout duration.Duration `toml:"timeout"`
	// MaxMessageSize is the largest message scanned, in bytes; larger
	// ones pass unscanned (as rspamd's max_message). Zero means
	// DefaultMaxMessageSize.
	MaxMessageSize int64 `toml:"max_message_size"`
	// TempfailReply is the SMTP reply text used when OnError tempfails.
	TempfailReply string `toml:"tempfail_reply"`
	// MaxConnections caps the milter connections served at once; more
	// wait in the listen queue. Zero means half the process's file
	// descriptor limit (DefaultMaxConnections).
	MaxConnections int `toml:"max_connections"`
	// IdleTimeout closes a connection on which the MTA has sent nothing
	// for this long. Zero means DefaultIdleTimeout, longer than Postfix's
	// smtpd_timeout (300 s), so that a slow SMTP client's milter
	// connection survives.
	IdleTimeout duration.Duration `toml:"idle_timeout"`
	// MaxInflightBytes bounds the message bytes held by all connections
	// together while they arrive and are scanned; a message that would
	// exceed it gets OnError (by default 451 4.7.1, the MTA retries).
	// Zero means DefaultMaxInflightBytes.
	MaxInflightBytes int64 `toml:"max_inflight_bytes"`
}

// Defaults.
const (
	DefaultTimeout        = 30 * time.Second
	MinTimeout            = time.Second
	DefaultMaxMessageSize = 50 << 20
	DefaultTempfailReply  = "4.7.1 Mail filter unavailable, try again later"
	DefaultIdleTimeout    = 330 * time.Second
	// DefaultMaxInflightBytes: 256 MiB of messages in flight.
	DefaultMaxInflightBytes = 256 << 20
)

// DefaultConfig returns the configuration used when [milter] is absent.
func DefaultConfig() Config {
	return Config{
		Listen:         []string{DefaultListen},
		OnError:        OnErrorTempfail,
		Timeout:        duration.Duration(DefaultTimeout),
		MaxMessageSize: DefaultMaxMessageSize,
		TempfailReply:  DefaultTempfailReply,
		IdleTimeout:    duration.Duration(DefaultIdleTimeout),
		// MaxConnections stays 0 here: the limit is the running
		// process's, read when the server starts.
		MaxInflightBytes: DefaultMaxInflightBytes,
	}
}

// WithDefaults returns c with zero fields set to their defaults. An empty
// Listen stays empty only if it was explicitly set to an empty list by the
// caller, which cannot be told apart here: it gets the default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Listen == nil {
		c.Listen = d.Listen
	}
	if c.OnError == "" {
		c.OnError = d.OnError
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.TempfailReply == "" {
		c.TempfailReply = d.TempfailReply
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = d.MaxInflightBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections()
	}
	return c
}

// Validate reports the first invalid field, naming it.
func (c Config) Validate() error {
	for _, a := range c.Listen {
		if _, _, err := ParseListen(a); err != nil {
			return fmt.Errorf("milter.listen: %w", err)
		}
	}
	switch strings.ToLower(c.OnError) {
	case "", OnErrorTempfail, OnErrorAccept:
	default:
		return fmt.Errorf("milter.on_error: %q is neither %q nor %q", c.OnError, OnErrorTempfail, OnErrorAccept)
	}
	if c.Timeout < 0 {
		return errors.New("milter.timeout: negative")
	}
	if c.Timeout != 0 && time.Duration(c.Timeout) < MinTimeout {
		// The engine answers at its checks' deadline and then runs its
		// finishers (greylist store, DKIM signing): a front end that
		// gives up sooner fails mail the engine was about to pass.
		return fmt.Errorf("milter.timeout: %v would give up before the engine has finished after its checks' deadline (scan.timeout); at least %v", time.Duration(c.Timeout), MinTimeout)
	}
	if c.MaxMessageSize < 0 {
		return errors.New("milter.max_message_size: negative")
	}
	if c.MaxConnections < 0 {
		return errors.New("milter.max_connections: negative")
	}
	if c.IdleTimeout < 0 {
		return errors.New("milter.idle_timeout: negative")
	}
	if c.MaxInflightBytes < 0 {
		return errors.New("milter.max_inflight_bytes: negative")
	}
	if c.TempfailReply != "" && !strings.HasPrefix(c.TempfailReply, "4.") {
		return fmt.Errorf("milter.tempfail_reply: %q must start with a 4.x.x enhanced status code", c.TempfailReply)
	}
	return nil
}

// ParseListen turns a listen address into a network ("tcp" or "unix") and
// an address for net.Listen.
func ParseListen(a string) (network, addr string, err error) {
	a = strings.TrimSpace(a)
	switch {
	case a == "":
		return "", "", errors.New("empty address")
	case strings.HasPrefix(a, "unix:"), strings.HasPrefix(a, "local:"):
		p := a[strings.IndexByte(a, ':')+1:]
		if p == "" {
			return "", "", fmt.Errorf("%q: empty socket path", a)
		}
		return "unix", p, nil
	case strings.HasPrefix(a, "/"):
		return "unix", a, nil
	case strings.HasPrefix(a, "inet:"), strings.HasPrefix(a, "inet6:"), strings.HasPrefix(a, "tcp:"):
		a = a[strings.IndexByte(a, ':')+1:]
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", "", fmt.Errorf("%q: %w", a, err)
	}
	if err := listen.CheckPort(port); err != nil {
		return "", "", fmt.Errorf("%q: %w", a, err)
	}
	return "tcp", net.JoinHostPort(host, port), nil
}

// Listen opens a listener for a listen address. A stale unix socket file
// left by a previous run is removed first.
func Listen(a string) (net.Listener, error) {
	network, addr, err := ParseListen(a)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", addr); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s: socket in use", addr)
			}
			_ = os.Remove(addr)
		}
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, err
		}
		// The MTA (postfix, sendmail) runs as another user.
		_ = os.Chmod(addr, 0o666)
		return ln, nil
	}
	return net.Listen(network, addr)
}
