package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/frontend/rspamdhttp"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
	"github.com/hamlet-mail/hamlet/store/bolt"
	"github.com/hamlet-mail/hamlet/store/stores"
)

func init() {
	commands["check"] = command{"scan messages in-process and print the verdict", cmdCheck}
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		file, ip, helo, hostname, from, user string
		rcpts, dnsServers                    multiFlag
		asJSON, withBayes                    bool
	)
	fs.StringVar(&file, "c", "", "configuration `file` (TOML); none: embedded defaults")
	fs.StringVar(&file, "config", "", "same as -c")
	fs.StringVar(&ip, "ip", "", "client `IP` address")
	fs.StringVar(&helo, "helo", "", "HELO/EHLO `name`")
	fs.StringVar(&hostname, "hostname", "", "client's verified reverse `name` (\"unknown\": none)")
	fs.StringVar(&from, "from", "", "envelope sender `address`")
	fs.Var(&rcpts, "rcpt", "envelope recipient `address` (repeatable)")
	fs.StringVar(&user, "user", "", "SMTP AUTH `user` (makes the message outbound)")
	fs.Var(&dnsServers, "dns", "DNS server `HOST:PORT` to ask instead of the configured ones (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print the /checkv2 JSON reply")
	fs.BoolVar(&withBayes, "bayes", false, "classify with the Bayes classifier too: opens the store (the embedded one only while no hamlet runs; a running daemon answers rspamc symbols instead)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	s, err := daemon.LoadSettings(file, daemon.Overrides{DNS: dnsServers})
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	// The envelope goes through the same parser as /checkv2's headers.
	h := http.Header{}
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set("IP", ip)
	set("Helo", helo)
	set("Hostname", hostname)
	set("From", from)
	set("User", user)
	for _, r := range rcpts {
		h.Add("Rcpt", r)
	}
	req, err := rspamdhttp.ParseRequest(h, nil, 0)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet check: %v\n", err)
		return exitConfig
	}
	res, err := dns.NewClient(s.DNS)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	deps := daemon.Deps{Resolver: res, Logger: logger}
	if withBayes {
		cl, closeStore, err := checkClassifier(s, logger)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet check: %v\n", err)
			return exitFail
		}
		defer closeStore()
		deps.Bayes = cl
	}
	eng, err := daemon.BuildEngine(s, deps)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := exitOK
	for _, f := range files {
		raw, err := readInput(f)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet check: %v\n", err)
			status = exitFail
			continue
		}
		tx := req.Tx
		tx.Rcpts = append([]string(nil), req.Tx.Rcpts...)
		tx.Message = message.Parse(raw)
		start := time.Now()
		v := eng.Scan(context.Background(), &tx)
		elapsed := time.Since(start)
		if asJSON {
			stdout.Write(rspamdhttp.Reply(v, &tx, elapsed))
			fmt.Fprintln(stdout)
			continue
		}
		if len(files) > 1 {
			fmt.Fprintf(stdout, "== %s\n", f)
		}
		printVerdict(stdout, v, elapsed)
	}
	return status
}

// checkClassifier opens the configured store for `hamlet check --bayes`
// and returns a classifier on its tokens.
func checkClassifier(s *daemon.Settings, log *slog.Logger) (*bayes.Classifier, func(), error) {
	if !s.Bayes.Enabled {
		return nil, nil, fmt.Errorf("--bayes: [bayes] enabled = false in %s", s.File())
	}
	st, err := stores.Open(s.Store, s.DataDir, s.History.StoreOptions())
	switch {
	case errors.Is(err, bolt.ErrLocked):
		return nil, nil, fmt.Errorf("--bayes: the embedded store is in use by a running hamlet; ask it instead (rspamc -h CONTROLLER symbols FILE): %w", err)
	case err != nil:
		return nil, nil, fmt.Errorf("--bayes: store: %w", err)
	}
	bs, ok := st.(store.Bayes)
	if !ok {
		st.Close()
		return nil, nil, errors.New("--bayes: this store keeps no Bayes tokens")
	}
	return bayes.New(bs, s.Bayes, log), func() { st.Close() }, nil
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// printVerdict writes the verdict as a table a postmaster reads at a glance.
func printVerdict(w io.Writer, v *engine.Verdict, elapsed time.Duration) {
	fmt.Fprintf(w, "Action: %s\n", v.Action)
	fmt.Fprintf(w, "Score:  %.2f / %.2f\n", v.Score, v.RequiredScore)
	if v.ForcedBy != "" {
		fmt.Fprintf(w, "Forced: by %s\n", v.ForcedBy)
	}
	if v.Reply != "" {
		fmt.Fprintf(w, "Reply:  %s\n", v.Reply)
	}
	fmt.Fprintf(w, "Time:   %s\n\n", elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYMBOL\tSCORE\tWEIGHT\tREASON")
	for _, s := range v.Symbols {
		reason := s.Description
		if len(s.Options) > 0 {
			if reason != "" {
				reason += ": "
			}
			reason += strings.Join(s.Options, ", ")
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\n", s.Name, s.Score, s.Weight, reason)
	}
	tw.Flush()
	for _, h := range v.AddHeaders {
		fmt.Fprintf(w, "\nAdd header: %s: %s", h.Name, h.Value)
	}
	if len(v.AddHeaders) > 0 {
		fmt.Fprintln(w)
	}
	for _, e := range v.Errors {
		fmt.Fprintf(w, "Error: %s\n", e)
	}
}
