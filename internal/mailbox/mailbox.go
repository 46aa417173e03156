// Package mailbox reads the messages of files, directories, mbox files and
// Maildirs, for bulk imports (`hamlet learn`, `hamlet dmarc import`) and
// corpus runs.
//
// A path is read as:
//   - "-": one message (or an mbox) from standard input;
//   - a file starting with "From ": an mbox (mboxo/mboxrd: a line
//     "From sender date" after an empty line starts a message, the date
//     with a time of day, as mutt checks it; ">From " lines lose one
//     '>');
//   - any other file: one message;
//   - a directory: every file below it, recursively, in name order; in a
//     Maildir the tmp/ directories (deliveries in progress) and Dovecot's
//     index and control files are left out, and so are dot files and dot
//     directories below the path: a Maildir++ folder (".Junk/") is read
//     only when named itself, so that learning ~/Maildir as ham does not
//     learn its Junk folder too.
package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxMessage bounds one message; a longer one is cut and reported by
// Walk's callback through its Truncated flag.
const MaxMessage = 32 << 20

// Message is one message read.
type Message struct {
	// Source names where it came from: the file, or the mbox file and
	// the message's number in it ("box.mbox#3").
	Source    string
	Raw       []byte
	Truncated bool
}

// ErrStop, returned by a callback, ends Walk without an error.
var ErrStop = errors.New("mailbox: stop")

// Walk calls fn for every message of the paths, in order. stdin is read
// for "-". A path that cannot be read is an error; so is an error of fn
// (other than ErrStop).
func Walk(paths []string, stdin io.Reader, fn func(Message) error) error {
	for _, p := range paths {
		err := walk(p, stdin, fn)
		if errors.Is(err, ErrStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func walk(p string, stdin io.Reader, fn func(Message) error) error {
	if p == "-" {
		return readStream("stdin", stdin, fn)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return readFile(p, fn)
	}
	return filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != p && (name == "tmp" && isMaildir(filepath.Dir(path)) || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if skipFile(name) || !d.Type().IsRegular() {
			return nil
		}
		return readFile(path, fn)
	})
}

// isMaildir reports whether dir has cur/ and new/.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func skipFile(name string) bool {
	switch {
	case strings.HasPrefix(name, "."),
		strings.HasPrefix(name, "dovecot"),
		name == "maildirfolder", name == "subscriptions", name == "courierimapuiddb",
		name == "LICENSE", name == "NOTICE", strings.HasSuffix(name, ".md"):
		return true
	}
	return false
}

func readFile(path string, fn func(Message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readStream(path, f, fn)
}

// readStream reads one message, or an mbox when the stream starts with
// "From ".
func readStream(name string, r io.Reader, fn func(Message) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(5)
	if string(head) != "From " {
		raw, err := io.ReadAll(io.LimitReader(br, MaxMessage+1))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m := Message{Source: name, Raw: raw}
		if len(raw) > MaxMessage {
			m.Raw, m.Truncated = raw[:MaxMessage], true
			io.Copy(io.Discard, br)
		}
		return fn(m)
	}
	return readMbox(name, br, fn)
}

func readMbox(name string, br *bufio.Reader, fn func(Message) error) error {
	var cur bytes.Buffer
	n := 0
	truncated := false
	blank := true // the previous line was empty (or none yet)
	flush := func() error {
		if n == 0 {
			return nil
		}
		raw := bytes.Clone(cur.Bytes())
		// The empty line before the next "From " belongs to the mbox.
		if bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
			raw = raw[:len(raw)-2]
		} else if bytes.HasSuffix(raw, []byte("\n\n")) {
			raw = raw[:len(raw)-1]
		}
		cur.Reset()
		m := Message{Source: fmt.Sprintf("%s#%d", name, n), Raw: raw, Truncated: truncated}
		truncated = false
		return fn(m)
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: keep reading it.
			rest, err2 := br.ReadBytes('\n')
			line = append(bytes.Clone(line), rest...)
			err = err2
		}
		if len(line) > 0 {
			switch {
			case blank && isFromLine(line):
				if err := flush(); err != nil {
					return err
				}
				n++
			case n == 0:
				// Text before the first "From " line: not a message.
			default:
				l := line
				if bytes.HasPrefix(l, []byte(">")) && bytes.HasPrefix(bytes.TrimLeft(l, ">"), []byte("From ")) {
					l = l[1:]
				}
				if cur.Len()+len(l) <= MaxMessage {
					cur.Write(l)
				} else {
					truncated = true
				}
			}
			t := bytes.TrimRight(line, "\r\n")
			blank = len(t) == 0
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

// isFromLine reports whether line is an mbox separator: "From ", a
// sender, and a date with a time (hh:mm), so that an unescaped "From "
// sentence in a body after an empty line does not split the message.
func isFromLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("From "))
	if !ok {
		return false
	}
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return false
	}
	date := rest[sp:]
	for i := 0; i+4 < len(date); i++ {
		if isDigit(date[i]) && isDigit(date[i+1]) && date[i+2] == ':' && isDigit(date[i+3]) && isDigit(date[i+4]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
