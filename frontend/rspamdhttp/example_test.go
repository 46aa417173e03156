package rspamdhttp_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/frontend/rspamdhttp"
	"github.com/hamlet-mail/hamlet/message"
)

// A daemon keeps the current engine in an atomic pointer, swaps it on
// reload, and serves the handler on the scan port.
func ExampleNew() {
	var current atomic.Pointer[engine.Engine]
	e, err := engine.New(engine.Options{Policy: engine.DefaultPolicy()})
	if err != nil {
		panic(err)
	}
	current.Store(e)

	cfg := rspamdhttp.Config{} // from [scan] in hamlet.toml; zero means defaults
	h := rspamdhttp.New(current.Load, cfg, slog.Default())
	srv := cfg.HTTPServer("127.0.0.1:11333", h)
	fmt.Println(srv.Addr) // the daemon calls srv.ListenAndServe()
	// Output: 127.0.0.1:11333
}

// `hamlet check --json` prints the same bytes as /checkv2.
func ExampleReply() {
	v := &engine.Verdict{
		Action: engine.AddHeader, Score: 6.5, RequiredScore: 15,
		Symbols: []engine.ScoredSymbol{
			{Name: "R_SPF_FAIL", Score: 6.5, Weight: 6.5, Description: "SPF verification failed", Options: []string{"-all"}},
		},
		AddHeaders: []engine.Header{{Name: "X-Spam", Value: "Yes"}},
	}
	tx := &engine.Transaction{Message: message.Parse([]byte("Message-ID: <1@example.org>\r\n\r\nhi\r\n"))}
	fmt.Println(string(rspamdhttp.Reply(v, tx, 25*time.Millisecond)))
	// Output: {"is_skipped":false,"score":6.500000,"required_score":15.0,"action":"add header","symbols":{"R_SPF_FAIL":{"name":"R_SPF_FAIL","score":6.500000,"metric_score":6.500000,"description":"SPF verification failed","options":["-all"]}},"messages":{},"message-id":"1@example.org","time_real":0.025000,"milter":{"add_headers":{"X-Spam":{"value":"Yes","order":0}}}}
}
