package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/hamlet-mail/hamlet/controller"
)

func init() {
	commands["why"] = command{"explain the verdict of a message by its queue id (from the running daemon's history)", cmdWhy}
}

func cmdWhy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("why", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ctl controllerFlags
	var asJSON bool
	ctl.register(fs, "controller `password`")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hamlet why [options] QUEUEID")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitConfig
	}
	c, ok := ctl.client("why", stderr)
	if !ok {
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ans controller.WhyAnswer
	if err := c.Get(ctx, "/api/why?qid="+url.QueryEscape(fs.Arg(0)), &ans); err != nil {
		fmt.Fprintf(stderr, "hamlet why: %v\n", err)
		return exitFail
	}
	if asJSON {
		json.NewEncoder(stdout).Encode(ans)
		return exitOK
	}
	if len(ans.Records) == 0 {
		fmt.Fprintf(stderr, "hamlet why: no message with queue id %q in the history\n", fs.Arg(0))
		return exitFail
	}
	for i, r := range ans.Records {
		if i > 0 {
			fmt.Fprintln(stdout, "\n----")
		}
		controller.WriteText(stdout, r.Record, r.Explanation)
	}
	return exitOK
}
