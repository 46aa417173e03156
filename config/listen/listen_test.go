package listen

import (
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Addrs
	}{
		{`listen = "127.0.0.1:11333"`, Addrs{"127.0.0.1:11333"}},
		{`listen = ["127.0.0.1:11333", "[::1]:11333"]`, Addrs{"127.0.0.1:11333", "[::1]:11333"}},
		{`listen = []`, Addrs{}},
		{`listen = ""`, Addrs{}},
	} {
		var v struct {
			Listen Addrs `toml:"listen"`
		}
		v.Listen = Addrs{"default:1"}
		if _, err := toml.Decode(c.in, &v); err != nil || v.Listen == nil || !slices.Equal(v.Listen, c.want) {
			t.Errorf("%s → %q, %v; want %q", c.in, v.Listen, err, c.want)
		}
	}
	// Absent: the default stays.
	v := struct {
		Listen Addrs `toml:"listen"`
	}{Listen: Addrs{"default:1"}}
	if _, err := toml.Decode(`other = 1`, &v); err != nil || !slices.Equal(v.Listen, Addrs{"default:1"}) {
		t.Errorf("absent → %q, %v", v.Listen, err)
	}
	for _, in := range []string{`listen = 11333`, `listen = ["a:1", 2]`, `listen = {a = 1}`, `listen = true`} {
		if _, err := toml.Decode(in, &v); err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("%s accepted (%v)", in, err)
		}
	}
}

func TestCheckPort(t *testing.T) {
	for _, tt := range []struct {
		port, want string // want: "" for no error, else a part of it
	}{
		{"11333", ""},
		{"0", ""},
		{"65535", ""},
		{"smtp", ""},
		{"65536", "out of range"},
		{"99999", "port 99999 is out of range"},
		{"123456789012345678901234567890", "out of range"},
		{"", "no port"},
	} {
		err := CheckPort(tt.port)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckPort(%q) = %v, want %q", tt.port, err, tt.want)
		}
	}
}
