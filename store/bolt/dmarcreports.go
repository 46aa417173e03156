package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"sort"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hamlet-mail/hamlet/store"
)

// Received DMARC reports live in three buckets, created on first use:
//
//	dmarc_reports  ID → JSON store.DMARCReport
//	dmarc_period   domain 0x00 begin(8, Unix ms) ID → ""  (queries by period)
//	dmarc_expiry   expires(8, Unix ms) ID → ""           (the sweep)
var (
	bDMARCReports = []byte("dmarc_reports")
	bDMARCPeriod  = []byte("dmarc_period")
	bDMARCExpiry  = []byte("dmarc_expiry")
)

var _ store.DMARCReports = (*Store)(nil)

func msKey(prefix []byte, t time.Time, id string) []byte {
	k := make([]byte, 0, len(prefix)+8+len(id))
	k = append(k, prefix...)
	k = binary.BigEndian.AppendUint64(k, uint64(store.Millis(t)))
	return append(k, id...)
}

func periodKey(r store.DMARCReport) []byte {
	return msKey(append([]byte(r.Domain), 0), r.Begin, r.ID)
}

func dmarcBuckets(tx *bbolt.Tx) (reports, period, expiry *bbolt.Bucket, err error) {
	if !tx.Writable() {
		return tx.Bucket(bDMARCReports), tx.Bucket(bDMARCPeriod), tx.Bucket(bDMARCExpiry), nil
	}
	for _, p := range []struct {
		b    **bbolt.Bucket
		name []byte
	}{{&reports, bDMARCReports}, {&period, bDMARCPeriod}, {&expiry, bDMARCExpiry}} {
		if *p.b, err = tx.CreateBucketIfNotExists(p.name); err != nil {
			return
		}
	}
	return
}

// DMARCReportAdd implements store.DMARCReports.
func (s *Store) DMARCReportAdd(ctx context.Context, r store.DMARCReport, now time.Time) (bool, error) {
	if err := store.CheckDMARCReport(r); err != nil {
		return false, err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	var added bool
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		added = false
		reports, period, expiry, err := dmarcBuckets(tx)
		if err != nil {
			return err
		}
		if old := reports.Get([]byte(r.ID)); old != nil {
			var o store.DMARCReport
			if json.Unmarshal(old, &o) == nil && o.Expires.After(now) {
				return nil
			}
			if err := deleteDMARC(tx, period, expiry, o); err != nil {
				return err
			}
		}
		added = true
		if err := put(tx, bDMARCReports, []byte(r.ID), v, s.opts.MaxEntries); err != nil {
			return err
		}
		if err := period.Put(periodKey(r), nil); err != nil {
			return err
		}
		return expiry.Put(msKey(nil, r.Expires, r.ID), nil)
	})
	return added, err
}

func deleteDMARC(tx *bbolt.Tx, period, expiry *bbolt.Bucket, r store.DMARCReport) error {
	if _, err := del(tx, bDMARCReports, []byte(r.ID)); err != nil {
		return err
	}
	if err := period.Delete(periodKey(r)); err != nil {
		return err
	}
	return expiry.Delete(msKey(nil, r.Expires, r.ID))
}

// DMARCReportList implements store.DMARCReports.
func (s *Store) DMARCReportList(ctx context.Context, q store.DMARCReportQuery) ([]store.DMARCReport, error) {
	var out []store.DMARCReport
	limit := q.DefaultLimit()
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		reports, period, _, _ := dmarcBuckets(tx)
		if reports == nil {
			return nil
		}
		prefix := append([]byte(q.Domain), 0)
		from := q.From.Add(-store.MaxDMARCPeriod)
		if q.From.IsZero() || from.Before(time.UnixMilli(1)) {
			from = time.UnixMilli(1)
		}
		c := period.Cursor()
		for k, _ := c.Seek(msKey(prefix, from, "")); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := k[len(prefix)+8:]
			v := reports.Get(id)
			if v == nil {
				continue
			}
			var r store.DMARCReport
			if err := json.Unmarshal(v, &r); err != nil {
				continue
			}
			if !q.To.IsZero() && !r.Begin.Before(q.To) {
				break
			}
			if r.Expires.After(q.Now) && q.Overlaps(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// DMARCReportDomains implements store.DMARCReports.
func (s *Store) DMARCReportDomains(ctx context.Context, now time.Time) ([]string, error) {
	seen := map[string]bool{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		reports, _, _, _ := dmarcBuckets(tx)
		if reports == nil {
			return nil
		}
		return reports.ForEach(func(_, v []byte) error {
			var r store.DMARCReport
			if json.Unmarshal(v, &r) == nil && r.Expires.After(now) {
				seen[r.Domain] = true
			}
			return ctx.Err()
		})
	})
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, err
}

// DMARCReportSweep implements store.DMARCReports.
func (s *Store) DMARCReportSweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			n = 0
			reports, period, expiry, err := dmarcBuckets(tx)
			if err != nil {
				return err
			}
			c := expiry.Cursor()
			var dead [][]byte
			for k, _ := c.First(); k != nil && len(dead) < 1000; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > store.Millis(now) {
					break
				}
				dead = append(dead, append([]byte(nil), k...))
			}
			for _, k := range dead {
				if v := reports.Get(k[8:]); v != nil {
					var r store.DMARCReport
					if json.Unmarshal(v, &r) == nil && !r.Expires.After(now) {
						if err := deleteDMARC(tx, period, expiry, r); err != nil {
							return err
						}
						n++
						continue
					}
				}
				if err := expiry.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}
