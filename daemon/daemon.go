package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/checks"
	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/dmarcreport"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/frontend/milter"
	"github.com/hamlet-mail/hamlet/frontend/rspamdhttp"
	"github.com/hamlet-mail/hamlet/fuzzy"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/internal/sdnotify"
	"github.com/hamlet-mail/hamlet/rules"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/recorder"
	"github.com/hamlet-mail/hamlet/store/stores"
)

// Daemon is a running `hamlet serve`.
type Daemon struct {
	file string
	ov   Overrides
	log  *slog.Logger

	settings atomic.Pointer[Settings]
	resolver atomic.Pointer[dns.Client]
	engine   atomic.Pointer[engine.Engine]
	metrics  *Metrics
	httpReqs *prometheus.CounterVec
	lists    *checks.ListMetrics
	greyMet  *GreylistMetrics
	counters *controller.Counters
	hashKey  []byte
	store    store.Store
	recorder *recorder.Recorder
	grey     atomic.Pointer[greylist.Greylister]
	bayes    atomic.Pointer[bayes.Classifier]
	fuzzy    atomic.Pointer[fuzzy.DB]
	learner  *checks.Autolearn
	// dmarcReports and dmarcInbox keep and read received DMARC reports.
	dmarcReports *dmarcreport.Service
	dmarcInbox   *dmarcreport.Inbox
	// dmarcCollector and dmarcSender count and send hamlet's own reports.
	dmarcCollector *dmarcreport.Collector
	dmarcSender    *dmarcreport.Sender

	// ruleLists keeps the rules' list files across reloads.
	ruleLists *rules.Lists

	mu      sync.Mutex
	servers []*http.Server
	milter  *milter.Server
	// Ready, when not nil, is closed once every listener is open.
	Ready chan struct{}
	// addrs are the addresses actually listened on, by role.
	addrs map[string][]string
}

// New loads the configuration and builds the first engine. Its errors are
// configuration errors (exit status 2).
func New(file string, ov Overrides) (*Daemon, error) {
	s, err := LoadSettings(file, ov)
	if err != nil {
		return nil, err
	}
	d := &Daemon{file: file, ov: ov, log: Logger(s.Config), addrs: map[string][]string{}}
	d.metrics = NewMetrics(d.resolver.Load)
	d.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hamlet_http_requests_total", Help: "Requests to the rspamd-protocol API, by route and status code.",
	}, []string{"route", "code"})
	d.metrics.Registry.MustRegister(d.httpReqs)
	d.lists = checks.NewListMetrics()
	d.ruleLists = rules.NewLists(d.log)
	d.greyMet = NewGreylistMetrics()
	d.counters = controller.NewCounters()
	d.metrics.Registry.MustRegister(d.lists.Collectors()...)
	d.metrics.Registry.MustRegister(d.greyMet.Collectors()...)
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// The store is opened once: the embedded one locks its file, and
	// its location is not changed by a reload.
	st, err := stores.Open(s.Store, s.DataDir, s.History.StoreOptions())
	if err != nil {
		return nil, fmt.Errorf("%s: store: %w", s.File(), err)
	}
	d.store = st
	ropts := recorder.Options{Logger: d.log, KeepHourly: s.History.KeepHourly.D(), KeepDaily: s.History.KeepDaily.D()}
	if s.History.HashAddresses {
		if ropts.HashKey, err = historyKey(s.DataDir); err != nil {
			st.Close()
			return nil, err
		}
	}
	if s.History.Enabled {
		d.recorder = recorder.New(st, ropts)
	}
	d.learner = checks.NewAutolearn(d.log)
	d.hashKey = ropts.HashKey
	d.openDMARCReports(s)
	if err := d.apply(s); err != nil {
		d.learner.Close()
		if d.recorder != nil {
			d.recorder.Close()
		}
		st.Close()
		return nil, err
	}
	return d, nil
}

// apply builds a resolver and an engine for s and swaps them in.
func (d *Daemon) apply(s *Settings) error {
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		return fmt.Errorf("%s: dns: %w", s.File(), err)
	}
	g, err := greylist.New(d.store, s.Greylist, greylist.Options{Logger: d.log, Observer: d.greyMet})
	if err != nil {
		return fmt.Errorf("%s: %w", s.File(), err)
	}
	var cl *bayes.Classifier
	if bs, ok := d.store.(store.Bayes); ok {
		cl = bayes.New(bs, s.Bayes, d.log)
	}
	var fz *fuzzy.DB
	if fs, ok := d.store.(store.Fuzzy); ok {
		fz = fuzzy.New(fs, s.Fuzzy, d.log)
	}
	replay, _ := d.store.(store.DKIMReplay)
	obs := []engine.Observer{d.metrics, d.counters, d.learner}
	if d.recorder != nil {
		obs = append(obs, d.recorder)
	}
	eng, err := BuildEngine(s, Deps{
		Resolver: res, Logger: d.log, Observers: append(obs, d.dmarcObservers(s)...),
		Greylister: g, ListMetrics: d.lists, DMARCCollector: d.dmarcCollector, Bayes: cl, Fuzzy: fz, Replay: replay, RuleLists: d.ruleLists,
	})
	if err != nil {
		return err
	}
	d.grey.Store(g)
	d.bayes.Store(cl)
	d.fuzzy.Store(fz)
	d.learner.SetClassifier(cl)
	d.settings.Store(s)
	d.resolver.Store(res)
	d.engine.Store(eng)
	applyCPUs(s.CPUs, d.log)
	return nil
}

// Engine returns the current engine.
func (d *Daemon) Engine() *engine.Engine { return d.engine.Load() }

// Reload reads the configuration again. On error the old configuration
// stays in force. Listen addresses are not changed by a reload.
func (d *Daemon) Reload() error {
	old := d.settings.Load()
	s, err := LoadSettings(d.file, d.ov)
	if err == nil {
		err = d.apply(s)
	}
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "err", err)
		return err
	}
	d.log.Info("configuration reloaded", "file", d.file)
	if changed := restartOnly(old, s); len(changed) > 0 {
		d.log.Warn("changed in the file, applied only by a restart (systemctl restart hamlet)", "options", changed)
	}
	return nil
}

// restartOnly names the options that differ between the running settings
// and new ones but that a reload does not apply: the listeners, the store
// and the front ends' limits are set up once, at start.
func restartOnly(old, s *Settings) []string {
	var out []string
	for _, o := range []struct {
		name     string
		was, now any
	}{
		{"data_dir", old.DataDir, s.DataDir},
		{"store", old.Store, s.Store},
		{"scan.listen", old.Scan.Listen, s.Scan.Listen},
		{"scan.max_size, max_inflight_bytes, body_timeout, max_connections", old.HTTP, s.HTTP},
		{"controller.listen", old.Controller.Listen, s.Controller.Listen},
		{"[milter]", old.Milter, s.Milter},
		{"[history]", old.History, s.History},
	} {
		if !reflect.DeepEqual(o.was, o.now) {
			out = append(out, o.name)
		}
	}
	return out
}

// Addrs returns the addresses listened on for role ("scan", "controller",
// "milter"), once Ready is closed.
func (d *Daemon) Addrs(role string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs[role]...)
}

// Run listens and serves until ctx ends or SIGTERM/SIGINT arrives, then
// drains in-flight scans (up to the scan timeout plus a margin) and
// returns nil. SIGHUP reloads the configuration.
func (d *Daemon) Run(ctx context.Context) error {
	s := d.settings.Load()
	defer d.closeStore()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, 8)
	scanCfg := s.HTTP
	scanCfg.Metrics = rspamdhttp.MetricsFunc(func(route string, code int) {
		d.httpReqs.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
	scan := rspamdhttp.New(d.Engine, scanCfg, d.log)
	for _, addr := range s.Scan.Listen {
		if err := d.serveHTTP("scan", addr, scanCfg, scan, errc); err != nil {
			d.shutdown()
			return err
		}
	}
	if len(s.Controller.Listen) > 0 {
		ctl, err := d.controller(s, scan)
		if err != nil {
			d.shutdown()
			return err
		}
		for _, addr := range s.Controller.Listen {
			if err := d.serveHTTP("controller", addr, scanCfg, ctl, errc); err != nil {
				d.shutdown()
				return err
			}
		}
	}
	d.startDMARCSender(ctx)
	d.milter = milter.NewServer(d.Engine, s.Milter, d.log)
	for _, addr := range s.Milter.Listen {
		// milter.Listen replaces a stale unix socket, refuses a live one
		// and opens it to the MTA's user.
		ln, err := milter.Listen(addr)
		if err != nil {
			d.shutdown()
			return fmt.Errorf("milter: %w", err)
		}
		d.addAddr("milter", ln.Addr().String())
		warnExposed(d.log, "milter", ln.Addr())
		go func() {
			if err := d.milter.Serve(ln); err != nil && !errors.Is(err, milter.ErrServerClosed) {
				errc <- fmt.Errorf("milter: %w", err)
			}
		}()
	}
	d.log.Info("hamlet serving", "scan", d.Addrs("scan"), "controller", d.Addrs("controller"), "milter", d.Addrs("milter"), "data", s.DataDir,
		"store", storeLabel(s.Store), "dns", d.resolver.Load().Servers())
	if d.Ready != nil {
		close(d.Ready)
	}
	d.notify(sdnotify.Ready, "STATUS=serving")
	for {
		select {
		case <-hup:
			d.notify(sdnotify.ReloadingNow()...)
			status := "STATUS=serving (configuration reloaded)"
			if err := d.Reload(); err != nil {
				status = "STATUS=serving; reload failed, running configuration kept: " + err.Error()
			}
			d.notify(sdnotify.Ready, status)
		case err := <-errc:
			d.notify(sdnotify.Stopping, "STATUS=failed: "+err.Error())
			d.shutdown()
			return err
		case <-ctx.Done():
			d.log.Info("shutting down: draining in-flight scans")
			d.notify(sdnotify.Stopping, "STATUS=draining in-flight scans")
			d.shutdown()
			return nil
		}
	}
}

// notify tells systemd (Type=notify) the daemon's state; outside systemd
// it does nothing.
func (d *Daemon) notify(state ...string) {
	for i, l := range state {
		state[i] = strings.ReplaceAll(l, "\n", "; ") // one line per state
	}
	if err := sdnotify.Notify(state...); err != nil {
		d.log.Warn("telling systemd the daemon's state", "err", err)
	}
}

func (d *Daemon) addAddr(role, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs[role] = append(d.addrs[role], addr)
}

func (d *Daemon) serveHTTP(role, addr string, cfg rspamdhttp.Config, h http.Handler, errc chan<- error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	if role == "scan" {
		warnExposed(d.log, role, ln.Addr())
	}
	ln = limitListener(ln, HTTPConnCap(cfg.MaxConns, fdLimit()))
	srv := cfg.HTTPServer(addr, h)
	srv.ErrorLog = slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)
	d.mu.Lock()
	d.servers = append(d.servers, srv)
	d.mu.Unlock()
	d.addAddr(role, ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s: %w", role, err)
		}
	}()
	return nil
}

// shutdown stops accepting and waits for in-flight requests and milter
// messages, at most the scan timeout plus 10 s.
func (d *Daemon) shutdown() {
	grace := d.Engine().Timeout() + 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	d.mu.Lock()
	servers, m := d.servers, d.milter
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown(ctx) }()
	}
	if m != nil {
		wg.Add(1)
		go func() { defer wg.Done(); m.Shutdown(ctx) }()
	}
	wg.Wait()
}

// closeStore flushes the history and closes the store.
// storeLabel names the store for the start-up line: "embedded" for the
// default, a URL without its password (redis://:xxxxx@host:6379/0).
func storeLabel(store string) string {
	if store == "" {
		return "embedded"
	}
	if u, err := url.Parse(store); err == nil && u.User != nil {
		return u.Redacted()
	}
	return store
}

func (d *Daemon) closeStore() {
	d.learner.Close()
	if d.recorder != nil {
		d.recorder.Close()
	}
	d.closeDMARCReports()
	if err := d.store.Close(); err != nil {
		d.log.Warn("closing the store", "err", err)
	}
}
