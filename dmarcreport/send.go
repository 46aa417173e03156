package dmarcreport

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/smtp"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/dmarc"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/dns/dnsname"
	"github.com/hamlet-mail/hamlet/store"
)

// Sender sends the aggregate reports the Collector counted, once their
// period is over: to each rua= address of the policy domain that passes
// the external destination check (RFC 7489 §7.1), within its size limit
// (!10m), as a gzip attachment (RFC 7489 §7.2.1.1), through the local MTA.
// A report's data is deleted only when every destination was handled; a
// temporary failure keeps it for the next round (until a week after its
// period).
type Sender struct {
	st       store.Store
	res      dns.Resolver
	mu       sync.Mutex
	cfg      SendConfig
	hostname string
	log      *slog.Logger
	// Now is the clock; Deliver hands one message to the MTA (default:
	// Relay by SMTP, else Sendmail -t -i).
	Now     func() time.Time
	Deliver func(ctx context.Context, from string, to []string, msg []byte) error
}

// NewSender returns a sender; hostname names this reporter by default.
func NewSender(st store.Store, res dns.Resolver, cfg SendConfig, hostname string, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.Default()
	}
	s := &Sender{st: st, res: res, cfg: cfg, hostname: hostname, log: log, Now: time.Now}
	s.Deliver = s.deliver
	return s
}

// SetConfig replaces the configuration (a reload).
func (s *Sender) SetConfig(cfg SendConfig) {
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
}

func (s *Sender) config() SendConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	if c.OrgName == "" {
		c.OrgName = s.hostname
	}
	if c.From == "" {
		c.From = "postmaster@" + s.hostname
	}
	if c.Interval <= 0 {
		c.Interval = DefaultConfig().Send.Interval
	}
	return c
}

// Run sends due reports every few minutes until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if s.config().Enabled {
			rctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
			if n, err := s.SendDue(rctx); err != nil {
				s.log.Warn("dmarc reports: sending", "sent", n, "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendDue sends every report whose period is over; it returns how many
// report mails were handed to the MTA.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	return s.send(ctx, s.Now(), false)
}

// Flush sends the reports of the current, unfinished period too, ending
// now (before the host is shut down for good, or to see what a report
// will say): c, the collector of this process, starts new tallies at
// that instant, so nothing counted meanwhile is lost; it is reported with
// the rest of the period.
func (s *Sender) Flush(ctx context.Context, c *Collector) (int, error) {
	now := s.Now().UTC()
	if c != nil {
		c.Cut(now)
		if err := c.Sync(ctx); err != nil {
			return 0, err
		}
	}
	return s.send(ctx, now, true)
}

// sendGrace is how long after its period's end a report waits: counts
// of the period's last seconds may still be in a collector's memory
// (collectSync), or on a host whose clock is a little behind.
const sendGrace = time.Minute

// send sends the reports whose period ends by now, or with flush every
// report begun before now, its period cut at now.
func (s *Sender) send(ctx context.Context, now time.Time, flush bool) (int, error) {
	cfg := s.config()
	names, err := s.st.TallyList(ctx, tallyPrefix, now, cfg.MaxDomains*4)
	if err != nil {
		return 0, err
	}
	// Reports tried before are retried at once, with the end they had.
	tried, err := s.st.TallyList(ctx, sentPrefix, now, cfg.MaxDomains*4)
	if err != nil {
		return 0, err
	}
	retry := map[string]bool{}
	for _, n := range tried {
		retry[tallyPrefix+strings.TrimPrefix(n, sentPrefix)] = true
	}
	sent := 0
	var errs error
	for _, name := range names {
		begin, domain, ok := parseTallyName(name)
		if !ok {
			continue
		}
		// A tally begun by a flush ends with the period it is in.
		end := periodStart(begin, cfg.Interval.D()).Add(cfg.Interval.D())
		switch {
		case retry[name]:
		case flush && begin.Before(now):
			if end.After(now) {
				end = now
			}
		case end.Add(sendGrace).After(now):
			continue // the period is not over
		}
		n, _, err := s.sendOne(ctx, cfg, name, domain, begin, end)
		sent += n
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s: %w", domain, err))
		}
	}
	return sent, errs
}

// sentPrefix starts the names of the tallies that remember a report's
// first attempt (sentState): the tally name without tallyPrefix follows.
const sentPrefix = "dmarcsent:"

// Rows of a sent state: the report's end (Unix milliseconds), a copy of
// the tally rows it reports (sentRow + row) and each destination that
// accepted it (sentTo + address).
const (
	sentEnd = "end"
	sentRow = "r"
	sentTo  = "to:"
)

// sentState is what the first attempt at sending a report fixed, so that
// a retry after a failed destination sends the same report (same end,
// same id, same date_range, same rows) and only to the destinations that
// did not get it (RFC 7489 §7.2.1.1: a receiver that got it once must not
// count those messages twice). It is kept in the store as the tally is,
// with the same expiry, so a restart does not forget it.
type sentState struct {
	name   string
	end    time.Time
	rows   map[string]int64
	served map[string]bool
}

// loadSent returns the sent state of the tally name, fixing it at end
// and rows when this is the first attempt.
func (s *Sender) loadSent(ctx context.Context, cfg SendConfig, name string, begin, end time.Time, rows map[string]int64) (*sentState, error) {
	st := &sentState{name: sentPrefix + strings.TrimPrefix(name, tallyPrefix), end: end, rows: rows, served: map[string]bool{}}
	saved, err := s.st.TallyGet(ctx, st.name, s.Now())
	switch {
	case err == nil && saved[sentEnd] > 0:
		st.end, st.rows = time.UnixMilli(saved[sentEnd]).UTC(), map[string]int64{}
		for k, n := range saved {
			switch {
			case strings.HasPrefix(k, sentTo):
				st.served[k[len(sentTo):]] = true
			case strings.HasPrefix(k, sentRow):
				st.rows[k[len(sentRow):]] = n
			}
		}
		return st, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	first := make(map[string]int64, len(rows)+1)
	for k, n := range rows {
		first[sentRow+k] = n
	}
	first[sentEnd] = end.UnixMilli()
	err = s.st.TallyAdd(ctx, st.name, first, s.Now(), s.expires(cfg, begin))
	if errors.Is(err, store.ErrFull) {
		// A tally near store.MaxTallyRows has no room for its copy: send
		// it as before (a retry may then send a different report).
		s.log.Warn("dmarc reports: no room to remember the report; a retry may differ", "tally", name, "err", err)
		st.name = ""
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remembering the report before sending it: %w", err)
	}
	return st, nil
}

// expires is when the tally begun at begin expires (as the collector
// sets it).
func (s *Sender) expires(cfg SendConfig, begin time.Time) time.Time {
	return periodStart(begin, cfg.Interval.D()).Add(cfg.Interval.D() + 7*24*time.Hour)
}

// markSent remembers that addr accepted the report.
func (s *Sender) markSent(ctx context.Context, cfg SendConfig, st *sentState, begin time.Time, addr string) error {
	st.served[addr] = true
	if st.name == "" {
		return nil
	}
	return s.st.TallyAdd(ctx, st.name, map[string]int64{sentTo + addr: 1}, s.Now(), s.expires(cfg, begin))
}

// finish removes a sent report's data: its sent state, and its tally's
// rows that the report counted. Rows counted into the tally after the
// first attempt (a restarted collector no longer knows a flush's cut)
// stay, for a later report.
func (s *Sender) finish(ctx context.Context, cfg SendConfig, name string, begin time.Time, st *sentState) error {
	if st == nil || st.name == "" { // dropped before an attempt (no rua= any more, no rows), or not remembered
		_, err := s.st.TallyDelete(ctx, name)
		if err == nil {
			_, err = s.st.TallyDelete(ctx, sentPrefix+strings.TrimPrefix(name, tallyPrefix))
		}
		return err
	}
	rows, err := s.st.TallyGet(ctx, name, s.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	left := map[string]int64{}
	more := false
	for k, n := range rows {
		more = more || n > st.rows[k]
		if st.rows[k] != 0 {
			left[k] = -st.rows[k]
		}
	}
	if more {
		err = s.st.TallyAdd(ctx, name, left, s.Now(), s.expires(cfg, begin))
	} else {
		_, err = s.st.TallyDelete(ctx, name)
	}
	if err != nil {
		return err
	}
	_, err = s.st.TallyDelete(ctx, st.name)
	return err
}

// sendOne sends one report, or what a failed destination has not got
// yet of a report tried before (sentState); done says its data may go
// (then finish has removed it).
func (s *Sender) sendOne(ctx context.Context, cfg SendConfig, name, domain string, begin, end time.Time) (sent int, done bool, err error) {
	var st *sentState
	defer func() {
		if done {
			if ferr := s.finish(ctx, cfg, name, begin, st); ferr != nil {
				done, err = false, errors.Join(err, ferr)
			}
		}
	}()
	rows, err := s.st.TallyGet(ctx, name, s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	for k, n := range rows {
		if n <= 0 { // reported already (finish)
			delete(rows, k)
		}
	}
	if len(BuildReport(cfg, domain, begin, end, rows).Records) == 0 {
		return 0, true, nil
	}
	// Where to: the rua= of the record now published (RFC 7489 §7.2).
	txts, err := s.res.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil && !dns.IsNotFound(err) {
		return 0, false, err
	}
	var rec *dmarc.Record
	for _, t := range txts {
		if r, err := dmarc.Parse(t); r != nil && err == nil {
			rec = r
			break
		}
	}
	if rec == nil || len(rec.RUA) == 0 {
		s.log.Info("dmarc reports: no rua= at the domain any more: report dropped", "domain", domain)
		return 0, true, nil
	}
	if st, err = s.loadSent(ctx, cfg, name, begin, end, rows); err != nil {
		return 0, false, err
	}
	rep := BuildReport(cfg, domain, begin, st.end, st.rows)
	xmlData, err := MarshalXML(rep)
	if err != nil {
		return 0, true, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(xmlData)
	zw.Close()
	done = true
	for _, uri := range rec.RUA {
		if uri.Address == "" {
			continue // not mailto:
		}
		auth, err := dmarc.VerifyExternalDestination(ctx, s.res, domain, uri, false)
		if err != nil {
			done = false
			continue
		}
		if !auth.Authorized {
			s.log.Info("dmarc reports: destination does not accept reports for the domain: not sent (RFC 7489 §7.1)",
				"domain", domain, "rua", uri.Raw, "asked", auth.Query)
			continue
		}
		targets := []dmarc.URI{uri}
		if len(auth.Override) > 0 {
			targets = auth.Override
		}
		for _, t := range targets {
			addr := strings.ToLower(t.Address)
			if st.served[addr] {
				continue // got this report on an earlier attempt
			}
			msg := ReportMail(cfg, rep, t.Address, gz.Bytes(), s.Now())
			if t.MaxSize > 0 && uint64(len(msg)) > t.MaxSize {
				s.log.Warn("dmarc reports: report larger than the destination's limit: not sent", "domain", domain, "rua", t.Raw, "size", len(msg))
				continue
			}
			if err := s.Deliver(ctx, cfg.From, []string{t.Address}, msg); err != nil {
				s.log.Warn("dmarc reports: handing the report to the MTA failed; will retry", "domain", domain, "to", t.Address, "report_id", rep.ReportID, "err", err)
				done = false
				continue
			}
			sent++
			s.log.Info("dmarc reports: report sent", "domain", domain, "to", t.Address, "report_id", rep.ReportID, "records", len(rep.Records), "messages", rep.Messages())
			if err := s.markSent(ctx, cfg, st, begin, addr); err != nil {
				// A retry may send it there again (the same report).
				s.log.Warn("dmarc reports: remembering a sent report failed", "domain", domain, "to", t.Address, "err", err)
			}
		}
	}
	return sent, done, nil
}

// BuildReport turns a period's tally rows into a report.
func BuildReport(cfg SendConfig, domain string, begin, end time.Time, rows map[string]int64) *Report {
	// date_range is in whole seconds, its end inclusive: the second
	// before end, or end's own second when a flush cut the period there.
	last := end.Truncate(time.Second)
	if last.Equal(end) {
		last = last.Add(-time.Second)
	}
	rep := &Report{Version: "1.0", Org: cfg.OrgName, Email: cfg.From, ExtraContact: cfg.Contact,
		Generator: "hamlet", Begin: begin.Truncate(time.Second), End: last}
	sum := sha256.Sum256([]byte(cfg.OrgName + "\x00" + domain + "\x00" + strconv.FormatInt(begin.UnixMilli(), 10) + "\x00" + strconv.FormatInt(end.UnixMilli(), 10)))
	rep.ReportID = hex.EncodeToString(sum[:10]) // RFC 7489 §7.2.1.1 unique-id: ALPHA / DIGIT only
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	policies := map[rowPolicy]int64{}
	for _, k := range keys {
		var rw row
		if json.Unmarshal([]byte(k), &rw) != nil {
			continue
		}
		ip, err := parseIP(rw.IP)
		if err != nil {
			continue
		}
		rec := Record{SourceIP: ip, Count: rows[k], Disposition: rw.Disposition, DKIM: rw.DKIM, SPF: rw.SPF,
			HeaderFrom: rw.HeaderFrom, EnvelopeFrom: rw.EnvelopeFrom, EnvelopeTo: rw.EnvelopeTo, AuthDKIM: rw.AuthDKIM}
		if rw.Reason != "" {
			rec.Reasons = []Reason{{Type: rw.Reason, Comment: rw.Comment}}
		}
		if rw.AuthSPF != nil {
			rec.AuthSPF = []SPFAuth{*rw.AuthSPF}
		}
		rep.Records = append(rep.Records, rec)
		policies[rw.Policy] += rows[k]
	}
	// policy_published: the record most messages were evaluated under.
	var best rowPolicy
	var bn int64 = -1
	for p, n := range policies {
		if n > bn || n == bn && fmt.Sprint(p) < fmt.Sprint(best) {
			best, bn = p, n
		}
	}
	rep.Policy = PolicyPublished{Domain: domain, P: orNoneStr(best.P), SP: best.SP, NP: best.NP, ADKIM: best.ADKIM, ASPF: best.ASPF,
		FO: best.FO, Testing: best.Testing, DiscoveryMethod: "psl"}
	return rep
}

func orNoneStr(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// The RFC 9990 XML shapes (namespace urn:ietf:params:xml:ns:dmarc-2.0),
// in the schema's element order.
type oFeedback struct {
	XMLName  xml.Name  `xml:"feedback"`
	Xmlns    string    `xml:"xmlns,attr"`
	Version  string    `xml:"version"`
	Metadata oMetadata `xml:"report_metadata"`
	Policy   oPolicy   `xml:"policy_published"`
	Records  []oRecord `xml:"record"`
}

type oMetadata struct {
	OrgName      string `xml:"org_name"`
	Email        string `xml:"email"`
	ExtraContact string `xml:"extra_contact_info,omitempty"`
	ReportID     string `xml:"report_id"`
	Begin        int64  `xml:"date_range>begin"`
	End          int64  `xml:"date_range>end"`
	Generator    string `xml:"generator,omitempty"`
}

type oPolicy struct {
	Domain          string `xml:"domain"`
	P               string `xml:"p"`
	SP              string `xml:"sp,omitempty"`
	NP              string `xml:"np,omitempty"`
	ADKIM           string `xml:"adkim,omitempty"`
	ASPF            string `xml:"aspf,omitempty"`
	DiscoveryMethod string `xml:"discovery_method,omitempty"`
	FO              string `xml:"fo,omitempty"`
	Testing         string `xml:"testing,omitempty"`
}

type oRecord struct {
	SourceIP    string     `xml:"row>source_ip"`
	Count       int64      `xml:"row>count"`
	Evaluated   oEvaluated `xml:"row>policy_evaluated"`
	HeaderFrom  string     `xml:"identifiers>header_from"`
	EnvFrom     string     `xml:"identifiers>envelope_from,omitempty"`
	EnvTo       string     `xml:"identifiers>envelope_to,omitempty"`
	AuthResults oAuth      `xml:"auth_results"`
}

type oEvaluated struct {
	Disposition string    `xml:"disposition"`
	DKIM        string    `xml:"dkim"`
	SPF         string    `xml:"spf"`
	Reasons     []oReason `xml:"reason"`
}

type oReason struct {
	Type    string `xml:"type"`
	Comment string `xml:"comment,omitempty"`
}

type oAuth struct {
	DKIM []oDKIM `xml:"dkim"`
	SPF  *oSPF   `xml:"spf"`
}

type oDKIM struct {
	Domain   string `xml:"domain"`
	Selector string `xml:"selector"`
	Result   string `xml:"result"`
}

type oSPF struct {
	Domain string `xml:"domain"`
	Scope  string `xml:"scope,omitempty"`
	Result string `xml:"result"`
}

// dkimResults and spfResults are the words RFC 9990's schema allows.
var (
	dkimResults = map[string]bool{"none": true, "pass": true, "fail": true, "policy": true, "neutral": true, "temperror": true, "permerror": true}
	spfResults  = map[string]bool{"none": true, "pass": true, "fail": true, "softfail": true, "policy": true, "neutral": true, "temperror": true, "permerror": true}
)

// MarshalXML writes rep as an RFC 9990 aggregate report.
func MarshalXML(rep *Report) ([]byte, error) {
	f := oFeedback{Xmlns: "urn:ietf:params:xml:ns:dmarc-2.0", Version: "1.0",
		Metadata: oMetadata{OrgName: rep.Org, Email: rep.Email, ExtraContact: rep.ExtraContact, ReportID: rep.ReportID,
			Begin: rep.Begin.Unix(), End: rep.End.Unix(), Generator: rep.Generator},
		Policy: oPolicy{Domain: rep.Policy.Domain, P: rep.Policy.P, SP: rep.Policy.SP, NP: rep.Policy.NP, ADKIM: rep.Policy.ADKIM,
			ASPF: rep.Policy.ASPF, DiscoveryMethod: rep.Policy.DiscoveryMethod, FO: rep.Policy.FO, Testing: rep.Policy.Testing}}
	for _, r := range rep.Records {
		o := oRecord{SourceIP: r.SourceIP.String(), Count: r.Count, HeaderFrom: r.HeaderFrom, EnvFrom: r.EnvelopeFrom, EnvTo: r.EnvelopeTo,
			Evaluated: oEvaluated{Disposition: r.Disposition, DKIM: r.DKIM, SPF: r.SPF}}
		for _, rs := range r.Reasons {
			o.Evaluated.Reasons = append(o.Evaluated.Reasons, oReason(rs))
		}
		for _, a := range r.AuthDKIM {
			res := a.Result
			if !dkimResults[res] {
				res = "permerror"
			}
			o.AuthResults.DKIM = append(o.AuthResults.DKIM, oDKIM{Domain: a.Domain, Selector: a.Selector, Result: res})
		}
		if len(r.AuthSPF) > 0 {
			a := r.AuthSPF[0]
			res := a.Result
			if !spfResults[res] {
				res = "permerror"
			}
			scope := a.Scope
			if scope != "mfrom" {
				scope = "" // RFC 9990 knows only mfrom
			}
			o.AuthResults.SPF = &oSPF{Domain: a.Domain, Scope: scope, Result: res}
		}
		f.Records = append(f.Records, o)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ReportFilename is RFC 7489 §7.2.1.1's:
// receiver "!" policy-domain "!" begin "!" end "!" unique-id ".xml.gz".
func ReportFilename(rep *Report) string {
	return fmt.Sprintf("%s!%s!%d!%d!%s.xml.gz", receiverDomain(rep), rep.Policy.Domain, rep.Begin.Unix(), rep.End.Unix(), rep.ReportID)
}

// receiverDomain is the "receiver" of the file name and the "Submitter"
// of the Subject: a domain name in RFC 7489 §7.2.1.1's grammar, while
// org_name may be a name ("Example Org", as in RFC 7489 Appendix C): the
// org_name when it is a domain name, else the domain of the report's
// From address.
func receiverDomain(rep *Report) string {
	if isDomainName(rep.Org) {
		return rep.Org
	}
	if i := strings.LastIndexByte(rep.Email, '@'); i >= 0 && isDomainName(rep.Email[i+1:]) {
		return rep.Email[i+1:]
	}
	return "invalid"
}

// isDomainName: a host name of at least two LDH labels (dnsname.Host); it
// goes into a file name and a Subject, so no underscore or U-label.
func isDomainName(s string) bool { return dnsname.Host.Valid(s) }

// ReportMail is the report message (RFC 7489 §7.2.1.1): Subject
// "Report Domain: <domain> Submitter: <receiver domain> Report-ID: <id>", a short
// text part and the gzip'd XML as an attachment.
func ReportMail(cfg SendConfig, rep *Report, to string, gz []byte, now time.Time) []byte {
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "hamlet-" + hex.EncodeToString(rnd[:])
	host := cfg.From[strings.LastIndexByte(cfg.From, '@')+1:]
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", cfg.From)
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", rep.Policy.Domain, receiverDomain(rep), rep.ReportID)))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<dmarc-"+hex.EncodeToString(rnd[:])+"@"+host+">")
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")
	h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	fmt.Fprintf(&b, "DMARC aggregate report for %s from %s, %s to %s (UTC): %d messages.\r\n\r\n",
		rep.Policy.Domain, rep.Org, rep.Begin.Format("2006-01-02 15:04"), rep.End.Format("2006-01-02 15:04"), rep.Messages())
	name := ReportFilename(rep)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/gzip; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n", boundary, name, name)
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

// deliver hands msg to the relay by SMTP, or to sendmail -t -i.
func (s *Sender) deliver(ctx context.Context, from string, to []string, msg []byte) error {
	cfg := s.config()
	if cfg.Relay != "" {
		if err := sendSMTP(ctx, cfg.Relay, s.hostname, from, to, msg); err != nil {
			return fmt.Errorf("SMTP relay %s: %w", cfg.Relay, err)
		}
		return nil
	}
	cmd := exec.CommandContext(ctx, cfg.Sendmail, "-t", "-i", "-f", from)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", cfg.Sendmail, err, bytes.TrimSpace(out))
	}
	return nil
}

// sendSMTP sends msg through the relay within ctx (2 minutes at most),
// greeting it as helo (the host name; "localhost" when empty).
func sendSMTP(ctx context.Context, relay, helo, from string, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", relay)
	if err != nil {
		return err
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	host, _, _ := net.SplitHostPort(relay)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	if helo != "" {
		if err := c.Hello(helo); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
