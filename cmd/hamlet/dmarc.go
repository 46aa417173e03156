package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/dmarcreport"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/stores"
)

func init() {
	commands["dmarc"] = command{"import DMARC aggregate reports and show what they say", cmdDMARC}
}

const dmarcUsage = `usage:
  hamlet dmarc import [options] FILE|DIR|MBOX|MAILDIR ...
  hamlet dmarc report [options] DOMAIN [--since 7d]
  hamlet dmarc domains [options]`

func cmdDMARC(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, dmarcUsage)
		return exitConfig
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("dmarc "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file, data, since string
	var dnsServers multiFlag
	var asJSON, quiet, noPTR, all bool
	fs.StringVar(&file, "c", "", "configuration `file` of the daemon (for its store)")
	fs.StringVar(&data, "data", "", "data `directory` (default: the configuration's)")
	fs.Var(&dnsServers, "dns", "DNS server `HOST:PORT` for PTR names (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch sub {
	case "import":
		fs.BoolVar(&quiet, "q", false, "no progress bar, only the summary")
	case "report":
		fs.StringVar(&since, "since", "7d", "the period: reports of the last `DURATION` (e.g. 24h, 7d, 90d)")
		fs.BoolVar(&noPTR, "no-ptr", false, "do not look up the sources' PTR names")
		fs.BoolVar(&all, "all", false, fmt.Sprintf("list every source (default: the first %d of each list)", maxRows))
	case "domains":
	default:
		fmt.Fprintf(stderr, "hamlet dmarc: unknown subcommand %q\n%s\n", sub, dmarcUsage)
		return exitConfig
	}
	fs.Usage = func() { fmt.Fprintln(stderr, dmarcUsage); fs.PrintDefaults() }
	// Flags may follow the positional arguments (hamlet dmarc report
	// example.org --since 7d).
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return exitConfig
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	s, err := daemon.LoadSettings(file, daemon.Overrides{DataDir: data, DNS: dnsServers})
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	opts := s.History.StoreOptions()
	opts.SweepInterval = -1
	st, err := stores.Open(s.Store, s.DataDir, opts)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet dmarc: %v\n", err)
		return exitFail
	}
	defer st.Close()
	dr, ok := st.(store.DMARCReports)
	if !ok {
		fmt.Fprintf(stderr, "hamlet dmarc: the store %q keeps no DMARC reports\n", s.Store)
		return exitFail
	}
	var res dns.Resolver
	if sub == "report" && !noPTR {
		if c, err := dns.NewClient(s.DNS); err == nil {
			res = c
		}
	}
	svc := dmarcreport.New(dr, res, s.DMARCReports, nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch sub {
	case "import":
		if len(pos) == 0 {
			fs.Usage()
			return exitConfig
		}
		return dmarcImport(ctx, svc, pos, asJSON, quiet, stdout, stderr)
	case "report":
		if len(pos) != 1 {
			fs.Usage()
			return exitConfig
		}
		var d duration.Duration
		if err := d.UnmarshalText([]byte(since)); err != nil || d <= 0 {
			fmt.Fprintf(stderr, "hamlet dmarc report: --since %q: want e.g. 24h or 7d\n", since)
			return exitConfig
		}
		to := time.Now().UTC()
		sum, err := svc.Summarize(ctx, pos[0], to.Add(-d.D()), to)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet dmarc report: %v\n", err)
			return exitFail
		}
		if asJSON {
			return printJSON(stdout, stderr, sum)
		}
		printSummary(stdout, sum, all)
		return exitOK
	default: // domains
		ds, err := svc.Domains(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet dmarc domains: %v\n", err)
			return exitFail
		}
		if asJSON {
			return printJSON(stdout, stderr, ds)
		}
		for _, d := range ds {
			fmt.Fprintln(stdout, d)
		}
		return exitOK
	}
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitFail
	}
	return exitOK
}

func dmarcImport(ctx context.Context, svc *dmarcreport.Service, paths []string, asJSON, quiet bool, stdout, stderr io.Writer) int {
	start := time.Now()
	bar := !quiet && isTerminal(stderr)
	var total dmarcreport.IngestResult
	files := 0
	var fatal error
	for _, p := range paths {
		prog := newProgress(stderr, bar, "importing "+p)
		if bar {
			prog.count(ctx, []string{p})
		}
		res, done, err := svc.Import(ctx, p, func(int, string, dmarcreport.IngestResult, error) { prog.step(1) })
		prog.done()
		files += done
		total.Add(res)
		if err != nil {
			fatal = errors.Join(fatal, fmt.Errorf("%s: %w", p, err))
		}
	}
	el := time.Since(start)
	if asJSON {
		out := struct {
			dmarcreport.IngestResult
			Inputs  int     `json:"inputs"`
			Seconds float64 `json:"seconds"`
		}{total, files, el.Seconds()}
		if code := printJSON(stdout, stderr, out); code != exitOK {
			return code
		}
	} else {
		for _, e := range total.Errors {
			fmt.Fprintf(stderr, "  refused: %s\n", e)
		}
		sort.Strings(total.Domains)
		fmt.Fprintf(stdout, "%d inputs read in %s: %d new reports (%d records, %d messages), %d duplicates, %d refused\n",
			files, el.Round(time.Millisecond), total.Reports, total.Records, total.Messages, total.Duplicates, len(total.Errors))
		if len(total.Domains) > 0 {
			fmt.Fprintf(stdout, "domains: %s\n", strings.Join(total.Domains, ", "))
		}
	}
	if fatal != nil {
		fmt.Fprintf(stderr, "hamlet dmarc import: %v\n", fatal)
		return exitFail
	}
	if total.Reports+total.Duplicates == 0 {
		return exitFail
	}
	return exitOK
}

// maxRows bounds each list of sources on a terminal unless --all.
const maxRows = 25

func printSummary(w io.Writer, sum *dmarcreport.Summary, all bool) {
	fmt.Fprintf(w, "DMARC reports for %s, %s to %s\n", sum.Domain, sum.From.Format("2006-01-02 15:04"), sum.To.Format("2006-01-02 15:04 MST"))
	if sum.Reports == 0 {
		fmt.Fprintln(w, "no reports in this period")
		return
	}
	pct := func(a, b int64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	}
	fmt.Fprintf(w, "%d reports, %d messages: %d pass (%s), %d fail\n\n", sum.Reports, sum.Messages, sum.Pass, pct(sum.Pass, sum.Messages), sum.Fail)
	fmt.Fprintln(w, "Reporters:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, r := range sum.Reporters {
		fmt.Fprintf(tw, "  %s\t%d reports\t%d messages\n", r.Org, r.Reports, r.Messages)
	}
	tw.Flush()
	unconfirmed := false
	section := func(title string, srcs []*dmarcreport.Source) {
		fmt.Fprintf(w, "\n%s (%d):\n", title, len(srcs))
		if len(srcs) == 0 {
			fmt.Fprintln(w, "  none")
			return
		}
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  SOURCE\tPTR\tMSGS\tPASS\tFAIL\tSPF\tDKIM\tDISPOSITION\tREPORTERS")
		for i, s := range srcs {
			if i == maxRows && !all {
				fmt.Fprintf(tw, "  … %d more (--all shows them)\n", len(srcs)-maxRows)
				break
			}
			ptr := s.PTR
			switch {
			case ptr == "":
				ptr = "-"
			case !s.PTRConfirmed:
				ptr += "?"
				unconfirmed = true
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.IP, ptr, s.Messages, s.Pass, s.Fail,
				counts(s.SPF), counts(s.DKIM), counts(s.Dispositions), strings.Join(s.Reporters, ","))
		}
		tw.Flush()
	}
	section("Sources that send as "+sum.Domain+" and fail DMARC (not yours)", sum.ForeignFailing)
	if len(sum.OwnFailing) > 0 {
		section("Your own servers that fail DMARC", sum.OwnFailing)
		for _, s := range sum.OwnFailing {
			fmt.Fprintf(w, "  %s is yours: %s; raw results: %s %s\n", s.IP, s.OwnWhy, counts(s.AuthSPF), counts(s.AuthDKIM))
		}
	} else {
		section("Your own servers that fail DMARC", nil)
	}
	section("All sources", sum.Sources)
	if unconfirmed {
		fmt.Fprintln(w, "  name?: the PTR name does not resolve back to the address (not forward-confirmed)")
	}
	if sum.PTRPending > 0 {
		fmt.Fprintf(w, "  %d PTR names were not resolved in time\n", sum.PTRPending)
	}
	fmt.Fprintln(w, "\nPer day (pass/fail):")
	for _, d := range sum.Days {
		fmt.Fprintf(w, "  %s  %d / %d\n", d.Day.Format("2006-01-02"), d.Pass, d.Fail)
	}
}

// counts prints a map of counts as "pass:3 fail:1", largest first.
func counts(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].v != l[j].v {
			return l[i].v > l[j].v
		}
		return l[i].k < l[j].k
	})
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", strings.ReplaceAll(e.k, " ", "/"), e.v)
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}
