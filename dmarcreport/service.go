package dmarcreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/store"
)

// Service keeps received reports in the store and summarises them.
type Service struct {
	st    store.DMARCReports
	cfgMu sync.RWMutex
	cfg   Config
	ptr   *ptrCache
	log   *slog.Logger
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// New returns a service on st; res resolves the PTR names of sources
// (nil: no names).
func New(st store.DMARCReports, res dns.Resolver, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, cfg: cfg, ptr: newPTRCache(res), log: log, Now: time.Now}
}

// Config returns the service's configuration.
func (s *Service) Config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

// SetConfig replaces the configuration (a reload).
func (s *Service) SetConfig(c Config) {
	s.cfgMu.Lock()
	s.cfg = c
	s.cfgMu.Unlock()
}

// Limits are the parser's bounds from the configuration.
func (s *Service) Limits() Limits { return Limits{MaxXML: s.Config().MaxSize}.WithDefaults() }

// IngestResult says what one input gave.
type IngestResult struct {
	Reports    int   `json:"reports"`    // new reports stored
	Duplicates int   `json:"duplicates"` // reports already stored
	Records    int   `json:"records"`    // rows of the new reports
	Messages   int64 `json:"messages"`   // messages counted by the new reports
	// Domains are the policy domains of the reports read.
	Domains []string `json:"domains,omitempty"`
	// Errors are the parts that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// Add sums o into r.
func (r *IngestResult) Add(o IngestResult) {
	r.Reports += o.Reports
	r.Duplicates += o.Duplicates
	r.Records += o.Records
	r.Messages += o.Messages
	r.Errors = append(r.Errors, o.Errors...)
	for _, d := range o.Domains {
		r.addDomain(d)
	}
}

func (r *IngestResult) addDomain(d string) {
	for _, x := range r.Domains {
		if x == d {
			return
		}
	}
	r.Domains = append(r.Domains, d)
}

// Ingest reads the reports in data (see Extract) and stores the new ones.
// The error is non-nil when nothing could be read or the store failed;
// reports that were read are stored even when other parts failed (those
// are listed in the result's Errors).
func (s *Service) Ingest(ctx context.Context, data []byte) (IngestResult, error) {
	var res IngestResult
	reports, perr := Extract(data, s.Limits())
	if perr != nil {
		for _, e := range unjoin(perr) {
			res.Errors = append(res.Errors, e.Error())
		}
	}
	if len(reports) == 0 {
		return res, perr
	}
	for _, r := range reports {
		added, err := s.Store(ctx, r)
		if err != nil {
			return res, err
		}
		res.addDomain(r.Policy.Domain)
		if !added {
			res.Duplicates++
			continue
		}
		res.Reports++
		res.Records += len(r.Records)
		res.Messages += r.Messages()
	}
	return res, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Store keeps one parsed report unless it is already stored.
func (s *Service) Store(ctx context.Context, r *Report) (bool, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	now := s.Now().UTC()
	ret := s.Config().Retention.D()
	if ret <= 0 {
		ret = DefaultConfig().Retention.D()
	}
	// Kept for the retention from when it arrived, so that an imported
	// archive of old reports can be looked at.
	added, err := s.st.DMARCReportAdd(ctx, store.DMARCReport{
		ID: r.Key(), Domain: r.Policy.Domain, Begin: r.Begin, End: r.End,
		Received: now, Expires: now.Add(ret), Data: data,
	}, now)
	if err != nil {
		return false, fmt.Errorf("dmarc reports: store: %w", err)
	}
	return added, nil
}

// Reports returns the stored reports of domain overlapping [from, to).
func (s *Service) Reports(ctx context.Context, domain string, from, to time.Time) ([]*Report, error) {
	rows, err := s.st.DMARCReportList(ctx, store.DMARCReportQuery{Domain: domain, From: from, To: to, Now: s.Now()})
	if err != nil {
		return nil, fmt.Errorf("dmarc reports: %w", err)
	}
	out := make([]*Report, 0, len(rows))
	var bad error
	for _, row := range rows {
		r := new(Report)
		if err := json.Unmarshal(row.Data, r); err != nil {
			bad = errors.Join(bad, fmt.Errorf("stored report %s: %w", row.ID, err))
			continue
		}
		out = append(out, r)
	}
	if bad != nil {
		s.log.Warn("dmarc reports: unreadable stored reports skipped", "err", bad)
	}
	return out, nil
}

// Domains returns the policy domains that have reports.
func (s *Service) Domains(ctx context.Context) ([]string, error) {
	return s.st.DMARCReportDomains(ctx, s.Now())
}

// Sweep removes expired reports.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	return s.st.DMARCReportSweep(ctx, s.Now())
}

// RunSweeper sweeps every interval until ctx ends: the embedded store's
// own housekeeping removes expired reports too, Redis expires the
// reports but not their entries in the period indexes.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, max(interval/2, time.Minute))
		if n, err := s.Sweep(sctx); err != nil {
			s.log.Warn("dmarc reports: sweeping expired reports", "removed", n, "err", err)
		} else if n > 0 {
			s.log.Info("dmarc reports: expired reports removed", "removed", n)
		}
		cancel()
	}
}
