package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/greylist"
)

// Metrics are the daemon's Prometheus collectors, on a registry of their
// own (served at /metrics on the controller).
type Metrics struct {
	Registry *prometheus.Registry
	scans    *prometheus.CounterVec
	latency  prometheus.Histogram
	symbols  *prometheus.CounterVec
}

// NewMetrics registers the scan collectors and the DNS counters of the
// resolver returned by res (a func: a reload may replace the resolver).
func NewMetrics(res func() *dns.Client) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hamlet_scans_total", Help: "Messages scanned, by action.",
		}, []string{"action"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hamlet_scan_duration_seconds", Help: "Time from the start of a scan to its final verdict.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
		}),
		symbols: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hamlet_symbols_total", Help: "Symbols in final verdicts, by name.",
		}, []string{"symbol"}),
	}
	reg.MustRegister(m.scans, m.latency, m.symbols,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&dnsCollector{res: res})
	return m
}

// Observe implements engine.Observer.
func (m *Metrics) Observe(tx *engine.Transaction, v *engine.Verdict, elapsed time.Duration) {
	m.scans.WithLabelValues(v.Action.String()).Inc()
	m.latency.Observe(elapsed.Seconds())
	for _, s := range v.Symbols {
		m.symbols.WithLabelValues(s.Name).Inc()
	}
}

// dnsCollector exports the resolver's own counters.
type dnsCollector struct{ res func() *dns.Client }

var (
	dnsQueries = prometheus.NewDesc("hamlet_dns_queries_total", "Upstream DNS queries, by outcome.", []string{"outcome"}, nil)
	dnsHits    = prometheus.NewDesc("hamlet_dns_cache_hits_total", "DNS lookups answered from the cache.", nil, nil)
	dnsShared  = prometheus.NewDesc("hamlet_dns_shared_total", "DNS lookups that joined an identical query in flight.", nil, nil)
	dnsTCP     = prometheus.NewDesc("hamlet_dns_tcp_retries_total", "DNS queries retried over TCP after truncation.", nil, nil)
	dnsEntries = prometheus.NewDesc("hamlet_dns_cache_entries", "Answers in the DNS cache.", nil, nil)
)

func (c *dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dnsQueries
	ch <- dnsHits
	ch <- dnsShared
	ch <- dnsTCP
	ch <- dnsEntries
}

func (c *dnsCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.res()
	if r == nil {
		return
	}
	st := r.Stats()
	for outcome, n := range st.Outcomes {
		ch <- prometheus.MustNewConstMetric(dnsQueries, prometheus.CounterValue, float64(n), outcome)
	}
	ch <- prometheus.MustNewConstMetric(dnsHits, prometheus.CounterValue, float64(st.CacheHits))
	ch <- prometheus.MustNewConstMetric(dnsShared, prometheus.CounterValue, float64(st.Shared))
	ch <- prometheus.MustNewConstMetric(dnsTCP, prometheus.CounterValue, float64(st.TCP))
	ch <- prometheus.MustNewConstMetric(dnsEntries, prometheus.GaugeValue, float64(r.CacheLen()))
}

// GreylistMetrics count greylisting decisions for Prometheus (a
// greylist.Observer: package greylist keeps only the decisions).
type GreylistMetrics struct {
	decisions *prometheus.CounterVec
	errors    prometheus.Counter
}

// NewGreylistMetrics creates the collectors; register them with
// Collectors.
func NewGreylistMetrics() *GreylistMetrics {
	return &GreylistMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hamlet_greylist_decisions_total",
			Help: "Greylisting decisions, by outcome (greylisted, pass, allowlisted, error).",
		}, []string{"outcome"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hamlet_greylist_errors_total",
			Help: "Greylisting decisions the store failed; the mail was accepted (fail open).",
		}),
	}
}

// Collectors returns the collectors to register.
func (m *GreylistMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.errors}
}

// ObserveDecision implements greylist.Observer.
func (m *GreylistMetrics) ObserveDecision(d greylist.Decision) {
	label := d.Outcome.String()
	if d.Outcome == greylist.Pass && d.Reason == "allowlisted" {
		label = "allowlisted"
	}
	m.decisions.WithLabelValues(label).Inc()
	if d.Outcome == greylist.Error {
		m.errors.Inc()
	}
}
