// Command hamlet-load measures a scanner's whole-daemon throughput over
// rspamd's HTTP protocol: it posts the messages of a corpus to /checkv2 at
// a fixed concurrency and reports messages per second and latency
// percentiles. rspamd speaks the same protocol, so the same tool measures
// both (bench/compare runs them side by side).
//
//	hamlet-load [-url http://127.0.0.1:11333] [-c 16] [-n 2000] DIR|FILE...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hamlet-mail/hamlet/internal/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("hamlet-load", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o loadgen.Options
	fl.StringVar(&o.URL, "url", "http://127.0.0.1:11333", "scanner base `URL`")
	fl.IntVar(&o.Concurrency, "c", 16, "concurrent requests")
	fl.IntVar(&o.Messages, "n", 2000, "messages to send in all (the corpus is cycled)")
	fl.IntVar(&o.Warmup, "warmup", 50, "messages sent first and not counted (warms caches)")
	fl.StringVar(&o.IP, "ip", "192.0.2.1", "IP header sent with each message")
	fl.StringVar(&o.Helo, "helo", "mail.example.com", "Helo header")
	fl.StringVar(&o.From, "from", "sender@example.com", "From header (envelope sender)")
	fl.DurationVar(&o.Timeout, "timeout", 60*time.Second, "per-request timeout")
	asJSON := fl.Bool("json", false, "print the result as JSON")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	msgs, err := loadgen.Load(fl.Args()...)
	if err != nil || len(msgs) == 0 {
		fmt.Fprintf(stderr, "hamlet-load: no messages (give files or directories): %v\n", err)
		return 2
	}
	r, err := loadgen.Run(context.Background(), o, msgs)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet-load: %v\n", err)
		return 1
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(r)
	} else {
		fmt.Fprintln(stdout, r)
	}
	if r.Errors > 0 {
		return 1
	}
	return 0
}
