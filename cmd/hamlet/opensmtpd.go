package main

// `hamlet opensmtpd`: the OpenSMTPD filter (frontend/opensmtpd), run by
// smtpd as  filter "hamlet" proc-exec "hamlet opensmtpd -c /etc/hamlet.toml".
// It hands each SMTP session to the running `hamlet serve` over the milter
// protocol. smtpd stops when its filter exits, so a configuration problem
// is logged and the defaults are used instead of exiting.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/frontend/milter"
	"github.com/hamlet-mail/hamlet/frontend/opensmtpd"
)

func init() {
	commands["opensmtpd"] = command{"OpenSMTPD filter (filter proc-exec), delegating to hamlet serve", cmdOpenSMTPD}
}

func cmdOpenSMTPD(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("opensmtpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file, addr, onError string
	fs.StringVar(&file, "c", "", "configuration `file` of hamlet serve, for its [milter] listen and on_error")
	fs.StringVar(&file, "config", "", "same as -c")
	fs.StringVar(&addr, "milter", "", "hamlet serve's milter `address` (default: the first [milter] listen, 127.0.0.1:11332)")
	fs.StringVar(&onError, "on-error", "", "`tempfail` or accept when hamlet is unreachable (default: [milter] on_error)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := opensmtpd.Config{Milter: addr, OnError: onError}
	mcfg := milter.DefaultConfig()
	if file != "" {
		s, err := daemon.LoadSettings(file, daemon.Overrides{})
		if err != nil {
			logger.Error("configuration unusable, using defaults", "err", err)
		} else {
			mcfg = s.Milter
			logger = daemon.Logger(s.Config)
		}
	}
	if cfg.Milter == "" {
		cfg.Milter = dialAddr(mcfg.Listen)
	}
	if cfg.OnError == "" {
		cfg.OnError = mcfg.OnError
	}
	cfg.TempfailReply = mcfg.TempfailReply
	if err := cfg.Validate(); err != nil {
		logger.Error("bad option, using defaults", "err", err)
		cfg = opensmtpd.Config{}
	}
	// smtpd ends its filters by closing their stdin; a signal from a
	// terminal should not take the filter down while smtpd still runs.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	f := opensmtpd.New(cfg, logger)
	if err := f.Run(ctx, stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "hamlet opensmtpd: %v\n", err)
		return exitFail
	}
	return exitOK
}

// dialAddr picks the address to reach hamlet's milter from its listen
// list: a wildcard listen address is reached on loopback.
func dialAddr(listen []string) string {
	for _, a := range listen {
		network, address, err := milter.ParseListen(a)
		if err != nil {
			continue
		}
		if network == "unix" {
			return "unix:" + address
		}
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			continue
		}
		switch strings.Trim(host, "[]") {
		case "", "0.0.0.0":
			host = "127.0.0.1"
		case "::":
			host = "::1"
		}
		return net.JoinHostPort(host, port)
	}
	return milter.DefaultListen
}
