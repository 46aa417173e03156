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

import "fmt"

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
