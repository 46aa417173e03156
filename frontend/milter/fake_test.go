package milter

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/engine/enginetest"
)

// stuckFinisher ignores its deadline for a message whose Subject says
// "stuck": an engine that does not answer at all.
type stuckFinisher struct{}

func (stuckFinisher) Name() string                { return "stuck" }
func (stuckFinisher) Symbols() []engine.SymbolDef { return nil }
func (stuckFinisher) Finish(_ context.Context, tx *engine.Transaction, _ engine.Results, _ *engine.Verdict) error {
	if s, _ := tx.Message.First("Subject"); strings.Contains(s, "stuck") {
		time.Sleep(3 * time.Second)
	}
	return nil
}

// recorder keeps what the checks saw, per message (by Message-ID).
type recorder struct {
	mu   sync.Mutex
	raw  map[string][]byte
	txs  map[string]engine.Transaction
	conn []engine.Transaction
}

func newRecorder() *recorder {
	return &recorder{raw: map[string][]byte{}, txs: map[string]engine.Transaction{}}
}

func (r *recorder) message(id string) ([]byte, engine.Transaction, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, ok := r.raw[id]
	return raw, r.txs[id], ok
}

func (r *recorder) connects() []engine.Transaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Transaction(nil), r.conn...)
}

// fakeEngine builds an engine whose checks:
//   - at connect, force reject for 192.0.2.66 (a "senderscore block") and
//     record the connect data;
//   - at mail, force a soft reject for a sender "soft@..." and sleep for a
//     sender "slow@..." until the deadline;
//   - at rcpt, force reject for "bad@..." recipients;
//   - at data, score the value of an X-Test-Score field, record the raw
//     message, and sleep when the Subject says "hang";
//   - a finisher that sleeps past every deadline when it says "stuck".
func fakeEngine(t testing.TB, rec *recorder, timeout time.Duration) *engine.Engine {
	t.Helper()
	checks := []engine.Check{
		&enginetest.Check{Label: "conn", Stage: engine.PhaseConnect,
			Defs: []engine.SymbolDef{{Name: "BLOCKED_IP", Weight: 0}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				rec.mu.Lock()
				rec.conn = append(rec.conn, *tx)
				rec.mu.Unlock()
				if tx.ClientIP.String() == "192.0.2.66" {
					return engine.Result{Symbols: []engine.Symbol{{Name: "BLOCKED_IP", Force: engine.Reject, Message: "5.7.1 Client blocked by reputation"}}}
				}
				return engine.Result{}
			}},
		&enginetest.Check{Label: "mail", Stage: engine.PhaseMail,
			Defs: []engine.SymbolDef{{Name: "SOFT_SENDER", Weight: 0}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				switch {
				case strings.HasPrefix(tx.MailFrom, "soft@"):
					return engine.Result{Symbols: []engine.Symbol{{Name: "SOFT_SENDER", Force: engine.SoftReject, Message: "4.7.1 Come back later"}}}
				case strings.HasPrefix(tx.MailFrom, "slow@"):
					<-ctx.Done()
				}
				return engine.Result{}
			}},
		&enginetest.Check{Label: "rcpt", Stage: engine.PhaseRcpt,
			Defs: []engine.SymbolDef{{Name: "BAD_RCPT", Weight: 0}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				for _, r := range tx.Rcpts {
					if strings.HasPrefix(r, "bad@") {
						return engine.Result{Symbols: []engine.Symbol{{Name: "BAD_RCPT", Force: engine.Reject}}}
					}
				}
				return engine.Result{}
			}},
		&enginetest.Check{Label: "data", Stage: engine.PhaseData,
			Defs: []engine.SymbolDef{{Name: "TEST_SCORE", Weight: 1}},
			Fn: func(ctx context.Context, tx *engine.Transaction) engine.Result {
				m := tx.Message
				id, _ := m.First("Message-ID")
				rec.mu.Lock()
				rec.raw[id] = append([]byte(nil), m.Raw...)
				rec.txs[id] = *tx
				rec.mu.Unlock()
				if s, _ := m.First("Subject"); strings.Contains(s, "hang") {
					<-ctx.Done()
				}
				if v, ok := m.First("X-Test-Score"); ok {
					f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
					if err == nil {
						return engine.Result{Symbols: []engine.Symbol{{Name: "TEST_SCORE", Multiplier: f}}}
					}
				}
				return engine.Result{}
			}},
	}
	pol := engine.DefaultPolicy()
	pol.Thresholds[engine.RewriteSubject] = 8
	e, err := engine.New(engine.Options{
		Checks: checks, Finishers: []engine.Finisher{enginetest.AuthResults(func(tx *engine.Transaction) string {
			return "mx.test; iprev=pass smtp.remote-ip=" + tx.ClientIP.String()
		}), stuckFinisher{}}, Policy: pol,
		Timeout: timeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// startServer runs a milter server on a loopback port.
func startServer(t testing.TB, eng func() *engine.Engine, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(eng, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}
