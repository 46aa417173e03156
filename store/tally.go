package store

import (
	"fmt"
	"strings"
)

// A tally is a named set of counted rows, kept until it expires or is
// deleted: the shape of DMARC aggregate report data (RFC 7489 §7.2.1.1:
// for each reporting period and policy domain, one row per distinct
// source IP, disposition and authentication results, with the number of
// messages). The caller chooses the names (e.g. "dmarc:example.org:20260301")
// and encodes each row as a string (e.g. JSON); the store only adds. See
// the Tally* methods of Store.

// MaxTallyRows bounds the rows of one tally; TallyAdd refuses more with
// ErrFull.
const MaxTallyRows = 100_000

// tallyReserved starts the store's own fields inside a tally; rows may
// not start with it.
const tallyReserved = "\x00"

// TallyExpiresField is the reserved field holding a tally's expiry (Unix
// ms) where a backend keeps it beside the rows.
const TallyExpiresField = tallyReserved + "expires"

// CheckTally validates a TallyAdd.
func CheckTally(name string, rows map[string]int64) error {
	if err := CheckKey(name); err != nil {
		return err
	}
	for r := range rows {
		if r == "" || strings.HasPrefix(r, tallyReserved) || len(r) > 4096 {
			return fmt.Errorf("%w: tally row %.40q", ErrInvalid, r)
		}
	}
	// More rows in one add than a tally may hold is refused before any
	// work (Redis would otherwise test each row in one long script).
	if len(rows) > MaxTallyRows {
		return fmt.Errorf("%w: %d rows for tally %q, more than the %d allowed", ErrFull, len(rows), name, MaxTallyRows)
	}
	return nil
}
