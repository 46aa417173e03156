package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/hamlet-mail/hamlet/daemon"
)

func init() {
	commands["serve"] = command{"run the daemon (scan API, controller, milter)", cmdServe}
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file, data, cpuprofile string
	var dnsServers multiFlag
	fs.StringVar(&file, "c", "", "configuration `file` (TOML); none: embedded defaults")
	fs.StringVar(&file, "config", "", "same as -c")
	fs.StringVar(&data, "data", "", "data `directory` (default ./hamlet-data)")
	fs.Var(&dnsServers, "dns", "DNS server `HOST:PORT` to ask instead of /etc/resolv.conf's (repeatable)")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile (go tool pprof) to `file` until the daemon stops")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hamlet serve: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	daemon.Version = versionString()
	d, err := daemon.New(file, daemon.Overrides{DataDir: data, DNS: dnsServers})
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitConfig
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet: %v\n", err)
			return exitConfig
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "hamlet: %v\n", err)
			return exitConfig
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := d.Run(context.Background()); err != nil {
		fmt.Fprintf(stderr, "hamlet: %v\n", err)
		return exitFail
	}
	return exitOK
}
