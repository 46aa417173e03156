package enginetest

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/hamlet-mail/hamlet/engine"
)

// An engine built from the fakes runs Fn at its phase, scores its
// symbols and adds the finisher's field first.
func TestFakesInAnEngine(t *testing.T) {
	e, err := engine.New(engine.Options{
		Checks: []engine.Check{
			&Check{Label: "conn", Stage: engine.PhaseConnect, Defs: []engine.SymbolDef{{Name: "CONN", Weight: 2}},
				Fn: func(_ context.Context, tx *engine.Transaction) engine.Result {
					if tx.ClientIP == netip.MustParseAddr("192.0.2.1") {
						return engine.Result{Symbols: []engine.Symbol{{Name: "CONN"}}}
					}
					return engine.Result{}
				}},
			&Check{Label: "silent", Stage: engine.PhaseConnect, Needs: []string{"conn"}},
		},
		Finishers: []engine.Finisher{AuthResults(func(tx *engine.Transaction) string {
			return "mx.test; iprev=pass smtp.remote-ip=" + tx.ClientIP.String()
		})},
		Policy: engine.DefaultPolicy(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip    string
		score float64
	}{{"192.0.2.1", 2}, {"192.0.2.2", 0}} {
		v := e.Scan(context.Background(), &engine.Transaction{ClientIP: netip.MustParseAddr(tc.ip)})
		if v.Score != tc.score {
			t.Errorf("%s: score %v, want %v (%+v)", tc.ip, v.Score, tc.score, v.Symbols)
		}
		if len(v.AddHeaders) == 0 || v.AddHeaders[0].Value != "mx.test; iprev=pass smtp.remote-ip="+tc.ip {
			t.Errorf("%s: headers %+v", tc.ip, v.AddHeaders)
		}
	}
}
