package greylist

import (
	"fmt"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
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
	Enabled        bool              `toml:"enabled"`
	Delay          duration.Duration `toml:"delay"`
	RetryWindow    duration.Duration `toml:"retry_window"`
	PassTTL        duration.Duration `toml:"pass_ttl"`
	AutoAllowAfter int               `toml:"auto_allow_after"`
	// Message is the text of the 451 4.7.1 reply.
	Message string `toml:"message"`
}

// DefaultMessage is the reply text when none is configured.
const DefaultMessage = "Greylisted, please try again later"

// DefaultConfig returns postgrey's defaults, enabled.
func DefaultConfig() Config {
	return Config{
		Enabled:        true,
		Delay:          duration.Duration(5 * time.Minute),
		RetryWindow:    duration.Duration(48 * time.Hour),
		PassTTL:        duration.Duration(35 * 24 * time.Hour),
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
