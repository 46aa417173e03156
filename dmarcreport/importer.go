package dmarcreport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Source of an import: one input (a file, or one message of an mbox).
type Input struct {
	Name string
	Data []byte
}

// Inputs lists what an import of path reads: a file (an mbox file is
// split into its messages), a Maildir (the messages in cur/ and new/), or
// a directory (every regular file below it). Files larger than max are
// given with their size only, for the importer to refuse.
func Inputs(path string, max int64, each func(Input, error) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return inputFile(path, max, each)
	}
	var files []string
	if isMaildir(path) {
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(path, sub))
			for _, e := range ents {
				if e.Type().IsRegular() {
					files = append(files, filepath.Join(path, sub, e.Name()))
				}
			}
		}
	} else {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return each(Input{Name: p}, err)
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	sort.Strings(files)
	for _, f := range files {
		if err := inputFile(f, max, each); err != nil {
			return err
		}
	}
	return nil
}

// CountInputs returns how many files Inputs will read (for a progress
// bar; an mbox counts as one).
func CountInputs(path string) int {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return 1
	}
	n := 0
	if isMaildir(path) {
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(path, sub))
			n += len(ents)
		}
		return n
	}
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func isMaildir(p string) bool {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if fi, err := os.Stat(filepath.Join(p, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func inputFile(path string, max int64, each func(Input, error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return each(Input{Name: path}, err)
	}
	defer f.Close()
	head := make([]byte, 5)
	n, _ := io.ReadFull(f, head)
	if string(head[:n]) == "From " {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return each(Input{Name: path}, err)
		}
		return splitMbox(path, f, max, each)
	}
	fi, err := f.Stat()
	if err != nil {
		return each(Input{Name: path}, err)
	}
	if fi.Size() > max {
		return each(Input{Name: path}, fmt.Errorf("%w: file of %d bytes (limit %d)", ErrTooLarge, fi.Size(), max))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return each(Input{Name: path}, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return each(Input{Name: path}, err)
	}
	return each(Input{Name: path, Data: data}, nil)
}

// splitMbox gives each message of an mbox (mboxrd or mboxo: lines
// starting with "From " separate messages, ">From " is unquoted).
func splitMbox(path string, r io.Reader, max int64, each func(Input, error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur bytes.Buffer
	n := 0
	tooBig := false
	flush := func() error {
		if n == 0 {
			return nil
		}
		name := fmt.Sprintf("%s#%d", path, n)
		if tooBig {
			return each(Input{Name: name}, fmt.Errorf("%w: message over %d bytes", ErrTooLarge, max))
		}
		return each(Input{Name: name, Data: bytes.Clone(cur.Bytes())}, nil)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep it whole.
			rest := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				rest = append(rest, line...)
				if int64(len(rest)) > max {
					tooBig = true
					rest = rest[:0]
				}
			}
			line = rest
		}
		if len(line) > 0 {
			if bytes.HasPrefix(line, []byte("From ")) {
				if err := flush(); err != nil {
					return err
				}
				n++
				cur.Reset()
				tooBig = false
			} else if !tooBig {
				if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) && line[0] == '>' {
					line = line[1:]
				}
				cur.Write(line)
				if int64(cur.Len()) > max {
					tooBig = true
					cur.Reset()
				}
			}
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return each(Input{Name: path}, err)
		}
	}
}

// ImportProgress is called after each input.
type ImportProgress func(done int, name string, res IngestResult, err error)

// importWorkers ingest inputs concurrently, so that the embedded store
// shares one fsync among several reports (bbolt's Batch).
const importWorkers = 8

// Import reads every input of path into the store; progress is called
// after each input, from one goroutine at a time.
func (s *Service) Import(ctx context.Context, path string, progress ImportProgress) (IngestResult, int, error) {
	var total IngestResult
	var mu sync.Mutex
	done := 0
	type job struct {
		in  Input
		err error
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
					res, err = s.Ingest(ctx, j.in.Data)
				}
				if err != nil {
					res.Errors = []string{j.in.Name + ": " + err.Error()}
				} else {
					for i, e := range res.Errors {
						res.Errors[i] = j.in.Name + ": " + e
					}
				}
				mu.Lock()
				done++
				total.Add(res)
				if progress != nil {
					progress(done, j.in.Name, res, err)
				}
				mu.Unlock()
			}
		}()
	}
	err := Inputs(path, s.Limits().MaxInput, func(in Input, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		jobs <- job{in, err}
		return nil
	})
	close(jobs)
	wg.Wait()
	sort.Strings(total.Errors)
	return total, done, err
}
