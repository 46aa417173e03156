// Command hamlet is a mail filter daemon for people who run their own mail
// server: it scans incoming mail (rDNS, reputation, SPF, DKIM, DMARC, ARC,
// selective greylisting) and signs outgoing mail, beside OpenSMTPD, Postfix
// or Sendmail, or wherever rspamd stood.
//
// Usage:
//
//	hamlet serve [-c hamlet.toml] [--data DIR] [--dns HOST:PORT]
//	hamlet check [--ip IP] [--helo NAME] [--hostname PTR] [--from ADDR]
//	             [--rcpt ADDR]... [--user NAME] [--dns HOST:PORT] [--json] [FILE.eml ...]
//	hamlet opensmtpd [-c hamlet.toml]        (run by smtpd: filter proc-exec)
//	hamlet dkim keygen -d DOMAIN -s SELECTOR [-a rsa|ed25519] [--bits 2048] [-o DIR]
//	hamlet doctor DOMAIN [--ip IP]... [--helo NAME] [--selector S --key FILE] [--json]
//	hamlet greylist list | allow <ip|net|domain> | drop <key>
//	hamlet version
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: run gets the arguments after the name and
// returns the exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is filled by the init functions of this package's files, one
// file per subcommand.
var commands = map[string]command{}

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1 // the command ran and found a problem (e.g. doctor)
	exitConfig = 2 // usage or configuration error
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

var stdin io.Reader = os.Stdin

func run(args []string, in io.Reader, stdout, stderr io.Writer) int {
	stdin = in
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitConfig
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hamlet: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitConfig
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hamlet <command> [options]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n'hamlet <command> -h' shows a command's options.")
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
