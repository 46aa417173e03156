package checks

import (
	"testing"

	"github.com/hamlet-mail/hamlet/bayes"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/mailgen"
	"github.com/hamlet-mail/hamlet/message"
	"github.com/hamlet-mail/hamlet/store"
)

func TestAutolearnDecide(t *testing.T) {
	on := bayes.AutolearnConfig{Enabled: true, HamBelow: -1}
	msg := message.Parse(mailgen.New(1).Ham(500))
	sym := func(name string, score float64) engine.ScoredSymbol {
		return engine.ScoredSymbol{Name: name, Score: score}
	}
	authOK := []engine.ScoredSymbol{sym(SymDKIMAllow, -0.2), sym(SymDMARCAllow, -0.5)}
	verdict := func(score float64, syms ...engine.ScoredSymbol) *engine.Verdict {
		return &engine.Verdict{Final: true, Score: score, RequiredScore: 15, Symbols: syms}
	}
	tests := []struct {
		name  string
		cfg   bayes.AutolearnConfig
		tx    engine.Transaction
		v     *engine.Verdict
		class store.BayesClass // 0: not learned
	}{
		{"off", bayes.AutolearnConfig{HamBelow: -1}, engine.Transaction{Message: msg}, verdict(20), 0},
		{"spam at the reject score", on, engine.Transaction{Message: msg}, verdict(15), store.BayesSpam},
		{"spam above it", on, engine.Transaction{Message: msg}, verdict(31.5), store.BayesSpam},
		{"just below the reject score", on, engine.Transaction{Message: msg}, verdict(14.9), 0},
		{"between the thresholds", on, engine.Transaction{Message: msg}, verdict(0, authOK...), 0},
		{"ham with DKIM and DMARC", on, engine.Transaction{Message: msg}, verdict(-1.5, authOK...), store.BayesHam},
		{"ham at exactly ham_below", on, engine.Transaction{Message: msg}, verdict(-1, authOK...), 0},
		{"ham without DMARC", on, engine.Transaction{Message: msg}, verdict(-1.5, sym(SymDKIMAllow, -0.2)), 0},
		{"ham without DKIM", on, engine.Transaction{Message: msg}, verdict(-1.5, sym(SymDMARCAllow, -0.5)), 0},
		{"outbound spam", on, engine.Transaction{Message: msg, Outbound: true}, verdict(20), 0},
		{"local ham", on, engine.Transaction{Message: msg, Local: true}, verdict(-5, authOK...), 0},
		{"allowlisted", on, engine.Transaction{Message: msg, Allowlisted: true}, verdict(-5, authOK...), 0},
		{"no message (an early verdict)", on, engine.Transaction{}, verdict(20), 0},
		{"not final", on, engine.Transaction{Message: msg}, &engine.Verdict{Score: 20, RequiredScore: 15}, 0},
		{"Bayes already sure it is spam", on, engine.Transaction{Message: msg}, verdict(20, sym(bayes.SymSpam, 5.0)), 0},
		{"Bayes unsure: learn", on, engine.Transaction{Message: msg}, verdict(20, sym(bayes.SymSpam, 2.0)), store.BayesSpam},
		{"Bayes already sure it is ham", on, engine.Transaction{Message: msg}, verdict(-4, append(authOK, sym(bayes.SymHam, -2.9))...), 0},
		{"Bayes unsure of the ham: learn", on, engine.Transaction{Message: msg}, verdict(-4, append(authOK, sym(bayes.SymHam, -1.0))...), store.BayesHam},
		{"Bayes said ham of a spam: learn", on, engine.Transaction{Message: msg}, verdict(20, sym(bayes.SymHam, -3.0)), store.BayesSpam},
		{"no reject threshold", on, engine.Transaction{Message: msg}, &engine.Verdict{Final: true, Score: 20}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			class, ok := Decide(tc.cfg, &tc.tx, tc.v)
			if ok != (tc.class != 0) || (ok && class != tc.class) {
				t.Errorf("Decide = %v, %v; want %v", class, ok, tc.class)
			}
		})
	}
}
