package dmarcreport

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/hamlet-mail/hamlet/internal/mailbox"
)

// ImportProgress is called after each input.
type ImportProgress func(done int, name string, res IngestResult, err error)

// importWorkers ingest inputs concurrently, so that the embedded store
// shares one fsync among several reports (bbolt's Batch).
const importWorkers = 8

// Import reads every input of path into the store: a file, each message
// of an mbox, the messages of a Maildir, or every file below a directory
// (as mailbox.Walk reads them); progress is called after each input, from
// one goroutine at a time.
func (s *Service) Import(ctx context.Context, path string, progress ImportProgress) (IngestResult, int, error) {
	var total IngestResult
	var mu sync.Mutex
	done := 0
	type job struct {
		name string
		data []byte
		err  error
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var res IngestResult
				err := j.err
				if err == nil {
					res, err = s.Ingest(ctx, j.data)
				}
				if err != nil {
					res.Errors = []string{j.name + ": " + err.Error()}
				} else {
					for i, e := range res.Errors {
						res.Errors[i] = j.name + ": " + e
					}
				}
				mu.Lock()
				done++
				total.Add(res)
				if progress != nil {
					progress(done, j.name, res, err)
				}
				mu.Unlock()
			}
		}()
	}
	err := mailbox.Walk([]string{path}, nil, func(m mailbox.Message) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var err error
		if m.Truncated {
			err = fmt.Errorf("%w: message over %d bytes", ErrTooLarge, mailbox.MaxMessage)
		}
		jobs <- job{m.Source, m.Raw, err}
		return nil
	})
	close(jobs)
	wg.Wait()
	sort.Strings(total.Errors)
	return total, done, err
}
