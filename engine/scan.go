package engine

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/internal/gopool"
)

// InboundOnly is implemented by checks that judge the connecting client
// (rDNS, HELO, DNS lists, reputation). Their results are dropped from the
// verdict of a transaction that turns out not to be inbound (a client that
// authenticated after connecting, a local or allowlisted one).
type InboundOnly interface {
	InboundOnly() bool
}

// TimeoutSymboler is implemented by checks that name their own symbol for
// not answering before the deadline (e.g. R_SPF_DNSFAIL). Others get
// CHECK_TIMEOUT with their name as option.
type TimeoutSymboler interface {
	TimeoutSymbol() Symbol
}

// Forcer is implemented by checks that say whether they can force an
// action (a hard rule such as "no rDNS means reject"). An early verdict
// only counts forced actions, so it waits only for checks that may force:
// those answering true, those whose symbols the policy's [force] table
// names, and those that do not say.
type Forcer interface {
	MayForce() bool
}

// mayForce reports whether c can force an action under policy p.
func mayForce(c Check, p *Policy) bool {
	for _, d := range c.Symbols() {
		if _, ok := p.Force[d.Name]; ok {
			return true
		}
	}
	if f, ok := c.(Forcer); ok {
		return f.MayForce()
	}
	return true
}

// run is one check's execution within a scan.
type run struct {
	check    Check
	done     chan struct{}
	deadline time.Time // when the engine stops waiting
	res      Result
}

// Scan is one SMTP transaction being scanned. Front ends call Update as
// the transaction advances, Verdict for an early or final verdict, Next
// for another transaction on the same connection, and Close at the end.
type Scan struct {
	e      *Engine
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time

	mu    sync.Mutex
	tx    *Transaction
	phase Phase // highest phase reached; -1 before the first Update
	runs  map[string]*run
	dry   bool
}

// Stateful is implemented by a Finisher that changes state (greylisting
// records triplets): a dry scan skips it.
type Stateful interface {
	Stateful() bool
}

// Dry makes the scan a trial (the controller's scan page): its verdict
// is not observed (no history, statistics or log line) and stateful
// finishers are skipped. Call it before Verdict.
func (s *Scan) Dry() { s.dry = true }

// NewScan starts a scan. ctx bounds the scan's whole life (a connection);
// each check also gets the engine's timeout from the moment its phase is
// reached.
func (e *Engine) NewScan(ctx context.Context) *Scan {
	ctx, cancel := context.WithCancel(ctx)
	return &Scan{e: e, ctx: ctx, cancel: cancel, start: time.Now(), tx: &Transaction{}, phase: -1, runs: map[string]*run{}}
}

// Close stops the checks still running.
func (s *Scan) Close() { s.cancel() }

// Transaction returns a copy of the transaction as known now.
func (s *Scan) Transaction() *Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx.clone()
}

// Phase returns the highest phase reached.
func (s *Scan) Phase() Phase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase
}

// Update applies fn to the transaction, records that phase p is reached
// and starts the checks whose phase has come. Updates for an earlier phase
// than one already reached (e.g. a second RCPT) only change the data.
func (s *Scan) Update(p Phase, fn func(tx *Transaction)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn != nil {
		fn(s.tx)
	}
	s.tx.attachContent(s.e.content)
	if s.e.classify != nil {
		s.e.classify.Classify(s.tx)
	}
	if p > s.phase {
		s.phase = p
	}
	s.startLocked()
}

// startLocked starts every check whose phase is reached and that has not
// started. Dependencies are awaited inside the check's goroutine.
func (s *Scan) startLocked() {
	for _, c := range s.e.checks {
		if c.Phase() <= s.phase {
			s.ensureLocked(c, time.Now())
		}
	}
}

// ensureLocked starts c, after starting its dependencies, unless it runs
// already.
func (s *Scan) ensureLocked(c Check, now time.Time) *run {
	if r, ok := s.runs[c.Name()]; ok {
		return r
	}
	r := &run{check: c, done: make(chan struct{}), deadline: now.Add(s.e.timeout)}
	s.runs[c.Name()] = r
	deps := make([]*run, 0, len(c.After()))
	for _, d := range c.After() {
		deps = append(deps, s.ensureLocked(s.e.checks[s.e.byName[d]], now))
	}
	tx := s.tx.clone()
	// On a goroutine that ran checks before, with the stack they grew.
	gopool.Go(func() { s.exec(r, tx, deps) })
	return r
}

// exec runs one check once its dependencies are done. The check's context
// ends a little before the engine stops waiting, so that a well-behaved
// check can still report its own DNSFAIL symbol.
func (s *Scan) exec(r *run, tx *Transaction, deps []*run) {
	defer close(r.done)
	margin := s.e.timeout / 10
	if margin > time.Second {
		margin = time.Second
	}
	ctx, cancel := context.WithDeadline(s.ctx, r.deadline.Add(-margin))
	defer cancel()
	for _, d := range deps {
		select {
		case <-d.done:
		case <-ctx.Done():
			r.res = timeoutResult(r.check)
			return
		}
	}
	// A dependency of an earlier phase ran on an earlier snapshot; give
	// the check the transaction as it is now.
	if len(deps) > 0 {
		s.mu.Lock()
		tx = s.tx.clone()
		s.mu.Unlock()
	}
	defer func() {
		if p := recover(); p != nil {
			s.e.log.Error("check panicked", "check", r.check.Name(), "panic", p)
			r.res = Result{Symbols: []Symbol{{Name: SymCheckTimeout, Options: []string{r.check.Name(), "panic"}}}}
		}
	}()
	r.res = r.check.Run(ctx, tx, depResults(deps))
}

func timeoutResult(c Check) Result {
	if ts, ok := c.(TimeoutSymboler); ok {
		return Result{Symbols: []Symbol{ts.TimeoutSymbol()}}
	}
	return Result{Symbols: []Symbol{{Name: SymCheckTimeout, Options: []string{c.Name()}}}}
}

// depResults is the Results view a check gets of its dependencies.
type depResults []*run

func (d depResults) Get(name string) (any, bool) {
	for _, r := range d {
		if r.check.Name() == name {
			select {
			case <-r.done:
				return r.res.Value, r.res.Value != nil
			default:
				return nil, false
			}
		}
	}
	return nil, false
}

// results is the Results view of a whole scan, for finishers.
type results map[string]*run

func (rs results) Get(name string) (any, bool) {
	r, ok := rs[name]
	if !ok {
		return nil, false
	}
	select {
	case <-r.done:
		return r.res.Value, r.res.Value != nil
	default:
		return nil, false
	}
}

// Next returns a scan for the next transaction on the same connection
// (after RSET or a completed message): connect- and helo-phase checks
// are kept with their results, the envelope and message are dropped.
// The old scan must not be used afterwards, except for Close, which the
// new scan takes over: closing the old one is not needed.
func (s *Scan) Next() *Scan {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := &Scan{e: s.e, ctx: s.ctx, cancel: s.cancel, start: time.Now(), runs: map[string]*run{}}
	tx := s.tx.clone()
	tx.QueueID, tx.MailFrom, tx.Rcpts, tx.Message, tx.parsed = "", "", nil, nil, nil
	n.tx = tx
	n.phase = min(s.phase, PhaseHelo)
	for name, r := range s.runs {
		if r.check.Phase() <= PhaseHelo {
			n.runs[name] = r
		}
	}
	return n
}

// Verdict waits for the checks of the phases reached (each until its
// deadline) and returns the verdict. With final false it is an early
// verdict: only forced actions (hard rules) apply, the score is not used,
// and finishers do not run. With final true the policy maps the score to
// an action and the finishers run.
func (s *Scan) Verdict(ctx context.Context, final bool) *Verdict {
	s.mu.Lock()
	phase := s.phase
	runs := make(results, len(s.runs))
	for k, r := range s.runs {
		runs[k] = r
	}
	s.mu.Unlock()

	v := &Verdict{Phase: phase, Final: final}
	tx := s.Transaction()
	var syms []Symbol
	for i, c := range s.e.checks {
		r, ok := runs[c.Name()]
		if !ok {
			continue
		}
		if !final && !s.e.forcing[i] {
			// Its symbols cannot change an early verdict: do not hold
			// the SMTP dialogue for its DNS answers.
			continue
		}
		if io, ok := c.(InboundOnly); ok && io.InboundOnly() && !tx.Inbound() {
			// A client that turned out local, outbound or allowlisted
			// is not judged by the connection checks.
			continue
		}
		if !wait(ctx, r) {
			v.Errors = append(v.Errors, c.Name()+": timeout")
			syms = append(syms, timeoutResult(c).Symbols...)
			continue
		}
		syms = append(syms, r.res.Symbols...)
	}
	if tx.Message != nil && len(tx.Message.Problems) > 0 && final {
		syms = append(syms, Symbol{Name: SymMalformed, Options: tx.Message.Problems})
	}
	// Composites only on a final verdict: earlier, the symbols a "!"
	// speaks of may simply not be known yet (a rule of the DATA phase).
	for _, c := range s.e.composers {
		if final {
			syms = s.e.compose(c.Compose(tx, syms), syms)
		}
	}
	s.e.policy.decide(s.e.symbols, syms, v)
	if !final {
		// Early: only a forced refusal counts; the score is incomplete,
		// and a forced tag or greylist waits for the end of the message.
		if v.ForcedBy == "" || v.Action < SoftReject {
			v.Action, v.Reply = NoAction, ""
			return v
		}
		// The transaction ends here: log and count it like a final
		// verdict, so that statistics show the mail refused early.
		s.observe(tx, v)
		return v
	}
	for _, f := range s.e.finishers {
		if sf, ok := f.(Stateful); ok && s.dry && sf.Stateful() {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, s.e.timeout)
		err := f.Finish(fctx, tx, runs, v)
		cancel()
		if err != nil {
			v.Errors = append(v.Errors, f.Name()+": "+err.Error())
			s.e.log.Warn("finisher failed", "finisher", f.Name(), "queue_id", tx.QueueID, "err", err)
		}
	}
	subject := ""
	if tx.Message != nil {
		subject, _ = tx.Message.First("Subject")
	}
	s.e.policy.spamHeaders(v, subject)
	s.observe(tx, v)
	return v
}

// observe writes the verdict's log line and tells the observers.
func (s *Scan) observe(tx *Transaction, v *Verdict) {
	if s.dry {
		return
	}
	elapsed := time.Since(s.start)
	s.e.logVerdict(tx, v, elapsed)
	for _, o := range s.e.observers {
		o.Observe(tx, v, elapsed)
	}
}

// wait waits for r until its deadline or ctx ends; it reports whether r
// finished.
func wait(ctx context.Context, r *run) bool {
	select {
	case <-r.done:
		return true
	default:
	}
	t := time.NewTimer(time.Until(r.deadline))
	defer t.Stop()
	select {
	case <-r.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// logVerdict writes the one log line per scanned message: who, what,
// why, how long. Never message content.
func (e *Engine) logVerdict(tx *Transaction, v *Verdict, elapsed time.Duration) {
	names := make([]string, len(v.Symbols))
	for i, s := range v.Symbols {
		names[i] = s.Name
	}
	ip := ""
	if tx.ClientIP.IsValid() {
		ip = tx.ClientIP.String()
	}
	args := []any{
		"phase", v.Phase.String(),
		"queue_id", tx.QueueID,
		"ip", ip,
		"from", tx.MailFrom,
		"rcpts", len(tx.Rcpts),
		"action", v.Action.String(),
		"score", v.Score,
	}
	if v.ForcedBy != "" {
		// Why the action does not follow the score (GTUBE rejects at 5.5).
		args = append(args, "forced_by", v.ForcedBy)
	}
	args = append(args,
		"symbols", strings.Join(names, ","),
		"elapsed_ms", elapsed.Milliseconds(),
	)
	if len(v.Errors) > 0 {
		// The checks the deadline cut off and the finishers that failed:
		// why a verdict was late or incomplete.
		args = append(args, "errors", strings.Join(v.Errors, "; "))
	}
	e.log.Info("scanned", args...)
}
