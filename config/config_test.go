package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/config/listen"
	"github.com/hamlet-mail/hamlet/engine"
)

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if p.Thresholds[engine.Reject] != 15 || p.Thresholds[engine.AddHeader] != 6 || p.Thresholds[engine.Greylist] != 4 {
		t.Fatalf("thresholds = %v", p.Thresholds)
	}
	if _, ok := p.Thresholds[engine.RewriteSubject]; ok {
		t.Fatal("rewrite_subject set by default")
	}
	if c.Scan.Listen[0] != "127.0.0.1:11333" || !slices.Equal(c.Controller.Listen, listen.Addrs{"127.0.0.1:11334"}) || c.DataDir != "./hamlet-data" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	c, err := Parse("h.toml", `
data_dir = "/var/lib/hamlet"
[scan]
timeout = "5s"
[dns]
servers = ["127.0.0.1:5353"]
[actions]
reject = 12
greylist = false
rewrite_subject = 8.5
[symbols]
R_SPF_FAIL = 3.5
[force]
RDNS_NONE = "reject"
`)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Scan.Timeout) != 5*time.Second || c.DNS.Servers[0] != "127.0.0.1:5353" || c.DataDir != "/var/lib/hamlet" {
		t.Fatalf("config = %+v", c)
	}
	p, _ := c.Policy()
	if p.Thresholds[engine.Reject] != 12 || p.Thresholds[engine.AddHeader] != 6 || p.Thresholds[engine.RewriteSubject] != 8.5 {
		t.Fatalf("thresholds = %v", p.Thresholds)
	}
	if _, ok := p.Thresholds[engine.Greylist]; ok {
		t.Fatal("greylist = false did not disable it")
	}
	if p.Weights["R_SPF_FAIL"] != 3.5 || p.Force["RDNS_NONE"] != engine.Reject {
		t.Fatalf("weights %v force %v", p.Weights, p.Force)
	}
	if err := c.Unknown(); err != nil {
		t.Fatal(err)
	}
}

type feature struct {
	Enabled bool   `toml:"enabled"`
	Delay   string `toml:"delay"`
}

func (f *feature) Validate() error {
	if f.Delay == "never" {
		return errors.New("never is not a delay")
	}
	return nil
}

func TestErrorsNameFileLineOption(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"syntax", "[scan]\ntimeout = \n", "h.toml:2"},
		{"bad action", "\n[actions]\ndiscard = 3\n", "h.toml:3: actions.discard: unknown action"},
		{"unordered", "[actions]\ngreylist = 20\n", "h.toml:1: actions"},
		{"bad network", "local_networks = [\"10.0.0.0/33\"]\n", "h.toml:1: local_networks"},
		{"bad type", "\n\n[scan]\nmax_size = \"big\"\n", "h.toml:4: scan.max_size: incompatible types"},
		{"bad duration", "[scan]\nlisten = \"127.0.0.1:11333\"\ntimeout = \"20 s\"\n", `h.toml:3: scan.timeout: bad duration "20 s"`},
		{"bad type top level", "data_dir = 5\n", "h.toml:1: data_dir: incompatible types"},
		{"bad level", "[log]\nlevel = \"loud\"\n", "h.toml:2: log.level"},
		{"bad listen", "[controller]\nlisten = \"nowhere\"\n", "h.toml:2: controller.listen"},
		{"port out of range", "[scan]\nlisten = \"127.0.0.1:99999\"\n", `h.toml:2: scan.listen: "127.0.0.1:99999": port 99999 is out of range`},
		{"no port", "[controller]\nlisten = [\"127.0.0.1:\"]\n", `h.toml:2: controller.listen: "127.0.0.1:": no port`},
		{"inflight below max_size", "[scan]\nmax_inflight_bytes = 1000\n", "h.toml:2: scan.max_inflight_bytes: 1000 is less than max_size"},
		{"zero body timeout", "[scan]\nbody_timeout = \"0s\"\n", "h.toml:2: scan.body_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("h.toml", tt.text)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestSectionsAndUnknown(t *testing.T) {
	c, err := Parse("h.toml", "[feature]\nenabled = true\ndelay = \"5m\"\n\n[fature]\nx = 1\n")
	if err != nil {
		t.Fatal(err)
	}
	f := &feature{}
	if err := c.Section("feature", f); err != nil || !f.Enabled || f.Delay != "5m" {
		t.Fatalf("section: %+v %v", f, err)
	}
	err = c.Unknown()
	if err == nil || !strings.Contains(err.Error(), "h.toml:6: fature.x: unknown option") {
		t.Fatalf("unknown: %v", err)
	}
	c, _ = Parse("h.toml", "[feature]\ndelay = \"never\"\n")
	if err := c.Section("feature", &feature{}); err == nil || !strings.HasPrefix(err.Error(), "h.toml:1: feature: never") {
		t.Fatalf("validation error = %v", err)
	}
}
