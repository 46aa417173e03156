package milter

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/internal/mtaenv"
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

// BenchmarkNagleClient plays Postfix's side of the wire as Postfix really
// writes it: Nagle's algorithm on (Postfix sets no TCP_NODELAY on milter
// sockets), the no-reply events streamed without waiting, and either one
// write per event or 4 KiB writes (Postfix's VSTREAM buffer, flushed when
// full and before waiting for a reply). quickack=off is the server as it
// was at first: each message waited for the kernel's delayed ACK (≈ 40 ms
// per message); quickack=on acknowledges before each read from the socket
// that follows one without a reply in between. With 4 KiB writes a packet
// is often cut at a write boundary: the ACK is owed then too, in the
// middle of a packet (a server acknowledging only between whole packets
// stalled there, ≈ 40 ms at p99 through Postfix).
//
//	go test -run=^$ -bench=NagleClient -benchtime=50x ./frontend/milter
func BenchmarkNagleClient(b *testing.B) {
	rec := newRecorder()
	e := fakeEngine(b, rec, 5*time.Second)
	_, addr := startServer(b, func() *engine.Engine { return e }, Config{})
	raw := []byte(hamMsg + strings.Repeat("a longer body, so that packets cross 4 KiB writes\r\n", 200))
	for _, c := range []struct {
		on     bool
		writes string
	}{{false, "packet"}, {true, "packet"}, {false, "4KiB"}, {true, "4KiB"}} {
		on := c.on
		name := "quickack=off"
		if on {
			name = "quickack=on"
		}
		name += "/writes=" + c.writes
		b.Run(name, func(b *testing.B) {
			noQuickAck = !on
			defer func() { noQuickAck = false }()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			conn.(*net.TCPConn).SetNoDelay(false)
			var w net.Conn = writePerPacket{conn}
			if c.writes == "4KiB" {
				w = mtaenv.VStreamWriter{Conn: conn}
			}
			c, err := NewClientSession(w, ClientOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Connect("mail.example.org", '4', 1, "203.0.113.5"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				c.Mail("alice@example.org")
				if _, err := c.Rcpt("bob@example.net"); err != nil {
					b.Fatal(err)
				}
				r, _, err := c.Message(raw)
				if err != nil || r.Code != RespContinue {
					b.Fatalf("message: %v %v", r, err)
				}
			}
		})
	}
}

// writePerPacket splits what the client buffers into one write(2) per
// milter packet.
type writePerPacket struct{ net.Conn }

func (w writePerPacket) Write(p []byte) (int, error) {
	n := 0
	for len(p) >= 4 {
		l := 4 + int(uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3]))
		l = min(l, len(p))
		if _, err := w.Conn.Write(p[:l]); err != nil {
			return n, err
		}
		n += l
		p = p[l:]
	}
	if len(p) > 0 {
		m, err := w.Conn.Write(p)
		return n + m, err
	}
	return n, nil
}
