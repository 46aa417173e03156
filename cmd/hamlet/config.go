package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hamlet-mail/hamlet/config"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/frontend/milter"
)

func init() {
	commands["config"] = command{"check the configuration and print it in effect (config check [-c FILE])", cmdConfig}
}

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: hamlet config check [-c hamlet.toml] [-q]")
		return exitConfig
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file, data string
	var quiet bool
	var dnsServers multiFlag
	fs.StringVar(&file, "c", "", "configuration `file` (TOML); none: embedded defaults")
	fs.StringVar(&file, "config", "", "same as -c")
	fs.StringVar(&data, "data", "", "data `directory`, as given to serve")
	fs.Var(&dnsServers, "dns", "DNS server `HOST:PORT`, as given to serve (repeatable)")
	fs.BoolVar(&quiet, "q", false, "print only problems and warnings (for ExecStartPre=)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hamlet config check: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	name := file
	if name == "" {
		name = "(defaults)"
	}
	s, problems := checkConfig(file, daemon.Overrides{DataDir: data, DNS: dnsServers})
	if s != nil && !quiet {
		var b bytes.Buffer
		fmt.Fprintf(&b, "# The configuration in effect from %s, defaults filled in.\n", name)
		if err := encodeSettings(&b, s); err != nil {
			problems = append(problems, fmt.Errorf("printing the configuration: %w", err))
		} else {
			stdout.Write(b.Bytes())
		}
	}
	if s != nil {
		for _, w := range configWarnings(s) {
			fmt.Fprintf(stderr, "%s: warning: %s\n", name, w)
		}
	}
	if len(problems) > 0 {
		sortProblems(problems, file)
		for _, p := range problems {
			fmt.Fprintf(stderr, "%v\n", p)
		}
		fmt.Fprintf(stderr, "hamlet config check: %s: %d problem(s)\n", name, len(problems))
		return exitConfig
	}
	if !quiet {
		fmt.Fprintf(stderr, "hamlet config check: %s: OK\n", name)
	}
	return exitOK
}

// sortProblems puts the problems in the order of the file, as an editor
// shows it: those of file by line, then those of other files (rule files)
// by name and line, then those that name no line, each group as found.
func sortProblems(problems []error, file string) {
	key := func(err error) (group int, name string, line int) {
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line == 0 {
			return 2, "", 0
		}
		if ce.File == file {
			return 0, "", ce.Line
		}
		return 1, ce.File, ce.Line
	}
	sort.SliceStable(problems, func(i, j int) bool {
		gi, ni, li := key(problems[i])
		gj, nj, lj := key(problems[j])
		if gi != gj {
			return gi < gj
		}
		if ni != nj {
			return ni < nj
		}
		return li < lj
	})
}

// checkConfig loads the configuration as serve does and builds its engine
// (keys, lists, policy), without opening the store or any listener. It
// returns every problem found; s is nil when the file could not be read
// at all.
func checkConfig(file string, ov daemon.Overrides) (s *daemon.Settings, problems []error) {
	s, problems = daemon.CheckSettings(file, ov)
	if s == nil || len(problems) > 0 {
		return s, problems
	}
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		return s, []error{fmt.Errorf("%s: dns: %w", s.File(), err)}
	}
	if _, err := daemon.BuildEngine(s, daemon.Deps{Resolver: res, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		problems = append(problems, splitErrors(err)...)
	}
	return s, problems
}

// splitErrors undoes errors.Join.
func splitErrors(err error) []error {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		return j.Unwrap()
	}
	return []error{err}
}

// configWarnings names what is legal but exposed.
func configWarnings(s *daemon.Settings) []string {
	var out []string
	for _, a := range s.Scan.Listen {
		if daemon.Exposed("tcp", a) {
			out = append(out, fmt.Sprintf("scan.listen %q is not on loopback: firewall it", a))
		}
	}
	for _, a := range s.Milter.Listen {
		if network, addr, err := milter.ParseListen(a); err == nil && daemon.Exposed(network, addr) {
			out = append(out, fmt.Sprintf("milter.listen %q is not on loopback: firewall it", a))
		}
	}
	// A clamd socket that is not there: every message would get
	// CLAM_VIRUS_FAIL and pass unscanned by clamd. Only a warning (clamd
	// may start after hamlet); a TCP clamd is not dialled here.
	if p, ok := strings.CutPrefix(s.Antivirus.Clamd, "unix:"); ok {
		if _, err := os.Stat(p); err != nil {
			out = append(out, fmt.Sprintf("antivirus.clamd %q: no socket at %s (clamd not running?): until it is, messages are not virus-scanned (CLAM_VIRUS_FAIL)", s.Antivirus.Clamd, p))
		}
	}
	return out
}

// encodeSettings writes s as TOML: the core options, then each feature's
// section under the key LoadSettings decodes it from (its toml tag, or
// its field name in lower case); a table read by both (controller) is
// printed once with the options of both.
func encodeSettings(w io.Writer, s *daemon.Settings) error {
	all, err := asTable(s.Config)
	if err != nil {
		return err
	}
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			continue
		}
		key := strings.ToLower(f.Name)
		if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag == "-" {
			continue
		} else if tag != "" {
			key = tag
		}
		if fv := v.Field(i); fv.Kind() == reflect.Slice {
			// An array of tables ([[rules]]): printed as it is.
			if fv.Len() > 0 {
				arr, err := asTable(map[string]any{key: fv.Interface()})
				if err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
				all[key] = arr[key]
			}
			continue
		}
		sec, err := asTable(v.Field(i).Interface())
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if have, ok := all[key].(map[string]any); ok {
			for k, x := range sec {
				have[k] = x
			}
			continue
		}
		all[key] = sec
	}
	// Sub-tables decoded beside their parent section (toml:"-" above).
	for _, sub := range []struct {
		parent, key string
		v           any
	}{{"dkim", "replay", s.DKIMReplay}, {"dmarc", "reports", s.DMARCReports}} {
		sec, err := asTable(sub.v)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", sub.parent, sub.key, err)
		}
		parent, ok := all[sub.parent].(map[string]any)
		if !ok {
			parent = map[string]any{}
			all[sub.parent] = parent
		}
		parent[sub.key] = sec
	}
	redact(all)
	return toml.NewEncoder(w).Encode(all)
}

// redact hides secrets (passwords, tokens) that are set: the output may go
// to a terminal, a ticket or a log.
func redact(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			redact(x)
		case []map[string]any:
			for _, e := range x {
				redact(e)
			}
		case string:
			l := strings.ToLower(k)
			if x != "" && (strings.Contains(l, "password") || strings.Contains(l, "secret") || strings.Contains(l, "token")) {
				m[k] = "(set, not shown)"
			} else if u, err := url.Parse(x); err == nil && u.User != nil {
				// store = "redis://:PASSWORD@host:6379/0": the password
				// of a URL is a secret too (RFC 3986 §3.2.1).
				if _, set := u.User.Password(); set {
					m[k] = u.Redacted()
				}
			}
		}
	}
}

// asTable turns a section's value into a TOML table, through its TOML text.
func asTable(v any) (map[string]any, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	m := map[string]any{}
	_, err := toml.Decode(b.String(), &m)
	return m, err
}
