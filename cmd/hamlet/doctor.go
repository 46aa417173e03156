package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config"
	"github.com/hamlet-mail/hamlet/daemon"
	"github.com/hamlet-mail/hamlet/dkimkeys"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/doctor"
)

func init() {
	commands["doctor"] = command{"check a mail domain's DNS set-up (MX, PTR, SPF, DKIM, DMARC, reputation)", cmdDoctor}
}

const doctorUsage = `usage: hamlet doctor DOMAIN [--ip OUTBOUND_IP]... [--helo NAME]
                     [--selector S [--key FILE]]... [--dnsbl ZONE]... [--dns HOST:PORT]...
                     [-c hamlet.toml] [--json] [--timeout 30s]

Checks what receivers check before accepting DOMAIN's mail and says what to
fix. With -c, the DNS servers, the DNS lists, the Senderscore zone and the
[[dkim.sign]] keys of DOMAIN come from hamlet's configuration. Exit status:
0 when nothing fails, 1 when an item fails or could not be checked
(temperror), 2 for a usage error.
`

func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	var (
		file, helo                          string
		ips, selectors, keyFiles, lists, ns multiFlag
		asJSON                              bool
		timeout                             time.Duration
	)
	fs.StringVar(&file, "c", "", "hamlet's configuration `file` (TOML)")
	fs.StringVar(&file, "config", "", "same as -c")
	fs.Var(&ips, "ip", "outbound `IP` address mail leaves from (repeatable)")
	fs.StringVar(&helo, "helo", "", "the `name` the MTA gives in HELO/EHLO")
	fs.Var(&selectors, "selector", "DKIM `selector` to check (repeatable)")
	fs.Var(&keyFiles, "key", "private key `file` of the preceding --selector")
	fs.Var(&lists, "dnsbl", "DNS list `zone` to look the IPs up in (repeatable)")
	fs.Var(&ns, "dns", "DNS server `HOST:PORT` to ask (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.DurationVar(&timeout, "timeout", doctor.DefaultTimeout, "bound for the whole run")
	// The domain may come before or after the options.
	var domain string
	for {
		if err := fs.Parse(args); err != nil {
			return exitConfig
		}
		if fs.NArg() == 0 {
			break
		}
		if domain != "" {
			fmt.Fprintf(stderr, "hamlet doctor: one domain at a time (got %q and %q)\n", domain, fs.Arg(0))
			return exitConfig
		}
		domain, args = fs.Arg(0), fs.Args()[1:]
	}
	if domain == "" {
		fmt.Fprint(stderr, doctorUsage)
		return exitConfig
	}
	if len(keyFiles) > len(selectors) {
		fmt.Fprintln(stderr, "hamlet doctor: --key needs a --selector")
		return exitConfig
	}
	o := doctor.Options{Domain: domain, Helo: helo, DNSLists: lists, Timeout: timeout}
	for _, s := range ips {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintf(stderr, "hamlet doctor: --ip %q is not an IP address\n", s)
			return exitConfig
		}
		o.IPs = append(o.IPs, ip.Unmap())
	}
	for i, s := range selectors {
		sel := doctor.Selector{Name: strings.ToLower(s)}
		if i < len(keyFiles) {
			k, err := dkimkeys.ReadKeyFile(keyFiles[i])
			if err != nil {
				fmt.Fprintf(stderr, "hamlet doctor: %v\n", err)
				return exitConfig
			}
			sel.PublicKey, sel.KeyFile = k.Public(), keyFiles[i]
		}
		o.Selectors = append(o.Selectors, sel)
	}
	dnsCfg := config.Default().DNS
	if file != "" {
		st, err := daemon.LoadSettings(file, daemon.Overrides{})
		if err != nil {
			fmt.Fprintf(stderr, "hamlet: %v\n", err)
			return exitConfig
		}
		dnsCfg = st.DNS
		fromSettings(st, &o, stderr)
	}
	if len(ns) > 0 {
		dnsCfg.Servers = ns
	}
	res, err := dns.NewClient(dnsCfg)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet: dns: %v\n", err)
		return exitConfig
	}
	rep := doctor.Run(context.Background(), res, o)
	if asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hamlet doctor: %v\n", err)
		return exitFail
	}
	if rep.Failed() {
		return exitFail
	}
	return exitOK
}

// fromSettings fills what the command line left open from hamlet's
// configuration: the enabled DNS lists, the Senderscore zone and, without
// --selector, the domain's signing keys ([[dkim.sign]]).
func fromSettings(st *daemon.Settings, o *doctor.Options, stderr io.Writer) {
	c, problems := daemon.DoctorOptions(st, o.Domain)
	for _, p := range problems {
		fmt.Fprintf(stderr, "hamlet doctor: %s\n", p)
	}
	if len(o.DNSLists) == 0 {
		o.Lists = c.Lists
	}
	o.SenderscoreZone, o.SenderscoreBands = c.SenderscoreZone, c.SenderscoreBands
	if len(o.Selectors) == 0 {
		o.Selectors = c.Selectors
	}
}
