package trustscope

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDomain(t *testing.T) {
	for _, c := range []struct {
		name string
		want string // "" for accepted, else a part of the error
	}{
		{"example.co.uk", ""},
		{".example.co.uk", ""},
		{"mail.example.org", ""},
		{"example.org.", ""},
		{"co.uk", "public suffix"},
		{".co.uk", "public suffix"},
		{"CO.UK.", "public suffix"},
		{"github.io", "public suffix"},
		{"org", "top-level domain"},
		{".com", "top-level domain"},
		{"", "empty"},
	} {
		err := Domain(c.name)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Domain(%q) = %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Domain(%q) = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestNetwork(t *testing.T) {
	for _, c := range []struct {
		prefix string
		want   string
	}{
		{"192.0.2.0/24", ""},
		{"10.0.0.0/8", ""},
		{"203.0.113.7/32", ""},
		{"2001:db8::/32", ""},
		{"2001:db8::1/128", ""},
		{"::ffff:192.0.2.1/128", ""},
		{"0.0.0.0/8", "this network"},
		{"0.0.0.0/32", "this network"},
		{"0.0.0.0/0", "too wide"},
		{"128.0.0.0/1", "too wide"},
		{"224.0.0.0/8", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"::/0", "too wide"},
		{"::/128", "unspecified"},
		{"ff02::/16", "multicast"},
	} {
		err := Network(netip.MustParsePrefix(c.prefix))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Network(%s) = %v", c.prefix, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Network(%s) = %v, want an error with %q", c.prefix, err, c.want)
		}
	}
}
