package greylist

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/store"
)

// Config is the [greylist] section:
//
//	[greylist]
//	enabled = true
//	delay = "5m"              # a retry is accepted this long after the first attempt
//	retry_window = "48h"      # ... and until this long after it
//	pass_ttl = "35d"          # passed entries are kept this long after their last delivery
//	auto_allow_after = 5      # allowlist a client network after this many passes (0: never)
//	message = "Greylisted, please try again later"
//
// The defaults are postgrey's.
type Config struct {
	Enabled        bool     `toml:"enabled"`
	Delay          Duration `toml:"delay"`
	RetryWindow    Duration `toml:"retry_window"`
	PassTTL        Duration `toml:"pass_ttl"`
	AutoAllowAfter int      `toml:"auto_allow_after"`
	// Message is the text of the 451 4.7.1 reply.
	Message string `toml:"message"`
}

// DefaultMessage is the reply text when none is configured.
const DefaultMessage = "Greylisted, please try again later"

// DefaultConfig returns postgrey's defaults, enabled.
func DefaultConfig() Config {
	return Config{
		Enabled:        true,
		Delay:          Duration(5 * time.Minute),
		RetryWindow:    Duration(48 * time.Hour),
		PassTTL:        Duration(35 * 24 * time.Hour),
		AutoAllowAfter: 5,
		Message:        DefaultMessage,
	}
}

// Validate checks the section; its errors name the option.
func (c *Config) Validate() error {
	switch {
	case c.Delay < 0:
		return fmt.Errorf("delay: %v is negative", c.Delay)
	case c.RetryWindow <= c.Delay:
		return fmt.Errorf("retry_window: %v must be longer than delay (%v)", c.RetryWindow, c.Delay)
	case c.PassTTL <= 0:
		return fmt.Errorf("pass_ttl: %v must be positive", c.PassTTL)
	case c.AutoAllowAfter < 0:
		return fmt.Errorf("auto_allow_after: %d is negative", c.AutoAllowAfter)
	case strings.ContainsAny(c.Message, "\r\n"):
		return fmt.Errorf("message: must be one line")
	case len(c.Message) > 400:
		return fmt.Errorf("message: longer than 400 characters")
	}
	return nil
}

// Params returns the store's view of the timing.
func (c *Config) Params() store.GreylistParams {
	return store.GreylistParams{Delay: c.Delay.D(), RetryWindow: c.RetryWindow.D(), PassTTL: c.PassTTL.D()}
}

// Duration is a time.Duration written "5m", "48h" or, for whole days,
// "35d" in configuration files.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return d.D().String() }

// UnmarshalText parses "90s", "5m", "48h", "1h30m" or "35d".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("bad duration %q (want e.g. \"5m\", \"48h\", \"35d\")", s)
		}
		*d = Duration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. \"5m\", \"48h\", \"35d\")", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes whole days as "35d", anything else as time.Duration.
func (d Duration) MarshalText() ([]byte, error) {
	day := 24 * time.Hour
	if v := d.D(); v > 0 && v%day == 0 {
		return []byte(strconv.FormatInt(int64(v/day), 10) + "d"), nil
	}
	return []byte(d.D().String()), nil
}
