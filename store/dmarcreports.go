package store

import (
	"context"
	"fmt"
	"time"
)

// DMARCReports is implemented by the stores that keep received DMARC
// aggregate reports (both store/bolt and store/redis do). It is a separate
// interface so that Store stays what every user of state needs; package
// dmarcreport asserts it.
//
// A report is kept once under its ID (the reporting organisation and its
// report id) until Expires; the store treats Data as opaque (package
// dmarcreport keeps the parsed report as JSON there).
type DMARCReports interface {
	// DMARCReportAdd stores r unless an unexpired report with its ID
	// exists; it reports whether r was added. Atomic, also between hosts.
	DMARCReportAdd(ctx context.Context, r DMARCReport, now time.Time) (bool, error)
	// DMARCReportList returns the unexpired reports of q.Domain whose
	// period overlaps [q.From, q.To), by Begin, oldest first, at most
	// q.Limit (<= 0: 10,000).
	DMARCReportList(ctx context.Context, q DMARCReportQuery) ([]DMARCReport, error)
	// DMARCReportDomains returns the policy domains with unexpired
	// reports, sorted.
	DMARCReportDomains(ctx context.Context, now time.Time) ([]string, error)
	// DMARCReportSweep removes expired reports and returns how many.
	DMARCReportSweep(ctx context.Context, now time.Time) (int, error)
}

// DMARCReport is one stored aggregate report.
type DMARCReport struct {
	ID       string    `json:"id"`     // org "!" report id
	Domain   string    `json:"domain"` // policy_published/domain, lower case
	Begin    time.Time `json:"begin"`
	End      time.Time `json:"end"`
	Received time.Time `json:"received"`
	Expires  time.Time `json:"expires"`
	Data     []byte    `json:"data"`
}

// DMARCReportQuery selects stored reports.
type DMARCReportQuery struct {
	Domain   string
	From, To time.Time // zero To: no upper bound
	Now      time.Time // what is expired
	Limit    int
}

// MaxDMARCPeriod is the longest report period a query by period is sure
// to find (RFC 7489 §7.2 asks for daily reports; some send weekly).
const MaxDMARCPeriod = 31 * 24 * time.Hour

// CheckDMARCReport validates a report before it is stored.
func CheckDMARCReport(r DMARCReport) error {
	switch {
	case r.ID == "" || len(r.ID) > MaxKeyLen:
		return fmt.Errorf("%w: DMARC report id %.40q", ErrInvalid, r.ID)
	case r.Domain == "" || len(r.Domain) > 255:
		return fmt.Errorf("%w: DMARC report domain %.40q", ErrInvalid, r.Domain)
	case r.Begin.IsZero() || r.Expires.IsZero():
		return fmt.Errorf("%w: DMARC report without begin or expiry", ErrInvalid)
	}
	return nil
}

// DefaultLimit returns q.Limit or its default.
func (q DMARCReportQuery) DefaultLimit() int {
	if q.Limit <= 0 {
		return 10_000
	}
	return q.Limit
}

// Overlaps reports whether r's period overlaps the query's.
func (q DMARCReportQuery) Overlaps(r DMARCReport) bool {
	end := r.End
	if end.Before(r.Begin) {
		end = r.Begin
	}
	if !q.To.IsZero() && !r.Begin.Before(q.To) {
		return false
	}
	return !end.Before(q.From)
}
