// Package listen is the type of every "listen" option of hamlet's
// configuration: one address written as a string or several as a list,
//
//	listen = "127.0.0.1:11333"
//	listen = ["127.0.0.1:11333", "[::1]:11333"]
//
// so a user writes either in every section. What an address may be
// (host:port, a unix socket) is the listener's business, not this
// package's. It imports nothing of hamlet, so the front ends' own
// configuration can use it.
package listen

import (
	"fmt"
	"strconv"
	"strings"
)

// Addrs is a list of listen addresses that TOML may give as one string.
type Addrs []string

// UnmarshalTOML implements toml.Unmarshaler (github.com/BurntSushi/toml):
// a string is a list of one, an empty string an empty list.
func (a *Addrs) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		if v == "" {
			*a = Addrs{}
		} else {
			*a = Addrs{v}
		}
		return nil
	case []any:
		out := make(Addrs, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("listen: element %d is a %T, want a string \"host:port\"", i, e)
			}
			out = append(out, s)
		}
		*a = out
		return nil
	}
	return fmt.Errorf("listen: a %T, want a string \"host:port\" or a list of them", v)
}

// CheckPort checks the port of a TCP listen address: empty is refused, and
// a number must fit in 16 bits (RFC 793 §3.1), so that "127.0.0.1:99999"
// is a configuration problem rather than a start-up failure. A service
// name ("smtp") is left to net.Listen.
func CheckPort(port string) error {
	if port == "" {
		return fmt.Errorf("no port")
	}
	if strings.Trim(port, "0123456789") == "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return fmt.Errorf("port %s is out of range (0-65535)", port)
		}
	}
	return nil
}
