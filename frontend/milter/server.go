// Package milter is hamlet's milter front end: a server speaking the
// Sendmail/Postfix mail filter protocol (version 6) that feeds the engine
// phase by phase and turns its verdicts into milter replies, and a client
// of the same protocol (used by tests, the benchmark and the OpenSMTPD
// filter, which delegates to a running `hamlet serve`).
//
// The server never decides anything itself: the engine's verdict maps to
// continue (early stages), 550 5.7.1 (reject), 451 4.7.1 (soft reject,
// greylist) or header edits. When the engine is unavailable, panics or
// misses the front end's deadline, Config.OnError decides: "tempfail"
// (451 4.7.1) or "accept". The server never answers 5xx on its own
// failure.
//
// This package does not replace bodies, change envelope senders or
// recipients, or quarantine: hamlet only needs header edits.
package milter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/gopool"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("milter: server closed")

// Stats are counters of a server's work, for metrics.
type Stats struct {
	Connections  uint64 // milter connections accepted
	Messages     uint64 // messages given a final verdict
	EarlyRejects uint64 // transactions refused before DATA
	Errors       uint64 // verdicts replaced by on_error
}

// Server is a milter server. Its zero value is not usable; see NewServer.
type Server struct {
	engine func() *engine.Engine
	cfg    Config
	log    *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup

	conns, messages, early, errs atomic.Uint64

	// slots holds a token per connection served (Config.MaxConnections).
	slots chan struct{}
	// closed is closed by Shutdown: it wakes an accept loop waiting for
	// a free slot.
	closed    chan struct{}
	closeOnce sync.Once
	// inflight is the message bytes all sessions hold
	// (Config.MaxInflightBytes).
	inflight atomic.Int64
	full     atomic.Bool // the connection limit was reached (logged once)
	// negotiated is the last offer's answer (session.negotiate).
	negotiated atomic.Pointer[negotiated]
}

// NewServer returns a server that scans with the engine eng returns at
// the start of each milter connection (a function, so that a
// configuration reload swaps engines without dropping connections). A nil
// engine makes on_error apply. cfg gets its defaults filled in; logger may
// be nil.
func NewServer(eng func() *engine.Engine, cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	cfg = cfg.WithDefaults()
	return &Server{
		engine:    eng,
		cfg:       cfg,
		log:       logger.With("frontend", "milter"),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		slots:     make(chan struct{}, cfg.MaxConnections),
		closed:    make(chan struct{}),
	}
}

// reserve accounts n more message bytes in flight; false when that would
// pass Config.MaxInflightBytes (nothing is accounted then).
func (s *Server) reserve(n int64) bool {
	if s.inflight.Add(n) > s.cfg.MaxInflightBytes {
		s.inflight.Add(-n)
		return false
	}
	return true
}

func (s *Server) release(n int64) { s.inflight.Add(-n) }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:  s.conns.Load(),
		Messages:     s.messages.Load(),
		EarlyRejects: s.early.Load(),
		Errors:       s.errs.Load(),
	}
}

// Serve accepts milter connections on ln until Shutdown; it may be called
// for several listeners at once. It returns ErrServerClosed after
// Shutdown. A unix socket is made connectable by every user (mode 0666):
// the MTA runs as its own user (postfix, smmsp), and a socket that user
// cannot write to refuses it, as 127.0.0.1 would not.
func (s *Server) Serve(ln net.Listener) error {
	if ul, ok := ln.(*net.UnixListener); ok {
		if err := os.Chmod(ul.Addr().String(), 0o666); err != nil {
			s.log.Warn("cannot open the milter socket to the MTA's user", "path", ul.Addr().String(), "err", err)
		}
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		// A free slot first: past MaxConnections the MTA's connections
		// wait in the listen queue instead of costing descriptors.
		select {
		case s.slots <- struct{}{}:
		default:
			if !s.full.Swap(true) {
				s.log.Warn("milter connection limit reached, new connections wait", "max_connections", s.cfg.MaxConnections)
			}
			select {
			case s.slots <- struct{}{}:
			case <-s.closed:
				return ErrServerClosed
			}
		}
		c, err := ln.Accept()
		if err != nil {
			<-s.slots
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors (EMFILE, ENFILE), buffers, an aborted
			// handshake: all pass. Back off and accept again rather
			// than take the daemon down.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed, retrying", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-s.closed:
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		sess := newSession(s, c)
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			c.Close()
			<-s.slots
			return ErrServerClosed
		}
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.conns.Add(1)
		// On a goroutine that served sessions before: it keeps the
		// stack they grew (Postfix opens a connection per SMTP
		// session, so a new goroutine per message grew it again).
		gopool.Go(func() {
			defer s.wg.Done()
			sess.serve()
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
			<-s.slots
			s.full.Store(false)
		})
	}
}

// Shutdown stops accepting connections and waits for the open ones to end.
// Connections idle between messages are closed at once (the MTA opens a new
// one, to the next instance, for its next message); the others finish the
// message they are scanning. When ctx ends first, the remaining
// connections are closed (the MTA applies its default action, e.g.
// Postfix's milter_default_action) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	for ln := range s.listeners {
		ln.Close()
	}
	for sess := range s.sessions {
		sess.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-t.C:
			s.mu.Lock()
			for sess := range s.sessions {
				sess.closeIfIdle()
			}
			s.mu.Unlock()
		case <-ctx.Done():
			s.mu.Lock()
			for sess := range s.sessions {
				sess.conn.Close()
			}
			s.mu.Unlock()
			<-done
			return ctx.Err()
		}
	}
}
