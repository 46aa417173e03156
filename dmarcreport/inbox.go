package dmarcreport

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// Inbox is the filter-flow way in: an engine.Observer that, for each
// message to a report address that the verdict lets through, reads the
// report in it in the background. The message is delivered as usual;
// hamlet only reads a copy.
type Inbox struct {
	svc  *Service
	mu   sync.Mutex
	cfg  Config
	q    chan []byte
	wg   sync.WaitGroup
	once sync.Once
	// Done, when not nil, is called after each message read (tests).
	Done func(IngestResult, error)
}

// inboxQueue bounds the messages waiting to be read; beyond it a report
// is not read (and logged), never holding the MTA.
const inboxQueue = 64

var _ engine.Observer = (*Inbox)(nil)

// NewInbox starts the reader. Close stops it.
func NewInbox(svc *Service) *Inbox {
	in := &Inbox{svc: svc, cfg: svc.Config(), q: make(chan []byte, inboxQueue)}
	in.wg.Add(1)
	go in.run()
	return in
}

// SetConfig replaces the report addresses (a reload).
func (in *Inbox) SetConfig(c Config) {
	in.mu.Lock()
	in.cfg = c
	in.mu.Unlock()
	in.svc.SetConfig(c)
}

// Observe implements engine.Observer.
func (in *Inbox) Observe(tx *engine.Transaction, v *engine.Verdict, _ time.Duration) {
	if !v.Final || tx.Message == nil || v.Action >= engine.SoftReject || v.Action == engine.Greylist {
		return
	}
	in.mu.Lock()
	cfg := in.cfg
	in.mu.Unlock()
	hit := false
	for _, r := range tx.Rcpts {
		if cfg.IsReportAddress(r) {
			hit = true
			break
		}
	}
	if !hit {
		return
	}
	if int64(len(tx.Message.Raw)) > in.svc.Limits().MaxInput {
		in.svc.log.Warn("dmarc reports: report mail too large: not read", "queue_id", tx.QueueID, "size", len(tx.Message.Raw))
		return
	}
	select {
	case in.q <- bytes.Clone(tx.Message.Raw):
	default:
		in.svc.log.Warn("dmarc reports: too many report mails waiting: one not read", "queue_id", tx.QueueID)
	}
}

func (in *Inbox) run() {
	defer in.wg.Done()
	for raw := range in.q {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res, err := in.svc.Ingest(ctx, raw)
		cancel()
		if err != nil {
			in.svc.log.Warn("dmarc reports: report mail not read", "err", err)
		} else {
			in.svc.log.Info("dmarc reports: report mail read", "reports", res.Reports, "duplicates", res.Duplicates,
				"records", res.Records, "messages", res.Messages, "domains", res.Domains, "problems", len(res.Errors))
		}
		if in.Done != nil {
			in.Done(res, err)
		}
	}
}

// Close stops the reader after the queued messages.
func (in *Inbox) Close() {
	in.once.Do(func() { close(in.q) })
	in.wg.Wait()
}
