package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often a list file's modification time is
// looked at when the configuration does not say.
const DefaultCheckInterval = 30 * time.Second

// Lists keeps the list files of the rules, by path and by how they are
// matched, across configuration reloads. A list is read when a rule first
// names it (an unreadable or invalid list then stops start-up); read
// again on every Compile that names it (SIGHUP) and when its modification
// time or size changes (looked at, at most once per check interval, when
// a scan uses it). A list that cannot be read again keeps its old
// contents, and the error is logged.
type Lists struct {
	log      *slog.Logger
	interval atomic.Int64 // nanoseconds; <= 0: no modification checks
	now      func() time.Time

	mu    sync.Mutex
	lists map[string]*List
}

// NewLists makes a registry logging to log (nil: slog.Default()).
func NewLists(log *slog.Logger) *Lists {
	if log == nil {
		log = slog.Default()
	}
	ls := &Lists{log: log, now: time.Now, lists: map[string]*List{}}
	ls.interval.Store(int64(DefaultCheckInterval))
	return ls
}

// SetCheckInterval sets how often list files are looked at for changes;
// zero or less turns the checks off (SIGHUP still reloads).
func (ls *Lists) SetCheckInterval(d time.Duration) { ls.interval.Store(int64(d)) }

// List is one list file's current contents.
type List struct {
	path, kind string
	ls         *Lists
	data       atomic.Pointer[listData]
	lastCheck  atomic.Int64 // unix nanoseconds
	checking   atomic.Bool
}

type listData struct {
	names   nameSet
	cidr    *cidrSet
	pats    *reSet
	entries int
	mod     time.Time
	size    int64
}

// Path returns the list's file name.
func (l *List) Path() string { return l.path }

// Len returns the number of entries of the current contents.
func (l *List) Len() int { return l.data.Load().entries }

// lineError is a problem at a line of a list file.
type lineError struct {
	file string
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// get returns the list for path read as kind: read now (the first time
// an error is returned; later, on error the old contents stay and the
// error is logged).
// read holds the lists one Compile has read already: a list that many
// rules name is read once per Compile.
func (ls *Lists) get(path, kind string, read map[string]*List) (*List, error) {
	key := kind + "\x00" + path
	if l, ok := read[key]; ok {
		return l, nil
	}
	ls.mu.Lock()
	l, ok := ls.lists[key]
	if !ok {
		l = &List{path: path, kind: kind, ls: ls}
	}
	ls.mu.Unlock()
	defer func() {
		if l != nil {
			read[key] = l
		}
	}()
	if err := l.reload(); err != nil {
		if !ok {
			l = nil
			return nil, err
		}
		// Already running with it: keep the old contents.
		return l, nil
	}
	if !ok {
		ls.mu.Lock()
		if old, dup := ls.lists[key]; dup {
			l = old // another build got there first; it is as fresh
		} else {
			ls.lists[key] = l
		}
		ls.mu.Unlock()
	}
	return l, nil
}

// Check looks at every list's file now and reads again those that
// changed; it returns the errors (each also logged).
func (ls *Lists) Check() []error {
	ls.mu.Lock()
	all := make([]*List, 0, len(ls.lists))
	for _, l := range ls.lists {
		all = append(all, l)
	}
	ls.mu.Unlock()
	var errs []error
	for _, l := range all {
		if err := l.refresh(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// refresh reads the file again if its modification time or size changed.
func (l *List) refresh() error {
	fi, err := os.Stat(l.path)
	if err == nil {
		if d := l.data.Load(); d != nil && fi.ModTime().Equal(d.mod) && fi.Size() == d.size {
			return nil
		}
	}
	return l.reload()
}

// reload reads the file and replaces the contents; on error the old ones
// stay (if any) and the error is logged.
func (l *List) reload() error {
	d, err := readList(l.path, l.kind)
	if err != nil {
		if l.data.Load() != nil {
			l.ls.log.Error("list file not reloaded; keeping its old contents", "file", l.path, "err", err)
		}
		return err
	}
	old := l.data.Swap(d)
	l.lastCheck.Store(l.ls.now().UnixNano())
	if old != nil {
		l.ls.log.Info("list file reloaded", "file", l.path, "entries", d.entries)
	}
	return nil
}

// current returns the contents, and starts a look at the file (in the
// background) when the check interval has passed at now (unix ns).
func (l *List) current(now int64) *listData {
	if iv := l.ls.interval.Load(); iv > 0 {
		if now-l.lastCheck.Load() >= iv && l.checking.CompareAndSwap(false, true) {
			l.lastCheck.Store(now)
			go func() {
				defer l.checking.Store(false)
				_ = l.refresh()
			}()
		}
	}
	return l.data.Load()
}

// match matches a value (v as compared; for patterns, as written)
// against the list's entries; for patterns it returns the expression that
// matched.
func (l *List) match(match, v string, now int64) (*regexp.Regexp, bool) {
	d := l.current(now)
	switch match {
	case "exact":
		_, ok := d.names[v]
		return nil, ok
	case "suffix":
		_, ok := d.names.suffix(v)
		return nil, ok
	case "cidr":
		a, ok := parseAddr(v)
		if !ok {
			return nil, false
		}
		_, ok = d.cidr.match(a)
		return nil, ok
	default:
		var hit *regexp.Regexp
		d.pats.each(v, func(_ int, re *regexp.Regexp, _ string) bool { hit = re; return false })
		return hit, hit != nil
	}
}

// maxListLine bounds one line of a list file.
const maxListLine = 64 << 10

// readList reads a list file: one entry a line; blank lines and lines
// starting with # are skipped; in name and network lists a # ends the
// entry and only the first word counts (rspamd's map format).
func readList(path, kind string) (*listData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	d := &listData{mod: fi.ModTime(), size: fi.Size()}
	switch kind {
	case "cidr":
		d.cidr = newCIDRSet()
	case "glob", "regex":
	default:
		d.names = nameSet{}
	}
	var res []regexpEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxListLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(string(bytes.TrimSuffix(sc.Bytes(), []byte("\r"))))
		if line == "" || line[0] == '#' {
			continue
		}
		switch kind {
		case "name", "suffix", "cidr":
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			line = strings.Fields(line)[0]
		}
		switch kind {
		case "cidr":
			p, ok := parsePrefix(line)
			if !ok {
				return nil, &lineError{path, n, fmt.Sprintf("%q is not an address or CIDR network", line)}
			}
			d.cidr.add(p)
		case "glob", "regex":
			re, err := compilePattern(kind, line)
			if err != nil {
				return nil, &lineError{path, n, err.Error()}
			}
			res = append(res, regexpEntry{re, n})
		case "text":
			d.names[strings.ToLower(line)] = struct{}{}
		default:
			match := "exact"
			if kind == "suffix" {
				match = "suffix"
			}
			d.names[normEntry(kindName, match, line)] = struct{}{}
		}
		d.entries++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
	}
	if kind == "glob" || kind == "regex" {
		rs := make([]*regexp.Regexp, len(res))
		owners := make([]int, len(res))
		for i, e := range res {
			rs[i], owners[i] = e.re, e.line
		}
		d.pats = newReSet(rs, owners)
	}
	return d, nil
}

type regexpEntry struct {
	re   *regexp.Regexp
	line int
}
