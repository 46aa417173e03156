package daemon

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/config/listen"
)

// TestOneSyntax: every duration option is a duration.Duration and every
// listen option a listen.Addrs, so the file takes the same spelling in
// every section (issue 10 items 1 and 8).
func TestOneSyntax(t *testing.T) {
	durType := reflect.TypeFor[time.Duration]()
	addrType := reflect.TypeFor[listen.Addrs]()
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			if ty == addrType {
				return
			}
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct {
			return
		}
		for f := range ty.Fields() {
			tag := f.Tag.Get("toml")
			if tag == "-" || !f.IsExported() {
				continue
			}
			name := strings.ToLower(f.Name)
			if tag != "" {
				name = strings.Split(tag, ",")[0]
			}
			p := path + "." + name
			if f.Anonymous {
				p = path
			}
			switch {
			case f.Type == durType:
				t.Errorf("%s is a time.Duration: make it a duration.Duration", p)
			case name == "listen" && f.Type != addrType:
				t.Errorf("%s is a %s: make it a listen.Addrs", p, f.Type)
			default:
				walk(p, f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Settings]())
}

// TestSyntaxEverywhere: days and weeks, and listen given as a string, in
// the sections that had their own syntax before.
func TestSyntaxEverywhere(t *testing.T) {
	f := filepath.Join(t.TempDir(), "hamlet.toml")
	if err := writeFile(f, `
[scan]
listen = "127.0.0.1:0"
timeout = "1m"
[controller]
listen = ["127.0.0.1:0", "[::1]:0"]
[milter]
listen = "127.0.0.1:0"
timeout = "1m30s"
[dns]
max_ttl = "1d"
[senderscore]
recheck_interval = "1d12h"
[dnsbl]
health_interval = "2d"
[greylist]
pass_ttl = "5w"
[history]
max_age = "1w2d"
`); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSettings(f, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"scan.timeout", s.Scan.Timeout.D(), time.Minute},
		{"milter.timeout", s.Milter.Timeout.D(), 90 * time.Second},
		{"dns.max_ttl", s.DNS.MaxTTL.D(), duration.Day},
		{"senderscore.recheck_interval", s.Senderscore.RecheckInterval.D(), 36 * time.Hour},
		{"dnsbl.health_interval", s.DNSBL.HealthInterval.D(), 2 * duration.Day},
		{"greylist.pass_ttl", s.Greylist.PassTTL.D(), 5 * duration.Week},
		{"history.max_age", s.History.MaxAge.D(), 9 * duration.Day},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(s.Scan.Listen, listen.Addrs{"127.0.0.1:0"}) || !slices.Equal(s.Milter.Listen, listen.Addrs{"127.0.0.1:0"}) ||
		!slices.Equal(s.Controller.Listen, listen.Addrs{"127.0.0.1:0", "[::1]:0"}) {
		t.Errorf("listen: scan %q milter %q controller %q", s.Scan.Listen, s.Milter.Listen, s.Controller.Listen)
	}
}
