// Package daemon puts hamlet together from its configuration: the
// resolver, the checks and finishers, the engine, the front ends, the
// controller, and their life cycle (signals, reload, drain). It is shared
// by `hamlet serve` and `hamlet check`, so that both scan alike.
package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/classify"
	"github.com/hamlet-mail/hamlet/config"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/frontend/milter"
	"github.com/hamlet-mail/hamlet/frontend/rspamdhttp"
)

// Settings is the configuration with every feature's section decoded and
// validated.
type Settings struct {
	*config.Config
	Outbound  classify.Outbound
	Allowlist classify.Allowlist
	Milter    milter.Config
	HTTP      rspamdhttp.Config
}

// Overrides are command-line settings that win over the file.
type Overrides struct {
	DataDir string
	DNS     []string
}

// LoadSettings reads the configuration file (none: the defaults), applies
// the overrides, decodes every section and rejects unknown options. Its
// errors name the file, line and option.
func LoadSettings(file string, ov Overrides) (*Settings, error) {
	c, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	if ov.DataDir != "" {
		c.DataDir = ov.DataDir
	}
	if len(ov.DNS) > 0 {
		c.DNS.Servers = ov.DNS
	}
	s := &Settings{Config: c, Milter: milter.DefaultConfig()}
	sections := []struct {
		key string
		v   any
	}{
		{"outbound", &s.Outbound},
		{"allowlist", &s.Allowlist},
		{"milter", &s.Milter},
	}
	for _, sec := range sections {
		if err := c.Section(sec.key, sec.v); err != nil {
			return nil, err
		}
	}
	if err := c.Unknown(); err != nil {
		return nil, err
	}
	s.Milter = s.Milter.WithDefaults()
	s.HTTP = rspamdhttp.Config{MaxBody: c.Scan.MaxSize}
	return s, nil
}

// Logger builds the logger the configuration asks for, writing to stderr.
func Logger(c *config.Config) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(c.Log.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Deps are the long-lived things an engine is built on.
type Deps struct {
	Resolver  dns.Resolver
	Logger    *slog.Logger
	Observers []engine.Observer
}

// BuildEngine builds the engine for s: the checks and finishers the
// configuration enables, the policy, the client classifier.
func BuildEngine(s *Settings, d Deps) (*engine.Engine, error) {
	policy, err := s.Policy()
	if err != nil {
		return nil, err
	}
	local, err := s.Networks()
	if err != nil {
		return nil, err
	}
	cl, err := classify.New(local, s.Outbound, s.Allowlist)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.File(), err)
	}
	cs := []engine.Check{
		checks.NewSPF(d.Resolver),
	}
	var finishers []engine.Finisher
	return engine.New(engine.Options{
		Checks:     cs,
		Finishers:  finishers,
		Policy:     policy,
		Timeout:    s.Scan.Timeout.Duration(),
		Classifier: cl,
		Observers:  d.Observers,
		Logger:     d.Logger,
	})
}
