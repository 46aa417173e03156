// Package daemon puts hamlet together from its configuration: the
// resolver, the checks and finishers, the engine, the front ends, the
// controller, and their life cycle (signals, reload, drain). It is shared
// by `hamlet serve` and `hamlet check`, so that both scan alike.
package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/classify"
	"github.com/hamlet-mail/hamlet/config"
	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dmarcreport"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/doctor"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/frontend/milter"
	"github.com/hamlet-mail/hamlet/frontend/rspamdhttp"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/rules"
	"github.com/hamlet-mail/hamlet/senderscore"
	"github.com/hamlet-mail/hamlet/store"
)

// Settings is the configuration with every feature's section decoded and
// validated.
type Settings struct {
	*config.Config
	Outbound    classify.Outbound
	Allowlist   classify.Allowlist
	Milter      milter.Config
	HTTP        rspamdhttp.Config `toml:"-"`
	RDNS        checks.RDNSConfig
	Hfilter     checks.HfilterConfig
	Senderscore checks.SenderscoreConfig
	DNSBL       checks.DNSBLConfig
	DMARC       checks.DMARCConfig
	Content     checks.ContentConfig
	AuthResults checks.AuthResConfig `toml:"authentication_results"`
	Greylist    greylist.Config
	DKIM        checks.DKIMConfig
	ARC         checks.ARCSealConfig
	History     History
	Bayes       bayes.Config
	Fuzzy       fuzzy.Config
	Headers     checks.HeadersConfig
	Antivirus   checks.AntivirusConfig
	// Rules are the [[rules]] tables; RuleFiles names more files of them.
	Rules     []rules.Spec           `toml:"rules"`
	RuleFiles checks.RuleFilesConfig `toml:"rule_files"`
	// DKIMReplay is [dkim.replay] (decoded beside [dkim]).
	DKIMReplay checks.DKIMReplayConfig `toml:"-"`
	// DMARCReports is [dmarc.reports] (decoded beside [dmarc]).
	DMARCReports dmarcreport.Config `toml:"-"`
	// Control is the [controller] section's access and UI options (its
	// listen address is Config.Controller.Listen).
	Control controller.Config `toml:"controller"`
}

// dkimReplaySection decodes the [dkim.replay] sub-table of [dkim].
type dkimReplaySection struct {
	Replay *checks.DKIMReplayConfig `toml:"replay"`
}

func (d dkimReplaySection) Validate() error {
	if err := d.Replay.Validate(); err != nil {
		return fmt.Errorf("dkim.%w", err)
	}
	return nil
}

// dmarcReportsSection decodes the [dmarc.reports] sub-table of [dmarc].
type dmarcReportsSection struct {
	Reports *dmarcreport.Config `toml:"reports"`
}

func (d dmarcReportsSection) Validate() error {
	if err := d.Reports.Validate(); err != nil {
		return fmt.Errorf("reports.%w", err)
	}
	return nil
}

// History bounds what the store keeps of past scans (envelope data and
// verdicts, never bodies): the privacy promise in numbers. Read at start;
// a reload does not change it.
type History struct {
	// Enabled: with false, no history and no statistics are kept (the
	// dashboard, history and what-if pages stay empty).
	Enabled    bool              `toml:"enabled"`
	MaxRecords int               `toml:"max_records"`
	MaxAge     duration.Duration `toml:"max_age"`
	KeepHourly duration.Duration `toml:"keep_hourly"`
	KeepDaily  duration.Duration `toml:"keep_daily"`
	// HashAddresses keeps envelope addresses only as keyed hashes (the
	// key is in the data directory): searches by address still work.
	HashAddresses bool `toml:"hash_addresses"`
}

// DefaultHistory: 10,000 records, 30 days; statistics per hour for 14
// days, per day for 400.
func DefaultHistory() History {
	return History{Enabled: true, MaxRecords: 10000, MaxAge: duration.Duration(30 * 24 * time.Hour),
		KeepHourly: duration.Duration(14 * 24 * time.Hour), KeepDaily: duration.Duration(400 * 24 * time.Hour)}
}

// Validate checks the section.
func (h *History) Validate() error {
	if h.MaxRecords <= 0 || h.MaxAge <= 0 || h.KeepHourly <= 0 || h.KeepDaily <= 0 {
		return fmt.Errorf("max_records, max_age, keep_hourly and keep_daily must be positive")
	}
	return nil
}

// StoreOptions are the store bounds of h.
func (h History) StoreOptions() store.Options {
	return store.Options{HistoryMaxCount: h.MaxRecords, HistoryMaxAge: h.MaxAge.D(),
		StatsHourlyKeep: h.KeepHourly.D(), StatsDailyKeep: h.KeepDaily.D()}
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
	s, errs := settings(c, ov)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// CheckSettings is LoadSettings that goes on past a problem, for `hamlet
// config check`: the settings as far as they could be read (nil when the
// file is unreadable or not TOML) and every problem found.
func CheckSettings(file string, ov Overrides) (*Settings, []error) {
	c, errs := config.LoadAll(file)
	if c == nil {
		return nil, errs
	}
	s, more := settings(c, ov)
	return s, append(errs, more...)
}

func settings(c *config.Config, ov Overrides) (*Settings, []error) {
	if ov.DataDir != "" {
		c.DataDir = ov.DataDir
	}
	if len(ov.DNS) > 0 {
		c.DNS.Servers = ov.DNS
	}
	s := &Settings{
		Config:      c,
		Milter:      milter.DefaultConfig(),
		RDNS:        checks.DefaultRDNSConfig(),
		Hfilter:     checks.DefaultHfilterConfig(),
		Senderscore: checks.DefaultSenderscoreConfig(),
		DNSBL:       checks.DefaultDNSBLConfig(),
		DMARC:       checks.DefaultDMARCConfig(),
		Content:     checks.DefaultContentConfig(),
		AuthResults: checks.DefaultAuthResConfig(c.AuthServID()),
		Greylist:    greylist.DefaultConfig(),
		History:     DefaultHistory(),
		Bayes:       bayes.DefaultConfig(),
		Fuzzy:       fuzzy.DefaultConfig(),
		Headers:     checks.DefaultHeadersConfig(),
		Antivirus:   checks.DefaultAntivirusConfig(),
		RuleFiles:   checks.DefaultRuleFilesConfig(),

		DKIMReplay:   checks.DefaultDKIMReplayConfig(),
		DMARCReports: dmarcreport.DefaultConfig(),
	}
	sections := []struct {
		key string
		v   any
	}{
		{"outbound", &s.Outbound},
		{"allowlist", &s.Allowlist},
		{"milter", &s.Milter},
		{"rdns", &s.RDNS},
		{"hfilter", &s.Hfilter},
		{"senderscore", &s.Senderscore},
		{"dnsbl", &s.DNSBL},
		{"dmarc", &s.DMARC},
		{"content", &s.Content},
		{"authentication_results", &s.AuthResults},
		{"greylist", &s.Greylist},
		{"dkim", &s.DKIM},
		{"arc", &s.ARC},
		{"history", &s.History},
		{"bayes", &s.Bayes},
		{"fuzzy", &s.Fuzzy},
		{"headers", &s.Headers},
		{"antivirus", &s.Antivirus},
		{"rules", &s.Rules},
		{"rule_files", &s.RuleFiles},
		{"dkim", dkimReplaySection{&s.DKIMReplay}},
		{"dmarc", dmarcReportsSection{&s.DMARCReports}},
		{"controller", &s.Control},
	}
	// [[dnsbl.list]] in the file replaces the shipped lists. Decoded over
	// them, each entry would keep the fields it does not set from the
	// shipped list at its index (the TOML decoder reuses a slice's
	// elements): a list of one's own would become a domain list asking
	// Spamhaus's test entries.
	shipped := s.DNSBL.Lists
	s.DNSBL.Lists = nil
	// Every section is decoded even after one fails, so that all the
	// problems of the file are reported at once (hamlet config check).
	var errs []error
	for _, sec := range sections {
		if err := c.Section(sec.key, sec.v); err != nil {
			errs = append(errs, err)
		}
	}
	if s.DNSBL.Lists == nil {
		s.DNSBL.Lists = shipped
	}
	errs = append(errs, c.UnknownAll()...)
	for _, l := range c.Controller.Listen {
		if err := controller.ValidateListen(l, s.Control.HasPassword()); err != nil {
			errs = append(errs, fmt.Errorf("%s: controller: %w", s.File(), err))
		}
	}
	if s.Hfilter.OurNames == nil {
		// HELO forgery is judged against this host's own name.
		s.Hfilter.OurNames = []string{c.AuthServID()}
	}
	s.Milter = s.Milter.WithDefaults()
	s.HTTP = rspamdhttp.Config{MaxBody: c.Scan.MaxSize, MaxInflight: c.Scan.MaxInflightBytes,
		BodyTimeout: c.Scan.BodyTimeout.D(), MaxConns: c.Scan.MaxConnections}
	return s, errs
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

// Deps are the long-lived things an engine is built on: they outlive a
// configuration reload.
type Deps struct {
	Resolver  dns.Resolver
	Logger    *slog.Logger
	Observers []engine.Observer
	// Greylister, when not nil, greylists (if [greylist] enables it);
	// without it there is none (as in `hamlet check`).
	Greylister *greylist.Greylister
	// ListMetrics are registered once per process.
	ListMetrics *checks.ListMetrics
	// Bayes, when not nil, classifies (if [bayes] enables it); without
	// it there is none (as in `hamlet check`).
	Bayes *bayes.Classifier
	// Fuzzy, when not nil, checks near-duplicate hashes (if [fuzzy]
	// enables it).
	Fuzzy *fuzzy.DB
	// Replay, when not nil, counts DKIM signatures for DKIM_REPLAY (if
	// [dkim.replay] enables it).
	Replay store.DKIMReplay
	// DMARCCollector, when not nil, counts DMARC evaluations for the
	// aggregate reports hamlet sends ([dmarc.reports.send]).
	DMARCCollector engine.Finisher
	// RuleLists keeps the rules' list files across reloads (a list that
	// cannot be read again keeps its contents); nil reads them afresh.
	RuleLists *rules.Lists
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
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	var listMetrics interface {
		Lookup(string, string)
		Disabled(string, string)
		Health(string, bool)
	}
	if d.ListMetrics != nil {
		listMetrics = d.ListMetrics
	}
	var cs []engine.Check
	withIPRev := s.RDNS.Enabled
	if withIPRev {
		c, err := checks.NewIPRev(s.RDNS, d.Resolver)
		if err != nil {
			return nil, fmt.Errorf("%s: rdns: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	if s.Senderscore.Enabled {
		c, err := checks.NewSenderscore(s.Senderscore, d.Resolver, listMetrics, d.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: senderscore: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	bl, err := checks.NewDNSBL(s.DNSBL, d.Resolver, listMetrics, d.Logger, withIPRev)
	if err != nil {
		return nil, fmt.Errorf("%s: dnsbl: %w", s.File(), err)
	}
	cs = append(cs, bl.Checks()...)
	if s.Hfilter.Enabled {
		c, err := checks.NewHfilter(s.Hfilter, d.Resolver, withIPRev)
		if err != nil {
			return nil, fmt.Errorf("%s: hfilter: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	cs = append(cs, checks.NewSPF(d.Resolver), checks.NewDKIM(d.Resolver), checks.NewARC(d.Resolver))
	if s.DKIMReplay.Enabled && d.Replay != nil {
		c, err := checks.NewDKIMReplay(s.DKIMReplay, d.Replay, d.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	if s.Headers.Enabled {
		c, err := checks.NewHeaders(s.Headers, withIPRev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	if s.Antivirus.Clamd != "" {
		c, err := checks.NewAntivirus(s.Antivirus, d.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		cs = append(cs, c)
	}
	if s.DMARC.Enabled {
		c, err := checks.NewDMARC(s.DMARC, d.Resolver)
		if err != nil {
			return nil, fmt.Errorf("%s: dmarc: %w", s.File(), err)
		}
		cs = append(cs, c)
	}

	if s.Content.Enabled {
		c, err := checks.NewContent(s.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		if s.DMARC.Enabled {
			c.WithDMARC()
		}
		cs = append(cs, c)
	}
	if s.Bayes.Enabled && d.Bayes != nil {
		cs = append(cs, checks.NewBayes(d.Bayes, d.Logger))
	}
	if s.Fuzzy.Enabled && d.Fuzzy != nil {
		cs = append(cs, checks.NewFuzzy(d.Fuzzy, d.Logger))
	}

	var fs []engine.Finisher
	var composers []engine.Composer
	var localRules *checks.Rules
	if len(s.Rules) > 0 || len(s.RuleFiles.Include) > 0 {
		localRules, err = buildRules(s, d, cs)
		if err != nil {
			return nil, err
		}
		cs = append(cs, localRules)
		composers = append(composers, localRules)
		fs = append(fs, localRules.PreResult()) // before greylisting
	}
	if s.Greylist.Enabled && d.Greylister != nil {
		fs = append(fs, checks.NewGreylist(d.Greylister, checks.SPFPassDomain, d.Logger).WithAuthDomains(checks.DMARCPassDomains))
	}
	if s.AuthResults.Enabled {
		f, err := checks.NewAuthResults(s.AuthResults)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		fs = append(fs, f)
	}
	// Signing comes after greylisting, which turns a greylist action into
	// no action for outbound mail.
	if len(s.DKIM.Sign) > 0 {
		f, err := checks.NewDKIMSign(s.DKIM, d.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: dkim: %w", s.File(), err)
		}
		fs = append(fs, f)
	}
	if s.ARC.Seal {
		f, err := checks.NewARCSeal(s.ARC, s.AuthResults.AuthServID, d.Logger)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File(), err)
		}
		fs = append(fs, f)
	}
	if d.DMARCCollector != nil && s.DMARCReports.Send.Enabled {
		fs = append(fs, d.DMARCCollector)
	}
	eng, err := engine.New(engine.Options{
		Checks:     cs,
		Finishers:  fs,
		Composers:  composers,
		Policy:     policy,
		Timeout:    s.Scan.Timeout.D(),
		Classifier: cl,
		Observers:  d.Observers,
		Logger:     d.Logger,
		Content:    s.Content.Limits(),
	})
	if err == nil && localRules != nil {
		if unknown := localRules.UnknownSymbols(eng.Symbols()); len(unknown) > 0 {
			d.Logger.Warn("composite rules name symbols no check emits", "symbols", unknown)
		}
		if empty := localRules.EmptyIncludes(); len(empty) > 0 {
			d.Logger.Warn("rule_files include patterns match no file; they add no rules", "patterns", empty)
		}
		if slow := localRules.Unfiltered(); len(slow) > 0 {
			d.Logger.Warn("body rules with a regular expression without a literal of 3+ characters run on every message", "rules", slow)
		}
	}
	return eng, err
}

// buildRules compiles the [[rules]] of s and its rule files.
func buildRules(s *Settings, d Deps, cs []engine.Check) (*checks.Rules, error) {
	names := map[string]bool{}
	for _, c := range cs {
		names[c.Name()] = true
	}
	return checks.LoadRules(s.Rules, s.RuleFiles, s.File(), s.Text(), d.RuleLists, func(n string) bool { return names[n] })
}

// DoctorOptions are the parts of a doctor run that come from the
// configuration, for domain: the enabled DNS lists, the Senderscore zone,
// the HELO name, and the DKIM selectors hamlet signs the domain with
// (with their public keys, to check that DNS publishes them). Key files
// that cannot be read are reported in problems and left out.
func DoctorOptions(s *Settings, domain string) (o doctor.Options, problems []string) {
	o = doctor.Options{Domain: domain, Helo: s.AuthServID()}
	if s.Senderscore.Enabled {
		o.SenderscoreZone = s.Senderscore.Zone
	}
	o.SenderscoreBands = senderscore.Bands{BlockBelow: s.Senderscore.BlockBelow, JunkBelow: s.Senderscore.JunkBelow, GoodAbove: s.Senderscore.GoodAbove}
	if s.DNSBL.Enabled {
		lists, err := s.DNSBL.Effective()
		if err != nil {
			problems = append(problems, err.Error())
		}
		for _, l := range lists {
			if l.Enabled {
				o.Lists = append(o.Lists, l)
			}
		}
	}
	if len(s.DKIM.Sign) > 0 {
		set, warnings, err := dkimkeys.Load(s.DKIM.Sign)
		problems = append(problems, warnings...)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			o.Selectors = doctor.SelectorsFrom(set, domain)
		}
	}
	return o, problems
}
