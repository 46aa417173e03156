package message

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// obsZones are the zone names of RFC 5322 §4.3 (obs-zone) with their
// offsets in hours. Military single-letter zones are not here: §4.3 says
// they "SHOULD all be considered equivalent to "-0000"" (unknown), which
// is what parsing them gives.
var obsZones = map[string]int{
	"UT": 0, "GMT": 0,
	"EST": -5, "EDT": -4,
	"CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6,
	"PST": -8, "PDT": -7,
}

// ParseDate parses an RFC 5322 date-time (§3.3), with the obsolete forms
// of §4.3: two-digit years, and the zone names UT, GMT, EST, EDT, CST,
// CDT, MST, MDT, PST and PDT in any case, at their offsets. net/mail
// alone reads a zone name it does not find in the local time zone as
// UTC, so that "10:25:36 EDT" would be four hours early.
func ParseDate(s string) (time.Time, error) {
	f := strings.Fields(s)
	for i, tok := range f {
		// The zone follows the time of day; a comment "(EDT)" is not it.
		if h, ok := obsZones[strings.ToUpper(tok)]; ok && i > 0 && strings.Count(f[i-1], ":") >= 1 {
			f[i] = fmt.Sprintf("%+03d00", h)
			s = strings.Join(f, " ")
			break
		}
	}
	return mail.ParseDate(s)
}
