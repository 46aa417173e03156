// Package config reads hamlet's TOML configuration: every option has an
// embedded default, so hamlet runs without a file, and a file only says
// what differs. Errors name the file, the line and the option.
//
// Sections that belong to one feature (DNS, milter, greylisting, …) are that
// feature's own Config type, with its own defaults and Validate method;
// this package puts them together and reports errors with positions.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/config/listen"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
)

// Config is the whole configuration.
type Config struct {
	// DataDir holds the embedded store and other state.
	DataDir string `toml:"data_dir"`
	// Hostname is this host's name: the authserv-id of
	// Authentication-Results and the name HELO forgery is checked against.
	// Default: the system host name.
	Hostname string `toml:"hostname"`
	// Store names where state is kept: "" (the embedded store in
	// DataDir), "bolt:/path/file.db", or "redis://host:6379/0" for several
	// MX hosts sharing state.
	Store string `toml:"store"`
	// LocalNetworks are the host's own and its LAN's addresses: they skip
	// connection checks and greylisting (rspamd's local_addrs).
	LocalNetworks []string `toml:"local_networks"`
	// CPUs caps how many CPUs hamlet's Go code runs on at once
	// (GOMAXPROCS); 0 leaves Go's default (every CPU, or the GOMAXPROCS
	// environment variable).
	CPUs int `toml:"cpus"`

	Log        Log        `toml:"log"`
	Scan       Scan       `toml:"scan"`
	Controller Controller `toml:"controller"`
	DNS        dns.Config `toml:"dns"`
	// Actions maps an action (reject, soft_reject, rewrite_subject,
	// add_header, greylist) to its score threshold; false disables it.
	Actions map[string]any `toml:"actions"`
	// Symbols overrides symbol weights by name.
	Symbols map[string]float64 `toml:"symbols"`
	// Force maps a symbol name to an action it always forces.
	Force map[string]string `toml:"force"`

	// raw holds every top-level key of the file, for Section.
	raw  map[string]toml.Primitive
	meta toml.MetaData
	file string
	text string
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Scan configures the scan API (rspamd's protocol) and the scans.
type Scan struct {
	Listen listen.Addrs `toml:"listen"`
	// Timeout is the deadline of each phase's checks.
	Timeout duration.Duration `toml:"timeout"`
	// MaxSize is the largest message accepted, in bytes.
	MaxSize int64 `toml:"max_size"`
	// MaxInflightBytes bounds the message bytes held by all HTTP
	// requests at once (scan and controller ports); past it: 503.
	MaxInflightBytes int64 `toml:"max_inflight_bytes"`
	// BodyTimeout bounds reading one request body.
	BodyTimeout duration.Duration `toml:"body_timeout"`
	// MaxConnections bounds the open connections of each HTTP listener;
	// 0 derives it from the file descriptor limit.
	MaxConnections int `toml:"max_connections"`
}

// Controller configures the controller (metrics, web UI, JSON API).
type Controller struct {
	Listen listen.Addrs `toml:"listen"`
}

// Default returns the embedded defaults.
func Default() *Config {
	return &Config{
		DataDir: "./hamlet-data",
		LocalNetworks: []string{
			"127.0.0.0/8", "::1/128", // loopback
			"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
			"fc00::/7", // RFC 4193
		},
		Log: Log{Level: "info", Format: "text"},
		Scan: Scan{Listen: listen.Addrs{"127.0.0.1:11333"}, Timeout: duration.Duration(engine.DefaultTimeout), MaxSize: 50 << 20,
			MaxInflightBytes: 256 << 20, BodyTimeout: duration.Duration(30 * time.Second)},
		Controller: Controller{Listen: listen.Addrs{"127.0.0.1:11334"}},
		DNS:        dns.Config{Timeout: duration.Duration(2 * time.Second), Attempts: 2, CacheSize: 20000, MaxTTL: duration.Duration(time.Hour)},
		Actions:    map[string]any{"reject": 15.0, "add_header": 6.0, "greylist": 4.0},
	}
}

// Error is a configuration error with its position.
type Error struct {
	File   string
	Line   int // 0 when unknown
	Option string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Option != "" {
		fmt.Fprintf(&b, ": %s", e.Option)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads file over the defaults. An empty file name gives the defaults.
func Load(file string) (*Config, error) {
	c, errs := LoadAll(file)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// LoadAll is Load that goes on past a problem: it returns the
// configuration as far as it could be read and every problem of the core
// options (hamlet config check). c is nil when the file cannot be read or
// is not TOML.
func LoadAll(file string) (c *Config, errs []error) {
	if file == "" {
		c = Default()
		c.file = "(defaults)"
		return c, c.Problems()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, []error{fmt.Errorf("config: %w", err)}
	}
	return parseAll(file, string(b))
}

// Parse reads configuration text (named file in errors) over the defaults.
func Parse(file, text string) (*Config, error) { return parse(file, text) }

func parse(file, text string) (*Config, error) {
	c, errs := parseAll(file, text)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func parseAll(file, text string) (*Config, []error) {
	c := Default()
	c.file, c.text = file, text
	md, err := toml.Decode(text, &c.raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, []error{&Error{File: file, Line: pe.Position.Line, Err: errors.New(pe.Message)}}
		}
		return nil, []error{c.errorf("", "%w", err)}
	}
	c.meta = md
	// [actions] replaces the defaults only for the actions it names.
	acts := map[string]any{}
	core := map[string]any{
		"data_dir": &c.DataDir, "hostname": &c.Hostname, "store": &c.Store, "local_networks": &c.LocalNetworks, "cpus": &c.CPUs,
		"log": &c.Log, "scan": &c.Scan, "controller": &c.Controller, "dns": &c.DNS,
		"actions": &acts, "symbols": &c.Symbols, "force": &c.Force,
	}
	keys := make([]string, 0, len(core))
	for k := range core {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := c.Section(k, core[k]); err != nil {
			errs = append(errs, err)
		}
	}
	for k, v := range acts {
		c.Actions[k] = v
	}
	return c, append(errs, c.Problems()...)
}

// Section decodes the top-level table or value at key (e.g. "greylist")
// into v, which holds that feature's defaults, and validates it when v has
// a Validate method. A section absent from the file leaves v as it is.
func (c *Config) Section(key string, v any) error {
	if prim, ok := c.raw[key]; ok {
		if err := c.meta.PrimitiveDecode(prim, v); err != nil {
			// A value of the wrong type or syntax (max_size = "big",
			// timeout = "20 s"): the decoder knows the option and its
			// line; name those rather than the table's header.
			if line, opt, msg, ok := decodeErrorAt(err); ok {
				return &Error{File: c.file, Line: line, Option: opt, Err: errors.New(msg)}
			}
			return c.errorf(key, "%w", err)
		}
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return err
			}
			return c.optionError(key, err)
		}
	}
	return nil
}

// decodeMismatch is how the TOML decoder words a value of the wrong type:
// "toml: line 4 (last key \"scan.max_size\"): incompatible types: …".
var decodeMismatch = regexp.MustCompile(`^toml: line ([0-9]+) \(last key "([^"]+)"\): (.+)$`)

// decodeErrorAt returns the line, option and message of a decoding error
// that the TOML decoder placed on an option: a toml.ParseError (a value
// its type's UnmarshalText refused) or the decoder's plain error for a
// type mismatch.
func decodeErrorAt(err error) (line int, option, msg string, ok bool) {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.LastKey != "" && pe.Position.Line > 0 {
		return pe.Position.Line, pe.LastKey, pe.Message, true
	}
	m := decodeMismatch.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", "", false
	}
	line, aerr := strconv.Atoi(m[1])
	if aerr != nil || line <= 0 {
		return 0, "", "", false
	}
	return line, m[2], m[3], true
}

// Unknown returns an error naming the first option of the file that no
// decoder used: a typo or an option this version does not have. Call it
// after every feature has decoded its Section.
func (c *Config) Unknown() error {
	if errs := c.UnknownAll(); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// UnknownAll is Unknown for every option no decoder used, in order.
func (c *Config) UnknownAll() []error {
	var undecoded []string
	for _, k := range c.meta.Undecoded() {
		undecoded = append(undecoded, k.String())
	}
	sort.Strings(undecoded)
	var errs []error
	for _, k := range undecoded {
		errs = append(errs, c.errorf(k, "unknown option"))
	}
	return errs
}

// optionError places a feature's validation error on the option it names,
// when its text starts with one ("delay: …", "greylist.delay: …"), else
// on the section.
func (c *Config) optionError(key string, err error) error {
	msg := err.Error()
	rest := strings.TrimPrefix(strings.TrimPrefix(msg, key+": "), key+".")
	if i := strings.IndexAny(rest, ": "); i > 0 {
		opt := key + "." + rest[:i]
		if lineOf(c.text, opt) > 0 {
			return &Error{File: c.file, Line: lineOf(c.text, opt), Option: opt,
				Err: errors.New(strings.TrimLeft(strings.TrimPrefix(rest[i:], ":"), " "))}
		}
	}
	return c.errorf(key, "%w", err)
}

func (c *Config) errorf(option, format string, args ...any) error {
	return &Error{File: c.file, Line: lineOf(c.text, option), Option: option, Err: fmt.Errorf(format, args...)}
}

// lineOf finds the line where option ("section.key", "key" or "section")
// is set in TOML text; 0 when it cannot tell.
func lineOf(text, option string) int {
	if option == "" || text == "" {
		return 0
	}
	parts := strings.Split(option, ".")
	key := parts[len(parts)-1]
	table := strings.Join(parts[:len(parts)-1], ".")
	cur := ""
	for i, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			cur = strings.Trim(l, "[] \t")
			if j := strings.IndexByte(cur, '#'); j >= 0 {
				cur = strings.TrimSpace(strings.Trim(cur[:j], "[] \t"))
			}
			if cur == option {
				return i + 1
			}
			continue
		}
		name, _, ok := strings.Cut(l, "=")
		if ok && cur == table && strings.Trim(strings.TrimSpace(name), `"`) == key {
			return i + 1
		}
	}
	return 0
}

// File returns the file the configuration came from.
func (c *Config) File() string { return c.file }

// Text returns the configuration's text ("" for the defaults), for
// sections that place their own errors (the [[rules]] tables).
func (c *Config) Text() string { return c.text }

// Validate checks the core options.
func (c *Config) Validate() error {
	if errs := c.Problems(); len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// CheckHostPort checks a TCP listen address "host:port" (listen.CheckPort).
func CheckHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	return listen.CheckPort(port)
}

// Problems returns every problem of the core options, in order.
func (c *Config) Problems() []error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, c.errorf("data_dir", "must not be empty"))
	}
	if _, err := c.Networks(); err != nil {
		errs = append(errs, c.errorf("local_networks", "%w", err))
	}
	if c.CPUs < 0 {
		errs = append(errs, c.errorf("cpus", "%d: must be 0 (Go's default) or a number of CPUs", c.CPUs))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, c.errorf("log.level", "%q is not debug, info, warn or error", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, c.errorf("log.format", "%q is not text or json", c.Log.Format))
	}
	for _, l := range c.Scan.Listen {
		if err := CheckHostPort(l); err != nil {
			errs = append(errs, c.errorf("scan.listen", "%q: %w", l, err))
		}
	}
	for _, l := range c.Controller.Listen {
		if err := CheckHostPort(l); err != nil {
			errs = append(errs, c.errorf("controller.listen", "%q: %w", l, err))
		}
	}
	if c.Scan.Timeout <= 0 {
		errs = append(errs, c.errorf("scan.timeout", "must be positive"))
	}
	if c.Scan.MaxSize <= 0 {
		errs = append(errs, c.errorf("scan.max_size", "must be positive"))
	}
	if c.Scan.MaxInflightBytes < c.Scan.MaxSize {
		errs = append(errs, c.errorf("scan.max_inflight_bytes", "%d is less than max_size (%d): no message of the largest size could be scanned", c.Scan.MaxInflightBytes, c.Scan.MaxSize))
	}
	if c.Scan.BodyTimeout <= 0 {
		errs = append(errs, c.errorf("scan.body_timeout", "must be positive"))
	}
	if c.Scan.MaxConnections < 0 {
		errs = append(errs, c.errorf("scan.max_connections", "must not be negative (0: from the file descriptor limit)"))
	}
	if err := c.DNS.Validate(); err != nil {
		errs = append(errs, c.errorf("dns", "%w", err))
	}
	if _, err := c.Policy(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Networks parses local_networks.
func (c *Config) Networks() ([]netip.Prefix, error) {
	return ParsePrefixes(c.LocalNetworks)
}

// ParsePrefixes parses CIDR prefixes; a bare address is a /32 or /128.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR prefix", s)
			}
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Policy builds the engine policy from [actions], [symbols] and [force].
func (c *Config) Policy() (engine.Policy, error) {
	p := engine.DefaultPolicy()
	p.Thresholds = map[engine.Action]float64{}
	for name, v := range c.Actions {
		a, ok := engine.ParseAction(name)
		if !ok || a == engine.NoAction {
			return p, c.errorf("actions."+name, "unknown action (reject, soft_reject, rewrite_subject, add_header, greylist)")
		}
		switch x := v.(type) {
		case bool:
			if x {
				return p, c.errorf("actions."+name, "true is not a score; write a number, or false to disable")
			}
		case float64:
			p.Thresholds[a] = x
		case int64:
			p.Thresholds[a] = float64(x)
		default:
			return p, c.errorf("actions."+name, "%v is not a number", v)
		}
	}
	if err := p.Validate(); err != nil {
		return p, c.errorf("actions", "%w", err)
	}
	p.Weights = map[string]float64{}
	for name, w := range c.Symbols {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return p, c.errorf("symbols."+name, "not a number")
		}
		p.Weights[name] = w
	}
	p.Force = map[string]engine.Action{}
	for name, act := range c.Force {
		a, ok := engine.ParseAction(act)
		if !ok || a == engine.NoAction {
			return p, c.errorf("force."+name, "%q is not an action", act)
		}
		p.Force[name] = a
	}
	return p, nil
}

// AuthServID returns the authserv-id: the configured host name or the
// system's.
func (c *Config) AuthServID() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
