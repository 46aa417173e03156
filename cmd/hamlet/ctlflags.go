package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/daemon"
)

// controllerFlags are the options of the commands that talk to a running
// daemon through its controller (why, greylist, learn).
type controllerFlags struct {
	file, url, password string
}

// register adds -c, -controller and -P to fs; passwordHelp says which
// password the command needs.
func (c *controllerFlags) register(fs *flag.FlagSet, passwordHelp string) {
	fs.StringVar(&c.file, "c", "", "configuration `file` of the daemon (to find its controller)")
	fs.StringVar(&c.url, "controller", "", "controller `URL` (default: http:// + [controller] listen)")
	fs.StringVar(&c.password, "P", "", passwordHelp+" (default $HAMLET_PASSWORD)")
}

// pass is -P, or $HAMLET_PASSWORD without it.
func (c *controllerFlags) pass() string {
	if c.password != "" {
		return c.password
	}
	return os.Getenv("HAMLET_PASSWORD")
}

// client is a client of the controller given by -controller, or else the
// first [controller] listen address of the daemon's configuration. A
// problem is written to stderr under the command's name.
func (c *controllerFlags) client(name string, stderr io.Writer) (*controller.Client, bool) {
	base := c.url
	if base == "" {
		s, err := daemon.LoadSettings(c.file, daemon.Overrides{})
		if err != nil {
			fmt.Fprintf(stderr, "hamlet: %v\n", err)
			return nil, false
		}
		if len(s.Controller.Listen) == 0 {
			fmt.Fprintf(stderr, "hamlet %s: the controller is off ([controller] listen is empty); give -controller URL\n", name)
			return nil, false
		}
		base = "http://" + s.Controller.Listen[0]
	}
	return &controller.Client{BaseURL: base, Password: c.pass()}, true
}
