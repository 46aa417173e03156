package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
)

func init() {
	commands["greylist"] = command{"list, allow or drop greylist entries of the running daemon", cmdGreylist}
}

func cmdGreylist(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("greylist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ctl controllerFlags
	var reason, ttl string
	var limit int
	var asJSON bool
	ctl.register(fs, "controller `password` (admin password for allow and drop)")
	fs.StringVar(&reason, "reason", "admin", "reason recorded with allow")
	fs.StringVar(&ttl, "ttl", "", "lifetime of an allow entry, e.g. 30d (default: for ever)")
	fs.IntVar(&limit, "limit", 1000, "entries to list, of each kind")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hamlet greylist [options] list | allow <ip|net|domain> | drop <key>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	c, ok := ctl.client("greylist", stderr)
	if !ok {
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitConfig
	}
	switch {
	case rest[0] == "list" && len(rest) == 1:
		l, err := c.GreylistList(ctx, limit)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet greylist: %v\n", err)
			return exitFail
		}
		if asJSON {
			json.NewEncoder(stdout).Encode(l)
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GREYLIST KEY\tFIRST SEEN\tPASSED\tBLOCKED\tPASSES\tEXPIRES")
		for _, e := range l.Greylist {
			passed := "-"
			if !e.Passed.IsZero() {
				passed = e.Passed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", e.Key, e.FirstSeen.Format(time.RFC3339), passed, e.Blocked, e.Passes, e.Expires.Format(time.RFC3339))
		}
		fmt.Fprintln(tw, "\nALLOW KEY\tREASON\tADDED\tEXPIRES")
		for _, e := range l.Allow {
			exp := "never"
			if !e.Expires.IsZero() {
				exp = e.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Key, e.Reason, e.Added.Format(time.RFC3339), exp)
		}
		tw.Flush()
	case rest[0] == "allow" && len(rest) == 2:
		var d duration.Duration
		if ttl != "" {
			if err := d.UnmarshalText([]byte(ttl)); err != nil {
				fmt.Fprintf(stderr, "hamlet greylist: --ttl: %v\n", err)
				return exitConfig
			}
		}
		e, err := c.Allow(ctx, rest[1], reason, d.D())
		if err != nil {
			fmt.Fprintf(stderr, "hamlet greylist: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "allowed %s\n", e.Key)
	case rest[0] == "drop" && len(rest) == 2:
		ok, err := c.Drop(ctx, rest[1])
		if err != nil {
			fmt.Fprintf(stderr, "hamlet greylist: %v\n", err)
			return exitFail
		}
		if !ok {
			fmt.Fprintf(stderr, "hamlet greylist: no entry %q\n", rest[1])
			return exitFail
		}
		fmt.Fprintf(stdout, "dropped %s\n", rest[1])
	default:
		fs.Usage()
		return exitConfig
	}
	return exitOK
}
