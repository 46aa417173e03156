package milter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
)

// BenchmarkThroughput measures whole messages through the milter server
// (negotiated connection reused as Postfix does for several messages:
// MAIL, RCPT, header fields, body, end of message with header edits back)
// at concurrency 1 and 16, with the fake engine of the tests: the
// protocol and engine overhead, not the checks.
//
//	go test -run=^$ -bench=Throughput -benchtime=3s ./frontend/milter
func BenchmarkThroughput(b *testing.B) {
	rec := newRecorder()
	e := fakeEngine(b, rec, 5*time.Second)
	_, addr := startServer(b, func() *engine.Engine { return e }, Config{})
	raw := []byte(hamMsg)
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			clients := make([]*ClientSession, conc)
			for i := range clients {
				c, err := Dial(context.Background(), addr, ClientOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Connect("mail.example.org", '4', 1, "203.0.113.5"); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Helo("mail.example.org"); err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, conc)
			for i, c := range clients {
				n := b.N / conc
				if i < b.N%conc {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < n; j++ {
						if _, err := c.Mail("alice@example.org"); err != nil {
							errs <- err
							return
						}
						if _, err := c.Rcpt("bob@example.net"); err != nil {
							errs <- err
							return
						}
						r, mods, err := c.Message(raw)
						if err != nil || r.Code != RespContinue || len(mods) == 0 {
							errs <- fmt.Errorf("message: %v %v %d mods", r, err, len(mods))
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
