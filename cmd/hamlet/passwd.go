package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/hamlet-mail/hamlet/controller"
)

func init() {
	commands["passwd"] = command{"print a password hash for [controller] password / enable_password", cmdPasswd}
}

// cmdPasswd reads a password (twice on a terminal, once from a pipe) and
// prints its argon2id hash, the form the configuration keeps.
func cmdPasswd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hamlet passwd  (reads the password from the terminal or stdin, prints its hash)")
		fmt.Fprintln(stderr, "put the output in [controller] password = \"…\" (read-only) or enable_password = \"…\" (admin)")
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fs.Usage()
		return exitConfig
	}
	var pw string
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet passwd: %v\n", err)
			return exitFail
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "hamlet passwd: %v\n", err)
			return exitFail
		}
		if string(a) != string(b) {
			fmt.Fprintln(stderr, "hamlet passwd: the passwords differ")
			return exitFail
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			fmt.Fprintf(stderr, "hamlet passwd: reading stdin: %v\n", err)
			return exitFail
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		fmt.Fprintln(stderr, "hamlet passwd: empty password")
		return exitFail
	}
	h, err := controller.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(stderr, "hamlet passwd: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, h)
	return exitOK
}
