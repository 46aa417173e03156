package rspamdhttp

import (
	"fmt"
	"net/http"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxBody        = 50 << 20 // bytes, as rspamd's max_message
	DefaultMaxRcpts       = 10000
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultTimeoutMargin is added to the engine's check timeout to bound
	// a request when Config.Timeout is zero: the finishers (signing,
	// greylisting) run after the checks.
	DefaultTimeoutMargin = 10 * time.Second
	// DefaultMaxInflight bounds the message bytes held by all requests
	// together: five messages of the largest size.
	DefaultMaxInflight = 256 << 20
	// DefaultBodyTimeout bounds reading one request body. The MTA or
	// rspamc is on this host or its LAN: 50 MiB takes well under a second.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultHeaderTimeout bounds reading the request line and headers.
	DefaultHeaderTimeout = 10 * time.Second
)

// Config configures the handler. The zero value means the defaults.
type Config struct {
	// MaxBody is the largest message accepted, in bytes; a larger one is
	// answered 413. Zero means DefaultMaxBody.
	MaxBody int64 `toml:"max_body"`
	// MaxRcpts bounds the envelope recipients of one request (Rcpt
	// headers); more are answered 400. Zero means DefaultMaxRcpts.
	MaxRcpts int `toml:"max_rcpts"`
	// MaxHeaderBytes bounds the request line and headers (used by
	// HTTPServer). Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// Timeout bounds one request from its headers to the reply. Zero
	// means the engine's check timeout plus DefaultTimeoutMargin.
	Timeout time.Duration `toml:"timeout"`
	// MaxInflight bounds the bytes of message bodies held by all requests
	// of the handler at once (buffers grow as bytes arrive, never from a
	// declared Content-Length); a request that would pass it is answered
	// 503 so that the client retries. Zero means DefaultMaxInflight.
	MaxInflight int64 `toml:"max_inflight_bytes"`
	// BodyTimeout bounds reading one request's body: a client that
	// stalls is cut off (408). Zero means DefaultBodyTimeout.
	BodyTimeout time.Duration `toml:"body_timeout"`
	// MaxConns bounds the open connections of one listener (see
	// LimitListener); zero means no bound.
	MaxConns int `toml:"max_connections"`

	// Metrics, when set, is told of every request answered.
	Metrics Metrics `toml:"-"`
}

// Metrics receives one call per request: the route (see the Route
// constants) and the HTTP status code of the reply. It must not block.
// Wire it to a Prometheus counter vector labelled by route and code, e.g.
//
//	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
//		Name: "hamlet_http_requests_total"}, []string{"route", "code"})
//	cfg.Metrics = rspamdhttp.MetricsFunc(func(route string, code int) {
//		vec.WithLabelValues(route, strconv.Itoa(code)).Inc()
//	})
type Metrics interface {
	Request(route string, code int)
}

// MetricsFunc adapts a function to Metrics.
type MetricsFunc func(route string, code int)

// Request calls f.
func (f MetricsFunc) Request(route string, code int) { f(route, code) }

// Routes reported to Metrics.
const (
	RouteCheckV2 = "checkv2" // POST /checkv2
	RouteLegacy  = "check"   // /check, /symbols, /scan, /process, /report, /report_ifspam
	RoutePing    = "ping"    // /ping
	RouteOther   = "other"   // anything else (404)
)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MaxBody < 0:
		return fmt.Errorf("max_body: %d is negative", c.MaxBody)
	case c.MaxRcpts < 0:
		return fmt.Errorf("max_rcpts: %d is negative", c.MaxRcpts)
	case c.MaxHeaderBytes < 0:
		return fmt.Errorf("max_header_bytes: %d is negative", c.MaxHeaderBytes)
	case c.Timeout < 0:
		return fmt.Errorf("timeout: %s is negative", c.Timeout)
	case c.MaxInflight < 0:
		return fmt.Errorf("max_inflight_bytes: %d is negative", c.MaxInflight)
	case c.BodyTimeout < 0:
		return fmt.Errorf("body_timeout: %s is negative", c.BodyTimeout)
	case c.MaxConns < 0:
		return fmt.Errorf("max_connections: %d is negative", c.MaxConns)
	}
	if d := c.withDefaults(); d.MaxInflight < d.MaxBody {
		return fmt.Errorf("max_inflight_bytes: %d is less than the largest message (%d): no such message could be scanned", d.MaxInflight, d.MaxBody)
	}
	return nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxRcpts <= 0 {
		c.MaxRcpts = DefaultMaxRcpts
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	return c
}

// HTTPServer returns an http.Server for h on addr with the limits of c:
// header size, a header deadline, and an outer read deadline so that a
// client that stalls does not hold a connection for ever (the scan
// handler sets the tighter BodyTimeout itself, and lifts the deadline
// while it scans). The caller sets ErrorLog or BaseContext as it likes
// and calls Serve (on LimitListener when MaxConns is set).
func (c Config) HTTPServer(addr string, h http.Handler) *http.Server {
	c = c.withDefaults()
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ReadHeaderTimeout: DefaultHeaderTimeout,
		ReadTimeout:       DefaultHeaderTimeout + c.BodyTimeout,
		IdleTimeout:       2 * time.Minute,
	}
}
