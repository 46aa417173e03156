package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/doctor"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

// Version is hamlet's version as /auth and /stat report it (set by the
// binary).
var Version = "dev"

// controller builds the controller for s: the rspamd controller API,
// the UI, and what the daemon itself serves on it (/metrics,
// /api/doctor, rspamd's scan protocol).
func (d *Daemon) controller(s *Settings, scan http.Handler) (*controller.Server, error) {
	secure, err := s.Control.SecureNets()
	if err != nil {
		return nil, err
	}
	hosts := append([]string{s.AuthServID()}, s.Control.Hosts...)
	ctl, err := controller.New(controller.Options{
		Listen: strings.Join(s.Controller.Listen, " "), Password: s.Control.Password, EnablePassword: s.Control.EnablePassword,
		Hosts: hosts, SecureIP: secure, Logger: d.log, RspamdWebUI: s.Control.RspamdWebUI,
		SessionTTL: s.Control.SessionIdle.D(), SessionMaxAge: s.Control.SessionMaxAge.D(),
		Sources: controller.Sources{
			Store: d.store, Engine: d.Engine, Counters: d.counters, Version: Version,
			Greylist: func() *greylist.Greylister { return d.grey.Load() },
			HashKey:  d.hashKey, Health: d.health, Config: d.configItems,
			Learned: d.learned, Learn: d.learnRaw, FuzzyHashes: d.fuzzyHashes,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	ctl.Handle("GET /metrics", controller.Read, promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	ctl.Handle("GET /api/doctor", controller.Read, doctor.Handler(func() dns.Resolver { return d.resolver.Load() }, func(domain string) doctor.Options {
		o, _ := DoctorOptions(d.settings.Load(), domain)
		return o
	}))
	// rspamd answers /ping and the scan protocol on the controller too.
	ctl.Handle("GET /ping", controller.Public, scan)
	for _, p := range []string{"/checkv2", "/check", "/scan", "/process", "/report", "/report_ifspam"} {
		ctl.Handle("POST "+p, controller.Read, scan)
	}
	ctl.Handle("POST /symbols", controller.Read, scan)
	// Learning changes what hamlet decides: rspamd asks for the enable
	// password (rspamc -P) when one is set.
	// learn_spam and learn_ham feed the fuzzy hashes too ([fuzzy] learn).
	ctl.Handle("POST /learnspam", controller.Admin, fuzzy.LearnHandler(bayes.LearnHandler(d.bayes.Load, store.BayesSpam, d.log), d.fuzzy.Load, true, d.log))
	ctl.Handle("POST /learnham", controller.Admin, fuzzy.LearnHandler(bayes.LearnHandler(d.bayes.Load, store.BayesHam, d.log), d.fuzzy.Load, false, d.log))
	ctl.Handle("POST /fuzzyadd", controller.Admin, fuzzy.AddHandler(d.fuzzy.Load, d.log))
	ctl.Handle("POST /fuzzydel", controller.Admin, fuzzy.DelHandler(d.fuzzy.Load, d.log))
	for _, m := range []string{"GET", "POST"} {
		ctl.Handle(m+" /fuzzydelhash", controller.Admin, fuzzy.DelHashHandler(d.fuzzy.Load, d.log))
	}
	ctl.Handle("GET /api/fuzzy", controller.Read, fuzzy.StatsHandler(d.fuzzy.Load, d.log))
	d.mountDMARCReports(ctl)
	return ctl, nil
}

// learned counts the messages the classifier learned (the dashboard,
// /stat).
func (d *Daemon) learned(ctx context.Context) (spam, ham int64, err error) {
	c := d.bayes.Load()
	if c == nil {
		return 0, 0, errors.New("no Bayes classifier")
	}
	st, err := c.Stats(ctx)
	return st.Spam, st.Ham, err
}

// fuzzyHashes counts the stored fuzzy hashes.
func (d *Daemon) fuzzyHashes(ctx context.Context) (int64, error) {
	fz := d.fuzzy.Load()
	if fz == nil {
		return 0, store.ErrNoFuzzy
	}
	st, err := fz.Stats(ctx)
	return st.Hashes, err
}

// learnRaw learns a message from the scan page as the learn endpoints
// do.
func (d *Daemon) learnRaw(ctx context.Context, raw []byte, spam bool) (string, error) {
	c := d.bayes.Load()
	if c == nil {
		return "", errors.New("the store keeps no Bayes tokens")
	}
	class := store.BayesHam
	if spam {
		class = store.BayesSpam
	}
	l, err := c.LearnMessage(ctx, raw, class)
	if err != nil {
		return "", err
	}
	d.log.Info("bayes: learned", "class", class, "outcome", l.Outcome, "digest", l.Digest, "tokens", l.Tokens, "via", "scan page")
	if fz := d.fuzzy.Load(); fz != nil && l.Outcome != store.BayesAlready {
		if _, err := fz.LearnMessage(ctx, raw, spam); err != nil {
			d.log.Warn("fuzzy: learning failed", "spam", spam, "err", err, "via", "scan page")
		}
	}
	return l.String(), nil
}

// historyKey reads (or creates) the key history addresses are hashed
// with, in the data directory.
func historyKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, "history.key")
	b, err := os.ReadFile(p)
	if err == nil && len(b) >= 32 {
		return b[:32], nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("history key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("history key: %w", err)
	}
	return b, nil
}

// health reads the DNS outcomes and the DNS lists' health from the
// metrics registry, for the dashboard.
func (d *Daemon) health() controller.Health {
	h := controller.Health{DNSOutcomes: map[string]uint64{}}
	mfs, err := d.metrics.Registry.Gather()
	if err != nil {
		return h
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "hamlet_dns_queries_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						h.DNSOutcomes[l.GetValue()] += uint64(m.GetCounter().GetValue())
					}
				}
			}
		case "hamlet_dnsbl_usable":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() != "list" {
						continue
					}
					if m.GetGauge().GetValue() == 0 {
						h.ListsDisabled = append(h.ListsDisabled, l.GetValue())
					} else {
						h.ListsUsable = append(h.ListsUsable, l.GetValue())
					}
				}
			}
		}
	}
	return h
}

// configItems are the effective settings the controller's configuration
// page shows (never a password hash).
func (d *Daemon) configItems() []controller.ConfigItem {
	s := d.settings.Load()
	yes := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	st := s.Store
	if st == "" {
		st = "embedded (" + s.DataDir + ")"
	} else if i := strings.LastIndex(st, "@"); i >= 0 {
		// No credentials on a page. The last @ ends them, as url.Parse
		// and the Redis client read the URL: a password may hold an @.
		st = "redis://…" + st[i:]
	}
	items := []controller.ConfigItem{
		{Section: "general", Key: "hostname", Value: s.AuthServID()},
		{Section: "general", Key: "store", Value: st},
		{Section: "general", Key: "local_networks", Value: strings.Join(s.LocalNetworks, ", ")},
		{Section: "checks", Key: "rdns", Value: yes(s.RDNS.Enabled)},
		{Section: "checks", Key: "senderscore", Value: yes(s.Senderscore.Enabled)},
		{Section: "checks", Key: "hfilter", Value: yes(s.Hfilter.Enabled)},
		{Section: "checks", Key: "dnsbl", Value: yes(s.DNSBL.Enabled)},
		{Section: "checks", Key: "dmarc", Value: yes(s.DMARC.Enabled)},
		{Section: "checks", Key: "greylist", Value: yes(s.Greylist.Enabled)},
		{Section: "checks", Key: "authentication_results", Value: yes(s.AuthResults.Enabled)},
		{Section: "checks", Key: "dkim signing", Value: fmt.Sprintf("%d key(s)", len(s.DKIM.Sign))},
		{Section: "checks", Key: "arc seal", Value: yes(s.ARC.Seal)},
		{Section: "history", Key: "max_records", Value: fmt.Sprint(s.History.MaxRecords)},
		{Section: "history", Key: "max_age", Value: s.History.MaxAge.D().String()},
		{Section: "history", Key: "hash_addresses", Value: yes(s.History.HashAddresses)},
		{Section: "controller", Key: "listen", Value: strings.Join(s.Controller.Listen, ", ")},
		{Section: "controller", Key: "password (read-only)", Value: yes(s.Control.Password != "")},
		{Section: "controller", Key: "enable_password (admin)", Value: yes(s.Control.EnablePassword != "")},
	}
	if s.DNSBL.Enabled {
		if lists, err := s.DNSBL.Effective(); err == nil {
			for _, l := range lists {
				items = append(items, controller.ConfigItem{Section: "dnsbl lists", Key: l.Name, Value: yes(l.Enabled)})
			}
		}
	}
	return items
}
